"""Shared machinery of every model adapter: validation, the embedding-cache hook, batching, counters.

An adapter subclasses :class:`BasePredictor` and implements three methods:

* ``preprocess(image) -> (x, input_size)``: the model's exact input pipeline as a numpy array
  (documented in the adapter against its reference); ``input_size`` is the (h, w) of the resized image
  before padding.
* ``encode_input(x) -> dict[str, torch.Tensor]``: run the image encoder; tensors stay on ``self.device``.
* ``decode_batch(embedding, points, labels, boxes, logits, multimask) -> (masks, scores, low_res)``:
  batched decode, inputs already validated and batched as returned by :func:`checks.check_prompts`
  (xy pixels of the original slice); returns numpy masks (B, K, H, W) bool, scores (B, K),
  logits (B, K, 256, 256).

``encode`` looks the preprocessed slice up in the embedding cache (key = hash of the preprocessed input,
model name, weights hash and preprocessing version) and only runs the encoder on a miss.
"""

from __future__ import annotations

import hashlib
from typing import NamedTuple

import numpy as np

from samwidgets.errors import ModelError
from samwidgets.models.protocol import Embedding, Prediction, model_errors
from samwidgets.models.checks import check_image, check_prompts


class Prepared(NamedTuple):
    """A slice ready for the encoder: original (H, W), the model input, its (h, w) before padding, cache key."""

    shape: tuple[int, int]
    x: np.ndarray
    input_size: tuple[int, int]
    key: str


def embedding_key(x: np.ndarray, *, model: str, weights: str, version: str) -> str:
    """Cache key: sha256 over the preprocessed input's bytes, shape and dtype plus model identity."""
    h = hashlib.sha256()
    h.update(f"{model}|{weights}|{version}|{x.dtype.str}|{x.shape}".encode())
    h.update(np.ascontiguousarray(x).tobytes())
    return h.hexdigest()


class BasePredictor:
    """Base of all adapters; see the module docstring for what a subclass provides."""

    supports_points: bool = True
    supports_multimask: bool = True
    preprocess_version: str = "1"

    def __init__(self, *, name: str, device: str, weights_id: str, cache=None):
        self.name = name
        self.device = device
        self.weights_id = weights_id  # sha256 of the checkpoint (or a tag for random weights)
        self.cache = cache
        self.stats = {"encoder_calls": 0, "cache_hits": 0, "decoder_calls": 0}

    # -- to implement -------------------------------------------------------------------------
    def preprocess(self, image: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
        raise NotImplementedError

    def encode_input(self, x: np.ndarray) -> dict:
        raise NotImplementedError

    def decode_batch(self, embedding, points, labels, boxes, logits, multimask):
        raise NotImplementedError

    # -- public API ---------------------------------------------------------------------------
    def prepare(self, image: np.ndarray) -> Prepared:
        """Validate and preprocess one slice and compute its cache key, without running the encoder
        (``cache precompute`` checks the key, then hands the result to :meth:`encode_prepared`)."""
        image = check_image(image)
        x, input_size = self.preprocess(image)
        key = embedding_key(x, model=self.name, weights=self.weights_id, version=self.preprocess_version)
        return Prepared(image.shape[:2], x, input_size, key)

    def encode(self, image: np.ndarray) -> Embedding:
        """Embed one slice (H, W) or (H, W, 3); cached by the preprocessed input when a cache is set."""
        return self.encode_prepared(self.prepare(image))

    def encode_prepared(self, prepared: Prepared) -> Embedding:
        """:meth:`encode` of a slice already through :meth:`prepare`."""
        shape, x, input_size, key = prepared
        features = self.cache.get(key, device=self.device) if self.cache is not None else None
        if features is None:
            with model_errors("image encoder", where=self.name):
                features = self.encode_input(x)
            self.stats["encoder_calls"] += 1
            if self.cache is not None:
                self.cache.put(key, features)
        else:
            self.stats["cache_hits"] += 1
        return Embedding(
            model=self.name,
            features=features,
            original_size=(int(shape[0]), int(shape[1])),
            input_size=(int(input_size[0]), int(input_size[1])),
            key=key,
        )

    def decode(
        self,
        embedding: Embedding,
        *,
        points_xy=None,
        point_labels=None,
        box_xyxy=None,
        mask_logits=None,
        multimask: bool = False,
    ) -> Prediction:
        """Decode one prompt set or a batch; see :class:`samwidgets.models.protocol.Predictor`."""
        if embedding.model != self.name:
            raise ModelError(f"embedding was made by '{embedding.model}', not '{self.name}'", where=self.name)
        pts, labels, boxes, logits, batched = check_prompts(
            embedding.original_size,
            points_xy=points_xy,
            point_labels=point_labels,
            box_xyxy=box_xyxy,
            mask_logits=mask_logits,
        )
        if pts is not None and not self.supports_points:
            raise ModelError(f"{self.name} takes box prompts only (it was not trained on points)", where=self.name)
        multimask = bool(multimask and self.supports_multimask)
        with model_errors("mask decoder", where=self.name):
            masks, scores, low_res = self.decode_batch(embedding, pts, labels, boxes, logits, multimask)
        self.stats["decoder_calls"] += 1
        if not batched:
            masks, scores, low_res = masks[0], scores[0], low_res[0]
        return Prediction(masks=masks, scores=scores, logits=low_res)
