"""Intensity presets: raw values (HU, MR signal, SUV, RGB) -> uint8 0-255 as the models are fed.

These follow the MedSAM / CVPR 2024 "MedSAM on Laptop" data preparation exactly (protocols.md
"Intensity preprocessing"):

- CT windows: clip to [L - W/2, L + W/2], min-max to 0-255 over the window, truncate to uint8:
  ``value = floor((clip(hu, lo, hi) - lo) * 255 / W)``. This reproduces the shared CVPR24 lesion npz from its
  raw HU twin for 100% of voxels (tested). Note: the reference scripts min-max over the clipped volume's
  own min and max; the two agree whenever the volume reaches both window edges (true for CT, where air is
  below and bone above any soft-tissue window). samwidgets uses the fixed window so a single slice or a
  cropped volume gets the same values as the whole volume.
- ``percentile`` (MR, ultrasound, mammography, OCT, PET): clip to the 0.5th and 99.5th percentiles of the
  voxels > 0, min-max to 0-255, voxels equal to 0 stay 0, truncate to uint8. The percentiles are taken over
  the array given: pass the whole volume (as the reference does), not one slice, to match it.
- ``rgb`` (endoscopy, dermoscopy, fundus, pathology): unchanged if already within 0-255, else min-max.
- ``minmax``: min-max of the whole array to 0-255. ``none``: the array must already lie in 0-255 (e.g. the
  CVPR24 npz ``imgs``, already windowed); it is only cast to uint8.

Window values: soft tissue L40/W400, lesion L40/W450 (DeepLesion npz), lung L-600/W1500, brain L40/W80,
bone L400/W1800 (the usual radiology bone window; L300/W1500 is a common alternative).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from samwidgets.errors import InputError


@dataclass(frozen=True)
class Preset:
    """One intensity preset. ``kind`` is 'window', 'percentile', 'rgb', 'minmax' or 'none'."""

    name: str
    kind: str
    level: float | None = None
    width: float | None = None
    description: str = ""


PRESETS = MappingProxyType({
    p.name: p
    for p in (
        Preset("ct_soft_tissue", "window", 40.0, 400.0, "CT soft tissue, clip to [-160, 240] HU (MedSAM default)"),
        Preset("ct_lesion", "window", 40.0, 450.0, "CT lesion (DeepLesion CVPR24 npz), clip to [-185, 265] HU"),
        Preset("ct_lung", "window", -600.0, 1500.0, "CT chest/lung, clip to [-1350, 150] HU"),
        Preset("ct_brain", "window", 40.0, 80.0, "CT brain, clip to [0, 80] HU"),
        Preset("ct_bone", "window", 400.0, 1800.0, "CT bone, clip to [-500, 1300] HU"),
        Preset("percentile", "percentile", description="0.5-99.5th percentile of voxels > 0; zeros stay zero"),
        Preset("rgb", "rgb", description="unchanged if within 0-255, else min-max"),
        Preset("minmax", "minmax", description="min-max of the whole array to 0-255"),
        Preset("none", "none", description="already 0-255 (e.g. CVPR24 npz imgs): cast to uint8 only"),
    )
})


def _as_array(array) -> np.ndarray:
    arr = np.asarray(getattr(array, "array", array))
    if arr.dtype.kind not in "biuf":
        raise InputError(f"cannot apply an intensity preset to dtype {arr.dtype}", where="image")
    if arr.size == 0:
        raise InputError("empty array", where="image")
    return arr


def window(array, *, level: float, width: float) -> np.ndarray:
    """CT window: floor((clip(x, L - W/2, L + W/2) - (L - W/2)) * 255 / W) as uint8, same shape.

    Exactly the MedSAM CVPR24 formula (see the module docstring); computed in float64.
    """
    if not width > 0:
        raise InputError(f"window width must be > 0, got {width}", where="window")
    arr = _as_array(array)
    lo = float(level) - float(width) / 2.0
    hi = float(level) + float(width) / 2.0
    clipped = np.clip(arr.astype(np.float64), lo, hi)
    out = np.floor((clipped - lo) * 255.0 / float(width))
    return np.clip(out, 0, 255).astype(np.uint8)


def _minmax(arr: np.ndarray) -> np.ndarray:
    a = arr.astype(np.float64)
    lo, hi = float(a.min()), float(a.max())
    if hi <= lo:
        return np.zeros(arr.shape, dtype=np.uint8)
    return np.clip((a - lo) * 255.0 / (hi - lo), 0, 255).astype(np.uint8)


def percentile_normalise(array) -> np.ndarray:
    """MedSAM MR/US/PET normalisation: clip to the 0.5th-99.5th percentiles of voxels > 0, min-max to 0-255,
    voxels == 0 stay 0, truncate to uint8. All-zero input gives zeros; a constant positive image gives 255
    where it is > 0."""
    arr = _as_array(array)
    a = arr.astype(np.float64)
    positive = a[a > 0]
    if positive.size == 0:
        return np.zeros(arr.shape, dtype=np.uint8)
    lo, hi = np.percentile(positive, [0.5, 99.5])
    if hi <= lo:
        out = np.where(a > 0, 255.0, 0.0)
    else:
        out = (np.clip(a, lo, hi) - lo) * 255.0 / (hi - lo)
    out[a == 0] = 0
    return np.clip(out, 0, 255).astype(np.uint8)


def apply_preset(array, name: str) -> np.ndarray:
    """Apply the preset ``name`` (a key of :data:`PRESETS`) to an array or Image; returns uint8 0-255 with
    the same shape. Unknown names raise InputError listing the valid ones."""
    preset = PRESETS.get(name)
    if preset is None:
        raise InputError(f"unknown intensity preset '{name}'; valid presets: {', '.join(PRESETS)}",
                         where="preset")
    arr = _as_array(array)
    if preset.kind == "window":
        return window(arr, level=preset.level, width=preset.width)
    if preset.kind == "percentile":
        return percentile_normalise(arr)
    if preset.kind == "minmax":
        return _minmax(arr)
    in_range = arr.dtype == np.uint8 or (arr.dtype != bool and float(arr.min()) >= 0 and float(arr.max()) <= 255)
    if preset.kind == "rgb":
        return arr.astype(np.uint8) if in_range else _minmax(arr)
    if not in_range:  # 'none'
        raise InputError(
            f"preset 'none' needs values within 0-255, got {float(arr.min())}..{float(arr.max())}; "
            "choose a window or 'percentile'",
            where="preset",
        )
    return arr.astype(np.uint8)
