"""RITM clicker: hand-built cases with known answers, and agreement with an independent re-implementation
of the reference ``Clicker`` (cv2's L2 distance transform, as the reference) on shared CT lesion slices."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from scipy import ndimage

from samwidgets.errors import PromptError
from samwidgets.prompts.ritm import RitmClicker


class ReferenceClicker:
    """Written from ``isegm/inference/clicker.py``: padded FN/FP masks, cv2 DIST_L2 precise transforms."""

    def __init__(self, gt):
        self.gt = gt == 1
        self.not_clicked = np.full(gt.shape, True)

    def make_next_click(self, pred):
        fn = np.pad(np.logical_and(self.gt, np.logical_not(pred)), ((1, 1), (1, 1)), "constant")
        fp = np.pad(np.logical_and(np.logical_not(self.gt), pred), ((1, 1), (1, 1)), "constant")
        fn_dt = cv2.distanceTransform(fn.astype(np.uint8), cv2.DIST_L2, 0)[1:-1, 1:-1] * self.not_clicked
        fp_dt = cv2.distanceTransform(fp.astype(np.uint8), cv2.DIST_L2, 0)[1:-1, 1:-1] * self.not_clicked
        is_positive = np.max(fn_dt) > np.max(fp_dt)
        ys, xs = np.where(fn_dt == np.max(fn_dt)) if is_positive else np.where(fp_dt == np.max(fp_dt))
        self.not_clicked[ys[0], xs[0]] = False
        return bool(is_positive), (int(ys[0]), int(xs[0]))


def disk(shape, yx, r):
    yy, xx = np.mgrid[:shape[0], :shape[1]]
    return (yy - yx[0]) ** 2 + (xx - yx[1]) ** 2 <= r * r


def toy_model(gt, clicks):
    """A crude deterministic 'model': a shifted, eroded ground truth, edited by disks at the clicks."""
    pred = ndimage.binary_erosion(np.roll(gt, (3, -2), axis=(0, 1)), iterations=1)
    for (y, x), positive in clicks:
        d = disk(gt.shape, (y, x), 3)
        pred = pred | d if positive else pred & ~d
    return pred


def test_first_click_is_positive_at_the_centre_of_the_object():
    gt = np.zeros((30, 30), bool)
    gt[5:16, 10:21] = True  # 11 x 11: unique centre (10, 15)
    c = RitmClicker(gt).next_click(np.zeros_like(gt))
    assert c.positive and c.yx == (10, 15) and c.xy().tolist() == [15.0, 10.0]


def test_larger_false_positive_gives_a_negative_click_and_ties_too():
    gt = np.zeros((40, 40), bool)
    gt[2:9, 2:9] = True
    pred = np.zeros_like(gt)
    pred[20:35, 20:35] = True                 # FP, max distance 8 > FN max distance 4
    c = RitmClicker(gt).next_click(pred)
    assert not c.positive and c.yx == (27, 27)
    gt2 = np.zeros((20, 20), bool)
    gt2[1:4, 1:4] = True                      # FN 3 x 3 (distance 2)
    pred2 = np.zeros_like(gt2)
    pred2[10:13, 10:13] = True                # FP 3 x 3 (distance 2): a tie is negative
    c2 = RitmClicker(gt2).next_click(pred2)
    assert not c2.positive and c2.yx == (11, 11)


def test_first_maximum_in_row_major_order_and_never_the_same_pixel():
    gt = np.zeros((10, 10), bool)
    gt[4:6, 2:8] = True                       # all at distance 1: the first is (4, 2)
    clicker = RitmClicker(gt)
    empty = np.zeros_like(gt)
    seen = [clicker.next_click(empty).yx for _ in range(12)]
    assert seen[0] == (4, 2) and len(set(seen)) == 12
    assert all(gt[yx] for yx in seen)
    xy, labels = clicker.points()
    assert xy.shape == (12, 2) and labels.tolist() == [1] * 12


def test_perfect_prediction_gives_none_and_bad_shapes_raise():
    gt = np.zeros((8, 8), bool)
    gt[2:5, 2:5] = True
    assert RitmClicker(gt).next_click(gt) is None
    with pytest.raises(PromptError):
        RitmClicker(gt).next_click(gt[:4])
    with pytest.raises(PromptError):
        RitmClicker(np.zeros((2, 3, 4), bool))


def test_agrees_with_the_reference_clicker_on_ct_lesion_slices(shared_data):
    files = sorted(shared_data.glob("ct_lesion_3d/**/*.npz"))
    assert len(files) == 4
    for path in files:
        with np.load(path) as npz:
            gts = npz["gts"] > 0
        gt = gts[int(np.argmax(gts.sum(axis=(1, 2))))]
        ys, xs = np.nonzero(gt)  # a window of the real slice around the lesion keeps the test fast
        gt = gt[max(ys.min() - 40, 0):ys.max() + 40, max(xs.min() - 40, 0):xs.max() + 40]
        ours, ref = RitmClicker(gt), ReferenceClicker(gt.astype(np.uint8))
        clicks, pred = [], np.zeros_like(gt)
        for _ in range(20):
            a = ours.next_click(pred)
            if a is None:
                break
            b = ref.make_next_click(pred)
            assert (a.positive, a.yx) == b, path.name
            clicks.append((a.yx, a.positive))
            pred = toy_model(gt, clicks)
        assert len(clicks) >= 5
