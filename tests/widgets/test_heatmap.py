"""The viewer's click-robustness heat overlay: computed in the background with progress, cancellable, drawn
with a colour bar; the map's values are single-click decodes on the cached embedding."""

from __future__ import annotations

import time

import numpy as np
import pytest

from samwidgets.metrics import dice
from samwidgets.widgets import SliceViewer
from samwidgets.widgets.heatmap import click_robustness, colour_table, heat_rgba
from widgets.fakes import FakePredictor, disk


def viewer(model, *, background=False):
    gt = {"blob": np.stack([disk((64, 80), 30, 20, 12)] * 3)}
    return SliceViewer(np.zeros((3, 64, 80), np.uint8), model=model, ground_truth=gt, background=background,
                       canvas_size=160, autosave_dir=None)


def test_heat_toggle_draws_the_map_with_a_colour_bar_and_values_are_single_click_dice():
    v = viewer(FakePredictor())
    s = v.session
    v.ui.heat.value = True
    assert "safe click area" in v.ui.heat_bar.value and "Dice of one click" in v.ui.heat_bar.value
    assert "click-robustness map of the ground truth on slice 2/3: done" in v.ui.info.value
    rgba = v.heat_rgba(s.z)
    assert rgba is not None and rgba.shape == (64, 80, 4) and rgba[20, 30, 3] > 0
    cm = click_robustness(s, s.z, rng=np.random.default_rng(0), n_per_side=24)
    gt = s.ground_truth["blob"][s.z]
    emb = s.embedder.get(s.z)
    for (x, y), value in list(zip(cm.points_xy, cm.values))[::37]:   # the map at grid points = single decodes
        single = s.predictor.decode(emb, points_xy=np.array([[x, y]]), point_labels=np.array([1])).masks[0]
        assert value == pytest.approx(dice(single, gt))
    # a click inside a 12-px disc gives a 10-px disc: Dice 2*100/(100+144) ~ 0.82 at the centre, in green
    assert cm.summary["centre_score"] == pytest.approx(dice(disk((64, 80), *cm.summary["centre_xy"], 10), gt))
    assert (heat_rgba(np.array([[1.0]]))[0, 0, :3] == colour_table()[255]).all()
    v.ui.heat.value = False
    assert v.heat_rgba(s.z) is None and v.ui.heat_bar.value == ""


def test_heat_map_in_the_background_reports_progress_and_can_be_cancelled():
    class Slow(FakePredictor):
        def decode(self, emb, **kw):
            time.sleep(0.2)   # 9 batches: the cancel lands long before the end, even on a loaded machine
            return super().decode(emb, **kw)

    v = viewer(Slow(), background=True)
    s = v.session
    s.wait(10)
    seen = []
    s.view_state.observe(lambda changed: "busy" in changed and seen.append(s.view_state.busy))
    v.ui.heat.value = True
    deadline = time.monotonic() + 10
    while not any(b.startswith("click robustness") for b in seen) and time.monotonic() < deadline:
        time.sleep(0.02)
    v.ui.heat_cancel.click()
    v.tasks.join(20)
    assert any(b.startswith("click robustness") and b.endswith("%") for b in seen)
    assert "cancelled: partial map" in v.ui.info.value and "cancelled" in v.ui.heat_bar.value
    assert s.view_state.busy == ""
    s.close()


def test_heat_map_without_an_object_says_so():
    v = SliceViewer(np.zeros((64, 80), np.uint8), model=FakePredictor(), background=False, autosave_dir=None)
    v.ui.heat.value = True
    assert "needs its ground truth or a mask" in v.ui.info.value
