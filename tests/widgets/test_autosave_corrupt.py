"""A corrupt autosave folder is a typed error naming the file it found wrong, never a raw traceback, a hang
or labels cast silently; the viewer's opening path keeps such an autosave aside and opens afresh.

Each case starts from a real autosave (one click, one accept on a 5-slice volume) and damages one thing.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from samwidgets.errors import InputError, PromptError
from samwidgets.widgets import Session
from samwidgets.widgets.autosave import describe_autosave
from samwidgets.widgets.opening import open_session
from samwidgets.widgets.sources import open_source
from widgets.fakes import FakePredictor

SHAPE = (5, 64, 80)


def volume():
    return np.random.default_rng(0).integers(0, 255, size=SHAPE, dtype=np.uint8)


def saved(folder) -> dict:
    """A real autosave in ``folder``; returns its session.json content."""
    s = Session(volume(), model=FakePredictor(), autosave_dir=folder)
    s.set_slice(2)
    s.click(30, 20)
    s.accept("lesion")
    s.close()
    return json.loads((folder / "session.json").read_text())


def write_json(folder, data) -> None:
    (folder / "session.json").write_text(json.dumps(data))


def edit_log(key, value):
    def edit(folder, data):
        data["log"][key] = value
        write_json(folder, data)
    return edit


def edit_top(key, value):
    def edit(folder, data):
        data[key] = value
        write_json(folder, data)
    return edit


def labels_array(array):
    def edit(folder, data):
        np.save(folder / data["labels_file"], array)
    return edit


def replace_by_fifo(name):
    def edit(folder, data):
        path = folder / (data["labels_file"] if name == "labels" else name)
        path.unlink()
        os.mkfifo(path)
    return edit


def replace_by_folder(name):
    def edit(folder, data):
        (folder / name).unlink()
        (folder / name).mkdir()
    return edit


def deeply_nested(folder, data):
    (folder / "session.json").write_text("[" * 100_000 + "]" * 100_000)


LABELS = "labels-000001.npy"
# name -> (damage, error class, file named in the message, words of the reason)
CASES = {
    "labels of strings": (labels_array(np.full(SHAPE, "a")), InputError, LABELS, "not integer label ids"),
    "float labels with NaN": (labels_array(np.full(SHAPE, np.nan)), InputError, LABELS, "not integer label ids"),
    "negative label ids": (labels_array(np.full(SHAPE, -1, np.int32)), InputError, LABELS, "outside 0..65535"),
    "label ids above uint16": (labels_array(np.full(SHAPE, 70_000)), InputError, LABELS, "outside 0..65535"),
    "record labels": (labels_array(np.zeros(SHAPE, [("a", "u2")])), InputError, LABELS, "not integer label ids"),
    "labels of the wrong shape": (labels_array(np.zeros((5, 64, 81), np.uint16)), InputError, LABELS,
                                  r"shape \(5, 64, 81\)"),
    "ids without names": (labels_array(np.full(SHAPE, 3, np.uint16)), InputError, LABELS, "only 1 label names"),
    "label_names not strings": (edit_top("label_names", [{"a": 1}]), InputError, "session.json",
                                "label_names must be a list of strings"),
    "session.json nested too deep": (deeply_nested, InputError, "session.json", "nested too deeply"),
    "session.json a FIFO": (replace_by_fifo("session.json"), InputError, "session.json", "not a regular file"),
    "labels file a FIFO": (replace_by_fifo("labels"), InputError, LABELS, "not a regular file"),
    ".lock a folder": (replace_by_folder(".lock"), InputError, ".lock", "not a regular file"),
    "image_shape NaN": (edit_log("image_shape", [float("nan"), 64, 80]), PromptError, "session.json",
                        "image_shape must be a list of integers"),
    "prompt a string": (edit_log("events", [{"op": "set_prompt", "slice": 2, "prompt": "abc"}]), PromptError,
                        "session.json", "prompt must be a Prompt.to_json"),
    "slice outside the image": (edit_log("events", [{"op": "set_slice", "slice": 99}]), InputError,
                                "session.json", "event 0 .*slice 100 is outside"),
    "huge segment-everything grid": (edit_log("events", [{"op": "segment_everything", "slice": 0,
                                                          "n_per_side": 10**6}]),
                                     PromptError, "session.json", "n_per_side must be an integer in 1..64"),
}


@pytest.mark.timeout(30)  # a FIFO read would block forever
@pytest.mark.parametrize("case", list(CASES))
def test_restoring_a_corrupt_autosave_is_a_typed_error_naming_the_file(tmp_path, case):
    damage, error, named, reason = CASES[case]
    folder = tmp_path / "autosave"
    damage(folder, saved(folder))
    with pytest.raises(error, match=reason) as info:
        s = Session(volume(), model=FakePredictor(), autosave_dir=folder)
        s.restore()
    assert info.value.where is not None and info.value.where.endswith(named)
    assert "Traceback" not in str(info.value)


@pytest.mark.timeout(30)
@pytest.mark.parametrize("events", [5, [{"op": "click", "slice": [1], "x": 1, "y": 1}], ["click"]])
def test_the_viewer_opening_path_keeps_a_corrupt_autosave_aside(tmp_path, events):
    """describe_autosave (the restore note) once raised TypeError on a log whose events were not a list or
    held an unhashable slice, before the restore's own error handling was reached."""
    folder = tmp_path / "autosave"
    data = saved(folder)
    data["log"]["events"] = events
    write_json(folder, data)
    assert "prompts on" in describe_autosave(folder)
    opening = open_session(open_source(volume()), autosave_dir=folder, restore=True, model=FakePredictor())
    try:
        assert opening.session.state.empty and not opening.session.labels.any()
        [(text, level)] = opening.notes
        assert level == "error" and "session.json" in text and "could not restore" in text
        kept = [p for p in tmp_path.iterdir() if p.name.startswith("autosave-")]
        assert len(kept) == 1 and (kept[0] / "session.json").exists()  # the user's work is kept, renamed
    finally:
        opening.session.close()


def test_an_undamaged_autosave_still_restores(tmp_path):
    """The control for the cases above: the same autosave, undamaged, restores its labels and names."""
    folder = tmp_path / "autosave"
    saved(folder)
    s = Session(volume(), model=FakePredictor(), autosave_dir=folder)
    assert s.restore() and s.label_names == ["lesion"] and s.labels[2].any() and s.z == 2
    s.close()
