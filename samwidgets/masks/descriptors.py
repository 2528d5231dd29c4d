"""Object and prompt descriptors: numbers that may explain why a model fails on one object.

Computed from the image the model saw (the 2D slice, or the volume for a volume-level row) and the
ground-truth object, numpy / scipy / scikit-image only. Conventions:

* masks are bool (y, x) for a 2D object or (z, y, x) for a volume object; images are (y, x), (y, x, 3),
  (z, y, x) or (z, y, x, 3) (colour is averaged to grey for the appearance descriptors);
* ``spacing`` is mm per axis in the same array order, or None when the file does not say (then the mm
  size is NaN);
* boxes are xyxy with inclusive pixel coordinates (as :func:`samwidgets.prompts.box_from_mask` makes
  them); points are xy pixels (x = column, y = row);
* appearance is measured in-plane: for a volume, gradients, rings and boundaries are those of each slice
  (no smoothing or distance across z);
* a descriptor that is undefined for an object is NaN (e.g. circularity of a single pixel, CNR where the
  ring outside lies entirely off the image).

Every function crops to the object's bounding box plus the margin it needs before working, so a
descriptor costs milliseconds on a 512² slice (they run once per results row in sweeps).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import ndimage as ndi

from samwidgets.errors import InputError
from samwidgets.masks.components import connected_components
from samwidgets.masks.distance import distance_map

#: width in pixels of the ring outside the object used for the boundary contrast (CNR)
RING_WIDTH_PX = 3
#: sigma in pixels of the Gaussian derivative used for gradient magnitudes
GRADIENT_SIGMA_PX = 1.0
_NAN = float("nan")


@dataclass(frozen=True)
class ObjectDescriptors:
    """Descriptors of one ground-truth object (see :func:`describe_object` for each formula)."""

    obj_px: float             # pixels (2D) or voxels (3D) of the object
    obj_fraction: float       # obj_px / pixels (voxels) of the image
    obj_mm: float             # mm² (2D) or mm³ (3D); NaN when the spacing is not known
    obj_components: float     # connected components (8- / 26-connectivity)
    obj_solidity: float       # area / convex-hull area
    obj_circularity: float    # 4πA / P² (Crofton perimeter)
    obj_elongation: float     # major / minor axis
    obj_holes: float          # enclosed background regions
    obj_cnr: float            # |mean in − mean ring| / pooled std, ring of RING_WIDTH_PX
    obj_edge_gradient: float  # mean gradient on the boundary / median gradient of the image
    obj_heterogeneity: float  # std inside / (max − min) of the image
    obj_touches_border: float  # 1.0 when the object touches the image edge (in-plane), else 0.0

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


@dataclass(frozen=True)
class PromptDescriptors:
    """Descriptors of the first prompt of a protocol (see :func:`describe_prompt`); NaN where absent."""

    box_tightness: float      # box area / object area (1 = the box is the object)
    box_other_fill: float     # share of the box's pixels that belong to other structures
    click_dist_px: float      # first positive click's distance to the object boundary, px (< 0 outside)
    click_dist_rel: float     # click_dist_px / largest inscribed radius (1 = the deepest point)

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


OBJECT_DESCRIPTORS = tuple(ObjectDescriptors.__dataclass_fields__)
PROMPT_DESCRIPTORS = tuple(PromptDescriptors.__dataclass_fields__)


# -- helpers -------------------------------------------------------------------------------------------

def _mask(mask, ndims=(2, 3)) -> np.ndarray:
    m = np.asarray(mask).astype(bool, copy=False)
    if m.ndim not in ndims:
        raise InputError(f"mask must be {' or '.join(f'{d}D' for d in ndims)}, got shape {m.shape}",
                         where="mask")
    return m


def _crop(mask: np.ndarray, margin: int) -> tuple[slice, ...]:
    """Slices of the bounding box of ``mask`` grown by ``margin`` in-plane (not along z), clipped."""
    idx = np.nonzero(mask)
    out = []
    for axis, (lo, hi) in enumerate((int(i.min()), int(i.max())) for i in idx):
        pad = 0 if (mask.ndim == 3 and axis == 0) else margin
        out.append(slice(max(lo - pad, 0), min(hi + pad + 1, mask.shape[axis])))
    return tuple(out)


def grey(image, shape: tuple[int, ...]) -> np.ndarray:
    """The image as float grey values of the mask's ``shape``: colour (a last axis of 3 or 4) averaged."""
    a = np.asarray(image)
    if a.ndim == len(shape) + 1 and a.shape[-1] in (3, 4):
        a = a[..., :3].mean(axis=-1)
    if a.shape != tuple(shape):
        raise InputError(f"image of shape {np.asarray(image).shape} does not fit a mask of shape {shape}",
                         where="image")
    return a.astype(np.float64, copy=False)


