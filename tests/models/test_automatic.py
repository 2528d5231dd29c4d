"""Automatic (segment-everything) mask generation: greedy de-duplication of overlapping masks."""

from __future__ import annotations

import numpy as np

from samwidgets.models.automatic import dedupe_masks


def disk(shape, x, y, r):
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return (xx - x) ** 2 + (yy - y) ** 2 <= r * r


def test_dedupe_masks_keeps_best_of_overlapping():
    shape = (40, 40)
    masks = np.stack([disk(shape, 10, 10, 5), disk(shape, 10, 11, 5), disk(shape, 30, 30, 5)])
    assert dedupe_masks(masks, np.array([0.6, 0.9, 0.5]), iou_threshold=0.7) == [1, 2]
    assert dedupe_masks(masks, np.array([0.6, 0.9, 0.5]), iou_threshold=0.99) == [1, 0, 2]
