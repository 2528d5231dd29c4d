"""Click-robustness maps and box-sensitivity curves on a shared CT lesion slice with LiteMedSAM: every
batched value equals a single decode of the same prompt scored by samwidgets.metrics."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from samwidgets.evaluation.sensitivity import (
    SAFE_SCORE,
    box_jitter_curve,
    box_side_curves,
    click_map,
    grid_over_object,
    moved_box,
)
from samwidgets.metrics import dice
from samwidgets.prompts import box_from_mask


@pytest.fixture(scope="module")
def lesion(litemedsam_cpu, ct_lesion_case):
    z = ct_lesion_case["z"]
    return litemedsam_cpu.encode(ct_lesion_case["imgs"][z]), ct_lesion_case["gt"][z]


def single(predictor, emb, gt, **prompt):
    return dice(predictor.decode(emb, **prompt).best(), gt)


@pytest.mark.parametrize("with_box", [False, True])
def test_map_equals_single_decodes(litemedsam_cpu, lesion, with_box):
    emb, gt = lesion
    seen = []
    m = click_map(litemedsam_cpu, emb, gt, with_box=with_box, n_per_side=5, batch_size=7,
                  rng=np.random.default_rng(0), progress=lambda d, t: seen.append((d, t)))
    assert m.complete and m.scores.shape == gt.shape
    assert np.isnan(m.scores).sum() == gt.size - len(m.points_xy)
    assert seen[-1] == (len(m.points_xy), len(m.points_xy))
    box = box_from_mask(gt) if with_box else None
    for (x, y), v in zip(m.points_xy, m.values):
        ref = single(litemedsam_cpu, emb, gt, points_xy=[[x, y]], point_labels=[1], box_xyxy=box)
        assert v == pytest.approx(ref, abs=1e-12) and m.scores[int(y), int(x)] == v
    inside = gt[m.points_xy[:, 1].astype(int), m.points_xy[:, 0].astype(int)]
    assert m.summary["safe_share"] == pytest.approx((m.values[inside] >= SAFE_SCORE).mean())
    assert m.summary["best_score"] == pytest.approx(m.values[inside].max())
    cx, cy = m.summary["centre_xy"]
    assert m.summary["centre_score"] == pytest.approx(
        single(litemedsam_cpu, emb, gt, points_xy=[[cx, cy]], point_labels=[1], box_xyxy=box))
    if with_box:
        assert m.summary["box_score"] == pytest.approx(single(litemedsam_cpu, emb, gt, box_xyxy=box))


def test_cancel_returns_a_partial_map(litemedsam_cpu, lesion):
    emb, gt = lesion
    stop = threading.Event()
    m = click_map(litemedsam_cpu, emb, gt, n_per_side=5, batch_size=4, rng=np.random.default_rng(0),
                  progress=lambda d, t: stop.set(), cancel=stop)
    assert not m.complete and (~np.isnan(m.values)).sum() == 4


def test_grid_covers_object_and_margin():
    gt = np.zeros((100, 100), bool)
    gt[40:60, 30:70] = True
    pts, stride = grid_over_object(gt, n_per_side=8, margin=0.25)
    assert pts[:, 0].min() == 20 and pts[:, 1].min() == 35 and pts[:, 0].max() <= 79 and stride == 8
    assert moved_box([10, 10, 20, 20], "left", 3, (50, 50)).tolist() == [7, 10, 20, 20]
    assert moved_box([10, 10, 20, 20], "bottom", -4, (50, 50)).tolist() == [10, 10, 20, 16]
    assert moved_box([10, 10, 12, 20], "right", -3, (50, 50)) is None


def test_box_curves_equal_single_decodes(litemedsam_cpu, lesion):
    emb, gt = lesion
    box = box_from_mask(gt)
    sides = box_side_curves(litemedsam_cpu, emb, gt, fractions=[-0.2, 0.0, 0.2])
    assert len(sides) == 12
    tight = single(litemedsam_cpu, emb, gt, box_xyxy=box)
    assert np.allclose(sides[sides.fraction == 0].score, tight)
    row = sides[(sides.side == "top") & (sides.fraction == 0.2)].iloc[0]
    ref = single(litemedsam_cpu, emb, gt, box_xyxy=moved_box(box, "top", row.px, gt.shape))
    assert row.score == pytest.approx(ref)
    jit = box_jitter_curve(litemedsam_cpu, emb, gt, amplitudes=(0, 10), draws=4, rng=np.random.default_rng(1))
    assert jit.amplitude.tolist() == [0, 10] and jit.n.tolist() == [1, 4]
    assert jit["mean"].iloc[0] == pytest.approx(tight)
