"""Session logic against a fake predictor: prompts, undo/redo, errors, slices, candidates, metrics."""

from __future__ import annotations

import numpy as np
import pytest

from samwidgets.errors import InputError, ModelError, PromptError
from samwidgets.widgets import Session
from widgets.fakes import FakePredictor, disk


def volume(n=5, h=64, w=80, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 255, size=(n, h, w), dtype=np.uint8)


def test_click_makes_the_mask_of_the_point():
    s = Session(volume()[0], model=FakePredictor())
    assert not s.mask.any() and s.state.empty
    s.click(30, 20)
    np.testing.assert_array_equal(s.mask, disk((64, 80), 30, 20, 10))
    s.click(34, 20, positive=False)
    expected = disk((64, 80), 30, 20, 10) & ~disk((64, 80), 34, 20, 6)
    np.testing.assert_array_equal(s.mask, expected)
    assert s.state.points == ((30.0, 20.0, 1), (34.0, 20.0, 0))


def test_box_corners_in_any_order_and_one_box_per_slice():
    s = Session(volume()[0], model=FakePredictor())
    s.box(50, 40, 10, 5)
    assert s.state.box == (10.0, 5.0, 50.0, 40.0)
    assert s.mask[5:41, 10:51].all() and s.mask.sum() == 36 * 41
    s.box(0, 0, 5, 5)
    assert s.state.box == (0.0, 0.0, 5.0, 5.0) and s.mask.sum() == 36
    with pytest.raises(PromptError):
        s.box(3, 3, 3.5, 10)


def test_undo_redo_clear():
    s = Session(volume()[0], model=FakePredictor())
    s.click(10, 10)
    s.click(40, 40)
    s.clear()
    assert s.state.empty and not s.mask.any()
    assert s.undo() and len(s.state.points) == 2
    assert s.undo() and len(s.state.points) == 1
    assert s.redo() and len(s.state.points) == 2
    s.click(60, 30)  # a new edit drops the redo stack
    assert not s.redo()
    assert s.undo() and s.undo() and s.undo()
    assert s.state.empty and not s.undo()


def test_click_outside_is_rejected_and_state_kept():
    s = Session(volume()[0], model=FakePredictor())
    s.click(10, 10)
    before = s.mask.copy()
    for x, y in [(-1, 5), (81, 5), (5, 65), (float("nan"), 3)]:
        with pytest.raises(PromptError):
            s.click(x, y)
    assert len(s.state.points) == 1
    np.testing.assert_array_equal(s.mask, before)


def test_model_error_rolls_back_the_edit():
    fake = FakePredictor()
    s = Session(volume()[0], model=fake)
    s.click(10, 10)
    before = s.mask.copy()
    fake.fail_decode = True
    with pytest.raises(ModelError):
        s.click(50, 50)
    assert s.state.points == ((10.0, 10.0, 1),)
    np.testing.assert_array_equal(s.mask, before)  # cached prediction of the kept state
    assert s.prompt_log["events"][-1]["op"] == "click" and len(s.prompt_log["events"]) == 1
    fake.fail_decode = False
    assert s.undo() and s.state.empty


def test_slices_keep_their_own_prompts_and_embed_once():
    fake = FakePredictor()
    vol = volume()
    s = Session(vol, model=fake)
    assert s.is_3d and s.n_slices == 5 and s.z == 2
    s.click(10, 10)
    s.set_slice(4)
    assert s.state.empty and not s.mask.any()
    s.click(20, 30)
    s.click(25, 30)
    s.set_slice(2)
    assert s.state.points == ((10.0, 10.0, 1),)
    np.testing.assert_array_equal(s.mask_of(4), disk((64, 80), 20, 30, 10) | disk((64, 80), 25, 30, 10))
    assert len(fake.encoded) == 2  # slices 2 and 4, each once
    with pytest.raises(InputError):
        s.set_slice(5)
    # undo returns to the slice the change happened on
    s.undo()
    assert s.z == 4 and len(s.state.points) == 1


