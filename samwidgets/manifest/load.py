"""Data manifests: ``data_manifests/*.yaml`` -> validated :class:`Case` objects.

A manifest says which files make up a dataset, their modality, how to window them (``preset``) and how to
decode their labels (``label``): decoding rules live in data, not code. The format (full description with
examples in ``data_manifests/README.md``)::

    dataset: busi                     # short name; case keys are "<dataset>/<case id>"
    modality: US                      # CT MR PET US XR endoscopy dermoscopy fundus mammography pathology microscopy
    anatomy: breast
    licence: CC0 1.0
    citation: "Al-Dhabyani W. et al. Dataset of breast ultrasound images. Data in Brief 28 (2020)"
    source: https://...               # optional
    root: ${SAMWIDGETS_SHARED_DATA}/ultrasound_breast/...   # or a path relative to this file's folder
    allow_outside_root: false         # optional: true lets case files lie outside root (default: refused)
    preset: percentile                # a name of samwidgets.io.apply_preset
    dims: 2                           # optional: spatial dimensions every image must have (2 or 3)
    label: {type: colours, labels: {benign: [0, 255, 0]}, background: [0, 0, 0], max_distance: 60}
    label_key: gts                    # optional: the npz array holding labels (default gts)
    spacing: [0.5, 0.5]               # optional: override in array order (z, y, x) / (y, x), mm
    cases:                            # explicit cases ...
      - {id: "10018", image: images/10018.png, label: masks/10018.png}
    cases_glob:                       # ... and/or one or more globs (relative to root, sorted)
      image: "images/*.png"
      label: "masks/{stem}.png"       # placeholders: {stem} {name} {parent} {relparent}
      id: "{stem}"                    # default "{stem}"

Every case (and every ``cases_glob`` entry) may override dataset, modality, anatomy, preset, label_rule,
label_key, spacing, dims, licence and citation (a case's ``label`` is its label file, hence ``label_rule``).
``${SAMWIDGETS_SHARED_DATA}`` in ``root`` defaults to the
``shared/data`` folder beside the repository; the environment variable overrides it. Bounds (file size,
YAML nesting and aliases, template widths, glob patterns, files leaving ``root`` after resolving links,
finite spacing) are in :mod:`samwidgets.manifest.bounds`.

Arrays follow the io layer: images (z, y, x[, 3]) or (y, x[, 3]) in file order; label masks are boolean
with the image's spatial shape (z, y, x) or (y, x). This module never imports torch or ipywidgets.
"""

from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import yaml

from samwidgets.errors import LabelError, ManifestError
from samwidgets.manifest.bounds import load_yaml, read_manifest_text
from samwidgets.manifest.build import build_records
from samwidgets.manifest.check import check_case
from samwidgets.paths import repo_root
from samwidgets.manifest.schema import check_schema

if TYPE_CHECKING:  # pragma: no cover
    from samwidgets.io.image import Image

__all__ = ["Case", "Manifest", "ManifestReport", "load_manifest", "find_case", "inspect_manifest",
           "validate_manifest", "read_manifest_yaml", "resolve_manifest_path", "check_case"]


