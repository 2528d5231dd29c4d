"""Turn a folder's pairs into manifest entries: label sets with their rules, image globs and templates.

:func:`plan_folder` is the whole scan of ``manifest init`` short of writing the YAML: it pairs the files
(:mod:`.pairing`), groups the pairs by their label templates into label sets, detects each set's encoding
(:mod:`.encoding`), turns a second, field-of-view-like mask set into ``fov``, and expresses each group of
images as a ``cases_glob`` entry when a glob plus templates reproduce its pairs exactly (checked by filling
the templates with :func:`samwidgets.manifest.build.template_filler`, the function the loader uses), else as
explicit ``cases``.
"""

from __future__ import annotations

import glob as globlib
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from samwidgets.errors import ManifestError, SamwidgetsError
from samwidgets.io import load_image
from samwidgets.manifest.build import file_stem, template_filler
from samwidgets.manifest.encoding import Encoding, detect_encoding
from samwidgets.manifest.guess import Guess, guess_modality
from samwidgets.manifest.pairing import IMAGE_WORDS, LABEL_WORDS, label_template, pair_files, words

MAX_EXCLUDES = 50


@dataclass
class LabelSet:
    """The label files sharing one template; ``role`` is 'label' or 'fov'."""

    template: str
    files: list[PurePosixPath]
    name: str
    encoding: Encoding | None = None
    role: str = "label"


@dataclass
class Group:
    """Images with the same label sets: one ``cases_glob`` entry (``glob`` set) or explicit ``cases``."""

    images: list[PurePosixPath]
    sets: list[LabelSet]
    glob: str | None = None
    exclude: list[str] = field(default_factory=list)
    id_template: str = "{stem}"
    case_ids: dict[PurePosixPath, str] = field(default_factory=dict)
    labels_of: dict[PurePosixPath, list[PurePosixPath]] = field(default_factory=dict)


@dataclass
class Plan:
    """Everything ``manifest init`` found under ``root``."""

    root: Path
    dataset: str
    groups: list[Group]
    guess: Guess
    dims: int | None
    notes: list[str]


def dataset_name(folder: Path) -> str:
    """A manifest ``dataset`` name from a folder name: lower case, [a-z0-9_], at most 40 characters."""
    name = re.sub(r"[^a-z0-9]+", "_", folder.name.lower()).strip("_")[:40].strip("_")
    return name or "dataset"


def _set_name(template: str, taken: set[str]) -> str:
    text = re.sub(r"(\.[A-Za-z0-9]+)+$", "", re.sub(r"\{[a-z]+\}", " ", template))
    found = [w for w in words(text) if w not in LABEL_WORDS | IMAGE_WORDS and not w.isdigit() and len(w) > 1]
    name = found[-1] if found else "foreground"
    base, i = name, 2
    while name in taken:
        name, i = f"{base}_{i}", i + 1
    taken.add(name)
    return name


def _label_sets(pairs: dict) -> tuple[dict[str, LabelSet], dict[PurePosixPath, dict[str, PurePosixPath]]]:
    by_template: dict[str, list] = {}
    per_image: dict[PurePosixPath, dict[str, PurePosixPath]] = {}
    for image, labels in pairs.items():
        for label in labels:
            t = label_template(image, label)
            by_template.setdefault(t, []).append(label)
            per_image.setdefault(image, {})[t] = label
    taken: set[str] = set()
    order = sorted(by_template, key=lambda t: (-len(by_template[t]), t))
    sets = {t: LabelSet(template=t, files=sorted(by_template[t]), name=_set_name(t, taken)) for t in order}
    return sets, per_image


def _glob_for(images: list[PurePosixPath]) -> str:
    suffixes = {img.name[len(file_stem(Path(img.name))):] for img in images}
    names = {img.name for img in images}
    name = next(iter(names)) if len(names) == 1 else "*" + (next(iter(suffixes)) if len(suffixes) == 1 else "")
    parents = {img.parent.parts for img in images}
    depths = {len(p) for p in parents}
    if len(parents) == 1:
        folder = list(next(iter(parents)))
    elif len(depths) == 1:
        cols = list(zip(*parents))
        folder = [c[0] if len(set(c)) == 1 else "*" for c in cols]
    else:
        folder = ["**"]
    return "/".join([globlib.escape(p) if p not in ("*", "**") else p for p in folder] + [name])


def _glob_matches(root: Path, pattern: str) -> set[PurePosixPath]:
    return {PurePosixPath(p.relative_to(root).as_posix()) for p in root.glob(pattern) if p.is_file()}


