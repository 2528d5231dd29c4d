"""A video clip (t, y, x[, 3]) in the viewer: frame slider, play/pause, and propagation through frames."""

from __future__ import annotations

import numpy as np
from PIL import Image as PILImage

from samwidgets.io.image import TIME_AXES, Image
from samwidgets.widgets import SliceViewer, explore
from widgets.fakes import FakePredictor


def clip(n=6, h=48, w=64):
    frames = np.zeros((n, h, w, 3), np.uint8)
    for t in range(n):                       # a bright square moving right by 2 px per frame
        frames[t, 15:30, 10 + 2 * t:25 + 2 * t] = 200
    return Image(array=frames, spacing=(1.0, 1.0, 1.0), meta={"axes": TIME_AXES})


def test_clip_has_a_frame_slider_and_play_moves_through_frames():
    v = SliceViewer(clip(), model=FakePredictor(), background=False, autosave_dir=None, canvas_size=128)
    assert v.is_clip and v.ui.slider.description == "frame" and v.ui.play.layout.display == ""
    assert (v.ui.play.min, v.ui.play.max) == (1, 6)
    for frame in (1, 2, 3):                  # what the Play widget sends while playing
        v.ui.play.value = frame
        assert v.ui.slider.value == frame and v.session.z == frame - 1
    still = SliceViewer(np.zeros((4, 20, 20), np.uint8), model=FakePredictor(), background=False, autosave_dir=None)
    assert still.ui.play.layout.display == "none" and still.ui.slider.description == "slice"


def test_propagation_through_frames(tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    for t, frame in enumerate(clip().array):
        PILImage.fromarray(frame).save(folder / f"f{t}.png")
    v = explore(str(folder), model=FakePredictor(), background=False, autosave_dir=None, canvas_size=128)
    s = v.session
    assert v.is_clip and s.n_slices == 6
    s.set_slice(0)
    s.box(10, 15, 24, 29)
    s.accept("target")
    written = s.propagate("target")
    assert written == [1, 2, 3, 4, 5]
    assert all((s.labels[t] == 1).any() for t in range(6))
