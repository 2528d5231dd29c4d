"""Segmentation metrics: Dice, IoU, normalised surface Dice (NSD) and the 95th-percentile Hausdorff distance.

Arrays are bool masks of the same shape, 2D (y, x) or 3D (z, y, x); ``spacing`` is the voxel size in mm
per axis in the *same array order* (for CVPR24 npz files, whose ``spacing`` is stored x, y, z, reverse it
first: see protocols.md "npz layout").

Definitions (protocols.md "Metrics (CVPR24 evaluation)"):

* DSC = 2|A∩B| / (|A| + |B|); IoU = |A∩B| / |A∪B|.
* Surfaces are the boundary voxels of each mask: voxels of the mask with at least one face neighbour
  (4-neighbourhood in 2D, 6 in 3D) outside it, the outside of the array counting as background. Distances
  are Euclidean in mm from each boundary voxel of one mask to the nearest boundary voxel of the other
  (scipy's exact distance transform with ``sampling=spacing``).
* NSD at tolerance τ = (#boundary voxels of A within τ of B's boundary + #boundary voxels of B within τ
  of A's boundary) / (#boundary voxels of A + #boundary voxels of B). The CVPR24 reference (DeepMind's
  surface-distance) weights each surface element by its area; this implementation counts boundary voxels,
  which agrees exactly for a zero distance and closely otherwise (a deliberate, documented difference).
* HD95 = max of the two directed 95th percentiles (numpy linear interpolation) of those distances.
* :func:`score` is the per-case policy of the CVPR24 evaluation: NSD is reported only where DSC > 0.2,
  else 0.

Empty-mask policy (the same for every function, tested):
both empty -> dice = iou = nsd = 1.0 and hd95 = 0.0; exactly one empty -> dice = iou = nsd = 0.0 and
hd95 = inf (no surface to measure to: an infinite distance, never silently NaN).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from samwidgets.errors import InputError

#: the CVPR24 evaluation computes NSD only where DSC exceeds this, else reports 0
NSD_MIN_DICE = 0.2
#: default NSD tolerance in mm (CVPR24)
NSD_TOLERANCE_MM = 2.0


def _pair(pred, gt) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(pred).astype(bool, copy=False)
    g = np.asarray(gt).astype(bool, copy=False)
    if p.shape != g.shape:
        raise InputError(f"prediction shape {p.shape} differs from ground truth shape {g.shape}")
    if p.ndim not in (2, 3):
        raise InputError(f"masks must be 2D (y, x) or 3D (z, y, x), got {p.ndim}D")
    return p, g


def _spacing(spacing, ndim: int) -> np.ndarray:
    s = np.asarray(spacing, float).reshape(-1)
    if s.size != ndim or not np.all(s > 0):
        raise InputError(f"spacing must give {ndim} positive values in array order, got {tuple(s)}")
    return s


def dice(pred: np.ndarray, gt: np.ndarray) -> float:
    """Dice similarity coefficient of two bool masks (2D or 3D). Both empty -> 1.0; one empty -> 0.0."""
    p, g = _pair(pred, gt)
    total = int(p.sum()) + int(g.sum())
    if total == 0:
        return 1.0
    return 2.0 * int(np.logical_and(p, g).sum()) / total


def iou(pred: np.ndarray, gt: np.ndarray) -> float:
    """Intersection over union (Jaccard) of two bool masks. Both empty -> 1.0; one empty -> 0.0."""
    p, g = _pair(pred, gt)
    union = int(np.logical_or(p, g).sum())
    if union == 0:
        return 1.0
    return int(np.logical_and(p, g).sum()) / union


def surface(mask: np.ndarray) -> np.ndarray:
    """Boundary voxels of a bool mask: mask voxels with a face neighbour outside it (array edge = outside)."""
    m = np.asarray(mask, bool)
    structure = ndimage.generate_binary_structure(m.ndim, 1)
    return m & ~ndimage.binary_erosion(m, structure=structure, border_value=0)


def _distances_to(surface_to: np.ndarray, spacing: np.ndarray) -> np.ndarray:
    """Distance in mm from every voxel to the nearest voxel of ``surface_to`` (which must not be empty)."""
    return ndimage.distance_transform_edt(~surface_to, sampling=spacing)


def _crop(*masks: np.ndarray) -> tuple[np.ndarray, ...]:
    """The masks cut to their union bounding box and zero-padded by one voxel.

    Surfaces and the distances between them are unchanged by this: every boundary voxel lies inside the
    union box, and the one-voxel zero pad plays the part of the array edge (outside = background).
    """
    union = np.logical_or.reduce(masks)
    idx = np.nonzero(union)
    sl = tuple(slice(int(i.min()), int(i.max()) + 1) for i in idx)
    return tuple(np.pad(m[sl], 1, constant_values=False) for m in masks)


def surface_distances(pred: np.ndarray, gt: np.ndarray, *, spacing) -> tuple[np.ndarray, np.ndarray]:
    """Directed surface distances in mm: (pred boundary -> gt boundary, gt boundary -> pred boundary).

    Both masks must be non-empty. Returns two 1D float arrays, one value per boundary voxel. The
    computation runs on the masks' union bounding box (same result, much faster for small objects).
    """
    p, g = _pair(pred, gt)
    s = _spacing(spacing, p.ndim)
    if not p.any() or not g.any():
        raise InputError("surface distances need two non-empty masks")
    p, g = _crop(p, g)
    sp, sg = surface(p), surface(g)
    return _distances_to(sg, s)[sp], _distances_to(sp, s)[sg]


def _nsd_from(d_pg: np.ndarray, d_gp: np.ndarray, tolerance_mm: float) -> float:
    ok = int((d_pg <= tolerance_mm).sum()) + int((d_gp <= tolerance_mm).sum())
    return ok / (len(d_pg) + len(d_gp))


def _hd95_from(d_pg: np.ndarray, d_gp: np.ndarray) -> float:
    return float(max(np.percentile(d_pg, 95), np.percentile(d_gp, 95)))


def nsd(pred: np.ndarray, gt: np.ndarray, *, spacing, tolerance_mm: float = NSD_TOLERANCE_MM) -> float:
    """Normalised surface Dice at ``tolerance_mm`` (see module docstring); spacing in array order, mm.

    Both empty -> 1.0; exactly one empty -> 0.0. This is the raw NSD: the CVPR24 rule "0 unless
    DSC > 0.2" is applied by :func:`score`.
    """
    p, g = _pair(pred, gt)
    _spacing(spacing, p.ndim)
    if not p.any() and not g.any():
        return 1.0
    if not p.any() or not g.any():
        return 0.0
    return _nsd_from(*surface_distances(p, g, spacing=spacing), tolerance_mm)


def hd95(pred: np.ndarray, gt: np.ndarray, *, spacing) -> float:
    """95th-percentile symmetric Hausdorff distance in mm (max of the two directed 95th percentiles).

    Both empty -> 0.0; exactly one empty -> inf.
    """
    p, g = _pair(pred, gt)
    _spacing(spacing, p.ndim)
    if not p.any() and not g.any():
        return 0.0
    if not p.any() or not g.any():
        return float("inf")
    return _hd95_from(*surface_distances(p, g, spacing=spacing))


def score(
    pred: np.ndarray,
    gt: np.ndarray,
    *,
    spacing,
    tolerance_mm: float = NSD_TOLERANCE_MM,
    nsd_min_dice: float = NSD_MIN_DICE,
) -> dict[str, float]:
    """All four metrics for one prediction, with the CVPR24 per-case policy.

    Returns {"dice", "iou", "nsd", "hd95"}; ``nsd`` is computed only where dice > ``nsd_min_dice``
    (0.2 in the CVPR24 evaluation) and is 0.0 otherwise. Empty masks follow the module policy.
    """
    p, g = _pair(pred, gt)
    _spacing(spacing, p.ndim)
    d = dice(p, g)
    out = {"dice": d, "iou": iou(p, g)}
    if p.any() and g.any():
        d_pg, d_gp = surface_distances(p, g, spacing=spacing)  # computed once for both
        out["nsd"] = _nsd_from(d_pg, d_gp, tolerance_mm) if d > nsd_min_dice else 0.0
        out["hd95"] = _hd95_from(d_pg, d_gp)
    else:
        out["nsd"] = nsd(p, g, spacing=spacing, tolerance_mm=tolerance_mm) if d > nsd_min_dice else 0.0
        out["hd95"] = hd95(p, g, spacing=spacing)
    return out