def _disk(radius: int, ndim: int) -> np.ndarray:
    """In-plane Euclidean disc of ``radius`` px as a structuring element ((1, 2r+1, 2r+1) for a volume):
    a dilation by it reaches exactly the pixels within Euclidean distance ``radius``."""
    yy, xx = np.mgrid[-radius:radius + 1, -radius:radius + 1]
    disk = yy ** 2 + xx ** 2 <= radius ** 2
    return disk[None] if ndim == 3 else disk


def _boundary(mask: np.ndarray) -> np.ndarray:
    """Object pixels with a 4-neighbour (in-plane) outside the object; the array edge counts as outside."""
    st = ndi.generate_binary_structure(2, 1)
    if mask.ndim == 3:
        st = st[None]
    return mask & ~ndi.binary_erosion(mask, structure=st, border_value=0)


def gradient_magnitude(g: np.ndarray, sigma: float = GRADIENT_SIGMA_PX) -> np.ndarray:
    """In-plane Gaussian gradient magnitude (sigma px, edges replicated) of grey values (:func:`grey`),
    computed in float32; (y, x) -> (y, x), (z, y, x) -> (z, y, x) slice by slice (so a volume's gradient
    equals the stack of its slices' gradients)."""
    g = g.astype(np.float32)
    if g.ndim == 2:
        return ndi.gaussian_gradient_magnitude(g, sigma, mode="nearest")
    return np.stack([ndi.gaussian_gradient_magnitude(s, sigma, mode="nearest") for s in g])


# -- size and shape ------------------------------------------------------------------------------------

def size(mask, *, spacing=None) -> tuple[float, float, float]:
    """(pixels, fraction, mm) of a (y, x) or (z, y, x) mask.

    pixels = number of object pixels (voxels); fraction = pixels / mask.size; mm = pixels × prod(spacing)
    (mm² in 2D, mm³ in 3D), NaN when ``spacing`` is None.
    """
    m = _mask(mask)
    n = float(m.sum())
    mm = _NAN if spacing is None else n * float(np.prod(np.asarray(spacing, float)))
    return n, n / m.size, mm


def n_components(mask) -> int:
    """Connected components of the object: 8-connectivity in 2D, 26 in 3D (as the prompt simulators)."""
    return connected_components(_mask(mask))[1]


def n_holes(mask) -> int:
    """Background regions enclosed by the object: components of the background (4-connectivity in 2D,
    6 in 3D, the complement of the object's 8 / 26) that do not reach the edge of the array."""
    m = _mask(mask)
    if not m.any():
        return 0
    sub = np.pad(m[_crop(m, 0)], 1, constant_values=False)
    labels, n = ndi.label(~sub, structure=ndi.generate_binary_structure(m.ndim, 1))
    return max(n - 1, 0)  # the padded frame joins every outside region into one


