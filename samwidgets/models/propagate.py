"""3D segmentation by chaining 2D box prompts from slice to slice, for any Predictor.

The procedure is the CVPR24 LiteMedSAM 3D reference (docs protocols.md "3D handling"), for a 3D box
``[x_min, y_min, z_min, x_max, y_max, z_max]`` (CVPR24 layout: xy pixels, z slice indices, all inclusive):

1. ``z_mid = int((z_max - z_min) / 2 + z_min)``; slice ``z_mid`` is prompted with the 2D box
   ``[x_min, y_min, x_max, y_max]``;
2. going up, ``z = z_mid + 1 .. z_max``, each slice is prompted with the bounding box of the previous
   slice's mask computed at 256 scale (the mask resized like the image: longest side to 256 with
   ``cv2.INTER_AREA``, zero-padded to 256 x 256), widened by 3 px and clipped to [0, 256] (reference
   ``get_bbox256``); when that resized previous mask is empty the middle box is reused;
3. going down, ``z = z_mid - 1 .. z_min``, the same with the slice above.

z_max and z_min are inclusive (the released script extends its ``range`` ends by one for this); both are
clipped to the volume. Differences from the reference, all deliberate:

* every slice is encoded ONCE, through ``predictor.encode`` (so an embedding cache is used), whatever the
  number of boxes; the reference re-encodes each slice for every box. With several boxes, the boxes
  that are on a slice are decoded together in one batched decoder call;
* the 256-scale box is handed to the predictor in original pixels as ``(b + 0.5) / ratio`` (ratio =
  256 / max(H, W)), clipped to the image; LiteMedSAM truncates ``coord * ratio`` back, which gives the
  reference's integer box exactly, except that a box edge which the reference puts in the zero padding
  of a non-square slice is clipped to the image edge;
* the previous mask is resized as a 0/1 image (the reference resizes the label value ``idx``, so its
  second and later boxes round partial pixels slightly differently).

Volumes are (z, y, x) or (z, y, x, 3) arrays (uint8 as the CVPR24 npz ``imgs``); masks (z, y, x) bool.
"""

from __future__ import annotations

import numpy as np

from samwidgets.errors import InputError, PromptError
from samwidgets.models.litemedsam import resize_longest_side
from samwidgets.prompts.volume import middle_slice

SCALE = 256
BBOX_SHIFT = 3


def mask_box_256(mask: np.ndarray, *, shift: int = BBOX_SHIFT, size: int = SCALE) -> np.ndarray | None:
    """Reference ``get_bbox256`` of a (H, W) mask: xyxy int box in the padded size x size frame, or None
    when the mask resized to that scale (INTER_AREA, as the image) is empty."""
    small = resize_longest_side(np.ascontiguousarray(mask, dtype=np.uint8), size)
    ys, xs = np.nonzero(small)
    if ys.size == 0:
        return None
    return np.array([max(0, xs.min() - shift), max(0, ys.min() - shift),
                     min(size, xs.max() + shift), min(size, ys.max() + shift)], dtype=np.int64)


def box_256_to_pixels(box256: np.ndarray, size_hw: tuple[int, int], *, size: int = SCALE) -> np.ndarray:
    """A 256-frame integer xyxy box -> float xyxy pixels of the (H, W) slice whose truncated rescale
    ``int(coord * size / max(H, W))`` is ``box256`` again (clipped to the image)."""
    h, w = size_hw
    ratio = size / max(h, w)
    px = (np.asarray(box256, dtype=np.float64) + 0.5) / ratio
    return np.clip(px, 0, [w, h, w, h])


def _check_volume(volume) -> np.ndarray:
    vol = np.asarray(volume)
    if vol.ndim not in (3, 4) or (vol.ndim == 4 and vol.shape[-1] != 3) or vol.size == 0:
        raise InputError(f"expected a (z, y, x) or (z, y, x, 3) volume, got shape {vol.shape}", where="volume")
    return vol


class _Slices:
    """Encodes slices on demand, once each; keeps an embedding only while a later step still needs it."""

    def __init__(self, predictor, volume: np.ndarray, uses: dict[int, int]):
        self.predictor, self.volume, self.uses, self.memo = predictor, volume, dict(uses), {}

    def get(self, z: int):
        emb = self.memo.get(z)
        if emb is None:
            emb = self.predictor.encode(self.volume[z])
        self.uses[z] -= 1
        if self.uses[z] > 0:
            self.memo[z] = emb
        else:
            self.memo.pop(z, None)
        return emb


def _sweep(predictor, slices: _Slices, out: np.ndarray, plans: list[dict], direction: int) -> None:
    """Run all boxes' chains in one direction, slice by slice, batching the boxes present on a slice."""
    size_hw = out.shape[2:4]
    active = [p for p in plans if p["zs"][direction]]
    if not active:
        return
    zs = sorted({z for p in active for z in p["zs"][direction]}, reverse=direction == 1)
    for z in zs:
        here = [p for p in active if z in p["zs"][direction]]
        if not here:  # every chain through z has stopped (stop_on_empty): nothing left to decode
            continue
        boxes = []
        for p in here:
            prev = p.get("prev")
            box = None if prev is None else mask_box_256(out[p["index"], prev], shift=p["shift"])
            boxes.append(p["seed"] if box is None else box_256_to_pixels(box, size_hw))
        emb = slices.get(z)
        pred = predictor.decode(emb, box_xyxy=np.stack(boxes).astype(np.float32))
        masks = pred.best()
        for p, m in zip(here, masks):
            if p.get("stop_on_empty") and not m.any():
                p["zs"][direction] = []  # the object has ended in this direction
                continue
            out[p["index"], z] = m
            p["prev"] = z


