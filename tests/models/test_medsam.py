"""MedSAM adapter (SAM ViT-B architecture at random weights, MedSAM's own pipeline).

One ViT-B encode of the CT slice is shared (random_weights.encoded). The decode reference below is the
MedSAM inference recipe written out step by step from its description (protocols.md "MedSAM"), computed
on the same network and embedding.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import random_weights as rw
from samwidgets.errors import ModelError
from samwidgets.models import load
from samwidgets.models.cache import EmbeddingCache
from samwidgets.models.medsam import MedSamPredictor, medsam_input


@pytest.fixture(scope="session")
def medsam(tmp_path_factory, shared_data):
    return rw.encoded("medsam", tmp_path_factory, shared_data)


# -- preprocessing (no encoder) -------------------------------------------------------------------
def test_input_is_stretched_to_1024_square_and_min_max_scaled():
    rng = np.random.default_rng(3)
    img = rng.integers(20, 200, (100, 300), dtype=np.uint8)
    x = medsam_input(img)
    assert x.shape == (1024, 1024, 3) and x.dtype == np.float32
    assert x.min() == 0.0 and x.max() == 1.0
    assert np.array_equal(x[..., 0], x[..., 2])  # gray repeated to 3 channels
    # aspect ratio not kept: a vertical bar covering the left third fills the left third of the square
    bars = np.zeros((100, 300), np.uint8)
    bars[:, :100] = 255
    xb = medsam_input(bars)[..., 0]
    assert xb[:, :330].min() > 0.99 and xb[:, 350:].max() < 0.01
    assert xb[0].tolist() == xb[-1].tolist()


def test_float_and_constant_inputs():
    img = np.linspace(-1000, 3000, 64 * 80, dtype=np.float64).reshape(64, 80)
    x = medsam_input(img)
    assert x.min() == 0.0 and x.max() == 1.0 and np.isfinite(x).all()
    assert not medsam_input(np.full((10, 10), 42, np.uint8)).any()  # constant -> zeros, no NaN


def test_reference_truncation_of_uint8_resize():
    """uint8 input: resized values are clipped and truncated to integers before min-max (as the reference)."""
    img = np.random.default_rng(0).integers(0, 256, (50, 70, 3), dtype=np.uint8)
    x = medsam_input(img)
    levels = x * 255.0  # img spans 0..255 after resize, so the scale factor is 255 / (max - min)
    assert np.allclose(levels, np.round(levels), atol=1e-3)


# -- with the shared embedding ---------------------------------------------------------------------
@pytest.mark.slow
def test_encoder_gets_the_unnormalised_unit_image(medsam):
    pred = medsam.predictor
    assert isinstance(pred, MedSamPredictor)
    assert medsam.embedding.input_size == (1024, 1024)
    assert tuple(medsam.embedding.features["image_embed"].shape) == (1, 256, 64, 64)
    seen = {}

    class Recorder(torch.nn.Module):
        def forward(self, t):
            seen["x"] = t.clone()
            return torch.zeros(1, 256, 64, 64)

    real = pred.model.image_encoder
    pred.model.image_encoder = Recorder()
    try:
        pred.encode_input(pred.preprocess(medsam.image)[0])
    finally:
        pred.model.image_encoder = real
    expect = torch.from_numpy(medsam_input(medsam.image)).permute(2, 0, 1)[None]
    assert torch.equal(seen["x"], expect)


@pytest.mark.slow
def test_box_decode_follows_the_medsam_recipe(medsam):
    pred, emb = medsam.predictor, medsam.embedding
    out = pred.decode(emb, box_xyxy=medsam.box)
    h, w = emb.original_size
    box1024 = medsam.box / np.array([w, h, w, h]) * 1024  # scaled per axis, not by the longest side
    model = pred.model
    with torch.no_grad():
        sparse, dense = model.prompt_encoder(
            points=None, boxes=torch.as_tensor(box1024[None, None], dtype=torch.float), masks=None
        )
        low, iou = model.mask_decoder(
            image_embeddings=emb.features["image_embed"], image_pe=model.prompt_encoder.get_dense_pe(),
            sparse_prompt_embeddings=sparse, dense_prompt_embeddings=dense, multimask_output=False,
        )
        prob = F.interpolate(torch.sigmoid(low), size=(h, w), mode="bilinear", align_corners=False)
    assert out.masks.shape == (1, h, w) and out.masks.dtype == bool
    assert np.array_equal(out.masks, (prob > 0.5)[0].numpy())
    assert np.array_equal(out.logits, low[0].numpy()) and np.array_equal(out.scores, iou[0].numpy())


@pytest.mark.slow
def test_batch_of_boxes_and_single_mask_only(medsam):
    pred, emb = medsam.predictor, medsam.embedding
    boxes = np.stack([medsam.box, [0, 0, 220, 160]]).astype(np.float32)
    out = pred.decode(emb, box_xyxy=boxes, multimask=True)  # multimask is not supported: K stays 1
    assert out.masks.shape == (2, 1, 320, 440) and out.scores.shape == (2, 1)
    assert out.logits.shape == (2, 1, 256, 256)
    second = pred.decode(emb, box_xyxy=boxes[1])
    np.testing.assert_allclose(second.logits, out.logits[1], rtol=1e-4, atol=1e-3)


@pytest.mark.slow
def test_points_are_refused(medsam):
    assert medsam.predictor.supports_points is False
    with pytest.raises(ModelError, match="box prompts only"):
        medsam.predictor.decode(medsam.embedding, points_xy=[[100.0, 100.0]], point_labels=[1])


@pytest.mark.slow
def test_cached_disk_round_trip_gives_exactly_the_same_logits(medsam):
    fresh = EmbeddingCache(medsam.cache_dir, memory_bytes=0)
    pred2 = load("medsam", checkpoint=medsam.checkpoint, device="cpu", cache=fresh)
    cached = pred2.encode(medsam.image)
    assert pred2.stats["encoder_calls"] == 0 and fresh.stats["hits_disk"] == 1
    a = medsam.predictor.decode(medsam.embedding, box_xyxy=medsam.box)
    b = pred2.decode(cached, box_xyxy=medsam.box)
    assert np.array_equal(a.logits, b.logits) and np.array_equal(a.masks, b.masks)
