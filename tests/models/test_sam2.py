"""SAM2 adapter (Hiera-T at random weights) against the sam2 package's own SAM2ImagePredictor.

One Hiera-T encode of the CT slice is shared (random_weights.encoded); one more checks that our features
equal ``SAM2ImagePredictor.set_image``'s. Decodes are compared with ``SAM2ImagePredictor.predict`` over
the same embedding, bit for bit.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import random_weights as rw
from samwidgets.errors import PromptError
from samwidgets.models import load
from samwidgets.models.cache import EmbeddingCache
from samwidgets.models.sam2 import FEATURE_KEYS, Sam2Predictor

SHAPES = {"image_embed": (1, 256, 64, 64), "high_res_feats_0": (1, 32, 256, 256),
          "high_res_feats_1": (1, 64, 128, 128)}


@pytest.fixture(scope="session")
def sam2_t(tmp_path_factory, shared_data):
    return rw.encoded("sam2_t", tmp_path_factory, shared_data)


def _reference(enc):
    """A SAM2ImagePredictor over the same network with our features set as its image features."""
    from sam2.sam2_image_predictor import SAM2ImagePredictor

    feats = enc.embedding.features
    ref = SAM2ImagePredictor(enc.predictor.model)
    ref._features = {"image_embed": feats["image_embed"],
                     "high_res_feats": [feats["high_res_feats_0"], feats["high_res_feats_1"]]}
    ref._orig_hw = [enc.embedding.original_size]
    ref._is_image_set = True
    return ref


def test_embedding_keeps_image_embed_and_both_high_res_maps(sam2_t):
    emb = sam2_t.embedding
    assert isinstance(sam2_t.predictor, Sam2Predictor)
    assert emb.model == "sam2_t" and emb.original_size == (320, 440) and emb.input_size == (1024, 1024)
    assert {k: tuple(v.shape) for k, v in emb.features.items()} == SHAPES


def test_features_equal_sam2imagepredictor_set_image(sam2_t):
    """The package's own set_image on the same uint8 RGB slice gives the same three maps."""
    ref_pred = _reference(sam2_t)
    ref_pred.set_image(np.repeat(sam2_t.image[:, :, None], 3, axis=2))
    ours = sam2_t.embedding.features
    assert torch.equal(ref_pred._features["image_embed"], ours["image_embed"])
    for i in (0, 1):
        assert torch.equal(ref_pred._features["high_res_feats"][i], ours[f"high_res_feats_{i}"])


def test_decode_equals_sam2imagepredictor(sam2_t):
    ref = _reference(sam2_t)
    pts = np.array([[200.0, 150.0], [60.0, 30.0]])
    labels = np.array([1, 0])
    for kwargs in ({"point_coords": pts, "point_labels": labels},
                   {"box": sam2_t.box},
                   {"point_coords": pts, "point_labels": labels, "box": sam2_t.box}):
        for multimask in (False, True):
            out = sam2_t.predictor.decode(
                sam2_t.embedding, points_xy=kwargs.get("point_coords"), point_labels=kwargs.get("point_labels"),
                box_xyxy=kwargs.get("box"), multimask=multimask,
            )
            m, s, lo = ref.predict(**kwargs, multimask_output=multimask)
            k = 3 if multimask else 1
            assert out.masks.shape == (k, 320, 440) and out.masks.dtype == bool
            assert np.array_equal(out.masks, m > 0) and np.array_equal(out.scores, s)
            assert np.array_equal(out.logits, lo)


def test_batch_of_boxes_equals_reference_batch(sam2_t):
    ref = _reference(sam2_t)
    boxes = np.stack([sam2_t.box, [10, 20, 200, 300], [300, 5, 439, 100]]).astype(np.float32)
    out = sam2_t.predictor.decode(sam2_t.embedding, box_xyxy=boxes, multimask=True)
    assert out.masks.shape == (3, 3, 320, 440) and out.logits.shape == (3, 3, 256, 256)
    m, s, lo = ref.predict(box=boxes, multimask_output=True)
    assert np.array_equal(out.masks, m > 0) and np.array_equal(out.logits, lo)
    one = sam2_t.predictor.decode(sam2_t.embedding, box_xyxy=boxes[2], multimask=True)
    np.testing.assert_allclose(one.logits, out.logits[2], rtol=1e-4, atol=1e-3)


def test_previous_logits_as_prompt(sam2_t):
    ref = _reference(sam2_t)
    first = sam2_t.predictor.decode(sam2_t.embedding, points_xy=[[220.0, 160.0]], point_labels=[1])
    again = sam2_t.predictor.decode(sam2_t.embedding, points_xy=[[220.0, 160.0]], point_labels=[1],
                                    mask_logits=first.logits[0])
    m, s, lo = ref.predict([[220.0, 160.0]], [1], mask_input=first.logits, multimask_output=False)
    assert np.array_equal(again.logits, lo)