def propagate_box_3d(predictor, volume, box3d, *, shift: int = BBOX_SHIFT) -> np.ndarray:
    """Segment the object(s) inside 3D box(es) by the CVPR24 LiteMedSAM slice chaining (module docstring).

    predictor: any Predictor (encode/decode); volume: (D, H, W) or (D, H, W, 3), uint8 as CVPR24 ``imgs``;
    box3d: (6,) or (N, 6) ``[x_min, y_min, z_min, x_max, y_max, z_max]``, xy pixels, z slice indices,
    all inclusive. Returns (D, H, W) bool for one box, (N, D, H, W) bool for N boxes. Each slice in the
    union of the boxes' z ranges is encoded exactly once.
    """
    vol = _check_volume(volume)
    boxes = np.asarray(box3d, dtype=np.float64)
    single = boxes.ndim == 1
    boxes = boxes.reshape(-1, 6) if boxes.size % 6 == 0 and boxes.ndim in (1, 2) else None
    if boxes is None or boxes.shape[0] == 0:
        raise PromptError(f"3D box must be (6,) or (N, 6) [x_min, y_min, z_min, x_max, y_max, z_max], "
                          f"got shape {np.shape(box3d)}", where="box3d")
    depth, h, w = vol.shape[:3]
    plans, uses = [], {}
    for i, (x0, y0, z0, x1, y1, z1) in enumerate(boxes):
        if not (np.isfinite(boxes[i]).all() and z0 <= z1 and z1 >= 0 and z0 <= depth - 1):
            raise PromptError(f"3D box {boxes[i].tolist()} has z range outside the {depth} slices or inverted",
                              where="box3d")
        z_mid = middle_slice(boxes[i])
        lo, hi = max(int(z0), 0), min(int(z1), depth - 1)
        z_mid = min(max(z_mid, lo), hi)
        up = list(range(z_mid, hi + 1))
        down = list(range(z_mid - 1, lo - 1, -1))
        plans.append({"index": i, "seed": np.array([x0, y0, x1, y1]), "zs": [up, down], "prev": None,
                      "z_mid": z_mid, "shift": shift})
        for z in up + down:
            uses[z] = uses.get(z, 0) + 1
    out = np.zeros((len(plans), depth, h, w), dtype=bool)
    slices = _Slices(predictor, vol, uses)
    _sweep(predictor, slices, out, plans, 0)
    for p in plans:  # the downward chain starts from the middle slice's mask
        p["prev"] = p["z_mid"]
    _sweep(predictor, slices, out, plans, 1)
    return out[0] if single else out


def propagate_from_mask(predictor, volume, z: int, mask2d, *, z_range: tuple[int, int] | None = None,
                        stop_on_empty: bool | None = None, shift: int = BBOX_SHIFT) -> np.ndarray:
    """Carry an accepted 2D mask on slice ``z`` to its neighbours by the same box chaining.

    volume: (D, H, W[, 3]); mask2d: (H, W) bool, the accepted mask of slice z (kept as is in the result);
    z_range: inclusive (z_lo, z_hi) slices to fill, default the whole volume. Going up from z + 1 and
    down from z - 1, each slice is prompted with the 256-scale bounding box (+3 px) of the previous
    slice's mask. When that box is empty: with ``stop_on_empty`` (the default when ``z_range`` is None)
    the chain stops in that direction (the object has ended); otherwise the bounding box of
    ``mask2d`` (at 256 scale, +3 px) is reused, as the CVPR24 rule reuses the middle box.
    Returns (D, H, W) bool. Slices are encoded once each via ``predictor.encode``.
    """
    vol = _check_volume(volume)
    depth, h, w = vol.shape[:3]
    seed_mask = np.asarray(mask2d, dtype=bool)
    if seed_mask.shape != (h, w):
        raise InputError(f"mask of shape {seed_mask.shape} does not fit slices of shape {(h, w)}", where="mask2d")
    if not 0 <= int(z) < depth:
        raise PromptError(f"slice {z} outside the volume's {depth} slices", where="z")
    seed256 = mask_box_256(seed_mask, shift=shift)
    if seed256 is None:
        raise PromptError("the accepted mask is empty: nothing to propagate", where="mask2d")
    lo, hi = (0, depth - 1) if z_range is None else (max(0, int(z_range[0])), min(depth - 1, int(z_range[1])))
    if stop_on_empty is None:
        stop_on_empty = z_range is None
    z = int(z)
    up, down = list(range(z + 1, hi + 1)), list(range(z - 1, lo - 1, -1))
    out = np.zeros((1, depth, h, w), dtype=bool)
    out[0, z] = seed_mask
    plan = {"index": 0, "seed": box_256_to_pixels(seed256, (h, w)), "zs": [up, down], "prev": z,
            "stop_on_empty": stop_on_empty, "shift": shift}
    slices = _Slices(predictor, vol, {zz: 1 for zz in up + down})
    _sweep(predictor, slices, out, [plan], 0)
    plan["prev"] = z
    _sweep(predictor, slices, out, [plan], 1)
    return out[0]