def solidity(mask) -> float:
    """Area / convex-hull area of a (y, x) mask (all components together).

    The hull is the convex hull of the object's pixel centres (``scipy.spatial.ConvexHull`` of its
    boundary pixels), rasterised as the pixels whose centres lie in or on it
    (``skimage.measure.grid_points_in_poly``), so a digital disc or rectangle has solidity exactly 1; a
    ring or two separate discs have solidity < 1. A line (collinear pixels) is its own hull: 1. Empty: NaN.
    """
    from scipy.spatial import ConvexHull, QhullError
    from skimage.measure import grid_points_in_poly

    m = _mask(mask, (2,))
    if not m.any():
        return _NAN
    sub = m[_crop(m, 0)]
    ys, xs = np.nonzero(_boundary(sub))
    pts = np.stack([ys, xs], axis=1).astype(float)
    try:
        hull = ConvexHull(pts)
    except (QhullError, ValueError):  # fewer than 3 points, or all on one line
        return 1.0
    inside = grid_points_in_poly(sub.shape, pts[hull.vertices], binarize=False) > 0
    return float(sub.sum() / max(int((inside | sub).sum()), 1))


def circularity(mask) -> float:
    """4πA / P² of a (y, x) mask: 1 for a disc, π/4 ≈ 0.785 for a square, → 0 for thin or ragged shapes.

    A = pixel count; P = Crofton perimeter estimate (``skimage.measure.perimeter_crofton``, 4 directions),
    which makes digital discs read ≈ 1 (0.97 at radius 20 px, 0.88 at 5 px) but over-reads axis-aligned
    squares (0.89). P = 0 (nothing to measure): NaN.
    """
    from skimage.measure import perimeter_crofton

    m = _mask(mask, (2,))
    if not m.any():
        return _NAN
    sub = np.pad(m[_crop(m, 0)], 1, constant_values=False)
    p = float(perimeter_crofton(sub, directions=4))
    return _NAN if p <= 0 else float(4.0 * np.pi * sub.sum() / p ** 2)


def elongation(mask) -> float:
    """Major / minor axis of a (y, x) mask: sqrt(λ1 / λ2) of the covariance of its pixel coordinates,
    each pixel taken as a unit square (1/12 added to both variances), so a w × h rectangle gives h / w
    exactly and a one-pixel line of length L gives L; a disc ≈ 1. Empty: NaN."""
    m = _mask(mask, (2,))
    ys, xs = np.nonzero(m)
    if len(ys) == 0:
        return _NAN
    cov = np.cov(np.stack([ys, xs]).astype(float), bias=True) + np.eye(2) / 12.0
    lo, hi = np.linalg.eigvalsh(cov)
    return float(np.sqrt(hi / lo))


def touches_border(mask) -> bool:
    """Whether an object pixel lies on the first or last row or column of its (in-plane) image."""
    m = _mask(mask)
    return bool(m[..., 0, :].any() or m[..., -1, :].any() or m[..., :, 0].any() or m[..., :, -1].any())


# -- appearance ----------------------------------------------------------------------------------------

def boundary_cnr(image, mask, *, ring_px: int = RING_WIDTH_PX) -> float:
    """Boundary contrast-to-noise ratio: |mean(inside) − mean(ring)| / sqrt((var(inside) + var(ring)) / 2).

    inside = the object's pixels; ring = pixels outside the object within Euclidean distance ``ring_px``
    (default :data:`RING_WIDTH_PX` = 3 px) of it, in-plane, inside the image. Variances are population
    variances. Grey values (colour averaged). Pooled std 0: inf if the means differ, else 0. No ring
    pixel (the object fills the image): NaN.
    """
    m = _mask(mask)
    g = grey(image, m.shape)
    if not m.any():
        return _NAN
    sl = _crop(m, int(ring_px) + 1)
    sub, gs = m[sl], g[sl]
    ring = ndi.binary_dilation(sub, structure=_disk(int(ring_px), sub.ndim)) & ~sub
    if not ring.any():
        return _NAN
    a, b = gs[sub], gs[ring]
    diff = abs(float(a.mean()) - float(b.mean()))
    pooled = float(np.sqrt((a.var() + b.var()) / 2.0))
    if pooled == 0.0:
        return float("inf") if diff > 0 else 0.0
    return diff / pooled


