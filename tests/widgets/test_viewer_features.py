"""Windowing, navigation and feedback of the viewer, driven headless (canvas comm events and handlers)."""

from __future__ import annotations

import numpy as np
import pytest

from samwidgets.widgets import SliceViewer
from samwidgets.widgets.windowing import AUTO, PREWINDOWED
from widgets.fakes import FakePredictor, disk
from widgets.test_viewer import click, fire


def hu_volume(n=9, h=64, w=80):
    rng = np.random.default_rng(0)
    return rng.integers(-1000, 1000, size=(n, h, w)).astype(np.int16)


def key(v, k, *, shift=False, ctrl=False):
    fire(v, "key_down", key=k, shift_key=shift, ctrl_key=ctrl, meta_key=False)


@pytest.fixture
def ct():
    gt = {"lesion": np.stack([disk((64, 80), 30, 20, 10)] * 9)}
    return SliceViewer(hu_volume(), model=FakePredictor(), ground_truth=gt, background=False, canvas_size=160,
                       autosave_dir=None)


# -- 3. raw intensities and windowing ----------------------------------------------------------
def test_raw_hu_kept_ct_presets_auto_window_drag_readout_and_reset(ct):
    s = ct.session
    assert s.image.array.dtype == np.int16 and s.model_slice(s.z).dtype == np.uint8
    assert [o.split(" L")[0] for o in ct.ui.preset.options[:4]] == ["ct_soft_tissue", "ct_lesion", "ct_lung", "ct_brain"]
    assert AUTO in ct.ui.preset.options and any(o.startswith("full range (-1000..") for o in ct.ui.preset.options)
    assert ct.window.current == (40.0, 400.0) and "L 40 / W 400 HU" in ct.ui.window_text.value
    assert "model input: ct_soft_tissue L40/W400" in ct.ui.model_input.value
    ct.set_preset(AUTO)
    lo, hi = np.percentile(s.image.array, [0.5, 99.5])
    assert ct.window.current == pytest.approx(((lo + hi) / 2, hi - lo))
    ct.ui.mode.value = "window"
    fire(ct, "mouse_down", x=50, y=50)
    fire(ct, "mouse_move", x=90, y=70)       # right = wider, down = higher level
    fire(ct, "mouse_up", x=90, y=70)
    level, width = ct.window.current
    assert width > hi - lo and level > (lo + hi) / 2 and f"W {width:.4g}" in ct.ui.window_text.value
    key(ct, "r")                               # reset: back to the model's preset window
    assert ct.window.current == (40.0, 400.0) and ct.ui.preset.value.startswith("ct_soft_tissue")


def test_uint8_data_say_they_arrive_windowed():
    v = SliceViewer(np.zeros((3, 20, 20), np.uint8), model=FakePredictor(), background=False, autosave_dir=None)
    assert v.ui.preset.options[0] == PREWINDOWED and v.window.current is None
    assert "as stored" in v.ui.window_text.value and "the image as is" in v.ui.model_input.value
    assert not any(o.startswith("full range") for o in v.ui.preset.options)


# -- 4. navigation -----------------------------------------------------------------------------
def test_hover_shows_xyz_and_the_raw_value(ct):
    s = ct.session
    fire(ct, "mouse_move", x=61, y=41)   # scale 2: image pixel (30, 20)
    value = s.image.array[s.z, 20, 30]
    assert ct.ui.hover.value == f"x 30, y 20, z {s.z + 1}/9 · {value:g} HU"
    fire(ct, "mouse_out", x=0, y=0)
    assert ct.ui.hover.value == ""


def test_wheel_accumulates_deltas_and_shift_wheel_zooms_at_the_cursor(ct):
    s = ct.session
    z0 = s.z
    for _ in range(3):
        fire(ct, "mouse_wheel", x=0, y=40)   # a trackpad flick: small deltas add up
    assert s.z == z0 + 1
    for _ in range(7):
        fire(ct, "mouse_wheel", x=0, y=40)
    assert s.z == z0 + 4                     # 400 px in all = 4 slices, not one per event
    fire(ct, "mouse_move", x=40, y=30)
    before = ct.view.canvas_to_image(40, 30)
    fire(ct, "mouse_wheel", x=-100, y=0)     # Shift + wheel arrives as a horizontal delta: zoom in
    assert ct.view.zoom == pytest.approx(1.25) and ct.view.canvas_to_image(40, 30) == pytest.approx(before)
    assert "zoom 125 %" in ct.ui.embed.value
    v2 = SliceViewer(hu_volume()[0], model=FakePredictor(), background=False, canvas_size=160, autosave_dir=None)
    fire(v2, "mouse_move", x=100, y=20)
    p = v2.view.canvas_to_image(100, 20)
    fire(v2, "mouse_wheel", x=0, y=-100)     # 2D: the plain wheel zooms at the cursor
    assert v2.view.zoom == pytest.approx(1.25) and v2.view.canvas_to_image(100, 20) == pytest.approx(p)