@dataclass(frozen=True)
class Case:
    """One image (and its label file) of a manifest, with every manifest-level default resolved.

    ``image``/``label`` are absolute paths; ``label`` may equal ``image`` (npz holding ``imgs`` and
    ``gts``). ``spacing`` is an override in array order (z, y, x) / (y, x) in mm, or None to keep the
    file's. ``dims`` is the number of spatial dimensions the manifest declares (2, 3) or None.
    """

    case_id: str
    dataset: str
    modality: str
    anatomy: str
    image: Path
    label: Path | None
    label_rule: dict = field(hash=False)
    preset: str
    spacing: tuple[float, ...] | None
    licence: str
    manifest: Path
    dims: int | None = None
    label_key: str = "gts"
    citation: str = ""
    label_files: tuple = field(default=(), hash=False)
    fov: Path | None = None

    @property
    def all_label_files(self) -> tuple:
        """Every label file as :class:`~samwidgets.manifest.build.LabelFile` (path, rule, key); a case built
        by hand with only ``label``/``label_rule`` has that one."""
        if self.label_files:
            return tuple(self.label_files)
        if self.label is None:
            return ()
        from samwidgets.manifest.build import LabelFile

        return (LabelFile(self.label, self.label_rule, self.label_key),)

    @property
    def key(self) -> str:
        """``"<dataset>/<case_id>"``: the case's identity (caches, result tables); the same case has the same key
        in every manifest that lists it (e.g. ``sample.yaml`` and the full source manifest)."""
        return f"{self.dataset}/{self.case_id}"

    def load_raw_image(self) -> "Image":
        """The image as read (raw values, e.g. HU), with the manifest's spacing override applied."""
        from samwidgets.io import load_image

        image = load_image(self.image)
        nd = len(image.spacing)
        if self.dims is not None and nd != self.dims:
            raise ManifestError(
                f"image is {nd}D (shape {image.array.shape}) but the manifest says dims: {self.dims}",
                where=self.key,
            )
        if self.spacing is not None:
            if len(self.spacing) != nd:
                raise ManifestError(
                    f"spacing override {self.spacing} does not fit a {nd}D image of shape {image.array.shape}",
                    where=self.key,
                )
            image = dataclasses.replace(image, spacing=tuple(self.spacing))
        return image

    def load_image(self) -> "Image":
        """The image with the manifest's preset applied: array uint8 (z, y, x[, 3]) / (y, x[, 3])."""
        from samwidgets.io import apply_preset

        image = self.load_raw_image()
        array = apply_preset(image.array, self.preset)
        meta = {**image.meta, "preset": self.preset}
        return dataclasses.replace(image, array=array, meta=meta)

    def decode_label_file(self, label_file, image: "Image", *, allow_empty: bool = False) -> dict[str, np.ndarray]:
        """Decode one :class:`~samwidgets.manifest.build.LabelFile` of this case: ``{name: bool mask}`` of the
        image's spatial shape; LabelError/ImageReadError naming the case and file when it cannot (an empty
        label too, unless ``allow_empty``)."""
        from samwidgets.io import load_label_array
        from samwidgets.io.labels import check_label_shape, decode_label

        where = f"{self.key} ({label_file.path.name})"
        raw = load_label_array(label_file.path, key=label_file.key)
        check_label_shape(image, raw, where=where)
        masks = decode_label(raw, label_file.rule, where=where, allow_empty=allow_empty)
        for mask in masks.values():
            check_label_shape(image, mask, where=where)  # RGB-vs-volume ambiguity of the raw shape
        return masks

    def load_fov(self, *, image: "Image | None" = None) -> np.ndarray | None:
        """The field-of-view mask (bool, the image's spatial shape) or None when the case has none: pixels
        above half the file's maximum (0/1, 0/255 and JPEG-noisy masks alike; colour files averaged)."""
        from samwidgets.io import load_label_array
        from samwidgets.io.labels import check_label_shape

        if self.fov is None:
            return None
        if image is None:
            image = self.load_raw_image()
        raw = np.asarray(load_label_array(self.fov), dtype=np.float64)
        check_label_shape(image, raw, where=f"{self.key} (field of view {self.fov.name})")
        if raw.ndim == len(image.spacing) + 1:
            raw = raw[..., :3].mean(axis=-1)
        fov = raw > raw.max() / 2.0
        if not fov.any():
            raise LabelError(f"field of view {self.fov.name} is empty", where=self.key)
        return fov

    def load_labels(self, *, image: "Image | None" = None) -> dict[str, np.ndarray]:
        """Decode every label file with its rule: ``{name: bool mask}``, restricted to the field of view.

        Each mask has the image's spatial shape, (z, y, x) or (y, x). A name found in several label files
        is their union. Label names a rule lists but this case does not contain are left out. Pass
        ``image`` (from :meth:`load_image`) to avoid reading the image again for the shape check. Raises
        LabelError when the case has no label file, the shapes differ, or no label has any voxel.
        """
        return self._labels_and_fov(image)[0]

    def _labels_and_fov(self, image: "Image | None") -> tuple[dict[str, np.ndarray], np.ndarray | None]:
        """(:meth:`load_labels`, :meth:`load_fov`), each file read once."""
        files = self.all_label_files
        if not files:
            raise LabelError("case has no label file", where=self.key)
        if image is None:
            image = self.load_raw_image()
        # with several files, one may lack its label in this case
        decoded = [self.decode_label_file(f, image, allow_empty=len(files) > 1) for f in files]
        fov = self.load_fov(image=image)
        return self.merge_labels(decoded, fov), fov

    def merge_labels(self, decoded, fov: np.ndarray | None) -> dict[str, np.ndarray]:
        """The case's labels from its files' decoded ``{name: bool mask}`` dicts (in file order): a name in
        several files is their union; with a field of view ``fov`` each mask is restricted to it and
        labels left empty are dropped. LabelError when no label has any voxel."""
        masks: dict[str, np.ndarray] = {}
        for file_masks in decoded:
            for name, mask in file_masks.items():
                masks[name] = masks[name] | mask if name in masks else mask
        if fov is not None:
            masks = {name: m & fov for name, m in masks.items() if (m & fov).any()}
        if not masks:
            inside = f" inside the field of view {self.fov.name}" if fov is not None else ""
            raise LabelError(f"empty label: none of the listed labels is present{inside}", where=self.key)
        return masks

    def load(self) -> tuple["Image", dict[str, np.ndarray]]:
        """(image with preset applied, labels): each file read once. With a field of view, the labels are
        restricted to it and ``image.meta["fov"]`` holds it (bool, spatial shape) for the evaluation to
        score predictions inside it only."""
        image = self.load_image()
        labels, fov = self._labels_and_fov(image)
        if fov is not None:
            image = dataclasses.replace(image, meta={**image.meta, "fov": fov})
        return image, labels


