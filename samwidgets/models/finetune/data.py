"""Training samples from manifests, the split by case, and the hash of the data.

A :class:`Sample` is one object (label) on one 2D slice: the slice (H, W[, 3]) uint8 after the manifest's
preset, its (H, W) bool mask, and the case it came from. 2D cases give one sample per label; 3D cases give
up to ``max_slices`` slices per label, evenly spaced over the slices where the label is present (no
randomness). Slices of one case share the case's split, so no volume has slices on both sides.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from samwidgets.errors import InputError, SamwidgetsError
from samwidgets.models.weights import file_sha256

SPLITS = ("train", "val", "test")


@dataclass
class Sample:
    """One object on one slice. image (H, W[, 3]) uint8; mask (H, W) bool; z = slice index (0 for 2D)."""

    key: str
    dataset: str
    modality: str
    label: str
    z: int
    image: np.ndarray
    mask: np.ndarray
    features: dict | None = field(default=None, repr=False)   # encoder output, filled by encode_samples
    prepared: np.ndarray | None = field(default=None, repr=False)  # model input, for encoder training


def _slices_of(mask3d: np.ndarray, max_slices: int) -> list[int]:
    zs = np.flatnonzero(mask3d.reshape(mask3d.shape[0], -1).any(axis=1))
    if len(zs) <= max_slices:
        return zs.tolist()
    pick = np.linspace(0, len(zs) - 1, max_slices).round().astype(int)
    return zs[np.unique(pick)].tolist()


def case_samples(case, *, max_slices: int = 5) -> list[Sample]:
    """The samples of one manifest case (see module docstring). Raises SamwidgetsError when it cannot load."""
    image, labels = case.load()
    arr = image.array
    out = []
    for name, mask in labels.items():
        if mask.ndim == 2:
            out.append(Sample(case.key, case.dataset, case.modality, name, 0, arr, mask))
            continue
        for z in _slices_of(mask, max_slices):
            out.append(Sample(case.key, case.dataset, case.modality, name, int(z), arr[z], mask[z]))
    return out


def collect_samples(cases, *, max_slices: int = 5, on_error=None) -> list[Sample]:
    """Samples of every case in order. A case that fails to load is skipped and ``on_error(case, exc)``
    is called (default: raise)."""
    out = []
    for case in cases:
        try:
            out.extend(case_samples(case, max_slices=max_slices))
        except SamwidgetsError as exc:
            if on_error is None:
                raise
            on_error(case, exc)
    if not out:
        raise InputError("no training samples: the manifests have no loadable case with a label", where="finetune")
    return out


def split_by_case(keys, *, val_fraction: float, test_fraction: float, rng: np.random.Generator) -> dict[str, list[str]]:
    """Assign whole cases to train / val / test: the unique ``keys`` (sorted) in an ``rng`` permutation;
    the first round(test_fraction * n) go to test, the next round(val_fraction * n) to val (at least one
    each when the fraction is > 0 and there are >= 3 cases), the rest to train. Returns {split: sorted keys}.
    """
    uniq = sorted(set(keys))
    n = len(uniq)
    if not (0 <= val_fraction < 1 and 0 <= test_fraction < 1 and val_fraction + test_fraction < 1):
        raise InputError(f"fractions must be in [0, 1) and sum below 1 (val {val_fraction}, test {test_fraction})",
                         where="finetune")

    def count(f):
        return 0 if f <= 0 else max(int(round(f * n)), 1 if n >= 3 else 0)

    n_test, n_val = count(test_fraction), count(val_fraction)
    if n - n_test - n_val < 1:
        raise InputError(f"{n} cases leave none to train on (val {n_val}, test {n_test})", where="finetune")
    order = [uniq[i] for i in rng.permutation(n)]
    parts = {"test": order[:n_test], "val": order[n_test:n_test + n_val], "train": order[n_test + n_val:]}
    return {k: sorted(parts[k]) for k in SPLITS}


def data_hash(cases) -> str:
    """sha256 over the sorted (case key, sha256 of image file, sha256 of label file) of ``cases``; a DICOM
    series folder is hashed over its sorted files."""
    rows = []
    for case in cases:
        parts = [case.key]
        for p in (case.image, case.label):
            if p is None:
                parts.append("-")
            elif Path(p).is_dir():
                parts.append(hashlib.sha256("".join(file_sha256(f) for f in sorted(Path(p).iterdir())
                                                    if f.is_file()).encode()).hexdigest())
            else:
                parts.append(file_sha256(Path(p)))
        rows.append("|".join(parts))
    return hashlib.sha256("\n".join(sorted(rows)).encode()).hexdigest()
