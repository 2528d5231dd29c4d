"""Metrics on hand-computed cases: empty and one-pixel masks, anisotropic spacing, shifts vs tolerance."""

from __future__ import annotations

import math

import numpy as np
import pytest

from samwidgets import metrics
from samwidgets.errors import InputError


def square(shape=(20, 20), y=5, x=5, size=5):
    m = np.zeros(shape, bool)
    m[y:y + size, x:x + size] = True
    return m


def test_both_empty_policy():
    e = np.zeros((8, 8), bool)
    assert metrics.dice(e, e) == 1.0
    assert metrics.iou(e, e) == 1.0
    assert metrics.nsd(e, e, spacing=(1, 1)) == 1.0
    assert metrics.hd95(e, e, spacing=(1, 1)) == 0.0
    assert metrics.score(e, e, spacing=(1, 1)) == {"dice": 1.0, "iou": 1.0, "nsd": 1.0, "hd95": 0.0}


@pytest.mark.parametrize("gt_empty", [True, False])
def test_one_empty_policy(gt_empty):
    e = np.zeros((8, 8), bool)
    m = square((8, 8), 2, 2, 3)
    pred, gt = (m, e) if gt_empty else (e, m)
    assert metrics.dice(pred, gt) == 0.0
    assert metrics.iou(pred, gt) == 0.0
    assert metrics.nsd(pred, gt, spacing=(1, 1)) == 0.0
    assert math.isinf(metrics.hd95(pred, gt, spacing=(1, 1)))


def test_one_pixel_masks():
    a = np.zeros((5, 5), bool)
    a[2, 2] = True
    assert metrics.dice(a, a) == 1.0
    assert metrics.nsd(a, a, spacing=(1, 1)) == 1.0
    assert metrics.hd95(a, a, spacing=(1, 1)) == 0.0
    b = np.zeros((5, 5), bool)
    b[2, 4] = True  # 2 columns away
    assert metrics.dice(a, b) == 0.0 and metrics.iou(a, b) == 0.0
    assert metrics.hd95(a, b, spacing=(1, 1)) == pytest.approx(2.0)
    assert metrics.hd95(a, b, spacing=(1, 0.7)) == pytest.approx(1.4)
    # 2 px apart at 1 mm: within a 2 mm tolerance; at 1.5 mm per column, 3 mm: outside
    assert metrics.nsd(a, b, spacing=(1, 1), tolerance_mm=2.0) == 1.0
    assert metrics.nsd(a, b, spacing=(1, 1.5), tolerance_mm=2.0) == 0.0


def test_dice_iou_hand_computed():
    a = square()  # 25 px
    b = np.roll(a, 3, axis=1)  # overlap 5 x 2 = 10 px
    assert metrics.dice(a, b) == pytest.approx(2 * 10 / 50)
    assert metrics.iou(a, b) == pytest.approx(10 / 40)


def test_shift_smaller_and_larger_than_tolerance():
    a = square((30, 30), 10, 10, 8)
    b = np.roll(a, 1, axis=1)  # 1 px = 1 mm shift < 2 mm
    assert metrics.nsd(a, b, spacing=(1, 1), tolerance_mm=2.0) == 1.0
    c = np.roll(a, 3, axis=1)  # 3 mm shift > 2 mm tolerance
    # boundary: 28 px each. a -> c: left column (8 px) lies 3 px from c's left edge, the rest of the
    # boundary of a is within 2 px of c's boundary (top/bottom rows overlap, right column 3 px from c's
    # right column but on c's top/bottom rows only at the corners).
    d_ac, d_ca = metrics.surface_distances(a, c, spacing=(1, 1))
    expected = (np.sum(d_ac <= 2) + np.sum(d_ca <= 2)) / 56
    assert metrics.nsd(a, c, spacing=(1, 1), tolerance_mm=2.0) == pytest.approx(expected)
    assert metrics.nsd(a, c, spacing=(1, 1), tolerance_mm=2.0) < 1.0
    assert metrics.nsd(a, c, spacing=(1, 1), tolerance_mm=3.0) == 1.0
    assert metrics.hd95(a, c, spacing=(1, 1)) == pytest.approx(3.0)


