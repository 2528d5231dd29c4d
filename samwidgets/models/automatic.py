"""Automatic mask generation ("segment everything"): a grid of positive points, one mask each, duplicates removed.

Loosely follows segment-anything's automatic mask generator, much simplified: every grid point
(``samwidgets.prompts.grid_points``, xy pixels) is decoded as a single positive point against the cached
embedding, the best-scoring candidate is kept, masks scoring under ``min_score`` or empty are dropped, and
masks are de-duplicated greedily by score: a mask whose IoU with a kept one exceeds ``iou_threshold`` is
dropped. No stability score, no crops, no hole filling (the reference generator does those). The viewer's
"segment everything" button calls :func:`segment_everything` through its session.
"""

from __future__ import annotations

import numpy as np


def dedupe_masks(masks: np.ndarray, scores: np.ndarray, *, iou_threshold: float) -> list[int]:
    """Indices of ``masks`` (N, H, W) bool kept by greedy non-maximum suppression on mask IoU, best score first."""
    n = len(masks)
    if n == 0:
        return []
    flat = masks.reshape(n, -1).astype(np.float32)
    inter = flat @ flat.T
    area = np.diag(inter)
    union = area[:, None] + area[None, :] - inter
    iou = np.where(union > 0, inter / np.maximum(union, 1), 0.0)
    keep: list[int] = []
    for i in np.argsort(-np.asarray(scores), kind="stable"):
        if all(iou[i, j] <= iou_threshold for j in keep):
            keep.append(int(i))
    return keep


def segment_everything(
    predictor,
    embedding,
    *,
    n_per_side: int = 8,
    iou_threshold: float = 0.7,
    min_score: float = 0.5,
    batch: int = 16,
) -> tuple[np.ndarray, np.ndarray]:
    """Prompt a grid of points on one slice and merge the masks into one label map.

    Returns (labels (H, W) int32 with 0 = background and 1..M one per kept mask, painted largest first so
    small objects stay visible; scores (M,) of the kept masks in label order).
    """
    from samwidgets.prompts import grid_points

    h, w = embedding.original_size
    points = np.asarray(grid_points((h, w), n_per_side=n_per_side), dtype=np.float32).reshape(-1, 2)
    multimask = bool(getattr(predictor, "supports_multimask", False))
    masks, scores = [], []
    for start in range(0, len(points), batch):
        pts = points[start:start + batch]
        pred = predictor.decode(
            embedding, points_xy=pts[:, None, :], point_labels=np.ones((len(pts), 1), np.int32), multimask=multimask
        )
        m, s = np.asarray(pred.masks), np.asarray(pred.scores)
        if m.ndim == 3:  # a predictor that dropped the K axis
            m, s = m[:, None], s[:, None]
        best = np.argmax(s, axis=1)
        masks.append(m[np.arange(len(m)), best])
        scores.append(s[np.arange(len(s)), best])
    all_masks = np.concatenate(masks).astype(bool) if masks else np.zeros((0, h, w), bool)
    all_scores = np.concatenate(scores).astype(float) if scores else np.zeros(0)
    good = (all_scores >= min_score) & all_masks.reshape(len(all_masks), -1).any(axis=1)
    all_masks, all_scores = all_masks[good], all_scores[good]
    keep = dedupe_masks(all_masks, all_scores, iou_threshold=iou_threshold)
    labels = np.zeros((h, w), np.int32)
    kept_scores = np.asarray([all_scores[i] for i in keep], float)
    areas = [int(all_masks[i].sum()) for i in keep]
    for rank in np.argsort(areas)[::-1]:
        labels[all_masks[keep[rank]]] = rank + 1
    return labels, kept_scores