def test_disk_cache_keeps_all_three_maps_and_exact_logits(sam2_t):
    fresh = EmbeddingCache(sam2_t.cache_dir, memory_bytes=0)
    pred2 = load("sam2_t", checkpoint=sam2_t.checkpoint, device="cpu", cache=fresh)
    cached = pred2.encode(sam2_t.image)
    assert pred2.stats["encoder_calls"] == 0 and fresh.stats["hits_disk"] == 1
    assert set(cached.features) == set(FEATURE_KEYS)
    for key in FEATURE_KEYS:
        assert torch.equal(cached.features[key], sam2_t.embedding.features[key]), key
    kw = {"points_xy": [[220.0, 160.0]], "point_labels": [1], "box_xyxy": sam2_t.box, "multimask": True}
    a = sam2_t.predictor.decode(sam2_t.embedding, **kw)
    b = pred2.decode(cached, **kw)
    assert np.array_equal(a.logits, b.logits) and np.array_equal(a.masks, b.masks)
    # the high-res maps matter: zeroing one changes the masks' logits
    broken = dict(cached.features, high_res_feats_0=torch.zeros_like(cached.features["high_res_feats_0"]))
    cached.features = broken
    assert not np.array_equal(pred2.decode(cached, **kw).logits, a.logits)


def test_bad_prompts(sam2_t):
    with pytest.raises(PromptError):
        sam2_t.predictor.decode(sam2_t.embedding, box_xyxy=[50, 50, 10, 100])  # inverted
    with pytest.raises(PromptError):
        sam2_t.predictor.decode(sam2_t.embedding, points_xy=[[1.0, 400.0]], point_labels=[1])  # y > H


# -- video propagation (sam2_video) ---------------------------------------------------------------
def test_frames_equal_the_package_loader_without_jpeg(tmp_path):
    """Our in-memory frames equal sam2's own folder loader fed lossless files (PNG bytes named .jpg)."""
    from PIL import Image
    from sam2.utils.misc import load_video_frames

    from samwidgets.models.sam2_video import frames_tensor

    vol = np.random.default_rng(7).integers(0, 256, (3, 40, 56), dtype=np.uint8)
    for z, plane in enumerate(vol):
        Image.fromarray(np.repeat(plane[:, :, None], 3, axis=2)).save(tmp_path / f"{z}.jpg", format="PNG")
    ref, h, w = load_video_frames(str(tmp_path), 64, True, compute_device=torch.device("cpu"))
    assert (h, w) == (40, 56)
    assert torch.equal(frames_tensor(vol, 64), ref)


def test_volume_checks():
    from samwidgets.errors import InputError
    from samwidgets.models.sam2_video import volume_to_uint8

    with pytest.raises(InputError):
        volume_to_uint8(np.zeros((4, 4), np.uint8))
    with pytest.raises(InputError):
        volume_to_uint8(np.full((2, 4, 4), np.nan))
    v = volume_to_uint8(np.linspace(-100, 100, 2 * 4 * 4).reshape(2, 4, 4))
    assert v.dtype == np.uint8 and v.min() == 0 and v.max() == 255


@pytest.mark.slow
def test_video_propagation_runs_both_ways_on_a_ct_volume(tmp_path_factory, shared_data):
    """Random weights: only shapes, dtype, visited slices and typed errors are meaningful."""
    import cv2

    from samwidgets.models.sam2_video import build_video

    case = rw.ct_case(shared_data)
    zs = np.nonzero(case["gts"].any(axis=(1, 2)))[0]
    z0 = int(zs.mean()) - 1
    vol = np.stack([cv2.resize(case["imgs"][z][rw.CROP], (110, 80), interpolation=cv2.INTER_AREA)
                    for z in range(z0, z0 + 3)])
    prop = build_video("sam2_t", checkpoint=rw.checkpoint_file("sam2_t", tmp_path_factory), device="cpu")
    masks = prop.propagate(vol, box_xyxy=[30, 20, 80, 60], points_xy=[[55.0, 40.0]], point_labels=[1])
    assert masks.shape == (3, 80, 110) and masks.dtype == bool
    assert prop.last_run == {"z": 1, "forward": [1, 2], "reverse": [1, 0]}
    with pytest.raises(PromptError):
        prop.propagate(vol, z=5, box_xyxy=[30, 20, 80, 60])
    with pytest.raises(PromptError):
        prop.propagate(vol, box_xyxy=[130, 20, 180, 60])  # wholly beyond W = 110
