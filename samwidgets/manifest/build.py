"""Turn the parsed YAML of a manifest into case records, collecting every problem instead of stopping.

This is the file-system half of manifest loading: resolve ``root`` (with ``${SAMWIDGETS_SHARED_DATA}``),
expand ``cases_glob`` entries, merge per-case overrides over the manifest-level defaults, and check that
files exist and ids are unique. :mod:`samwidgets.manifest.load` wraps the records into :class:`Case` objects.

Templates in ``cases_glob`` (``id`` and ``label``) may use these placeholders, taken from each image file
matched by the ``image`` pattern:

- ``{stem}``: the file name without its extension (``.nii.gz`` counts as one extension),
- ``{number}``: the first run of digits in the stem, as written (``21`` for ``21_training.tif``, so
  ``21_manual1.gif`` is ``{number}_manual1.gif``; empty when the stem has no digit),
- ``{name}``: the full file name,
- ``{parent}``: the name of the folder holding the file,
- ``{relparent}``: that folder relative to ``root`` (``.`` for ``root`` itself).

No attribute or index access, widths of at most 255 (:func:`samwidgets.manifest.bounds.check_template`).
Every image, label and field-of-view file must lie inside ``root`` once symbolic links are resolved, unless
the manifest sets ``allow_outside_root: true``; ``cases_glob`` patterns must be relative
(:mod:`samwidgets.manifest.bounds`). A spacing override must be finite and > 0.
"""

from __future__ import annotations

import functools
import math
import os
import re
from pathlib import Path
from typing import Any, Callable, NamedTuple

from samwidgets.errors import ManifestError
from samwidgets.manifest.bounds import OPT_IN_KEY, RootGuard, check_pattern, check_template, lookup_problem
from samwidgets.paths import repo_root

SHARED_DATA_VAR = "SAMWIDGETS_SHARED_DATA"
OVERRIDE_KEYS = ("dataset", "modality", "anatomy", "preset", "label_rule", "label_key", "spacing", "dims",
                 "licence", "citation")
_COMPOUND_SUFFIXES = (".nii.gz", ".tar.gz")
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def default_shared_data() -> Path:
    """``$SAMWIDGETS_SHARED_DATA`` if set, else the ``shared/data`` folder beside the repository.

    The repository root is :func:`samwidgets.paths.repo_root` (the folder holding the ``samwidgets`` package
    in a clone or an editable install), so the default is ``<repo>/../shared/data``, the same rule as
    ``tests/conftest.py``. Installed from a wheel there is no repository: ManifestError asking for the variable.
    """
    value = os.environ.get(SHARED_DATA_VAR)
    if value:
        return Path(value).expanduser()
    root = repo_root()
    if root is None:
        raise ManifestError(f"samwidgets is installed without its repository: set {SHARED_DATA_VAR}",
                            where=SHARED_DATA_VAR)
    return root.parent / "shared" / "data"


def expand_root(root: str, manifest_dir: Path) -> tuple[Path | None, str | None]:
    """Resolve a manifest's ``root``: ``${VAR}`` substituted, relative paths taken from the manifest's folder.

    Returns (path, None) or (None, problem). ``${SAMWIDGETS_SHARED_DATA}`` defaults to
    :func:`default_shared_data`; any other variable must be set in the environment.
    """
    missing: list[str] = []

    def substitute(match: re.Match) -> str:
        name = match.group(1)
        if name == SHARED_DATA_VAR:
            try:
                return str(default_shared_data())
            except ManifestError:
                pass  # installed without a repository and the variable is not set
        elif name in os.environ:
            return os.environ[name]
        missing.append(name)
        return match.group(0)

    text = _VAR.sub(substitute, root)
    if missing:
        return None, f"root '{root}': environment variable(s) not set: {', '.join(missing)}"
    path = Path(text).expanduser()
    if not path.is_absolute():
        path = manifest_dir / path
    return path, None


