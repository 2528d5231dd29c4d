"""Find the image and label files under a folder and pair them: the file-name half of ``manifest init``.

A file is a *label* file when a word of its folder path (below the scanned folder) or of its name is a
label word (``masks``, ``labelsTr``, ``_seg``, ``-mask``, ``manual1``, ``Annotations``, ``gt`` ...; see
:data:`LABEL_WORDS`), otherwise an *image*. A CVPR24 ``.npz`` holding ``imgs`` and ``gts`` is both.
Each label file is paired with one image, trying in order:

1. the same stem (``images/10018.png`` / ``masks/10018.png``, ``imagesTr/x.nii.gz`` / ``labelsTr/x.nii.gz``);
2. the image stem plus a separator and more words (``1.jpg`` / ``1-mask.png``, ``x_T1w`` / ``x_T1w_seg-manual``);
3. the same stem once the role words are removed (``STS_003/PET_image`` / ``STS_003/PET_mask``);
4. the same leading number when the words differ (``21_training.tif`` / ``21_manual1.gif``);

among several candidates the image whose folder is nearest wins (fewest differing path components), and a
tie leaves the label unpaired. Each pair's label path is then written as a ``cases_glob`` template of the
image's fields (``{stem}``, ``{number}``, ``{relparent}``, ``{name}``); pairs sharing a template form one
*label set*. Paths are POSIX strings relative to the scanned folder.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from samwidgets.io._common import ALL_SUFFIXES, DICOM_SUFFIXES
from samwidgets.manifest.build import file_stem, stem_number

LABEL_WORDS = frozenset({
    "mask", "masks", "label", "labels", "lbl", "seg", "segs", "segmentation", "segmentations", "gt", "gts",
    "groundtruth", "truth", "annotation", "annotations", "annot", "manual", "target", "targets", "roi",
    "contour", "contours", "outline", "outlines", "fov", "derivatives", "mk",
})
IMAGE_WORDS = frozenset({
    "image", "images", "img", "imgs", "jpegimages", "raw", "input", "inputs", "scan", "scans", "volume",
    "volumes", "original", "originals", "tr", "ts",
})
SEPARATORS = "-_. "
SCAN_SUFFIXES = tuple(s for s in ALL_SUFFIXES if s not in DICOM_SUFFIXES)


def words(text: str) -> list[str]:
    """Lower-case words of a name: split at separators, case changes (imagesTr) and digit runs."""
    parts = re.findall(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+", text)
    return [p.lower() for p in parts]


def _role_words(rel: PurePosixPath) -> set[str]:
    found = set()
    for part in list(rel.parts[:-1]) + [file_stem(Path(rel.name))]:
        found.update(words(part))
        found.add(part.lower())
    return found


def list_files(root: Path) -> list[PurePosixPath]:
    """Every readable image/label file under ``root`` (hidden files and folders skipped), sorted."""
    out = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if any(part.startswith(".") for part in rel.parts) or not path.is_file():
            continue
        if path.name.lower().endswith(SCAN_SUFFIXES):
            out.append(PurePosixPath(rel.as_posix()))
    return out


def _npz_has_labels(path: Path) -> bool:
    import numpy as np

    try:
        with np.load(path, allow_pickle=False) as z:
            return "imgs" in z.files and "gts" in z.files
    except Exception:  # noqa: BLE001 - an unreadable npz is reported when it is read as an image
        return False


def is_label_file(rel: PurePosixPath) -> bool:
    """True when a folder or name word of ``rel`` is a label word."""
    return bool(_role_words(rel) & LABEL_WORDS)


def _folder_distance(a: PurePosixPath, b: PurePosixPath) -> tuple[int, int]:
    pa, pb = a.parent.parts, b.parent.parts
    common = 0
    for x, y in zip(pa, pb):
        if x != y:
            break
        common += 1
    tail = 0
    for x, y in zip(reversed(pa), reversed(pb)):
        if x != y:
            break
        tail += 1
    return len(pa) + len(pb) - 2 * common, -tail


def _key(rel: PurePosixPath) -> str:
    kept = [w for w in words(file_stem(Path(rel.name))) if w not in LABEL_WORDS | IMAGE_WORDS]
    return "_".join(kept)


def _nearest(label: PurePosixPath, candidates: list[PurePosixPath]) -> PurePosixPath | None:
    if not candidates:
        return None
    ranked = sorted(candidates, key=lambda c: _folder_distance(label, c))
    if len(ranked) > 1 and _folder_distance(label, ranked[0]) == _folder_distance(label, ranked[1]):
        return None
    return ranked[0]


@dataclass
class Pairing:
    """``pairs``: image -> its label files (in label-set order); ``unpaired_images`` / ``unpaired_labels``:
    files left over; ``npz_both``: npz files holding their own labels."""

    pairs: dict[PurePosixPath, list[PurePosixPath]] = field(default_factory=dict)
    unpaired_images: list[PurePosixPath] = field(default_factory=list)
    unpaired_labels: list[PurePosixPath] = field(default_factory=list)
    npz_both: list[PurePosixPath] = field(default_factory=list)


def _index(images: list[PurePosixPath]) -> tuple[dict, dict, dict]:
    by_stem: dict[str, list] = {}
    by_key: dict[str, list] = {}
    by_number: dict[str, list] = {}
    for img in images:
        stem = file_stem(Path(img.name))
        by_stem.setdefault(stem, []).append(img)
        by_key.setdefault(_key(img), []).append(img)
        number = stem_number(stem)
        if number:
            by_number.setdefault(number, []).append(img)
    return by_stem, by_key, by_number


def _match(label: PurePosixPath, by_stem: dict, by_key: dict, by_number: dict) -> PurePosixPath | None:
    stem = file_stem(Path(label.name))
    found = _nearest(label, by_stem.get(stem, []))
    if found is not None:
        return found
    cuts = [i for i, ch in enumerate(stem) if ch in SEPARATORS and i > 0]
    for i in reversed(cuts):  # longest image stem first
        found = _nearest(label, by_stem.get(stem[:i], []))
        if found is not None:
            return found
    key = _key(label)
    if key:
        found = _nearest(label, [c for c in by_key.get(key, []) if c.parent == label.parent])
        if found is not None:
            return found
    number = stem_number(stem)
    if number:
        # numbered pairs: the number must name one image per folder
        candidates = by_number.get(number, [])
        folders = [c.parent for c in candidates]
        unique = [c for c in candidates if folders.count(c.parent) == 1]
        return _nearest(label, unique)
    return None


def pair_files(root: Path, files: list[PurePosixPath] | None = None) -> Pairing:
    """Pair the label files under ``root`` with their images (see the module docstring)."""
    files = list_files(root) if files is None else files
    result = Pairing()
    images, labels = [], []
    for rel in files:
        if rel.name.lower().endswith(".npz") and _npz_has_labels(root / rel):
            result.npz_both.append(rel)
            result.pairs[rel] = [rel]
        elif is_label_file(rel):
            labels.append(rel)
        else:
            images.append(rel)
    by_stem, by_key, by_number = _index(images)
    for label in labels:
        image = _match(label, by_stem, by_key, by_number)
        if image is None:
            result.unpaired_labels.append(label)
        else:
            result.pairs.setdefault(image, []).append(label)
    result.unpaired_images = [i for i in images if i not in result.pairs]
    return result


def _escape(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")


def label_template(image: PurePosixPath, label: PurePosixPath) -> str:
    """The ``cases_glob`` label template that turns ``image`` into ``label`` (relative POSIX paths)."""
    rel_parent = image.parent.as_posix()
    if label == image:
        return "{name}" if rel_parent == "." else "{relparent}/{name}"
    lparts, iparts = list(label.parent.parts), list(image.parent.parts)
    folder = "/".join(_escape(p) for p in lparts)
    if iparts and lparts == iparts:
        folder = "{relparent}"
    elif iparts:
        n = len(iparts)
        for i in range(len(lparts) - n + 1):
            if lparts[i:i + n] == iparts:
                folder = "/".join([_escape(p) for p in lparts[:i]] + ["{relparent}"]
                                  + [_escape(p) for p in lparts[i + n:]])
                break
    name = label.name
    stem = file_stem(Path(image.name))
    number = stem_number(stem)
    if stem and name.startswith(stem):
        name_t = "{stem}" + _escape(name[len(stem):])
    elif stem and stem in name:
        i = name.index(stem)
        name_t = _escape(name[:i]) + "{stem}" + _escape(name[i + len(stem):])
    elif number and stem_number(file_stem(Path(name))) == number:
        i = name.index(number)
        name_t = _escape(name[:i]) + "{number}" + _escape(name[i + len(number):])
    else:
        name_t = _escape(name)
    return f"{folder}/{name_t}" if folder else name_t