def edge_gradient(image, mask, *, sigma: float = GRADIENT_SIGMA_PX, gradient=None) -> float:
    """Mean gradient magnitude on the object's boundary / median gradient magnitude of the image.

    Gradient = in-plane Gaussian gradient magnitude (``scipy.ndimage.gaussian_gradient_magnitude``,
    ``sigma`` px, edges replicated) of the grey image. Boundary = object pixels with a 4-neighbour
    outside the object (in-plane). The image median is over the pixels with a non-zero gradient (a flat
    zero background would make it 0); for a volume, over the slices the object spans. > 1: the boundary
    is sharper than a typical edge of the image. No non-zero gradient: NaN.

    gradient: the image's :func:`gradient_magnitude` at ``sigma`` when the caller already has it (shared by
    the objects of one slice), the mask's shape; for a volume only the slices the object spans are read.
    """
    m = _mask(mask)
    g = grey(image, m.shape)
    if gradient is not None and np.shape(gradient) != m.shape:
        raise InputError(f"gradient of shape {np.shape(gradient)} does not fit a mask of shape {m.shape}",
                         where="gradient")
    if not m.any():
        return _NAN
    if m.ndim == 3:
        zs = np.nonzero(m.any(axis=(1, 2)))[0]
        span = slice(int(zs.min()), int(zs.max()) + 1)
        m, g = m[span], g[span]
        gradient = None if gradient is None else gradient[span]
    grad = gradient_magnitude(g, sigma) if gradient is None else np.asarray(gradient)
    ref = grad[grad > 1e-6 * max(float(grad.max()), 1.0)]
    if ref.size == 0:
        return _NAN
    return float(grad[_boundary(m)].mean(dtype=np.float64) / np.median(ref))


def heterogeneity(image, mask) -> float:
    """std of the grey values inside the object / (max − min) of the whole image; 0 for a flat image."""
    m = _mask(mask)
    g = grey(image, m.shape)
    if not m.any():
        return _NAN
    span = float(g.max() - g.min())
    return 0.0 if span == 0.0 else float(g[m].std() / span)


# -- prompts -------------------------------------------------------------------------------------------

def _box_pixels(box_xyxy, shape_hw) -> tuple[slice, slice, float]:
    x0, y0, x1, y1 = np.rint(np.asarray(box_xyxy, float).reshape(4)).astype(int)
    h, w = shape_hw
    x0, x1 = sorted((int(np.clip(x0, 0, w - 1)), int(np.clip(x1, 0, w - 1))))
    y0, y1 = sorted((int(np.clip(y0, 0, h - 1)), int(np.clip(y1, 0, h - 1))))
    return slice(y0, y1 + 1), slice(x0, x1 + 1), float((x1 - x0 + 1) * (y1 - y0 + 1))


def box_tightness(box_xyxy, mask) -> float:
    """Box area / object area on a (y, x) mask; box area = (x1 − x0 + 1)(y1 − y0 + 1) pixels of the box
    (inclusive xyxy, rounded, clipped to the image). 1 = the box is the object; a tight box around a
    disc gives 4/π ≈ 1.27. Empty object: NaN."""
    m = _mask(mask, (2,))
    n = float(m.sum())
    return _NAN if n == 0 else _box_pixels(box_xyxy, m.shape)[2] / n


def box_other_fill(box_xyxy, mask, others) -> float:
    """Share of the box's pixels that belong to other structures: |box ∩ others ∖ object| / |box|.

    ``others``: (y, x) bool union of the case's other labels on the slice (None: 0.0)."""
    m = _mask(mask, (2,))
    ys, xs, area = _box_pixels(box_xyxy, m.shape)
    if others is None:
        return 0.0
    o = _mask(others, (2,)) & ~m
    return float(o[ys, xs].sum() / area)