def file_stem(path: Path) -> str:
    """The file name without its extension; ``.nii.gz`` and ``.tar.gz`` count as one extension."""
    name = path.name
    for suffix in _COMPOUND_SUFFIXES:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def stem_number(stem: str) -> str:
    """The first run of digits in ``stem`` as written ('' when there is none): the ``{number}`` field."""
    match = re.search(r"\d+", stem)
    return match.group(0) if match else ""


def fill_template(template: str, image: Path, root: Path) -> str:
    """A ``cases_glob`` template (``id``, ``label``) filled with the fields of ``image`` under ``root``."""
    return template_filler(template)(image, root)


def template_filler(template: str) -> Callable[[Path, Path], str]:
    """Check ``template`` once (:func:`~samwidgets.manifest.bounds.check_template`: ValueError) and return
    the function ``(image, root) -> str`` that fills it, for the many images of one ``cases_glob``."""
    check_template(template)
    return functools.partial(_fill_checked, template)


def _fill_checked(template: str, image: Path, root: Path) -> str:
    rel = image.parent.relative_to(root) if image.parent != root else Path(".")
    stem = file_stem(image)
    fields = {"stem": stem, "name": image.name, "parent": image.parent.name,
              "relparent": rel.as_posix(), "number": stem_number(stem)}
    return template.format_map(fields)


def similar_name(path: Path) -> str:
    """For a missing file: " (did you mean NAME?)" naming the most similar file of its folder (a typo,
    another extension, another case), " (no folder F)" when the folder is missing too, else ""."""
    import difflib

    folder = path.parent
    try:
        if not folder.is_dir():
            return f" (no folder {folder})"
        names = [p.name for p in sorted(folder.iterdir())[:5000]]
    except OSError:
        return ""
    close = difflib.get_close_matches(path.name, names, n=1, cutoff=0.6)
    return f" (did you mean {close[0]}?)" if close else ""


class LabelFile(NamedTuple):
    """One label file of a case: its path, the rule decoding it and the npz array holding it."""

    path: Path
    rule: dict
    key: str


def _labels_filler(label) -> Callable[[Path, Path], Any]:
    """For a cases_glob ``label`` (a template or a list of templates / {file: template, ...}): its templates
    checked once, and the function ``(image, root)`` returning it filled for ``image``."""
    if label is None:
        return lambda image, root: None
    if isinstance(label, str):
        return template_filler(label)
    items = [(item, template_filler(item if isinstance(item, str) else item["file"])) for item in label]
    return lambda image, root: [fill(image, root) if isinstance(item, str) else {**item, "file": fill(image, root)}
                                for item, fill in items]


def _label_files(entry: dict[str, Any], root: Path, rule: dict | None, key: str, where: str,
                 guard: RootGuard) -> tuple[list[LabelFile], list[str]]:
    """The label files of a case entry (``label``: a path, a list of paths or {file, rule, key}) and the
    problems with them (missing file, no rule, bad rule)."""
    label = entry.get("label")
    items = [] if not label else [label] if isinstance(label, str) else list(label)
    files, problems = [], []
    for item in items:
        spec = {"file": item} if isinstance(item, str) else item
        path = root / spec["file"]
        own = spec.get("rule", rule)
        problems.extend(_file_problems(path, "label file", where, guard))
        if own is None:
            problems.append(f"{where}: has a label file but no label rule ('label:' in the manifest, "
                            "'label_rule:' in the case, or 'rule:' beside the file)")
            own = {}
        else:
            own = _normalise_rule(own)
            rule_err = _rule_problem(own)
            if rule_err:
                problems.append(f"{where}: label rule: {rule_err}")
        files.append(LabelFile(path, own, str(spec.get("key", key))))
    return files, problems


def _file_problems(path: Path, what: str, where: str, guard: RootGuard) -> list[str]:
    """A missing or unlookable file (e.g. a name too long), or one outside the root: problem lines."""
    missing = lookup_problem(path)
    if missing:
        return [f"{where}: {what} {missing}: {path}{similar_name(path) if missing == 'not found' else ''}"]
    outside = guard.problem(path, what, where)
    return [outside] if outside else []


