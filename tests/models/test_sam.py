"""SAM adapter (ViT-B at random weights) against segment-anything's own SamPredictor.

One real ViT-B encode of a CT slice is shared by every test (random_weights.encoded); the reference
comparisons set that embedding into a SamPredictor and compare its outputs with ours bit for bit.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import random_weights as rw
from samwidgets.errors import InputError, PromptError
from samwidgets.models import load
from samwidgets.models.cache import EmbeddingCache
from samwidgets.models.sam import SamPredictorAdapter, to_uint8_rgb

pytestmark = pytest.mark.slow  # the shared fixture runs one ViT-B encode (~35 s)


@pytest.fixture(scope="session")
def sam_b(tmp_path_factory, shared_data):
    return rw.encoded("sam_vit_b", tmp_path_factory, shared_data)


def _reference(enc):
    """A SamPredictor over the same network with our embedding set as its image features."""
    from segment_anything import SamPredictor

    ref = SamPredictor(enc.predictor.model)
    ref.features = enc.embedding.features["image_embed"]
    ref.original_size = enc.embedding.original_size
    ref.input_size = enc.embedding.input_size
    ref.is_image_set = True
    return ref


def test_embedding_shape_and_sizes(sam_b):
    emb = sam_b.embedding
    assert isinstance(sam_b.predictor, SamPredictorAdapter)
    assert emb.model == "sam_vit_b"
    assert tuple(emb.features["image_embed"].shape) == (1, 256, 64, 64)
    assert emb.original_size == (320, 440)
    assert emb.input_size == (745, 1024)  # longest side 1024, 320 * 1024 / 440 = 744.7 -> 745


def test_preprocess_matches_sampredictor_set_image(sam_b, monkeypatch):
    """The resized image equals SamPredictor's; the encoder input is (x - mean) / std padded to 1024²."""
    from segment_anything import SamPredictor

    pred = sam_b.predictor
    captured = {}

    def capture(self, transformed, original_size):
        captured["x"] = transformed

    monkeypatch.setattr(SamPredictor, "set_torch_image", capture)
    SamPredictor(pred.model).set_image(np.repeat(sam_b.image[:, :, None], 3, axis=2))
    x, size = pred.preprocess(sam_b.image)
    assert np.array_equal(captured["x"][0].permute(1, 2, 0).numpy(), x)
    assert size == x.shape[:2]

    class Recorder(torch.nn.Module):
        img_size = 1024

        def forward(self, t):
            captured["enc_in"] = t.clone()
            return torch.zeros(1, 256, 64, 64)

    real = pred.model.image_encoder
    pred.model.image_encoder = Recorder()
    try:
        pred.encode_input(x)
    finally:
        pred.model.image_encoder = real
    mean = np.array([123.675, 116.28, 103.53], dtype=np.float32)
    std = np.array([58.395, 57.12, 57.375], dtype=np.float32)
    expect = np.zeros((1024, 1024, 3), np.float32)
    expect[: x.shape[0], : x.shape[1]] = (x.astype(np.float32) - mean) / std
    got = captured["enc_in"][0].permute(1, 2, 0).numpy()
    np.testing.assert_allclose(got, expect, rtol=0, atol=1e-5)


def test_gray_float_and_rgb_inputs():
    img = np.arange(12, dtype=np.float32).reshape(3, 4) * 10 - 40
    out = to_uint8_rgb(img)
    assert out.shape == (3, 4, 3) and out.dtype == np.uint8
    assert out[0, 0, 0] == 0 and out[-1, -1, 2] == 255
    assert np.array_equal(out[..., 0], np.rint((img - img.min()) * 255 / np.ptp(img)).astype(np.uint8))
    assert not to_uint8_rgb(np.full((4, 4), 7.5)).any()  # constant slice -> zeros
    rgb = np.random.default_rng(0).integers(0, 256, (5, 6, 3), dtype=np.uint8)
    assert np.array_equal(to_uint8_rgb(rgb), rgb)


