"""The CVPR 2025 interactive-segmentation click simulator (numpy/scipy only).

Matches ``CVPR25_iter_eval.py`` of JunMa11/CVPR-MedSegFMCompetition (the challenge "Foundation Models for
Interactive 3D Biomedical Image Segmentation"; protocols.md "Interactive protocols of the field"), per
class, step by step:

1. error = prediction != ground truth (both binary for the class);
2. connected components of the error with full connectivity (26 in 3D; the reference's ``cc3d`` call);
   the largest one, ties to the lowest label (``np.argmax`` of the sizes; labels numbered in C-order scan
   order, which is how both ``cc3d`` and ``scipy.ndimage.label`` number a C-ordered array: checked on
   random masks);
3. its Euclidean distance transform, in voxel units (no spacing), computed on the component's bounding box
   zero-padded by ``max(int(0.25 * size), 1)`` voxels per axis (reference ``compute_edt``), so the array
   border counts as background;
4. the click is at the maximum; among tied maxima, listed in C order (``np.argwhere``), the reference
   re-seeds numpy's legacy generator with 42 before every choice (``np.random.seed(42)``, then
   ``np.random.choice(n)``), so the tie break is a fixed function of the number of ties:
   :func:`tie_break_index` (no random state is consumed anywhere else);
5. foreground click if the ground truth is 1 there (an under-segmentation), else background.

A perfect prediction gives no click (``None``), as in the reference ("No clicks were added").

The initial box (:func:`cvpr25_box`) follows the challenge's ``get_boxes.py``: ``z_min``/``z_max`` of the
object; ``z_mid = z[len(z) // 2]`` over the object's voxels in C order (the median voxel's slice, not the
middle of the z range); on that slice the tight 2D box, each side moved outwards by
``int(shift * W / 256)`` (x) and ``int(shift * H / 256)`` (y) for one ``shift`` drawn uniformly from 0..5,
clipped to the image. The reference draws ``shift`` from numpy's global generator seeded once per data
preparation run (2025), so the drawn values depend on file order; here it comes from the explicit ``rng``.

Deliberate extension: the reference only runs on 3D (z, y, x) volumes. A 2D (y, x) mask is treated the
same way in two dimensions (8-connectivity, padding per axis); feeding the reference a (1, H, W) volume
instead would pad z as well and make every pixel's distance 1.

Coordinates: clicks are array indices, (z, y, x) for volumes, (y, x) for 2D; :meth:`Cvpr25Click.xy`
gives the xy pixel of a 2D prompt.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from samwidgets.errors import PromptError
from samwidgets.masks.components import components_by_size

#: the reference re-seeds numpy's legacy generator with this before every tie break
REFERENCE_SEED = 42
#: padding of the EDT crop, as a fraction of the component's bounding-box size per axis (at least 1 voxel)
EDT_PADDING = 0.25
#: clicks per object after the optional box
N_CLICKS = 5
#: the box sides move outwards by a shift drawn from 0 .. BOX_SHIFT_MAX (in 256-pixel units)
BOX_SHIFT_MAX = 5


@dataclass(frozen=True)
class Cvpr25Box:
    """The challenge's box prompt: ``box_xyxy`` (4,) float xyxy pixels on slice ``z_mid``; for a volume the
    object's inclusive slice range ``z_min``..``z_max`` (all three 0 for a 2D image)."""

    box_xyxy: np.ndarray
    z_mid: int = 0
    z_min: int = 0
    z_max: int = 0

    def to_json(self) -> dict:
        return {"box_xyxy": np.asarray(self.box_xyxy, float).tolist(), "z_mid": self.z_mid,
                "z_min": self.z_min, "z_max": self.z_max}


@dataclass(frozen=True)
class Cvpr25Click:
    """One simulated click: ``index`` (z, y, x) or (y, x) array indices; ``foreground`` True for a
    foreground (positive) click, False for a background (negative) one."""

    index: tuple[int, ...]
    foreground: bool

    @property
    def label(self) -> int:
        """1 for a foreground click, 0 for a background click (segment-anything point labels)."""
        return int(self.foreground)

    def xy(self) -> np.ndarray:
        """(2,) float xy pixels of the click in its slice (x = last index, y = the one before)."""
        return np.array([self.index[-1], self.index[-2]], dtype=float)


