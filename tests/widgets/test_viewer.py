"""The canvas view without a browser: frontend events sent as ipycanvas comm messages, draws captured."""

from __future__ import annotations

import io
import json
import re

import numpy as np
import pytest
from PIL import Image as PILImage

from samwidgets.widgets import SliceViewer, render
from widgets.fakes import FakePredictor, disk

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def volume(n=5, h=64, w=80, seed=0):
    return np.random.default_rng(seed).integers(0, 255, size=(n, h, w), dtype=np.uint8)


class Sent:
    """Captures the PNG buffers ipycanvas sends to the frontend."""

    def __init__(self, monkeypatch):
        import ipycanvas.canvas as ic

        self.pngs: list[np.ndarray] = []
        original = ic._CANVAS_MANAGER.send

        def send(content, buffers=None, **kw):
            for b in buffers or []:
                b = bytes(b)
                if b.startswith(PNG_MAGIC):
                    self.pngs.append(np.array(PILImage.open(io.BytesIO(b))))
            return original(content, buffers=buffers, **kw)

        monkeypatch.setattr(ic._CANVAS_MANAGER, "send", send)


def fire(viewer, event, **content):
    """Send a frontend event to the top canvas exactly as the browser's comm message would arrive."""
    viewer.canvas._canvases[-1]._handle_frontend_event(None, {"event": event, **content}, [])


def click(viewer, x, y):
    fire(viewer, "mouse_down", x=x, y=y)
    fire(viewer, "mouse_up", x=x, y=y)


@pytest.fixture
def viewer():
    # 64 x 80 image on a 160-px canvas: scale 2, canvas (x, y) = image (x / 2, y / 2)
    gt = {"blob": np.stack([disk((64, 80), 30, 20, 10)] * 5)}
    return SliceViewer(volume(), model=FakePredictor(), ground_truth=gt, background=False, canvas_size=160)


def test_canvas_has_a_fixed_css_size(viewer):
    assert (viewer.canvas.width, viewer.canvas.height) == (160, 128)
    assert viewer.canvas.layout.width == "160px" and viewer.canvas.layout.height == "128px"


def test_click_positive_and_status_with_dice(viewer):
    click(viewer, 60, 40)
    assert viewer.session.state.points == ((30.0, 20.0, 1),)
    assert viewer.ui.status.value == "prompts: 1 | Dice 1.000 | IoU 1.000"


def test_shift_arms_one_negative_click_and_mode_toggle(viewer):
    click(viewer, 60, 40)
    fire(viewer, "key_down", key="Shift", shift_key=True, ctrl_key=False, meta_key=False)
    click(viewer, 64, 40)
    click(viewer, 20, 20)
    assert [p[2] for p in viewer.session.state.points] == [1, 0, 1]
    viewer.ui.mode.value = "negative"
    click(viewer, 100, 100)
    assert viewer.session.state.points[-1] == (50.0, 50.0, 0)
    assert viewer.ui.status.value.startswith("prompts: 4 | Dice ")


def test_drag_draws_a_box_in_image_pixels(viewer):
    fire(viewer, "mouse_down", x=100, y=80)
    fire(viewer, "mouse_move", x=60, y=50)
    fire(viewer, "mouse_up", x=20, y=10)
    assert viewer.session.state.box == (10.0, 5.0, 50.0, 40.0)
    # a drag that leaves the canvas is cancelled
    fire(viewer, "mouse_down", x=10, y=10)
    fire(viewer, "mouse_out", x=0, y=0)
    fire(viewer, "mouse_up", x=40, y=40)
    assert viewer.session.state.box == (10.0, 5.0, 50.0, 40.0)


def test_undo_redo_keys_and_buttons(viewer):
    click(viewer, 60, 40)
    click(viewer, 20, 20)
    fire(viewer, "key_down", key="z", shift_key=False, ctrl_key=True, meta_key=False)
    assert len(viewer.session.state.points) == 1
    fire(viewer, "key_down", key="y", shift_key=False, ctrl_key=True, meta_key=False)
    assert len(viewer.session.state.points) == 2
    viewer.ui.undo.click()
    viewer.ui.clear.click()
    assert viewer.session.state.empty and viewer.ui.status.value.startswith("prompts: 0")
    viewer.ui.undo.click()
    assert len(viewer.session.state.points) == 1


def test_wheel_and_slider_change_slice(viewer):
    click(viewer, 60, 40)
    fire(viewer, "mouse_wheel", x=0, y=120)
    assert viewer.session.z == 3 and viewer.ui.slider.value == 4 and viewer.session.state.empty
    viewer.ui.slider.value = 1              # the slider counts from 1
    assert viewer.session.z == 0
    fire(viewer, "mouse_wheel", x=0, y=-150)
    assert viewer.session.z == 0  # clamped
    viewer.ui.slider.value = 3
    assert viewer.session.state.points == ((30.0, 20.0, 1),)


