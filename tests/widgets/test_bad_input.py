"""Bad input to the headless Session is a typed error naming the reason, never a raw traceback."""

from __future__ import annotations

import json

import numpy as np
import pytest

from samwidgets.errors import InputError, LabelError, PromptError
from samwidgets.widgets import Session
from widgets.fakes import FakePredictor


def image(h=64, w=80):
    return np.random.default_rng(0).integers(0, 255, size=(h, w), dtype=np.uint8)


def log(*events, version=1):
    return {"format": "samwidgets.prompt_log", "version": version, "image_shape": [64, 80], "events": list(events)}


@pytest.mark.parametrize("events", [
    [{"op": "click", "x": 10}],                       # missing y
    [{"op": "box"}],                                  # missing box
    [{"op": "box", "box": [1, 2, 3]}],                # three numbers
    [{"op": "select"}],
    [{"op": "accept"}],
    [{"op": "set_prompt"}],
    [{"op": "click", "x": "ten", "y": 5}],
    [{"op": "set_slice", "slice": None}],
    ["click"],
])
def test_replay_of_an_incomplete_event_is_a_prompt_error(events):
    s = Session(image(), model=FakePredictor())
    with pytest.raises(PromptError, match="event 0"):
        s.replay(log(*events))
    assert s.state.empty and s.prompt_log["events"] == []


@pytest.mark.parametrize("version", ["one", None, [1], 1.5, True])
def test_replay_of_a_log_with_a_non_numeric_version_is_a_prompt_error(version):
    with pytest.raises(PromptError, match="version"):
        Session(image(), model=FakePredictor()).replay(log({"op": "click", "x": 1, "y": 1}, version=version))


def test_results_table_log_with_a_bad_slice_or_prompt_is_a_prompt_error():
    s = Session(image(), model=FakePredictor())
    with pytest.raises(PromptError):
        s.replay({"slice": "x", "prompts": []})
    with pytest.raises(PromptError):
        s.replay({"slice": 0, "prompts": [{"points_xy": "abc"}]})


@pytest.mark.parametrize("x, y", [("abc", 5), (None, 5), (5, None), (True, 5), ([1], 2), (b"1", 2)])
def test_click_with_a_non_number_is_a_prompt_error(x, y):
    s = Session(image(), model=FakePredictor())
    with pytest.raises(PromptError, match="must be a number"):
        s.click(x, y)
    with pytest.raises(PromptError, match="must be a number"):
        s.box(x, y, 30, 30)
    assert s.state.empty


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_session_refuses_a_nan_or_inf_image(bad):
    arr = image().astype(np.float32)
    arr[3, 4] = bad
    with pytest.raises(InputError, match="NaN or infinite"):
        Session(arr, model=FakePredictor())
    with pytest.raises(InputError, match="NaN or infinite"):
        Session(np.stack([arr] * 3), model=FakePredictor())
    from samwidgets.io.image import Image

    with pytest.raises(InputError, match="NaN or infinite"):
        Session(Image(array=arr, spacing=(1.0, 1.0)), model=FakePredictor())


def test_session_refuses_a_non_numeric_image():
    with pytest.raises(InputError):
        Session(np.array([["a", "b"], ["c", "d"]]), model=FakePredictor())


def test_float_ground_truth_with_nan_is_a_label_error():
    gt = np.zeros((64, 80), np.float32)
    gt[10:20, 10:20] = 1.0
    s = Session(image(), model=FakePredictor(), ground_truth=gt)  # a clean float mask is fine
    assert s.ground_truth["foreground"].sum() == 100
    gt[0, 0] = np.nan
    with pytest.raises(LabelError, match="NaN"):
        Session(image(), model=FakePredictor(), ground_truth=gt)
    with pytest.raises(LabelError, match="NaN"):
        Session(image(), model=FakePredictor(), ground_truth={"lesion": gt})


def click_at(x=10, y=10, **extra):
    return {"op": "click", "slice": 0, "x": x, "y": y, **extra}