def test_hand_counted_nsd_column_shift():
    # a single column segment shifted by 3 columns: every boundary pixel is exactly 3 px from the other
    a = np.zeros((10, 10), bool)
    a[2:7, 2] = True
    b = np.roll(a, 3, axis=1)
    assert metrics.nsd(a, b, spacing=(1, 1), tolerance_mm=2.9) == 0.0
    assert metrics.nsd(a, b, spacing=(1, 1), tolerance_mm=3.0) == 1.0
    assert metrics.hd95(a, b, spacing=(1, 1)) == pytest.approx(3.0)


def test_anisotropic_3d_spacing_in_array_order():
    a = np.zeros((10, 10, 10), bool)
    a[4:6, 3:7, 3:7] = True
    b = np.roll(a, 1, axis=0)  # one slice along z
    # z spacing 5 mm: a 5 mm shift > 2 mm; x spacing irrelevant for a pure z shift
    assert metrics.hd95(a, b, spacing=(5.0, 0.8, 0.8)) == pytest.approx(5.0)
    assert metrics.nsd(a, b, spacing=(1.0, 0.8, 0.8)) == 1.0
    assert metrics.nsd(a, b, spacing=(5.0, 0.8, 0.8)) < 1.0
    # the same shift along x with anisotropic spacing: order matters
    c = np.roll(a, 1, axis=2)
    assert metrics.hd95(a, c, spacing=(5.0, 0.8, 0.8)) == pytest.approx(0.8)


def test_score_applies_cvpr24_nsd_rule():
    a = square((30, 30), 5, 5, 10)
    far = np.roll(a, 9, axis=1)  # dice = 2*10/200 = 0.1 <= 0.2
    assert metrics.dice(a, far) == pytest.approx(0.1)
    assert metrics.nsd(a, far, spacing=(1, 1), tolerance_mm=20) == 1.0
    assert metrics.score(a, far, spacing=(1, 1), tolerance_mm=20)["nsd"] == 0.0
    near = np.roll(a, 1, axis=1)
    s = metrics.score(a, near, spacing=(1, 1))
    assert s["nsd"] == metrics.nsd(a, near, spacing=(1, 1)) > 0.2


def test_bad_input_is_typed():
    with pytest.raises(InputError):
        metrics.dice(np.zeros((3, 3)), np.zeros((3, 4)))
    with pytest.raises(InputError):
        metrics.nsd(np.ones((3, 3)), np.ones((3, 3)), spacing=(1, 1, 1))


def test_cropped_computation_matches_full_arrays():
    from scipy import ndimage

    rng = np.random.default_rng(0)
    for _ in range(5):
        a = np.zeros((40, 50), bool)
        b = np.zeros((40, 50), bool)
        a[rng.integers(0, 20):rng.integers(21, 40), rng.integers(0, 25):rng.integers(26, 50)] = True
        b[rng.integers(0, 20):rng.integers(21, 40), rng.integers(0, 25):rng.integers(26, 50)] = True
        sa, sb = metrics.surface(a), metrics.surface(b)
        full_ab = ndimage.distance_transform_edt(~sb, sampling=(0.7, 1.3))[sa]
        full_ba = ndimage.distance_transform_edt(~sa, sampling=(0.7, 1.3))[sb]
        d_ab, d_ba = metrics.surface_distances(a, b, spacing=(0.7, 1.3))
        assert np.allclose(np.sort(d_ab), np.sort(full_ab)) and np.allclose(np.sort(d_ba), np.sort(full_ba))
        s = metrics.score(a, b, spacing=(0.7, 1.3))
        assert s["hd95"] == metrics.hd95(a, b, spacing=(0.7, 1.3))
