"""The Publisher part: Dice/IoU of the shown mask (computed on the bounding box of mask and ground truth,
once per mask) against an implementation written here, on hand-built cases with known answers."""

from __future__ import annotations

import numpy as np
import pytest

import samwidgets.metrics
from samwidgets.widgets import Session
from samwidgets.widgets.observable import Observable, ViewState
from widgets.fakes import FakePredictor, disk

H, W = 64, 80


def reference(pred: np.ndarray, gt: np.ndarray) -> dict[str, float]:
    """Dice and IoU on the full planes; both empty -> 1, one empty -> 0 (metrics.py's policy)."""
    inter, a, b = int((pred & gt).sum()), int(pred.sum()), int(gt.sum())
    if a + b == 0:
        return {"dice": 1.0, "iou": 1.0}
    return {"dice": 2 * inter / (a + b), "iou": inter / (a + b - inter)}


def session_3d():
    z = np.zeros((3, H, W), bool)
    gt = {"near": np.stack([disk((H, W), 30, 20, 12)] * 3), "far": np.stack([disk((H, W), 70, 55, 5)] * 3),
          "none": z}
    return Session(np.zeros((3, H, W), np.uint8), model=FakePredictor(), ground_truth=gt)


def test_known_answers_for_overlap_disjoint_one_empty_and_both_empty():
    s = session_3d()
    s.click(30, 20)
    near = reference(disk((H, W), 30, 20, 10), disk((H, W), 30, 20, 12))
    assert s.metrics == pytest.approx(near) and s.view_state.metrics == pytest.approx(near)
    assert 0.8 < near["dice"] < 0.9
    s.set_gt_label("far")
    assert s.metrics == {"dice": 0.0, "iou": 0.0} == s.view_state.metrics
    s.set_gt_label("none")
    assert s.metrics == {"dice": 0.0, "iou": 0.0}
    s.clear()
    s.click(5, 5, positive=False)            # a prompt whose mask is empty, against an empty label
    assert not s.mask.any() and s.metrics == {"dice": 1.0, "iou": 1.0} == s.view_state.metrics
    s.clear()
    assert s.metrics == {} == s.view_state.metrics   # no prompt: no score


def test_cropped_metrics_equal_the_full_planes_on_random_boxes_and_blobs():
    rng = np.random.default_rng(0)
    for _ in range(30):
        gt = disk((H, W), *rng.uniform(0, 80, 2), rng.uniform(0, 25)) | (rng.random((H, W)) < 0.002)
        s = Session(np.zeros((H, W), np.uint8), model=FakePredictor(), ground_truth={"g": gt})
        x0, x1 = sorted(rng.uniform(0, W, 2))
        y0, y1 = sorted(rng.uniform(0, H, 2))
        if x1 - x0 < 1 or y1 - y0 < 1:
            continue
        s.box(x0, y0, x1, y1)
        assert s.metrics == pytest.approx(reference(s.mask, gt))


def test_metrics_are_computed_once_per_mask(monkeypatch):
    calls = []
    real_dice = samwidgets.metrics.dice

    def counting(pred, gt):
        calls.append(pred.shape)
        return real_dice(pred, gt)

    monkeypatch.setattr(samwidgets.metrics, "dice", counting)
    s = session_3d()
    s.click(30, 20)
    assert len(calls) == 1
    first = s.metrics
    s.publisher.publish()                     # a publish that keeps the mask (as a message or status would)
    s.say("hello")
    assert s.metrics == first and len(calls) == 1
    assert calls[0] != (H, W)                 # scored on the box of mask and ground truth, not the plane
    s.set_gt_label("far")
    assert len(calls) == 2
    s.click(31, 20)
    assert len(calls) == 3
    s.set_slice(0)                            # no prompt there: nothing to score
    assert len(calls) == 3 and s.metrics == {}


def test_observable_rejects_an_unknown_field_and_notifies_once():
    obs, seen = Observable(ViewState()), []
    obs.observe(seen.append)
    assert obs.update(z=2, busy="x") == {"z", "busy"} and seen == [{"z", "busy"}]
    assert obs.update(z=2) == set() and len(seen) == 1
    with pytest.raises(AttributeError, match="no field 'zz'"):
        obs.update(zz=1)