def click_distance(point_xy, mask) -> tuple[float, float]:
    """(px, relative) distance of a click to the object's boundary on a (y, x) mask.

    px = Euclidean distance transform of the object at the clicked pixel (distance to the nearest
    background pixel, the image edge counting as background, as the simulators' centre point uses:
    :func:`samwidgets.masks.distance.distance_map`); a click outside the object gets minus its distance
    to the nearest object pixel. relative = px / max of that transform (the largest inscribed radius), so
    the simulators' centre click gives 1. The point is rounded to the nearest pixel; off the image: NaN.
    """
    m = _mask(mask, (2,))
    x, y = (int(round(float(v))) for v in np.asarray(point_xy, float).reshape(2))
    if not m.any() or not (0 <= y < m.shape[0] and 0 <= x < m.shape[1]):
        return _NAN, _NAN
    inside = distance_map(m)
    radius = float(inside.max())
    if m[y, x]:
        d = float(inside[y, x])
    else:
        d = -float(ndi.distance_transform_edt(~m)[y, x])
    return d, d / radius


# -- all at once ---------------------------------------------------------------------------------------

def describe_object(image, mask, *, spacing=None, shape_slice: int | None = None,
                    gradient=None) -> ObjectDescriptors:
    """All :class:`ObjectDescriptors` of a (y, x) or (z, y, x) bool object on its image.

    image: (y, x[, 3]) or (z, y, x[, 3]), the intensities the model saw. spacing: mm per axis in array
    order or None (unknown). For a volume object the 2D shape descriptors (solidity, circularity,
    elongation) are those of slice ``shape_slice`` (the prompted slice; default: the middle of the
    object's z extent, ``int((z_max − z_min) / 2 + z_min)``); size, components, holes and appearance are
    3D (appearance in-plane). ``gradient``: the image's :func:`gradient_magnitude`, when the caller shares
    it between objects (see :func:`edge_gradient`). Empty mask: InputError.
    """
    m = _mask(mask)
    if not m.any():
        raise InputError("cannot describe an empty object", where="mask")
    if m.ndim == 3:
        if shape_slice is None:
            zs = np.nonzero(m.any(axis=(1, 2)))[0]
            shape_slice = int((zs.max() - zs.min()) / 2 + zs.min())
        plane = m[int(shape_slice)]
    else:
        plane = m
    px, frac, mm = size(m, spacing=spacing)
    has_plane = bool(plane.any())
    g = grey(image, m.shape)  # once, for the three appearance descriptors
    return ObjectDescriptors(
        obj_px=px, obj_fraction=frac, obj_mm=mm, obj_components=float(n_components(m)),
        obj_solidity=solidity(plane) if has_plane else _NAN,
        obj_circularity=circularity(plane) if has_plane else _NAN,
        obj_elongation=elongation(plane) if has_plane else _NAN,
        obj_holes=float(n_holes(m)), obj_cnr=boundary_cnr(g, m),
        obj_edge_gradient=edge_gradient(g, m, gradient=gradient),
        obj_heterogeneity=heterogeneity(g, m), obj_touches_border=float(touches_border(m)),
    )


def describe_prompt(mask, *, box_xyxy=None, point_xy=None, others=None) -> PromptDescriptors:
    """:class:`PromptDescriptors` of a protocol's first box (xyxy) and first positive click (xy) on the
    (y, x) object ``mask``; ``others`` the (y, x) union of the other structures. Absent prompt: NaN."""
    m = _mask(mask, (2,))
    tight = fill = dist = rel = _NAN
    if box_xyxy is not None:
        tight, fill = box_tightness(box_xyxy, m), box_other_fill(box_xyxy, m, others)
    if point_xy is not None:
        dist, rel = click_distance(point_xy, m)
    return PromptDescriptors(box_tightness=tight, box_other_fill=fill, click_dist_px=dist, click_dist_rel=rel)