def _expand_glob(entry: dict[str, Any], index: int, root: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """The case entries one ``cases_glob`` entry stands for (sorted by image path), and its problems."""
    where = f"cases_glob[{index}]"
    pattern = entry["image"]
    bad = [p for p in (check_pattern(x) for x in [pattern, *entry.get("exclude", [])]) if p]
    if bad:
        return [], [f"{where}: {bad[0]}"]
    excluded = set()
    try:
        for ex in entry.get("exclude", []):
            excluded.update(p.resolve() for p in root.glob(ex))
        images = sorted(p for p in root.glob(pattern) if p.is_file() and p.resolve() not in excluded)
    except (OSError, ValueError, NotImplementedError) as exc:
        return [], [f"{where}: cannot expand '{pattern}': {exc}"]
    if not images:
        return [], [f"{where}: no file under {root} matches '{pattern}'"]
    cases, problems = [], []
    overrides = {k: entry[k] for k in OVERRIDE_KEYS if k in entry}
    bad = f"{where}: bad template (placeholders: stem, number, name, parent, relparent)"
    try:  # each template checked once, not once per image
        fill_id = template_filler(entry.get("id", "{stem}"))
        fill_label = _labels_filler(entry.get("label"))
        fill_fov = template_filler(entry["fov"]) if "fov" in entry else None
    except (KeyError, ValueError, IndexError) as exc:
        return [], [f"{bad}: {exc}"]
    for image in images:
        try:
            case_id, label = fill_id(image, root), fill_label(image, root)
            fov = fill_fov(image, root) if fill_fov is not None else None
        except (KeyError, ValueError, IndexError) as exc:
            return [], [f"{bad}: {exc}"]
        case = {"id": case_id, "image": image.relative_to(root).as_posix(), "label": label, **overrides}
        if fov is not None:
            case["fov"] = fov
        case["_from"] = where
        cases.append(case)
    return cases, problems


def _normalise_rule(rule: dict[str, Any]) -> dict[str, Any]:
    """A copy of a label rule; ``values`` keys written as quoted numbers ("1") become integers."""
    rule = dict(rule)
    if rule.get("type") == "values" and isinstance(rule.get("labels"), dict):
        labels = {}
        for key, name in rule["labels"].items():
            if isinstance(key, str) and re.fullmatch(r"-?\d+", key.strip()):
                key = int(key)
            labels[key] = name
        rule["labels"] = labels
    for key in ("labels",):
        if rule.get("type") == "colours" and isinstance(rule.get(key), dict):
            rule[key] = {k: list(v) for k, v in rule[key].items()}
    return rule


def _rule_problem(rule: dict[str, Any]) -> str | None:
    if rule.get("type") == "values":
        bad = [k for k in rule.get("labels", {}) if not isinstance(k, int) or isinstance(k, bool)]
        if bad:
            return f"label values must be integers, got {bad!r}"
        if 0 in rule["labels"]:
            return "label value 0 is the background and cannot be a label"
    return None


def build_records(data: dict[str, Any], manifest_path: Path, *, skip: set[int] | frozenset = frozenset()
                  ) -> tuple[list[dict[str, Any]], list[str]]:
    """Case records (plain dicts with every field resolved) from schema-valid YAML data, and every problem.

    ``skip``: indices of ``cases`` entries to leave out (they failed the schema and are reported already).
    A record whose files or rule have a problem carries ``bad: True``.

    Each record has: case_id, dataset, modality, anatomy, image (Path), label (Path|None: the first label
    file), label_rule and label_key (the first file's), label_files (every :class:`LabelFile`), fov
    (Path|None), preset, spacing (tuple|None), dims (2, 3 or None), licence, citation, where (how the
    case is named in problems).
    """
    root, err = expand_root(str(data["root"]), manifest_path.parent)
    if err:
        return [], [f"manifest: {err}"]
    if not root.is_dir():
        hint = f" (set {SHARED_DATA_VAR})" if SHARED_DATA_VAR in str(data["root"]) else ""
        return [], [f"manifest: root folder not found: {root}{hint}"]
    guard = RootGuard(root, allow=data.get(OPT_IN_KEY) is True)
    entries, problems = _case_entries(data, root, skip)
    defaults = {k: data.get(k) for k in OVERRIDE_KEYS}
    defaults["label_rule"] = data.get("label")  # the manifest-level rule is called 'label'; cases override it
    # with 'label_rule' because a case's 'label' is its label file
    records: list[dict[str, Any]] = []
    seen: dict[str, str] = {}
    for entry in entries:
        case_id = str(entry["id"])
        if case_id in seen:
            problems.append(f"case '{case_id}': duplicate case id ({entry['_from']} repeats {seen[case_id]})")
            continue
        seen[case_id] = entry["_from"]
        record, record_problems = _case_record(entry, defaults, root, guard)
        problems.extend(record_problems)
        records.append(record)
    if not records and not problems:
        problems.append("manifest: no cases")
    return records, problems


def _case_entries(data: dict[str, Any], root: Path, skip) -> tuple[list[dict[str, Any]], list[str]]:
    """The explicit ``cases`` (minus ``skip``) then every ``cases_glob`` expansion, each tagged with ``_from``."""
    problems: list[str] = []
    entries: list[dict[str, Any]] = []
    for i, case in enumerate(data.get("cases") or []):
        if i not in skip:
            entries.append({**case, "_from": f"cases[{i}]"})
    globs = data.get("cases_glob") or []
    for i, entry in enumerate([globs] if isinstance(globs, dict) else globs):
        expanded, glob_problems = _expand_glob(entry, i, root)
        entries.extend(expanded)
        problems.extend(glob_problems)
    return entries, problems


def _case_record(entry: dict[str, Any], defaults: dict[str, Any], root: Path, guard
                 ) -> tuple[dict[str, Any], list[str]]:
    """One case's record (overrides merged over ``defaults``, files checked) and its problems."""
    case_id = str(entry["id"])
    where = f"case '{case_id}'"
    merged = {k: entry.get(k, defaults[k]) for k in OVERRIDE_KEYS}
    image = root / entry["image"]
    problems = list(_file_problems(image, "image file", where, guard))
    rule = merged["label_rule"]
    key = merged["label_key"] or "gts"
    files, file_problems = _label_files(entry, root, rule, key, where, guard)
    problems.extend(file_problems)
    if not files and rule is not None:
        rule = _normalise_rule(rule)
    fov = root / entry["fov"] if entry.get("fov") else None
    if fov is not None:
        problems.extend(_file_problems(fov, "field-of-view file", where, guard))
    spacing = tuple(float(s) for s in merged["spacing"]) if merged["spacing"] else None
    if spacing is not None and not all(math.isfinite(v) and v > 0 for v in spacing):
        problems.append(f"{where}: spacing {spacing} must be finite and > 0 (mm)")
    if spacing is not None and merged["dims"] is not None and len(spacing) != merged["dims"]:
        problems.append(f"{where}: spacing {spacing} has {len(spacing)} values but dims is {merged['dims']}")
    record = {
        "case_id": case_id,
        "dataset": str(merged["dataset"]),
        "modality": merged["modality"],
        "anatomy": merged["anatomy"],
        "image": image,
        "label": files[0].path if files else None,
        "label_rule": files[0].rule if files else (rule or {}),
        "label_key": files[0].key if files else key,
        "label_files": tuple(files),
        "fov": fov,
        "preset": merged["preset"],
        "spacing": spacing,
        "dims": merged["dims"],
        "licence": merged["licence"],
        "citation": merged["citation"],
        "where": where,
        "bad": bool(problems),
    }
    return record, problems
