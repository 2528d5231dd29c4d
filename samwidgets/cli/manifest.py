"""``samwidgets manifest``: check data manifests and list their cases.

    samwidgets manifest init FOLDER [--out FILE] [--force]
    samwidgets manifest validate FILE_OR_FOLDER... [--no-load]
    samwidgets manifest list FILE

``init`` scans a folder of images and label files, pairs them, detects how the labels are encoded and
writes a commented manifest (lines marked CONFIRM are guesses), then validates it.

``validate`` prints, per manifest, either a summary (cases per modality, 2D/3D, how many cases carry each
label) or every problem with the case it concerns; the exit code is 1 when any manifest has a problem.
A folder stands for every ``*.yaml`` in it.
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

from samwidgets.errors import ManifestError


def _expand(paths: list[str]) -> list[Path]:
    out: list[Path] = []
    for text in paths:
        path = Path(text).expanduser()
        if path.is_dir():
            found = sorted([*path.glob("*.yaml"), *path.glob("*.yml")])
            if not found:
                raise ManifestError("folder holds no *.yaml manifest", where=path)
            out.extend(found)
        else:
            out.append(path)
    return out


def _counts(counter: Counter) -> str:
    return ", ".join(f"{k} {n}" for k, n in sorted(counter.items(), key=lambda kv: (-kv[1], str(kv[0]))))


def summarise(report) -> list[str]:
    """Summary lines of a valid :class:`~samwidgets.manifest.ManifestReport`."""
    cases = report.cases
    lines = [f"{report.path}: OK, {len(cases)} case(s)"]
    lines.append(f"  modality: {_counts(Counter(c.modality for c in cases))}")
    datasets = Counter(c.dataset for c in cases)
    if len(datasets) > 1:
        lines.append(f"  datasets: {_counts(datasets)}")
    if report.facts:
        dims = Counter(f"{report.facts[c.key]['dims']}D" for c in cases if c.key in report.facts)
        labels = Counter(name for c in cases for name in report.facts.get(c.key, {}).get("labels", []))
        lines.append(f"  images: {_counts(dims)}")
        lines.append(f"  labels found (cases): {_counts(labels) if labels else 'none'}")
    else:
        declared = Counter(f"{c.dims}D" if c.dims else "dims not declared" for c in cases)
        lines.append(f"  images (declared, not loaded): {_counts(declared)}")
    return lines


def _validate(args: argparse.Namespace) -> int:
    from samwidgets.manifest import inspect_manifest

    failed = 0
    for path in _expand(args.files):
        report = inspect_manifest(path, load=not args.no_load)
        if report.ok:
            print("\n".join(summarise(report)))
        else:
            failed += 1
            print(f"{path}: {len(report.problems)} problem(s)")
            for problem in report.problems:
                print(f"  - {problem}")
    if failed:
        print(f"{failed} manifest(s) with problems")
    return 1 if failed else 0


def _list(args: argparse.Namespace) -> int:
    from samwidgets.manifest import load_manifest

    manifest = load_manifest(args.file)
    for case in manifest.cases:
        label = case.label.name if case.label is not None else "-"
        print(f"{case.key}\t{case.modality}\t{case.preset}\t{case.image}\t{label}")
    return 0


def _init(args: argparse.Namespace) -> int:
    from samwidgets.manifest import inspect_manifest
    from samwidgets.manifest.init import confirm_lines, init_manifest

    path, plan = init_manifest(args.folder, args.out, force=args.force)
    print(f"wrote {path}")
    for line in confirm_lines(plan):
        print(f"  {line}")
    report = inspect_manifest(path, load=True)
    if not report.ok:
        print(f"{path}: {len(report.problems)} problem(s) to fix by hand")
        for problem in report.problems:
            print(f"  - {problem}")
        return 1
    print("\n".join(summarise(report)))
    print(f"next: edit the CONFIRM lines, then  samwidgets manifest validate {path}")
    return 0


def register(subparsers) -> None:
    """Add ``manifest validate`` and ``manifest list`` to the samwidgets command line."""
    parser = subparsers.add_parser("manifest", help="check data manifests and list their cases",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="manifest_command", metavar="ACTION")
    init = sub.add_parser("init", help="write a manifest for a folder of images and label files")
    init.add_argument("folder", metavar="FOLDER", help="the folder holding the images and their label files")
    init.add_argument("--out", metavar="FILE", help="where to write the manifest (default ./<folder name>.yaml)")
    init.add_argument("--force", action="store_true", help="overwrite FILE when it exists")
    init.set_defaults(func=_init)
    validate = sub.add_parser("validate", help="report every problem of one or more manifests")
    validate.add_argument("files", nargs="+", metavar="FILE", help="manifest YAML files or folders of them")
    validate.add_argument("--no-load", action="store_true",
                          help="check the schema and that files exist, without reading images")
    validate.set_defaults(func=_validate)
    listing = sub.add_parser("list", help="list the cases of a manifest (key, modality, preset, files)")
    listing.add_argument("file", metavar="FILE")
    listing.set_defaults(func=_list)
    parser.set_defaults(func=lambda args: (parser.print_help(), 1)[1])