def test_multimask_candidates_and_select():
    s = Session(volume()[0], model=FakePredictor(multimask=True))
    s.click(40, 30)
    assert s.candidates == [0.5, 0.9, 0.7]
    assert s.selected == 1
    np.testing.assert_array_equal(s.mask, disk((64, 80), 40, 30, 10))
    s.select(2)
    np.testing.assert_array_equal(s.mask, disk((64, 80), 40, 30, 20))
    with pytest.raises(PromptError):
        s.select(3)
    s.click(10, 10)  # two points: a single mask, selection reset
    assert len(s.candidates) == 1 and s.selected == 0


def test_metrics_against_ground_truth_label():
    gt = disk((64, 80), 30, 20, 12)
    s = Session(volume()[0], model=FakePredictor(), ground_truth={"lesion": gt})
    s.click(30, 20)
    pred = disk((64, 80), 30, 20, 10)
    inter = (pred & gt).sum()
    assert s.metrics["dice"] == pytest.approx(2 * inter / (pred.sum() + gt.sum()))
    assert s.metrics["iou"] == pytest.approx(inter / (pred | gt).sum())
    assert Session(volume()[0], model=FakePredictor()).metrics == {}


def test_ground_truth_must_match_the_image():
    from samwidgets.errors import LabelError

    with pytest.raises(LabelError):
        Session(volume()[0], model=FakePredictor(), ground_truth=np.zeros((10, 10), bool))


def test_integer_ground_truth_becomes_one_mask_per_value():
    gt = np.zeros((64, 80), np.uint8)
    gt[:10] = 1
    gt[20:30] = 2
    s = Session(volume()[0], model=FakePredictor(), ground_truth=gt)
    assert list(s.ground_truth) == ["label 1", "label 2"]
    assert s.label_names == ["label 1", "label 2"]


def test_background_embedding_prefetches_neighbours():
    fake = FakePredictor()
    s = Session(volume(n=9), model=fake, background=True, prefetch=1)
    s.wait(10)
    # slice 4, then its neighbours nearest first, 2 x prefetch deep at rest: 5, 3, 6, 2
    assert s.embedding_status == "ready" and len(fake.encoded) == 5
    events = []
    s.view_state.observe(events.append)
    s.set_slice(5)
    s.wait(10)
    assert s.embedding_ready and len(fake.encoded) == 6  # scrolling up: slice 7 (2 ahead) prefetched
    s.click(10, 10)
    assert s.mask.sum() == disk((64, 80), 10, 10, 10).sum()
    assert {"z"} <= events[0] and any({"prompts", "mask"} <= e for e in events)
    assert s.view_state.embedding == "ready" and s.view_state.mask is s.mask
    s.close()


def test_scrolling_cancels_queued_prefetch_and_memory_stays_bounded():
    import threading

    gate = threading.Event()

    class Slow(FakePredictor):
        def encode(self, image):
            gate.wait(10)
            return super().encode(image)

    fake = Slow()
    s = Session(volume(n=30), model=fake, background=True, prefetch=2)   # z = 15, then 16, 14, 17, 13 queued
    for z in (16, 17, 18, 19, 20):                                        # scrolling on before any encode ends
        s.set_slice(z)
    gate.set()
    s.wait(10)
    assert s.embedder.cancelled >= 3                                      # far-behind slices were dropped
    done = [z for z in range(30) if s.embedder.ready(z)]
    assert 20 in done and 13 not in done and len(done) <= s.embedder.keep
    s.close()


def test_session_imports_no_widget_toolkit():
    import subprocess
    import sys

    code = ("import sys, numpy as np; from samwidgets.widgets import Session, render; "
            "import samwidgets.widgets.autosave, samwidgets.models.automatic; "
            "bad = [m for m in ('ipywidgets', 'ipycanvas', 'torch') if m in sys.modules]; print(bad); "
            "sys.exit(1 if bad else 0)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
