"""Mazurowski modes, iterative error clicks, micro-sam corrections and 3D boxes."""

from __future__ import annotations

import numpy as np
import pytest

from samwidgets.errors import PromptError
from samwidgets.prompts import (
    Prompt,
    box3d_from_mask,
    distance_map,
    error_click,
    first_click,
    mazurowski_prompts,
    microsam_correction,
    middle_slice_prompt,
    next_iterative_prompt,
    next_microsam_prompt,
)


def rng(seed=0):
    return np.random.default_rng(seed)


def three_blobs():
    m = np.zeros((60, 60), bool)
    m[5:25, 5:25] = True  # 400
    m[40:50, 40:50] = True  # 100
    m[5:9, 45:49] = True  # 16
    m[55, 2] = True  # 1: the fourth component, ignored by modes 2 and 4
    return m


def test_mazurowski_modes():
    m = three_blobs()
    p1 = mazurowski_prompts(m, 1, rng=rng())
    assert len(p1) == 1 and p1[0].n_points == 1 and p1[0].point_labels.tolist() == [1]
    x, y = p1[0].points_xy[0]
    assert 5 <= x < 25 and 5 <= y < 25
    p2 = mazurowski_prompts(m, 2, rng=rng())
    assert len(p2) == 1 and p2[0].n_points == 3
    for (x, y) in p2[0].points_xy:
        assert m[int(y), int(x)]
    assert mazurowski_prompts(m, 3, rng=rng())[0].box_xyxy.tolist() == [5, 5, 24, 24]
    p4 = mazurowski_prompts(m, 4, rng=rng())
    assert [p.box_xyxy.tolist() for p in p4] == [[5, 5, 24, 24], [40, 40, 49, 49], [45, 5, 48, 8]]
    assert mazurowski_prompts(m, 5, rng=rng())[0].box_xyxy.tolist() == [2, 5, 49, 55]
    with pytest.raises(PromptError):
        mazurowski_prompts(m, 6, rng=rng())
    with pytest.raises(PromptError):
        mazurowski_prompts(np.zeros_like(m), 1, rng=rng())


def test_first_click_is_centre_of_whole_label():
    m = three_blobs()
    p = first_click(m, rng=rng())
    dist = distance_map(m)
    x, y = p.points_xy[0]
    assert dist[int(y), int(x)] == dist.max() and p.point_labels.tolist() == [1]


@pytest.mark.parametrize("seed", range(5))
def test_iterative_click_in_error_region_with_right_sign(seed):
    r = rng(seed)
    gt = np.zeros((40, 40), bool)
    gt[10:30, 10:30] = True
    pred = np.zeros_like(gt)
    pred[r.integers(0, 15):r.integers(20, 40), r.integers(0, 15):r.integers(20, 40)] = True
    if np.array_equal(pred, gt):
        pytest.skip("random prediction happens to be perfect")
    pt, label = error_click(gt, pred, rng=r)
    x, y = int(pt[0]), int(pt[1])
    err = gt ^ pred
    assert err[y, x]
    assert label == int(gt[y, x])
    dist = distance_map(err)
    assert dist[y, x] == dist.max()


def test_iterative_signs_missed_and_leaked():
    gt = np.zeros((30, 30), bool)
    gt[5:25, 5:25] = True
    under = np.zeros_like(gt)
    under[5:25, 5:10] = True
    assert error_click(gt, under, rng=rng())[1] == 1
    over = np.zeros_like(gt)
    over[0:30, 0:30] = True
    over[5:25, 5:25] = True
    gt_small = np.zeros_like(gt)
    gt_small[12:15, 12:15] = True
    assert error_click(gt_small, over, rng=rng())[1] == 0
    assert error_click(gt, gt, rng=rng()) is None


def test_next_iterative_prompt_resends_all_points():
    gt = np.zeros((30, 30), bool)
    gt[5:25, 5:25] = True
    p = first_click(gt, rng=rng())
    pred = np.zeros_like(gt)
    pred[5:25, 5:12] = True
    p2 = next_iterative_prompt(p, gt, pred, rng=rng())
    assert p2.n_points == 2 and np.array_equal(p2.points_xy[0], p.points_xy[0])
    assert next_iterative_prompt(p2, gt, gt, rng=rng()) is None


def test_microsam_correction_samples_each_region():
    gt = np.zeros((30, 30), bool)
    gt[5:20, 5:20] = True
    pred = np.zeros_like(gt)
    pred[10:25, 10:25] = True
    for s in range(10):
        pts, labels = microsam_correction(gt, pred, rng=rng(s))
        assert labels.tolist() == [1, 0]
        (px, py), (nx, ny) = pts.astype(int)
        assert gt[py, px] and not pred[py, px]
        assert pred[ny, nx] and not gt[ny, nx]
    only_missed = np.zeros_like(gt)
    only_missed[5:10, 5:20] = True
    pts, labels = microsam_correction(gt, only_missed, rng=rng())
    assert labels.tolist() == [1]
    assert microsam_correction(gt, gt, rng=rng()) is None


def test_microsam_keeps_box():
    gt = np.zeros((30, 30), bool)
    gt[5:20, 5:20] = True
    start = Prompt(box_xyxy=np.array([5.0, 5, 19, 19]))
    pred = np.zeros_like(gt)
    pred[5:20, 5:10] = True
    nxt = next_microsam_prompt(start, gt, pred, rng=rng())
    assert np.array_equal(nxt.box_xyxy, start.box_xyxy) and nxt.n_points == 1


def test_box3d_and_middle_slice():
    v = np.zeros((10, 20, 30), bool)
    v[2:7, 4:9, 10:15] = True
    box = box3d_from_mask(v)
    assert box.tolist() == [10, 4, 2, 14, 8, 6]
    z, p = middle_slice_prompt(box)
    assert z == 4 and p.box_xyxy.tolist() == [10, 4, 14, 8]
    v[7] = v[6]  # z 2..7: int(5/2 + 2) = 4
    assert middle_slice_prompt(box3d_from_mask(v))[0] == 4


def test_prompt_json_round_trip():
    p = Prompt(points_xy=np.array([[1.0, 2.0]]), point_labels=np.array([1]), box_xyxy=np.array([0, 0, 3, 4.0]))
    q = Prompt.from_json(p.to_json())
    assert q.points_xy.tolist() == [[1.0, 2.0]] and q.box_xyxy.tolist() == [0, 0, 3, 4]
