"""ONE conformance suite for every model backend behind the Predictor API.

Backends: LiteMedSAM with its real bundled weights (the ``litemedsam`` session fixture of conftest.py),
and SAM ViT-B, MedSAM and SAM2-T with the real architectures at random weights (random_weights.py).
Every backend encodes the same real CT slice (320 x 440, non-square) once; the embeddings are shared with
test_sam.py / test_medsam.py / test_sam2.py. What is checked is the contract of
samwidgets.models.protocol.Predictor: shapes, dtypes, original-size masks, batching, point support, typed
errors for bad prompts, determinism. Values are only meaningful for LiteMedSAM (real weights).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import torch

import random_weights as rw
from samwidgets.errors import ModelError, PromptError
from samwidgets.models import Embedding, Prediction, Predictor

BACKENDS = ("litemedsam",) + rw.RANDOM_MODELS


@dataclass
class Backend:
    name: str
    predictor: object
    image: np.ndarray
    box: np.ndarray
    embedding: Embedding


@pytest.fixture(scope="session", params=[pytest.param(n, marks=pytest.mark.slow) if n in ("sam_vit_b", "medsam")
                                         else n for n in BACKENDS])
def backend(request, tmp_path_factory, shared_data) -> Backend:
    name = request.param
    if name == "litemedsam":
        pred = request.getfixturevalue("litemedsam")
        image, box = rw.ct_slice(shared_data)
        return Backend(name, pred, image, box, pred.encode(image))
    enc = rw.encoded(name, tmp_path_factory, shared_data)
    return Backend(name, enc.predictor, enc.image, enc.box, enc.embedding)


def _k(pred, multimask: bool) -> int:
    return 3 if multimask and pred.supports_multimask else 1


def test_encode_returns_an_embedding(backend):
    pred, emb = backend.predictor, backend.embedding
    assert isinstance(pred, Predictor)
    assert isinstance(emb, Embedding)
    assert emb.model == backend.name == pred.name
    assert emb.original_size == backend.image.shape[:2] == (320, 440)
    assert len(emb.input_size) == 2 and max(emb.input_size) > 0
    embed = emb.features["image_embed"]
    assert isinstance(embed, torch.Tensor) and tuple(embed.shape) == (1, 256, 64, 64)
    assert torch.isfinite(embed).all()
    assert isinstance(emb.key, str) and len(emb.key) == 64


@pytest.mark.parametrize("multimask", [False, True])
def test_box_decode_shapes_at_original_size(backend, multimask):
    pred = backend.predictor
    out = pred.decode(backend.embedding, box_xyxy=backend.box, multimask=multimask)
    k = _k(pred, multimask)
    h, w = backend.image.shape
    assert isinstance(out, Prediction)
    assert out.masks.shape == (k, h, w) and out.masks.dtype == bool
    assert out.scores.shape == (k,) and np.isfinite(out.scores).all()
    assert out.logits.shape == (k, 256, 256) and out.logits.dtype == np.float32
    assert out.best().shape == (h, w)


def test_batch_of_boxes(backend):
    pred = backend.predictor
    boxes = np.stack([backend.box, [0, 0, 200, 150], [250, 100, 440, 320], [5.5, 6.5, 60.25, 300]])
    out = pred.decode(backend.embedding, box_xyxy=boxes, multimask=True)
    k = _k(pred, True)
    assert out.masks.shape == (4, k, 320, 440) and out.masks.dtype == bool
    assert out.scores.shape == (4, k) and out.logits.shape == (4, k, 256, 256)
    assert out.best().shape == (4, 320, 440)
    single = pred.decode(backend.embedding, box_xyxy=boxes[1], multimask=True)
    np.testing.assert_allclose(single.logits, out.logits[1], rtol=1e-4, atol=1e-3)


def test_points_where_supported(backend):
    pred, emb = backend.predictor, backend.embedding
    pts = np.array([[220.0, 160.0], [20.0, 300.0]])
    if not pred.supports_points:
        with pytest.raises(ModelError):
            pred.decode(emb, points_xy=pts, point_labels=[1, 0])
        return
    out = pred.decode(emb, points_xy=pts, point_labels=[1, 0], multimask=True)
    assert out.masks.shape == (_k(pred, True), 320, 440)
    batch = pred.decode(emb, points_xy=np.stack([pts, pts[::-1]]), point_labels=[[1, 0], [0, 1]])
    assert batch.masks.shape == (2, 1, 320, 440) and batch.logits.shape == (2, 1, 256, 256)
    both = pred.decode(emb, points_xy=pts[:1], point_labels=[1], box_xyxy=backend.box)
    assert both.masks.shape == (1, 320, 440)


def test_previous_logits_can_be_fed_back(backend):
    pred, emb = backend.predictor, backend.embedding
    first = pred.decode(emb, box_xyxy=backend.box)
    again = pred.decode(emb, box_xyxy=backend.box, mask_logits=first.logits[0])
    assert again.masks.shape == first.masks.shape and np.isfinite(again.logits).all()


BAD_PROMPTS = {
    "none": {},
    "box outside": {"box_xyxy": [441.5, 10, 500, 100]},
    "negative box": {"box_xyxy": [-30, 10, -3, 100]},
    "inverted box": {"box_xyxy": [100, 10, 50, 100]},
    "box shape": {"box_xyxy": [1, 2, 3]},
    "nan box": {"box_xyxy": [np.nan, 1, 20, 20]},
    "point outside": {"points_xy": [[10.0, 330.0]], "point_labels": [1]},
    "point without labels": {"points_xy": [[10.0, 30.0]]},
    "bad label": {"points_xy": [[10.0, 30.0]], "point_labels": [7]},
    "points shape": {"points_xy": [1.0, 2.0, 3.0], "point_labels": [1]},
    "batch mismatch": {"box_xyxy": [[0, 0, 10, 10]] * 2, "points_xy": [[[1.0, 1.0]]] * 3,
                       "point_labels": [[1]] * 3},
    "logits shape": {"box_xyxy": [0, 0, 10, 10], "mask_logits": np.zeros((64, 64), np.float32)},
}


@pytest.mark.parametrize("case", list(BAD_PROMPTS))
def test_bad_prompts_raise_prompt_error(backend, case):
    with pytest.raises(PromptError):
        backend.predictor.decode(backend.embedding, **BAD_PROMPTS[case])


def test_partly_outside_box_is_clipped_and_a_one_pixel_wide_box_decodes(backend):
    """checks.check_boxes: a box partly outside the image is clipped (as documented), and x_min == x_max
    (the inclusive box of an object one pixel wide, issue 12 section 6) is a valid prompt."""
    h, w = backend.embedding.original_size
    inside = backend.predictor.decode(backend.embedding, box_xyxy=[0, 10, w, 100])
    beyond = backend.predictor.decode(backend.embedding, box_xyxy=[-30, 10, w + 40.5, 100])
    assert np.array_equal(inside.masks, beyond.masks) and np.array_equal(inside.logits, beyond.logits)
    thin = backend.predictor.decode(backend.embedding, box_xyxy=[50, 10, 50, 100])
    assert thin.masks.shape == inside.masks.shape and np.isfinite(thin.logits).all()


def test_embedding_of_another_model_is_refused(backend):
    other = Embedding(model="not-" + backend.name, features=backend.embedding.features,
                      original_size=backend.embedding.original_size, input_size=backend.embedding.input_size)
    with pytest.raises(ModelError):
        backend.predictor.decode(other, box_xyxy=backend.box)


def test_decoding_is_deterministic(backend):
    pred, emb = backend.predictor, backend.embedding
    a = pred.decode(emb, box_xyxy=backend.box, multimask=True)
    b = pred.decode(emb, box_xyxy=backend.box, multimask=True)
    assert np.array_equal(a.masks, b.masks) and np.array_equal(a.logits, b.logits)
    assert np.array_equal(a.scores, b.scores)


def test_encoding_is_deterministic(backend):
    """Re-encode without the cache; done for the cheap encoders only (SAM ViT-B costs ~35 s a run)."""
    pred = backend.predictor
    if backend.name in ("sam_vit_b", "medsam"):
        x1, size1 = pred.preprocess(backend.image)
        x2, size2 = pred.preprocess(backend.image.copy())
        assert size1 == size2 and np.array_equal(x1, x2)  # the encoder input, at least, is reproducible
        return
    cache, pred.cache = pred.cache, None
    try:
        again = pred.encode(backend.image)
    finally:
        pred.cache = cache
    assert again.key == backend.embedding.key
    for name, tensor in backend.embedding.features.items():
        assert torch.equal(again.features[name], tensor), name
