"""Validation of images and prompts handed to a predictor, with typed errors (no torch here).

Coordinates are xy pixels of the original slice; boxes are xyxy. A point may touch the last pixel
(x = W - 1) and is rejected only when it lies outside [0, W] x [0, H]. A box partly outside the image is
clipped to [0, W] x [0, H]; only a box wholly outside it, inverted or not finite is rejected
(:func:`check_boxes`).
"""

from __future__ import annotations

import numpy as np

from samwidgets.errors import InputError, PromptError


def check_image(image: np.ndarray) -> np.ndarray:
    """Accept (H, W) or (H, W, 3), uint8 / integer / float, finite, non-empty; return it as an ndarray."""
    arr = np.asarray(image)
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[-1] != 3):
        raise InputError(f"expected an (H, W) or (H, W, 3) slice, got shape {arr.shape}", where="image")
    if arr.size == 0:
        raise InputError(f"empty image of shape {arr.shape}", where="image")
    if min(arr.shape[:2]) < 2:
        raise InputError(f"image of shape {arr.shape} is too thin: the models need at least 2 x 2 pixels",
                         where="image")
    if arr.dtype == bool or not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise InputError(f"unsupported dtype {arr.dtype}; use uint8, integer or float", where="image")
    if np.issubdtype(arr.dtype, np.floating) and not np.isfinite(arr).all():
        raise InputError("image holds NaN or infinite values", where="image")
    return arr


def check_prompts(
    size_hw: tuple[int, int],
    *,
    points_xy=None,
    point_labels=None,
    box_xyxy=None,
    mask_logits=None,
) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None, np.ndarray | None, bool]:
    """Validate and normalise prompts to batched arrays.

    Returns (points (B, N, 2) float32 | None, labels (B, N) int32 | None, boxes (B, 4) float32 | None,
    mask_logits (B, 256, 256) float32 | None, batched) where ``batched`` tells whether the caller passed
    a batch (then results keep the leading B axis). Boxes follow :func:`check_boxes` (clipped to the
    image; one pixel wide or tall is valid).
    """
    if points_xy is None and box_xyxy is None and mask_logits is None:
        raise PromptError("no prompt given: pass points, a box or mask logits", where="prompt")
    pts = labels = boxes = logits = None
    batched = False
    if points_xy is not None:
        pts, labels, batched_pts = check_points(size_hw, points_xy, point_labels)
        batched |= batched_pts
    if box_xyxy is not None:
        boxes, batched_boxes = check_boxes(size_hw, box_xyxy)
        batched |= batched_boxes
    if mask_logits is not None:
        logits, batched_logits = check_mask_logits(mask_logits)
        batched |= batched_logits
    pts, labels, boxes, logits = _broadcast_batches(pts, labels, boxes, logits)
    return pts, labels, boxes, logits, batched


def check_points(size_hw: tuple[int, int], points_xy, point_labels) -> tuple[np.ndarray, np.ndarray, bool]:
    """Points (N, 2) or (B, N, 2) xy and labels (N,) / (B, N) -> ((B, N, 2) float32, (B, N) int32, batched).

    Labels are 1 (positive) or 0 (negative) (2, 3, -1 pass through for SAM's box-corner and padding codes).
    A point must be finite and inside [0, W] x [0, H]; otherwise PromptError.
    """
    h, w = size_hw
    pts = np.asarray(points_xy, dtype=np.float32)
    batched = pts.ndim == 3
    if pts.ndim == 2:
        pts = pts[None]
    if pts.ndim != 3 or pts.shape[-1] != 2 or pts.shape[1] == 0:
        raise PromptError(f"points must be (N, 2) or (B, N, 2) xy, got {np.shape(points_xy)}", where="points")
    if point_labels is None:
        raise PromptError("point_labels are required with points (1 positive, 0 negative)", where="points")
    labels = np.asarray(point_labels, dtype=np.int32).reshape(pts.shape[:2])
    if not np.isin(labels, (0, 1, 2, 3, -1)).all():
        raise PromptError(f"point labels must be 1 (positive) or 0 (negative), got {np.unique(labels)}", where="points")
    if not np.isfinite(pts).all():
        raise PromptError("points hold NaN or infinite values", where="points")
    outside = (pts[..., 0] < 0) | (pts[..., 0] > w) | (pts[..., 1] < 0) | (pts[..., 1] > h)
    if outside.any():
        bad = pts[outside][0].tolist()
        raise PromptError(f"point {bad} lies outside the {w}x{h} (W x H) image", where="points")
    return pts, labels, batched


