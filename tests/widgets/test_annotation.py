"""Accept, save, prompt-log replay, autosave/restore and segment-everything against a fake predictor."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from samwidgets.errors import InputError, PromptError
from samwidgets.widgets import Session
from widgets.fakes import FakePredictor, disk


def volume(n=5, h=64, w=80, seed=0):
    return np.random.default_rng(seed).integers(0, 255, size=(n, h, w), dtype=np.uint8)


def test_accept_writes_labels_and_undo_restores_them():
    s = Session(volume(), model=FakePredictor(), label_names=["liver", "lesion"])
    s.click(30, 20)
    assert s.accept("lesion") == disk((64, 80), 30, 20, 10).sum()
    assert (s.labels[2] == 2).sum() == disk((64, 80), 30, 20, 10).sum() and not s.labels[[0, 1, 3, 4]].any()
    s.clear()
    s.box(0, 0, 20, 20)
    s.accept("tumour core")  # a new name gets the next id
    assert s.label_names == ["liver", "lesion", "tumour core"] and (s.labels[2] == 3).sum() == 21 * 21
    s.undo()
    assert not (s.labels == 3).any() and (s.labels == 2).any()
    s.redo()
    assert (s.labels == 3).sum() == 21 * 21
    s.clear()
    with pytest.raises(PromptError):
        s.accept("lesion")


def test_prompt_log_replays_to_the_same_state(tmp_path):
    vol = volume()
    s = Session(vol, model=FakePredictor(multimask=True))
    s.click(30, 20)
    s.select(2)
    s.accept("a")
    s.set_slice(4)
    s.box(5, 5, 40, 30)
    s.click(20, 20, positive=False)
    s.undo()
    s.click(60, 50)
    path = s.save(tmp_path / "log.json")
    log = json.loads(path.read_text())
    assert log["image_shape"] == [5, 64, 80] and log["model"] == "fake"

    r = Session(vol, model=FakePredictor(multimask=True))
    r.replay(path)
    assert r.z == s.z == 4
    np.testing.assert_array_equal(r.labels, s.labels)
    for z in range(5):
        assert r.state_of(z) == s.state_of(z)
        np.testing.assert_array_equal(r.mask_of(z), s.mask_of(z))
    assert r.prompt_log["events"] == s.prompt_log["events"]

    with pytest.raises(PromptError):
        Session(volume(n=3), model=FakePredictor()).replay(log)  # another image shape
    with pytest.raises(PromptError):
        r.replay({"format": "samwidgets.prompt_log", "version": 1, "events": [{"op": "explode"}]})
    with pytest.raises(PromptError):
        r.replay(tmp_path / "missing.json")


def test_results_table_log_replays_each_prompt():
    s = Session(volume(), model=FakePredictor())
    log = {"slice": 1, "protocol": "iterative",
           "prompts": [{"points_xy": [[10, 10]], "point_labels": [1], "box_xyxy": None},
                       {"points_xy": [[10, 10], [40, 40]], "point_labels": [1, 0], "box_xyxy": [0, 0, 30, 30]}]}
    s.replay(json.dumps(log))
    assert s.z == 1 and s.state.points == ((10.0, 10.0, 1), (40.0, 40.0, 0)) and s.state.box == (0, 0, 30, 30)
    s.undo()
    assert s.state.points == ((10.0, 10.0, 1),) and s.state.box is None


def test_save_npz_and_unknown_format(tmp_path):
    s = Session(volume()[0], model=FakePredictor())
    s.click(30, 20)
    s.accept("lesion")
    s.save(tmp_path / "labels.npz")
    with np.load(tmp_path / "labels.npz") as f:
        np.testing.assert_array_equal(f["labels"], s.labels)
        assert f["label_names"].tolist() == ["lesion"]
    assert json.loads((tmp_path / "labels.npz.labels.json").read_text()) == {"1": "lesion"}
    with pytest.raises(InputError):
        s.save(tmp_path / "labels.xyz")


def test_autosave_is_debounced_flushed_on_accept_and_restores(tmp_path):
    vol = volume()
    d = tmp_path / "autosave"
    s = Session(vol, model=FakePredictor(), autosave_dir=d, autosave_delay=0.3)
    s.click(30, 20)
    assert not (d / "session.json").exists()          # off the click path: nothing written yet
    s.click(31, 20)
    time.sleep(0.8)                                   # one debounced write for the burst
    saved = json.loads((d / "session.json").read_text())
    assert [e["op"] for e in saved["log"]["events"]] == ["click", "click"] and saved["labels_file"]
    assert s.autosaver.writes == 1
    s.undo()
    s.accept("lesion")                                # flushed before accept returns
    saved = json.loads((d / "session.json").read_text())
    assert saved["log"]["events"][-1]["op"] == "accept"
    assert np.load(d / saved["labels_file"]).any()
    s.set_slice(3)                                    # a slice change flushes too
    assert json.loads((d / "session.json").read_text())["log"]["events"][-1]["op"] == "set_slice"
    s.click(50, 40)
    s.click(52, 41, positive=False)
    s.close()                                         # close flushes and releases the folder
    files = sorted(p.name for p in d.iterdir())
    assert files == [".lock", "labels-000002.npy", "session.json"]  # one label file, no temporaries left
    # a fresh session on the same image restores prompts and labels from the directory
    r = Session(vol, model=FakePredictor(), autosave_dir=d)
    assert r.restore()
    np.testing.assert_array_equal(r.labels, s.labels)
    assert r.z == 3 and r.state == s.state and r.state_of(2) == s.state_of(2)
    np.testing.assert_array_equal(r.mask, s.mask)
    assert r.label_names == ["lesion"]
    # undo steps stay aligned after a restore: the accept placeholder does not undo a click
    r.undo()
    r.undo()
    r.undo()
    assert r.state_of(2).points == ((30.0, 20.0, 1),)
    assert not Session(vol, model=FakePredictor(), autosave_dir=tmp_path / "empty").restore()


def test_one_live_writer_per_autosave_folder_and_stale_temporaries_removed(tmp_path):
    from samwidgets.widgets.autosave import AutosaveInUse

    d = tmp_path / "autosave"
    s = Session(volume(), model=FakePredictor(), autosave_dir=d)
    with pytest.raises(AutosaveInUse):
        Session(volume(), model=FakePredictor(), autosave_dir=d)
    s.close()
    # a writer killed mid-save leaves a temporary (25 MB for a CT label volume); the next start removes it
    stale = d / ".labels-000009.npy.abc123.tmp.npy"
    stale.write_bytes(b"\0" * 1024)
    again = Session(volume(), model=FakePredictor(), autosave_dir=d)
    assert not stale.exists() and again.autosaver.removed_temporaries == [stale.name]
    again.close()


def test_segment_everything_lists_masks_to_accept_one_by_one():
    s = Session(volume()[0], model=FakePredictor(multimask=True))
    labels = s.segment_everything(n_per_side=4, min_score=0.5)
    n = labels.max()
    res = s.everything[0]
    assert 1 <= n <= 16 and res.label_map is labels and len(res.scores) == len(res.areas) == n
    assert set(np.unique(labels)) == set(range(n + 1))
    assert [int((labels == i + 1).sum()) for i in range(n)] == res.areas.tolist()
    assert s.view_state.everything is res
    written = s.accept_everything(2, "cell")
    assert written == res.areas[2] and ((s.labels == 1) == (labels == 3)).all()
    assert s.everything[0].accepted == {2}
    s.accept_everything(0, "cell")
    assert (s.labels == 1).sum() == res.areas[0] + res.areas[2]
    s.undo()
    assert (s.labels == 1).sum() == res.areas[2]
    with pytest.raises(PromptError):
        s.accept_everything(n, "cell")
    # the log replays the list and the accepted masks
    r = Session(volume()[0], model=FakePredictor(multimask=True))
    r.replay(s.prompt_log)
    np.testing.assert_array_equal(r.labels, s.labels)


def test_segment_everything_with_a_box_only_model_says_it_needs_points():
    class BoxOnly(FakePredictor):
        name = "litemedsam"   # the registry declares LiteMedSAM box-trained

    s = Session(volume()[0], model=BoxOnly(multimask=True))
    with pytest.raises(PromptError, match="trained on boxes only.*point-trained"):
        s.segment_everything()
    assert s.everything == {}


def test_save_png_for_2d_and_refuse_png_for_3d(tmp_path):
    from PIL import Image as PILImage

    s = Session(volume()[0], model=FakePredictor())
    s.click(30, 20)
    s.accept("lesion")
    s.clear()
    s.box(50, 40, 70, 60)
    s.accept("cyst")
    out = s.save(tmp_path / "labels.png")
    np.testing.assert_array_equal(np.array(PILImage.open(out)), s.labels)
    assert set(np.unique(s.labels)) == {0, 1, 2}
    s3 = Session(volume(), model=FakePredictor())
    with pytest.raises(InputError):
        s3.save(tmp_path / "labels3d.png")


def test_replay_decodes_lazily_and_notifies_once():
    s = Session(volume(), model=FakePredictor())
    for x in (10, 20, 30, 40, 50):
        s.click(x, 10)
    s.set_slice(4)
    for x in (10, 20, 30):
        s.click(x, 30)
    fake = FakePredictor()
    r = Session(volume(), model=fake)
    heard = []
    r.view_state.observe(heard.append)
    r.replay(s.prompt_log)
    assert fake.decode_calls == 1 and len(heard) == 1   # only the slice shown is decoded; one update
    assert {"z", "prompts", "mask"} <= heard[0]
    np.testing.assert_array_equal(r.mask, s.mask)
    assert fake.decode_calls == 1