def _pair(gt, pred) -> tuple[np.ndarray, np.ndarray]:
    g = np.asarray(gt).astype(bool, copy=False)
    p = np.asarray(pred).astype(bool, copy=False)
    if g.shape != p.shape or g.ndim not in (2, 3):
        raise PromptError(f"ground truth {g.shape} and prediction {p.shape} must be the same (y, x) or (z, y, x) shape")
    return g, p


def cvpr25_box(gt: np.ndarray, *, rng: np.random.Generator) -> Cvpr25Box:
    """The initial box of a (y, x) or (z, y, x) bool object (module docstring), its shift drawn with ``rng``."""
    g = np.asarray(gt).astype(bool, copy=False)
    if g.ndim not in (2, 3) or not g.any():
        raise PromptError(f"the CVPR 2025 box needs a non-empty (y, x) or (z, y, x) mask, got shape {g.shape}")
    z_mid = z_min = z_max = 0
    plane = g
    if g.ndim == 3:
        zs = np.nonzero(g)[0]
        z_min, z_max, z_mid = int(zs.min()), int(zs.max()), int(zs[len(zs) // 2])
        plane = g[z_mid]
    ys, xs = np.nonzero(plane)
    h, w = plane.shape
    shift = int(rng.integers(0, BOX_SHIFT_MAX + 1))
    dx, dy = int(shift * w / 256), int(shift * h / 256)
    box = np.array([max(0, xs.min() - dx), max(0, ys.min() - dy), min(w - 1, xs.max() + dx),
                    min(h - 1, ys.max() + dy)], dtype=float)
    return Cvpr25Box(box, z_mid=z_mid, z_min=z_min, z_max=z_max)


def largest_error_component(gt: np.ndarray, pred: np.ndarray) -> np.ndarray | None:
    """The largest connected component of ``gt != pred`` (full connectivity), ties to the lowest label in
    C-order scan order, as a bool mask of the input shape; None when the prediction is perfect."""
    g, p = _pair(gt, pred)
    largest = components_by_size(g != p, max_components=1)
    return largest[0] if largest else None


def padded_edt(component: np.ndarray) -> np.ndarray:
    """The reference ``compute_edt``: EDT of a non-empty bool mask computed on its bounding box zero-padded
    by ``max(int(0.25 * size), 1)`` per axis, placed back into an array of the mask's shape (0 elsewhere).
    Distances in voxels (the reference passes no spacing)."""
    m = np.asarray(component, bool)
    idx = np.argwhere(m)
    if len(idx) == 0:
        raise PromptError("cannot take the distance transform of an empty error component")
    lo, hi = idx.min(axis=0), idx.max(axis=0) + 1
    shape = hi - lo
    pad = np.maximum((shape * EDT_PADDING).astype(int), 1)
    inner = tuple(slice(int(lo[a]), int(hi[a])) for a in range(m.ndim))
    crop = np.zeros(shape + 2 * pad, dtype=np.uint8)
    centre = tuple(slice(int(pad[a]), int(pad[a] + shape[a])) for a in range(m.ndim))
    crop[centre] = m[inner]
    out = np.zeros(m.shape, dtype=float)
    out[inner] = ndimage.distance_transform_edt(crop)[centre]
    return out


def tie_break_index(n_ties: int) -> int:
    """Which of ``n_ties`` tied maxima (in C order) the reference picks: ``np.random.seed(42)`` then
    ``np.random.choice(n_ties)``, reproduced with a private legacy generator (no global state touched)."""
    if n_ties < 1:
        raise PromptError("no candidate to choose from")
    return int(np.random.RandomState(REFERENCE_SEED).choice(int(n_ties)))


def cvpr25_click(gt: np.ndarray, pred: np.ndarray) -> Cvpr25Click | None:
    """The next CVPR 2025 click for a (y, x) or (z, y, x) bool ground truth and prediction (module
    docstring); None when the prediction equals the ground truth."""
    g, p = _pair(gt, pred)
    comp = largest_error_component(g, p)
    if comp is None:
        return None
    edt = padded_edt(comp)
    ties = np.argwhere(edt == edt.max())
    index = tuple(int(v) for v in ties[tie_break_index(len(ties))])
    return Cvpr25Click(index=index, foreground=bool(g[index]))