def check_boxes(size_hw: tuple[int, int], box_xyxy) -> tuple[np.ndarray, bool]:
    """Box (4,) or (B, 4) xyxy pixels -> ((B, 4) float32 clipped to the image, batched).

    * A box partly outside the image is CLIPPED to [0, W] x [0, H] (it is not refused).
    * A box wholly outside the image, holding NaN/inf, or inverted (x_max < x_min or y_max < y_min)
      raises PromptError.
    * x_min == x_max (or y_min == y_max) is valid: with the inclusive pixel coordinates that
      :func:`samwidgets.prompts.geometry.box_from_mask` returns, it is the box of an object one pixel wide
      (or tall), which the reference pipelines (segment-anything, CVPR24 LiteMedSAM) encode as given.
    """
    h, w = size_hw
    boxes = np.asarray(box_xyxy, dtype=np.float32)
    batched = boxes.ndim == 2
    if boxes.ndim == 1:
        boxes = boxes[None]
    if boxes.ndim != 2 or boxes.shape[-1] != 4:
        raise PromptError(f"box must be (4,) or (B, 4) xyxy, got {np.shape(box_xyxy)}", where="box")
    if not np.isfinite(boxes).all():
        raise PromptError("box holds NaN or infinite values", where="box")
    inverted = (boxes[:, 2] < boxes[:, 0]) | (boxes[:, 3] < boxes[:, 1])
    if inverted.any():
        raise PromptError(f"inverted box {boxes[inverted][0].tolist()}: need x_min <= x_max and y_min <= y_max",
                          where="box")
    outside = (boxes[:, 2] < 0) | (boxes[:, 3] < 0) | (boxes[:, 0] > w) | (boxes[:, 1] > h)
    if outside.any():
        raise PromptError(f"box {boxes[outside][0].tolist()} lies wholly outside the {w}x{h} (W x H) image",
                          where="box")
    clipped = boxes.copy()
    clipped[:, [0, 2]] = np.clip(boxes[:, [0, 2]], 0, w)
    clipped[:, [1, 3]] = np.clip(boxes[:, [1, 3]], 0, h)
    return clipped, batched


def check_mask_logits(mask_logits) -> tuple[np.ndarray, bool]:
    """Previous low-resolution logits (256, 256) or (B, 256, 256) -> ((B, 256, 256) float32, batched)."""
    logits = np.asarray(mask_logits, dtype=np.float32)
    batched = logits.ndim == 3 and logits.shape[0] > 1
    if logits.ndim == 2:
        logits = logits[None]
    if logits.ndim != 3 or logits.shape[-2:] != (256, 256):
        raise PromptError(f"mask_logits must be (256, 256) or (B, 256, 256), got {np.shape(mask_logits)}",
                          where="mask_logits")
    return logits, batched


def _broadcast_batches(pts, labels, boxes, logits):
    """Repeat single prompt sets to the common batch size B; differing batch sizes raise PromptError."""
    sizes = {a.shape[0] for a in (pts, boxes, logits) if a is not None}
    if len(sizes - {1}) > 1:  # batch sizes must agree; a single prompt set broadcasts
        raise PromptError(f"prompt batch sizes differ: {sorted(sizes)}", where="prompt")
    n = max(sizes)
    if pts is not None and pts.shape[0] != n:
        pts, labels = np.repeat(pts, n, axis=0), np.repeat(labels, n, axis=0)
    if boxes is not None and boxes.shape[0] != n:
        boxes = np.repeat(boxes, n, axis=0)
    if logits is not None and logits.shape[0] != n:
        logits = np.repeat(logits, n, axis=0)
    return pts, labels, boxes, logits