def test_keyboard_shortcuts_and_help(ct):
    s = ct.session
    z0 = s.z
    key(ct, "ArrowDown")
    key(ct, "PageDown")
    assert s.z == min(z0 + 6, 8)
    key(ct, "PageUp")
    key(ct, "ArrowUp")
    assert s.z == min(z0 + 6, 8) - 6
    key(ct, "b")
    assert ct.ui.mode.value == "box"
    click(ct, 60, 40)                        # a click in box mode is no point
    assert s.state.empty and "drag" in ct.ui.info.value
    key(ct, "p")
    click(ct, 60, 40)
    key(ct, "a")
    assert (s.labels[s.z] == 1).any()
    key(ct, "z", ctrl=True)
    assert not s.labels.any()
    key(ct, "+")
    assert ct.view.zoom == pytest.approx(1.25)
    key(ct, "0")
    assert ct.view.zoom == 1.0
    assert ct.ui.help.layout.display == "none"
    key(ct, "h")
    assert ct.ui.help.layout.display == "" and "Page Up" in ct.ui.help.value


def test_one_slice_numbering_everywhere(ct):
    s = ct.session
    ct.set_slice(6)
    assert ct.ui.slider.value == 7 and "slice 7/9" in ct.ui.embed.value
    click(ct, 60, 40)
    ct.accept()
    assert "on slice 7/9" in ct.ui.info.value
    ct.ui.slider.value = 1
    assert s.z == 0 and "slice 1/9" in ct.ui.embed.value


# -- 5. feedback -------------------------------------------------------------------------------
def test_dice_dash_before_a_prompt_and_messages_clear_when_stale(ct):
    assert ct.ui.status.value == "prompts: 0 | Dice — | IoU —"
    key(ct, "Shift", shift=True)
    assert "next click: negative point" in ct.ui.info.value
    click(ct, 60, 40)
    assert ct.ui.info.value == ""                          # stale once the click is made
    ct.session.predictor.fail_decode = True
    click(ct, 20, 20)
    assert "fake decoder failure" in ct.ui.info.value
    ct.session.predictor.fail_decode = False
    fire(ct, "mouse_down", x=20, y=20)
    fire(ct, "mouse_up", x=80, y=60)                        # a good box: the red error goes
    assert ct.ui.info.value == "" and ct.ui.status.value.startswith("prompts: 2 | Dice 0.")


def test_legend_and_accepted_labels_drawn_distinguishably(ct):
    from samwidgets.widgets import render

    assert "ground truth" in ct.ui.legend.value and "prediction" in ct.ui.legend.value
    click(ct, 60, 40)
    ct.ui.label.value = "lesion"
    ct.accept()
    assert "accepted: lesion" in ct.ui.legend.value
    view = render.View(64, 80, 64, 80)
    mask = disk((64, 80), 30, 20, 10)
    layer = render.overlay_rgba(view, mask=mask, labels=mask.astype(np.uint16))
    edge = render.outline(mask, width=render.LABEL_OUTLINE_PX)
    assert (layer[edge][:, :3] == render.palette_color(1)).all()          # label outline over the prediction
    inner = mask & ~edge
    assert not (layer[inner][:, :3] == render.palette_color(1)).all(axis=1).any()


def test_box_only_model_warns_about_points_and_candidates_only_when_several():
    class Lite(FakePredictor):
        name = "litemedsam"

    v = SliceViewer(np.zeros((64, 80), np.uint8), model=Lite(multimask=False), background=False, canvas_size=160,
                    autosave_dir=None)
    v.session.box(10, 10, 50, 50)
    assert v.ui.info.value == ""
    click(v, 60, 40)
    assert "litemedsam was trained on boxes only; points are unreliable" in v.ui.info.value
    assert v.ui.candidates.layout.display == "none"
    m = SliceViewer(np.zeros((64, 80), np.uint8), model=FakePredictor(multimask=True), background=False,
                    canvas_size=160, autosave_dir=None)
    click(m, 60, 40)
    assert len(m.ui.candidates.options) == 3 and m.ui.candidates.layout.display == ""
    assert m.ui.info.value == ""                                   # a point-trained model: no warning
    click(m, 20, 20)
    assert m.ui.candidates.layout.display == "none"


def test_closing_a_viewer_frees_a_model_it_loaded_but_not_a_shared_one(monkeypatch):
    import samwidgets.models as models

    built = []
    monkeypatch.setattr(models, "load", lambda name, **kw: built.append(FakePredictor()) or built[-1])
    v = SliceViewer(np.zeros((3, 20, 20), np.uint8), model="litemedsam", background=True, autosave_dir=None,
                    cache=None)
    assert v.session.predictor is built[0]
    v.close()
    assert v.session.predictor is None
    shared = FakePredictor()
    w = SliceViewer(np.zeros((3, 20, 20), np.uint8), model=shared, background=False, autosave_dir=None)
    w.close()
    assert w.session.predictor is shared


def test_a_slow_publish_from_the_embedding_thread_never_takes_the_view_back_a_slice():
    import time

    class Slow(FakePredictor):
        def encode(self, image):
            time.sleep(0.3)
            return super().encode(image)

        def decode(self, emb, **kw):
            time.sleep(0.5 if kw.get("box_xyxy") is not None else 0.0)
            return super().decode(emb, **kw)

    v = SliceViewer(np.zeros((9, 64, 80), np.uint8), model=Slow(), background=True, prefetch=0, canvas_size=160,
                    autosave_dir=None)
    s = v.session
    s.wait(10)
    v.set_slice(5)
    s.box(10, 10, 40, 40)             # slice 6 is still embedding: decoded when the embedding is ready
    time.sleep(0.45)                  # the embedding thread is now publishing (a slow decode)
    v.set_slice(6)                    # the user scrolls on meanwhile
    s.wait(10)
    time.sleep(0.8)
    assert s.z == 6 and s.view_state.z == 6 and v.ui.slider.value == 7
    s.close()