def test_click_outside_the_image_is_ignored_with_a_message():
    v = SliceViewer(volume()[0], model=FakePredictor(), background=False, canvas_size=160)
    v.zoom(1 / 2)  # image now covers the middle half of the canvas
    click(v, 5, 5)
    assert v.session.state.empty and "outside the image" in v.ui.info.value


def test_model_error_is_shown_and_state_kept(viewer):
    click(viewer, 60, 40)
    viewer.session.predictor.fail_decode = True
    click(viewer, 20, 20)
    assert "fake decoder failure" in viewer.ui.info.value
    assert viewer.session.state.points == ((30.0, 20.0, 1),)
    assert viewer.ui.status.value == "prompts: 1 | Dice 1.000 | IoU 1.000"


def test_accept_save_and_replay(viewer, tmp_path):
    click(viewer, 60, 40)
    viewer.ui.label.value = "blob"
    viewer.ui.accept.click()
    assert (viewer.session.labels[2] == 1).sum() == disk((64, 80), 30, 20, 10).sum()
    viewer.ui.save_path.value = str(tmp_path / "log.json")
    viewer.ui.save.click()
    log = json.loads((tmp_path / "log.json").read_text())
    other = SliceViewer(volume(), model=FakePredictor(), background=False, canvas_size=160)
    other.replay(log)
    np.testing.assert_array_equal(other.session.labels, viewer.session.labels)
    assert other.session.label_names == ["blob"]


def test_images_reach_the_canvas_losslessly(monkeypatch):
    sent = Sent(monkeypatch)
    gray = volume()[0]
    v = SliceViewer(gray, model=FakePredictor(), background=False, canvas_size=80)  # scale 1
    assert any(p.shape == (64, 80, 4) and np.array_equal(p[..., 0], gray) and (p[..., 3] == 255).all()
               for p in sent.pngs)
    rgb = np.random.default_rng(1).integers(0, 255, size=(64, 80, 3), dtype=np.uint8)
    sent.pngs.clear()
    SliceViewer(rgb, model=FakePredictor(), background=False, canvas_size=80)
    assert any(p.shape == (64, 80, 4) and np.array_equal(p[..., :3], rgb) for p in sent.pngs)
    # the overlay layer carries the prediction colour where the mask is
    sent.pngs.clear()
    v.session.click(30, 20)
    overlay = sent.pngs[-1]  # cropped to the mask's bounding box (x 20..40, y 10..30)
    inside = disk((64, 80), 30, 20, 10)[10:31, 20:41]
    assert overlay.shape == (21, 21, 4)
    assert (overlay[inside][:, :3] == render.PREDICTION_RGB).all()
    assert (overlay[inside][:, 3] == round(render.PREDICTION_ALPHA * 255)).all()
    assert (overlay[~inside][:, 3] == 0).all()


def test_a_click_does_not_resend_the_image_layer_but_a_slice_change_does(monkeypatch):
    sent = Sent(monkeypatch)
    vol = volume()
    v = SliceViewer(vol, model=FakePredictor(), background=False, canvas_size=80)  # scale 1
    is_base = lambda p, z: p.shape == (64, 80, 4) and np.array_equal(p[..., 0], vol[z])  # noqa: E731
    z = v.session.z
    assert sum(is_base(p, z) for p in sent.pngs) == 1
    sent.pngs.clear()
    v.session.click(30, 20)
    v.session.box(10, 10, 50, 40)
    v.session.undo()
    assert sent.pngs and not any(is_base(p, z) for p in sent.pngs)  # overlays only
    v.set_slice(z + 1)
    assert sum(is_base(p, z + 1) for p in sent.pngs) == 1


def test_window_drag_and_zoom_pan(viewer):
    viewer.ui.mode.value = "window"
    fire(viewer, "mouse_down", x=50, y=50)
    fire(viewer, "mouse_move", x=10, y=50)
    fire(viewer, "mouse_up", x=10, y=50)
    assert viewer.window.current[1] < 255 and viewer.session.state.empty
    viewer.ui.mode.value = "pan"
    viewer.zoom(2)
    fire(viewer, "mouse_down", x=80, y=64)
    fire(viewer, "mouse_move", x=40, y=64)
    fire(viewer, "mouse_up", x=40, y=64)
    assert viewer.view.center == pytest.approx((50.0, 32.0))  # 40 canvas px at scale 4 = 10 image px
    viewer.ui.mode.value = "positive"
    click(viewer, 80, 64)
    assert viewer.session.state.points == ((50.0, 32.0, 1),)