@pytest.mark.parametrize("events, reason", [
    ([{"op": "set_prompt", "prompt": "abc"}], "prompt must be a Prompt.to_json"),  # was AttributeError
    ([{"op": "set_prompt", "prompt": [1, 2]}], "prompt must be a Prompt.to_json"),
    ([click_at(positive="no")], "positive must be true or false"),                 # was read as True
    ([click_at(), {"op": "accept", "label": ["a"]}], "a label is a name or an id"),  # was named "['a']"
    ([click_at(), {"op": "accept", "label": "a"}, {"op": "propagate", "label": "a", "z_range": [0, 1, 2]}],
     "z_range must be null or 2 slice numbers"),                                    # was cut to [0, 1]
    ([{"op": "segment_everything", "n_per_side": 10**6}], "n_per_side must be an integer"),  # was MemoryError
])
def test_replay_of_an_event_with_wrong_types_is_a_typed_error_naming_the_event(events, reason):
    s = Session(image(), model=FakePredictor(multimask=True))
    with pytest.raises((PromptError, InputError), match=f"event {len(events) - 1}.*{reason}"):
        s.replay(log(*events))


@pytest.mark.parametrize("shape", [[float("nan"), 80], [64, float("inf")], [64.5, 80]])
def test_replay_of_a_log_with_a_non_integer_image_shape_is_a_prompt_error(shape):
    bad = {**log(click_at()), "image_shape": shape}  # NaN and inf were a raw ValueError / OverflowError
    with pytest.raises(PromptError, match="image_shape must be a list of integers"):
        Session(image(), model=FakePredictor()).replay(bad)


def test_replay_of_a_deeply_nested_log_names_the_file(tmp_path):
    path = tmp_path / "deep.json"
    path.write_text("[" * 100_000 + "]" * 100_000)  # was a raw RecursionError
    with pytest.raises(PromptError, match="nested too deeply") as info:
        Session(image(), model=FakePredictor()).replay(path)
    assert info.value.where == str(path)
    with pytest.raises(PromptError, match="nested too deeply"):
        Session(image(), model=FakePredictor()).replay('{"a": ' + "[" * 100_000 + "]" * 100_000 + "}")


def test_an_event_the_session_refuses_names_the_log_file_and_the_event(tmp_path):
    path = tmp_path / "log.json"
    path.write_text(json.dumps(log(click_at(), click_at(x=500))))  # the second click lies outside the image
    with pytest.raises(PromptError, match="event 1 .*outside") as info:
        Session(image(), model=FakePredictor()).replay(path)
    assert info.value.where == str(path)  # was "image", with no event number


@pytest.mark.parametrize("names", [5, "abc", [{"a": 1}], ["ok", None]])
def test_label_names_that_are_not_a_list_of_strings_are_an_input_error(names):
    # 5 was a raw TypeError; "abc" became the labels a, b, c; a dict became a label name
    with pytest.raises(InputError, match="label_names must be a list of strings"):
        Session(image(), model=FakePredictor(), label_names=names)
    assert Session(image(), model=FakePredictor(), label_names=("liver", "lesion")).label_names == ["liver", "lesion"]


@pytest.mark.parametrize("prompt, reason", [
    ({"points_xy": [[10, 10], [20, 20], [30, 30]], "point_labels": [1]}, "3 points but 1 point labels"),
    ({"points_xy": [[10, 10]], "point_labels": [1, 0, 1]}, "1 points but 3 point labels"),
    ({"points_xy": [[10, 10]], "point_labels": [7]}, "must be 1 .* or 0"),
    ({"box_xyxy": [float("nan"), 0, 10, 10]}, "not 4 finite numbers"),
])
def test_set_prompt_with_mismatched_labels_or_a_nan_box_is_a_prompt_error(prompt, reason):
    """zip() used to drop the extra points or labels, 7 was kept as a label, a NaN box reached the model."""
    s = Session(image(), model=FakePredictor())
    with pytest.raises(PromptError, match=reason):
        s.set_prompt(prompt)
    with pytest.raises(PromptError, match=f"event 0 .*{reason}"):
        s.replay(log({"op": "set_prompt", "slice": 0, "prompt": prompt}))
    assert s.state.empty
    s.set_prompt({"points_xy": [[10, 10], [20, 20]], "point_labels": [1, 0], "box_xyxy": [5, 5, 40, 40]})
    assert s.state.points == ((10.0, 10.0, 1), (20.0, 20.0, 0)) and s.state.box == (5.0, 5.0, 40.0, 40.0)