def _ids(images: list[PurePosixPath], all_images: list[PurePosixPath]) -> tuple[str | None, dict]:
    stems = [file_stem(Path(i.name)) for i in all_images]
    if len(set(stems)) == len(stems):
        return "{stem}", {i: file_stem(Path(i.name)) for i in images}
    parents = [i.parent.name for i in all_images]
    if len(set(parents)) == len(parents) and all(parents):
        return "{parent}", {i: i.parent.name for i in images}
    explicit = {i: re.sub(r"[/\s]+", "_", str(i.parent / file_stem(Path(i.name))).strip("./")) for i in images}
    return None, explicit


def _express(root: Path, group: Group, all_images: list[PurePosixPath]) -> None:
    """Set ``group.glob`` / ``exclude`` / ``id_template`` when a glob reproduces the group exactly."""
    id_template, group.case_ids = _ids(group.images, all_images)
    if id_template is None:
        return
    pattern = _glob_for(group.images)
    matched = _glob_matches(root, pattern)
    extra = sorted(matched - set(group.images))
    if not set(group.images) <= matched or len(extra) > MAX_EXCLUDES:
        return
    fills = [template_filler(s.template) for s in group.sets]  # each template checked once
    for image in group.images:
        for fill, label in zip(fills, group.labels_of[image]):
            if fill(root / image, root) != label.as_posix():
                return
    group.glob, group.exclude, group.id_template = pattern, [globlib.escape(str(e)) for e in extra], id_template


def _prefix_names(groups: list[Group]) -> None:
    """With several label sets per image, colour and value labels are named '<set>_<label>' so that two
    sets never share a name (a shared name would be decoded as one label, their union)."""
    for group in groups:
        sets = [s for s in group.sets if s.role == "label"]
        if len(sets) < 2:
            continue
        for s in sets:
            rule = s.encoding.rule
            if rule["type"] == "values" and not all(str(n).startswith(s.name) for n in rule["labels"].values()):
                rule["labels"] = {v: f"{s.name}_{n}" for v, n in rule["labels"].items()}
            elif rule["type"] == "colours" and not all(str(n).startswith(s.name) for n in rule["labels"]):
                rule["labels"] = {f"{s.name}_{n}": c for n, c in rule["labels"].items()}


def _mark_fov(groups: list[Group]) -> None:
    for group in groups:
        if len(group.sets) < 2:
            continue
        named = [s for s in group.sets if "fov" in s.template.lower()]
        fov = named or [s for s in group.sets if s.encoding is not None and s.encoding.fov_like]
        if fov and len(fov) < len(group.sets):
            fov[0].role = "fov"


def _first_readable(root: Path, groups: list[Group]):
    """The first image that can be read (for the modality and preset guess); ManifestError if none."""
    error = None
    for group in groups:
        for image in group.images[:20]:
            try:
                return load_image(root / image)
            except SamwidgetsError as exc:
                error = exc
    raise ManifestError(f"no image can be read ({error})", where=root)


def plan_folder(folder: str | Path) -> Plan:
    """Scan ``folder`` and plan its manifest; ManifestError when no image has a label file."""
    root = Path(folder).expanduser().resolve()
    if not root.is_dir():
        raise ManifestError("not a folder", where=root)
    pairing = pair_files(root)
    if not pairing.pairs:
        raise ManifestError(f"no image with a label file found ({len(pairing.unpaired_images)} image(s), "
                            f"{len(pairing.unpaired_labels)} label file(s) without a partner)", where=root)
    sets, per_image = _label_sets(pairing.pairs)
    for s in sets.values():
        key = "gts"
        s.encoding = detect_encoding([root / f for f in s.files], name=s.name, key=key)
    by_sets: dict[tuple[str, ...], list] = {}
    for image in sorted(per_image):
        templates = tuple(t for t in sets if t in per_image[image])
        by_sets.setdefault(templates, []).append(image)
    groups = []
    for templates, images in sorted(by_sets.items(), key=lambda kv: -len(kv[1])):
        group = Group(images=images, sets=[sets[t] for t in templates])
        group.labels_of = {i: [per_image[i][t] for t in templates] for i in images}
        groups.append(group)
    _mark_fov(groups)
    _prefix_names(groups)
    all_images = sorted(per_image)
    for group in groups:
        _express(root, group, all_images)
    first = _first_readable(root, groups)
    guess = guess_modality(root, [i.name for i in all_images], first)
    notes = []
    if pairing.unpaired_images:
        notes.append(f"{len(pairing.unpaired_images)} image(s) without a label file left out, e.g. "
                     f"{pairing.unpaired_images[0]}")
    if pairing.unpaired_labels:
        notes.append(f"{len(pairing.unpaired_labels)} label file(s) without an image left out, e.g. "
                     f"{pairing.unpaired_labels[0]}")
    return Plan(root=root, dataset=dataset_name(root), groups=groups, guess=guess,
                dims=3 if first.is_3d else 2, notes=notes)