def test_single_and_multimask_decode_equal_sampredictor(sam_b):
    ref = _reference(sam_b)
    pts = np.array([[200.0, 150.0], [60.0, 30.0]])
    labels = np.array([1, 0])
    for multimask in (False, True):
        pred = sam_b.predictor.decode(
            sam_b.embedding, points_xy=pts, point_labels=labels, box_xyxy=sam_b.box, multimask=multimask
        )
        m, s, lo = ref.predict(pts, labels, sam_b.box, multimask_output=multimask)
        k = 3 if multimask else 1
        assert pred.masks.shape == (k, 320, 440) and pred.masks.dtype == bool
        assert pred.scores.shape == (k,) and pred.logits.shape == (k, 256, 256)
        assert np.array_equal(pred.masks, m)
        assert np.array_equal(pred.scores, s)
        assert np.array_equal(pred.logits, lo)


def test_mask_logits_prompt_equals_sampredictor(sam_b):
    ref = _reference(sam_b)
    first = sam_b.predictor.decode(sam_b.embedding, box_xyxy=sam_b.box)
    again = sam_b.predictor.decode(sam_b.embedding, box_xyxy=sam_b.box, mask_logits=first.logits[0])
    m, s, lo = ref.predict(box=sam_b.box, mask_input=first.logits, multimask_output=False)
    assert np.array_equal(again.logits, lo) and np.array_equal(again.masks, m)


def test_batch_of_boxes_is_one_call_and_matches_predict_torch(sam_b):
    pred = sam_b.predictor
    boxes = np.stack([sam_b.box, [10, 20, 200, 300], [300, 5, 439, 100]]).astype(np.float32)
    calls = pred.stats["decoder_calls"]
    out = pred.decode(sam_b.embedding, box_xyxy=boxes, multimask=True)
    assert pred.stats["decoder_calls"] == calls + 1
    assert out.masks.shape == (3, 3, 320, 440) and out.scores.shape == (3, 3)
    assert out.logits.shape == (3, 3, 256, 256)
    ref = _reference(sam_b)
    tb = torch.as_tensor(ref.transform.apply_boxes(boxes, ref.original_size), dtype=torch.float)
    m, s, lo = ref.predict_torch(None, None, tb, multimask_output=True)
    assert np.array_equal(out.masks, m.numpy()) and np.array_equal(out.logits, lo.numpy())
    for i, box in enumerate(boxes):  # each row is the same as decoding that box alone
        one = pred.decode(sam_b.embedding, box_xyxy=box, multimask=True)
        np.testing.assert_allclose(one.logits, out.logits[i], rtol=1e-4, atol=1e-3)


def test_cached_disk_round_trip_gives_exactly_the_same_logits(sam_b):
    pred = sam_b.predictor
    fresh = EmbeddingCache(sam_b.cache_dir, memory_bytes=0)
    pred2 = load("sam_vit_b", checkpoint=sam_b.checkpoint, device="cpu", cache=fresh)
    cached = pred2.encode(sam_b.image)
    assert pred2.stats == {"encoder_calls": 0, "cache_hits": 1, "decoder_calls": 0}
    assert fresh.stats["hits_disk"] == 1 and cached.key == sam_b.embedding.key
    assert torch.equal(cached.features["image_embed"], sam_b.embedding.features["image_embed"])
    pts = np.array([[220.0, 160.0]])
    a = pred.decode(sam_b.embedding, points_xy=pts, point_labels=[1], box_xyxy=sam_b.box, multimask=True)
    b = pred2.decode(cached, points_xy=pts, point_labels=[1], box_xyxy=sam_b.box, multimask=True)
    assert np.array_equal(a.logits, b.logits) and np.array_equal(a.masks, b.masks)
    assert np.array_equal(a.scores, b.scores)


def test_bad_inputs_raise_typed_errors(sam_b):
    pred = sam_b.predictor
    with pytest.raises(PromptError):
        pred.decode(sam_b.embedding, box_xyxy=[450, 10, 500, 50])  # wholly beyond W = 440
    with pytest.raises(PromptError):
        pred.decode(sam_b.embedding, points_xy=[[1.0, 2.0]])  # labels missing
    with pytest.raises(InputError):
        pred.encode(np.zeros((4, 4, 2), np.uint8))