def test_segment_everything_button():
    v = SliceViewer(volume()[0], model=FakePredictor(multimask=True), background=False, canvas_size=80)
    v.ui.everything.click()
    assert v.session.everything[0].label_map.max() >= 1 and "masks" in v.ui.info.value
    n = len(v.session.everything[0].scores)
    assert len(v.ui.everything_list.options) == n and v.ui.everything_list.layout.display == ""
    v.ui.everything_list.value = 1
    v.ui.everything_accept.click()
    assert (v.session.labels > 0).sum() == v.session.everything[0].areas[1]
    assert v.ui.everything_list.options[1][0].endswith("✓")
    v.ui.clear.click()
    assert 0 not in v.session.everything


def test_background_embedding_redraws_when_ready():
    v = SliceViewer(volume(), model=FakePredictor(), background=True, canvas_size=160)
    v.session.wait(10)
    click(v, 60, 40)
    assert v.session.mask.any() and "embedding: ready" in v.ui.embed.value
    v.session.close()


def test_auto_autosave_for_files_restores_and_sets_aside(tmp_path, monkeypatch):
    monkeypatch.setenv("SAMWIDGETS_CACHE_DIR", str(tmp_path / "cache"))
    path = tmp_path / "scan.png"
    PILImage.fromarray(volume()[0]).save(path)
    v = SliceViewer(path, model=FakePredictor(), background=False)
    click(v, 100, 100)
    v.ui.accept.click()
    root = tmp_path / "cache" / "autosave"
    saved = list(root.iterdir())
    assert len(saved) == 1 and saved[0].name.startswith("scan.png-")
    # a second viewer of the same file while the first is open: its own folder, and it says so
    twin = SliceViewer(path, model=FakePredictor(), background=False)
    assert twin.session.state.empty and "already open in another viewer" in twin.ui.info.value
    assert twin.session.autosaver.directory.name == saved[0].name + "-2"
    twin.close()
    v.close()
    again = SliceViewer(path, model=FakePredictor(), background=False)  # e.g. after a kernel restart
    assert again.session.state == v.session.state
    assert re.search(r"restored 1 prompts on 1 slices, \d+ labelled pixels from .*scan.png", again.ui.info.value)
    np.testing.assert_array_equal(again.session.labels, v.session.labels)
    again.close()
    fresh = SliceViewer(path, model=FakePredictor(), background=False, restore=False)
    assert fresh.session.state.empty and re.search(r"\(1 prompts on 1 slices, \d+ labelled pixels\) was kept in", fresh.ui.info.value)
    assert SliceViewer(volume(), model=FakePredictor(), background=False).session.autosaver is None


def test_segment_everything_in_the_background_keeps_its_slice():
    v = SliceViewer(volume(), model=FakePredictor(multimask=True), background=True, canvas_size=160)
    v.session.wait(10)
    v.ui.everything.click()
    v.set_slice(0)  # moving on while it runs
    v.tasks.join(30)
    assert set(v.session.everything) == {2} and v.session.everything[2].label_map.max() >= 1
    assert "masks on slice 3/5" in v.ui.info.value  # 1-based, as everywhere
    v.session.close()


def test_accept_while_the_slice_is_still_embedding_does_not_deadlock():
    import threading
    import time

    class SlowFake(FakePredictor):
        def encode(self, image):
            time.sleep(0.3)
            return super().encode(image)

    v = SliceViewer(volume(), model=SlowFake(), background=True, prefetch=0, canvas_size=160)
    click(v, 60, 40)  # recorded while slice 2 is being embedded
    assert "embedding" in v.ui.embed.value
    done = threading.Event()
    threading.Thread(target=lambda: (v.accept(), done.set()), daemon=True).start()
    assert done.wait(10), "accept blocked"
    assert (v.session.labels[2] > 0).sum() == disk((64, 80), 30, 20, 10).sum()
    v.session.close()


def test_unusable_autosave_is_kept_aside_and_the_viewer_opens(tmp_path):
    d = tmp_path / "autosave"
    v = SliceViewer(volume(), model=FakePredictor(), background=False, autosave_dir=d)
    click(v, 60, 40)
    v.close()
    data = json.loads((d / "session.json").read_text())
    data["log"]["events"].append({"op": "click", "slice": 2, "x": 500.0, "y": 1.0, "positive": True})
    (d / "session.json").write_text(json.dumps(data))
    again = SliceViewer(volume(), model=FakePredictor(), background=False, autosave_dir=d, canvas_size=160)
    assert again.session.state.empty and "could not restore" in again.ui.info.value
    kept = [p for p in tmp_path.iterdir() if p.name.startswith("autosave-")]
    assert len(kept) == 1 and (kept[0] / "session.json").exists()
    click(again, 20, 20)  # the fresh session autosaves into the original directory again
    again.session.autosaver.flush()
    assert json.loads((d / "session.json").read_text())["log"]["events"][0]["x"] == 10.0