@dataclass(frozen=True)
class Manifest:
    """A loaded manifest: ``name`` is the file stem, ``dataset``/``modality`` the manifest-level values."""

    name: str
    path: Path
    dataset: str
    modality: str
    cases: list[Case] = field(hash=False)
    data: dict[str, Any] = field(hash=False, repr=False, default_factory=dict)

    def __len__(self) -> int:
        return len(self.cases)

    def __iter__(self):
        return iter(self.cases)

    def case(self, case_id: str) -> Case:
        """The case with id (or key ``dataset/id``) ``case_id``; ManifestError listing the ids otherwise."""
        for case in self.cases:
            if case_id in (case.case_id, case.key):
                return case
        shown = ", ".join(c.case_id for c in self.cases[:20]) + (" ..." if len(self.cases) > 20 else "")
        raise ManifestError(f"no case '{case_id}' (cases: {shown})", where=self.path)


def resolve_manifest_path(path: str | Path) -> Path:
    """``path`` as given when it exists; else, for a relative path, the same path under the repository
    root (:func:`samwidgets.paths.repo_root`), else a file of that name in ``data_manifests/`` (so
    notebooks, whose working directory is ``notebooks/``, find ``data_manifests/sample.yaml``); else
    ``path`` unchanged (reads then fail with "manifest file not found"). Installed from a wheel (no
    repository) only the path as given is tried."""
    p = Path(str(path)).expanduser()
    if p.is_file() or p.is_absolute():
        return p
    root = repo_root()
    if root is None:  # installed without the repository: only paths as given
        return p
    for candidate in (root / p, root / "data_manifests" / p.name):
        if candidate.is_file():
            return candidate
    return p


def read_manifest_yaml(path: str | Path) -> dict[str, Any]:
    """Parse a manifest file; ManifestError if it is missing, not a regular file, unreadable, not valid
    YAML, or beyond the bounds of :mod:`samwidgets.manifest.bounds` (size, nesting, alias expansion)."""
    path = resolve_manifest_path(path)
    text = read_manifest_text(path)  # regular file, size-capped
    try:
        data = load_yaml(text, path)  # nesting and alias expansion bounded
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ManifestError(f"malformed YAML{at}: {problem}", where=path) from exc
    if data is None:
        raise ManifestError("manifest file is empty", where=path)
    return data


