"""The noc:N driver: structure with the fake predictor; on a shared CT lesion slice with LiteMedSAM, the IoU
sequence and NoC@85/90 agree with an independent loop built on a re-implementation of RITM's clicker."""

from __future__ import annotations

import numpy as np
import pytest

from samwidgets.evaluation.click_metrics import noc
from samwidgets.evaluation.noc import run_noc
from samwidgets.metrics import iou
from tests.prompts.test_ritm import ReferenceClicker

from .fakes import FakePredictor


def test_twenty_steps_all_clicks_resent_never_twice():
    pred = FakePredictor()
    gt = np.zeros((64, 64), bool)
    gt[8:50, 10:40] = True
    emb = pred.encode(np.zeros(gt.shape, np.uint8))
    steps = list(run_noc(pred, emb, gt, max_clicks=20))
    assert [s.step for s in steps] == list(range(1, 21))
    n = [s.n_points for s in steps]
    assert n[0] == 1 and all(b in (a, a + 1) for a, b in zip(n, n[1:]))
    last = steps[-1].prompts[0].points_xy
    assert len({tuple(p) for p in last.tolist()}) == len(last)
    assert steps[0].prompts[0].point_labels.tolist() == [1]


def test_agrees_with_reference_loop_on_ct(litemedsam_cpu, ct_lesion_case):
    z = ct_lesion_case["z"]
    gt = ct_lesion_case["gt"][z]
    emb = litemedsam_cpu.encode(ct_lesion_case["imgs"][z])
    ours = [iou(s.mask, gt) for s in run_noc(litemedsam_cpu, emb, gt, max_clicks=20)]
    clicker, pts, labels, pred, ref = ReferenceClicker(gt.astype(np.uint8)), [], [], np.zeros_like(gt), []
    for _ in range(20):
        positive, (y, x) = clicker.make_next_click(pred)
        pts.append([x, y])
        labels.append(int(positive))
        pred = litemedsam_cpu.decode(emb, points_xy=np.array(pts, float), point_labels=np.array(labels)).best()
        ref.append(iou(pred, gt))
    assert ours == pytest.approx(ref, abs=1e-12)
    assert noc(ours, 0.85) == noc(ref, 0.85) and noc(ours, 0.90) == noc(ref, 0.90)
