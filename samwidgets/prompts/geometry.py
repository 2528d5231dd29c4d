"""Mask geometry used by every prompt simulator: components, centre points, boxes, grids.

Definitions follow /work/shared/docs/protocols.md "Prompt simulation" (Mazurowski et al. 2023):

* objects are connected components with 8-connectivity in 2D, largest first (ties: first in raster order);
* the "centre point" of a mask is the argmax of its Euclidean distance transform (distance of each object
  pixel to the nearest background pixel, the image border counting as background), ties broken by the
  explicit ``rng``; it is *not* the centroid, which can lie outside a concave object.

Masks are (y, x) bool arrays; every point returned is xy pixels (x = column, y = row) of that mask;
boxes are xyxy ``[x_min, y_min, x_max, y_max]`` with inclusive pixel coordinates (a one-pixel mask at
column 3, row 5 has the box [3, 5, 3, 5]), as in the CVPR24 npz ``boxes`` and the MedSAM tools.
"""

from __future__ import annotations

import numpy as np

from samwidgets.errors import PromptError
from samwidgets.masks.components import components_by_size
from samwidgets.masks.distance import distance_map  # the one definition; re-exported by samwidgets.prompts

#: maximum random shift, in pixels, of each box side for the jittered box (SAM2 medical benchmark)
BOX_JITTER_PX = 5


def _as_mask2d(mask, *, where: str = "mask") -> np.ndarray:
    m = np.asarray(mask)
    if m.ndim != 2:
        raise PromptError(f"expected a 2D (y, x) mask, got shape {m.shape}", where=where)
    return m.astype(bool, copy=False)


def components(mask: np.ndarray, *, max_components: int | None = None) -> list[np.ndarray]:
    """Connected components of a 2D mask (8-connectivity), largest first.

    mask: (y, x) bool. Returns a list of (y, x) bool masks; ties in size keep raster order of the
    component labels. ``max_components`` keeps only the largest ones.
    """
    return components_by_size(_as_mask2d(mask), max_components=max_components)


def centre_point(mask: np.ndarray, *, rng: np.random.Generator) -> np.ndarray:
    """The pixel farthest from the mask's boundary: argmax of :func:`distance_map`, ties broken by ``rng``.

    mask: (y, x) bool, not empty. Returns (2,) float xy pixels. Raises PromptError on an empty mask.
    """
    m = _as_mask2d(mask)
    if not m.any():
        raise PromptError("cannot place a centre point in an empty mask")
    dist = distance_map(m)
    ys, xs = np.nonzero(dist == dist.max())
    k = int(rng.integers(len(ys))) if len(ys) > 1 else 0
    return np.array([xs[k], ys[k]], dtype=float)


def random_point(mask: np.ndarray, *, rng: np.random.Generator) -> np.ndarray:
    """A pixel of the mask drawn uniformly with ``rng``: (2,) float xy. Raises PromptError when empty."""
    m = _as_mask2d(mask)
    ys, xs = np.nonzero(m)
    if len(ys) == 0:
        raise PromptError("cannot sample a point from an empty mask")
    k = int(rng.integers(len(ys)))
    return np.array([xs[k], ys[k]], dtype=float)


def box_from_mask(
    mask: np.ndarray,
    *,
    jitter: int = 0,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """Tight box around a 2D mask, optionally with each side shifted at random.

    mask: (y, x) bool, not empty. Returns (4,) float xyxy inclusive pixel coordinates. With
    ``jitter > 0`` each of the four sides moves independently by an integer drawn uniformly from
    [-jitter, +jitter] with ``rng`` (required then); the box is clipped to the image and kept
    non-inverted (x_min <= x_max, y_min <= y_max).
    """
    m = _as_mask2d(mask)
    ys, xs = np.nonzero(m)
    if len(ys) == 0:
        raise PromptError("cannot make a box from an empty mask")
    box = np.array([xs.min(), ys.min(), xs.max(), ys.max()], dtype=float)
    if jitter:
        if rng is None:
            raise PromptError("a jittered box needs an explicit rng")
        box = jitter_box(box, m.shape, rng=rng, max_px=int(jitter))
    return box


def jitter_box(box_xyxy, shape_hw: tuple[int, int], *, rng: np.random.Generator, max_px: int = BOX_JITTER_PX) -> np.ndarray:
    """Shift each side of an xyxy box by an integer in [-max_px, max_px] (``rng``), clipped to (H, W)."""
    box = np.asarray(box_xyxy, float).reshape(4) + rng.integers(-int(max_px), int(max_px) + 1, size=4)
    h, w = shape_hw
    box[[0, 2]] = np.clip(box[[0, 2]], 0, w - 1)
    box[[1, 3]] = np.clip(box[[1, 3]], 0, h - 1)
    return np.array([min(box[0], box[2]), min(box[1], box[3]), max(box[0], box[2]), max(box[1], box[3])])


#: the densest segment-everything grid: 64 x 64 = 4096 point prompts (SAM's automatic generator uses 32 x 32);
#: a larger one, e.g. from an edited prompt log, would decode millions of prompts
MAX_GRID_SIDE = 64


def grid_points(shape_hw: tuple[int, int], *, n_per_side: int = 32) -> np.ndarray:
    """A regular grid of point prompts for segment-everything, as in SAM's automatic mask generator.

    shape_hw: (H, W) of the slice. Returns (n_per_side**2, 2) float xy pixels at the centres of an
    n_per_side x n_per_side tiling of the image, row by row (y outer, x inner). PromptError unless
    n_per_side is an integer in 1..MAX_GRID_SIDE.
    """
    if isinstance(n_per_side, bool) or not isinstance(n_per_side, (int, np.integer)) \
            or not 1 <= n_per_side <= MAX_GRID_SIDE:
        raise PromptError(f"n_per_side must be an integer in 1..{MAX_GRID_SIDE}, got {n_per_side!r}")
    h, w = int(shape_hw[0]), int(shape_hw[1])
    offsets = (np.arange(n_per_side) + 0.5) / n_per_side
    xs = offsets * w - 0.5
    ys = offsets * h - 0.5
    gx, gy = np.meshgrid(xs, ys)
    return np.stack([gx.ravel(), gy.ravel()], axis=1)