def _known_presets() -> set[str] | None:
    try:
        from samwidgets.io import presets as _presets
    except ImportError:  # pragma: no cover - io always ships presets
        return None
    for attr in ("PRESET_NAMES", "PRESETS"):
        names = getattr(_presets, attr, None)
        if names:
            return set(names)
    return None


def _collect(path: Path) -> tuple[dict[str, Any] | None, list[Case], list[str], set[str]]:
    """(data, cases, problems, keys of cases with a problem already) without loading any image."""
    try:
        data = read_manifest_yaml(path)
    except ManifestError as exc:
        return None, [], [str(exc)], set()
    problems, bad_cases, fatal = check_schema(data)
    if fatal:
        return data, [], problems, set()
    # cases failing the schema are reported and skipped; the others are still checked
    records, build_problems = build_records(data, path.resolve(), skip=bad_cases)
    problems.extend(build_problems)
    presets = _known_presets()
    cases, bad = [], set()
    for rec in records:
        where = rec.pop("where")
        is_bad = rec.pop("bad")
        if presets is not None and rec["preset"] not in presets:
            close = difflib.get_close_matches(str(rec["preset"]), sorted(presets), n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            problems.append(f"{where}: unknown preset '{rec['preset']}' (known: {', '.join(sorted(presets))}{hint})")
            is_bad = True
        case = Case(manifest=path.resolve(), **rec)
        cases.append(case)
        if is_bad:
            bad.add(case.key)
    return data, cases, problems, bad


def load_manifest(path: str | Path) -> Manifest:
    """Read, schema-check and resolve a manifest; no image is read.

    Raises ManifestError naming the file, with ``problems`` listing every problem found (schema errors,
    missing root or files, duplicate ids, unknown presets). Use :func:`validate_manifest` to also read
    every image and label.
    """
    path = resolve_manifest_path(path)
    data, cases, problems, _ = _collect(path)
    if problems:
        if data is None:  # missing or malformed file: re-raise the typed error as is
            read_manifest_yaml(path)
        raise ManifestError(f"{len(problems)} problem(s) in manifest", where=path, problems=problems)
    name = path.name
    for suffix in (".yaml", ".yml"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    return Manifest(name=name, path=path.resolve(), dataset=str(data["dataset"]), modality=data["modality"],
                    cases=cases, data=data)


def find_case(manifest_path: str | Path, case_id: str) -> Case:
    """The case ``case_id`` (or ``dataset/case_id``) of the manifest at ``manifest_path``."""
    return load_manifest(manifest_path).case(str(case_id))


@dataclass
class ManifestReport:
    """What :func:`inspect_manifest` found: the cases it could build, every problem, and per-case facts
    (``{case key: {"dims": 2|3, "shape": array shape, "labels": [names]}}``, for loaded cases only)."""

    path: Path
    cases: list[Case]
    problems: list[str]
    facts: dict[str, dict[str, Any]]

    @property
    def ok(self) -> bool:
        return not self.problems


def inspect_manifest(path: str | Path, *, load: bool = True) -> ManifestReport:
    """Check a manifest like :func:`validate_manifest` and also return its cases and per-case facts."""
    path = resolve_manifest_path(path)
    _, cases, problems, bad = _collect(path)
    facts: dict[str, dict[str, Any]] = {}
    if load:
        for case in cases:
            if case.key in bad:
                continue  # already reported
            case_problems, case_facts = check_case(case)
            problems.extend(case_problems)
            if not case_problems:
                facts[case.key] = case_facts
    return ManifestReport(path=path, cases=cases, problems=problems, facts=facts)


def validate_manifest(path: str | Path, *, load: bool = True) -> list[str]:
    """Every problem of a manifest, one line each naming its case; an empty list when it is valid.

    Checks the YAML syntax, the schema, the root folder, that every image and label file exists, that case
    ids are unique and presets are known; with ``load`` also reads every image and label and checks that
    each decodes, that label and image spatial shapes match and that labels are not empty. It does not stop
    at the first problem and never raises for a bad manifest (a missing or malformed file is one problem).
    """
    return inspect_manifest(path, load=load).problems
