"""Video propagation protocols: hand-built known answers, LiteMedSAM chaining on the real ultrasound clip,
SAM2 (random weights) on a tiny synthetic clip."""

from __future__ import annotations

import numpy as np
import pytest

from samwidgets.errors import EvaluationError
from samwidgets.evaluation.video import VIDEO_PROTOCOLS, lost_frames, propagate_clip, start_frame
from samwidgets.io.image import TIME_AXES, Image
from samwidgets.io.video import Clip, load_clip
from tests.conftest import need

REAL_CLIP = "ultrasound_video/ciocr-breast-us"


def square_clip(n: int = 8, size: int = 64, annotated=None) -> Clip:
    """A bright square moving 2 px right per frame on a dark background; labels on ``annotated`` frames."""
    frames = np.full((n, size, size, 3), 20, np.uint8)
    labels = {}
    for t in range(n):
        lab = np.zeros((size, size), np.uint8)
        lab[20:40, 10 + 2 * t:30 + 2 * t] = 1
        frames[t][lab > 0] = 230
        if annotated is None or t in annotated:
            labels[t] = lab
    img = Image(array=frames, spacing=(1.0, 1.0, 1.0), meta={"axes": TIME_AXES})
    return Clip(img, tuple(f"{t:05d}" for t in range(n)), labels, {1: "square"}, "squares")


class FakeVideo:
    """A 'SAM2 propagator' returning the ground truth until frame ``lose_from``, then nothing."""

    name = "fake_video"

    def __init__(self, clip, lose_from):
        self.gt, self.lose_from, self.calls = clip.masks(), lose_from, []

    def propagate(self, frames, *, z, box_xyxy=None, points_xy=None, point_labels=None):
        self.calls.append({"z": z, "box": box_xyxy, "points": points_xy})
        out = self.gt.copy()
        out[self.lose_from:] = False
        return out


def test_protocol_table():
    assert "video_chain_box_first" in VIDEO_PROTOCOLS and "video_sam2_clicks_middle" in VIDEO_PROTOCOLS
    assert "video_chain_clicks_first" not in VIDEO_PROTOCOLS  # LiteMedSAM takes boxes
    with pytest.raises(EvaluationError, match="unknown video protocol"):
        propagate_clip(square_clip(), "video_nope", FakeVideo(square_clip(), 8), rng=np.random.default_rng(0))


def test_start_frames_and_scores_on_annotated_frames_only():
    clip = square_clip(annotated=[1, 3, 4, 6, 7])
    gt = clip.masks()
    assert start_frame(gt, clip.annotated_frames, "first") == 1
    assert start_frame(gt, clip.annotated_frames, "middle") == 4
    engine = FakeVideo(clip, lose_from=6)
    res = propagate_clip(clip, "video_sam2_box_middle", engine, rng=np.random.default_rng(0))
    assert engine.calls[0]["z"] == 4
    np.testing.assert_array_equal(engine.calls[0]["box"], [18, 20, 37, 39])  # tight box of frame 4, inclusive
    r = res.rows
    assert r["frame"].tolist() == [1, 3, 4, 6, 7] and r["distance"].tolist() == [-3, -1, 0, 2, 3]
    assert r["dice"].tolist() == [1.0, 1.0, 1.0, 0.0, 0.0] and r["lost"].tolist() == [False] * 3 + [True] * 2
    lost = lost_frames(r).set_index("direction")
    assert lost.loc["forward", "first_lost"] == 6 and lost.loc["forward", "n_lost"] == 2
    assert lost.loc["backward", "first_lost"] == -1 and lost.loc["backward", "n_frames"] == 2
    clicks = propagate_clip(clip, "video_sam2_clicks_first", FakeVideo(clip, 8), rng=np.random.default_rng(0))
    assert clicks.start == 1 and clicks.rows["dice"].eq(1.0).all()


@pytest.fixture(scope="module")
def real_chain(shared_data, tmp_path_factory):
    import samwidgets.models as models

    root = shared_data / REAL_CLIP
    need(root.is_dir(), f"{root} missing")
    clip = load_clip(root)
    pred = models.load("litemedsam", device="cpu")
    pred.onnx_directory = tmp_path_factory.mktemp("onnx")  # the ONNX export stays out of the user's cache
    res = propagate_clip(clip, "video_chain_box_middle", pred, rng=np.random.default_rng(0))
    return clip, pred, res


def test_litemedsam_chaining_on_the_real_ultrasound_clip(real_chain):
    clip, pred, res = real_chain
    r = res.rows
    assert pred.stats["encoder_calls"] == 38  # one encode per frame
    assert len(r) == 38 and res.start == 18 and r["distance"].tolist() == list(range(-18, 20))
    print("\nper-frame Dice (LiteMedSAM chaining from frame 18):",
          " ".join(f"{d:.2f}" for d in r["dice"]))
    assert r.loc[r["distance"] == 0, "dice"].item() > 0.7
    near = r[r["distance"].abs() <= 3]
    assert near["dice"].mean() > 0.6, r["dice"].tolist()
    # independent check of the scores: Dice recomputed here from the returned masks and the raw labels
    for _, row in r.iterrows():
        p, g = res.masks[row["frame"]], clip.labels[row["frame"]] > 0
        assert row["dice"] == pytest.approx(2 * (p & g).sum() / (p.sum() + g.sum()))


def test_sam2_video_protocol_on_a_tiny_clip(shared_data, tmp_path_factory):
    pytest.importorskip("sam2")
    from samwidgets.models.sam2_video import build_video
    from tests.models import random_weights as rw

    prop = build_video("sam2_t", checkpoint=rw.checkpoint_file("sam2_t", tmp_path_factory), device="cpu")
    clip = square_clip(n=3, annotated=[0, 2])
    res = propagate_clip(clip, "video_sam2_box_first", prop, rng=np.random.default_rng(0))
    assert res.rows["frame"].tolist() == [0, 2] and res.masks.shape == (3, 64, 64)
    assert prop.last_run["z"] == 0 and prop.last_run["forward"] == [0, 1, 2]
    assert res.rows["dice"].between(0, 1).all()


def test_registry_rows_run_on_a_clip_volume():
    from samwidgets.evaluation.protocols import PROTOCOLS, parse_protocol

    clip = square_clip(n=5)
    for name in ("video_chain_box_first", "video_sam2_clicks_middle"):
        spec = PROTOCOLS[name]
        assert parse_protocol(name).on_volume(True) and spec.requires == ("sam2" if "sam2" in name else "")
    fake = FakeVideo(clip, lose_from=5)
    drive = PROTOCOLS["video_sam2_box_middle"].volume_driver
    (step, extra), = list(drive(None, fake, clip.image.array, clip.masks(), rng=np.random.default_rng(0)))
    assert extra == {"slice": 2} and fake.calls[0]["z"] == 2
    np.testing.assert_array_equal(step.mask, clip.masks())
    np.testing.assert_array_equal(step.prompts[0].box_xyxy, [14, 20, 33, 39])
