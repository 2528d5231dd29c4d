"""The one Predictor interface every model adapter implements.

Split as in segment-anything's ``SamPredictor``: ``encode`` runs the heavy image encoder once per 2D
slice and returns an :class:`Embedding`; ``decode`` runs the light prompt encoder + mask decoder many
times against it. Coordinates given to ``decode`` are xy pixels of the *original* slice (x = column,
y = row); boxes are xyxy in the same pixels. Masks come back at the original (H, W).

This module imports neither torch nor numpy-heavy parts at import time, so that type hints stay cheap.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterator, Protocol, runtime_checkable

import numpy as np

from samwidgets.errors import ModelError, SamwidgetsError


@dataclass
class Embedding:
    """What ``encode`` returns for one 2D slice.

    model:         registry name of the model that made it (e.g. "litemedsam").
    features:      named tensors the decoder needs, on the predictor's device; SAM/MedSAM/LiteMedSAM:
                   {"image_embed": (1, 256, 64, 64)}; SAM2 adds {"high_res_feats_0": (1, 32, 256, 256),
                   "high_res_feats_1": (1, 64, 128, 128)}.
    original_size: (H, W) of the slice given to ``encode``.
    input_size:    (h, w) of the resized image inside the model's padded square input, before padding.
    key:           the embedding-cache key (hash of the preprocessed slice, model, weights, version).
    """

    model: str
    features: dict[str, Any]
    original_size: tuple[int, int]
    input_size: tuple[int, int]
    key: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class Prediction:
    """What ``decode`` returns.

    For a single prompt set: masks (K, H, W) bool, scores (K,), logits (K, 256, 256) float32.
    For a batch of B prompt sets: masks (B, K, H, W), scores (B, K), logits (B, K, 256, 256).
    K is 1, or 3 with ``multimask=True`` on models that support it. H, W are the original slice size;
    logits are the model's low-resolution mask logits, valid as ``mask_logits`` for a later decode.
    """

    masks: np.ndarray
    scores: np.ndarray
    logits: np.ndarray

    def best(self) -> np.ndarray:
        """The highest-scoring mask of each prompt set: (H, W) or (B, H, W) bool."""
        idx = np.argmax(self.scores, axis=-1)
        if self.masks.ndim == 3:
            return self.masks[idx]
        return self.masks[np.arange(self.masks.shape[0]), idx]


@runtime_checkable
class Predictor(Protocol):
    """Any SAM-family model behind one interface (see module docstring for coordinate conventions)."""

    name: str
    device: str
    supports_points: bool
    supports_multimask: bool

    def encode(self, image: np.ndarray) -> Embedding:
        """Embed one slice: (H, W) or (H, W, 3), uint8 or float. Uses the embedding cache if one is set."""
        ...

    def decode(
        self,
        embedding: Embedding,
        *,
        points_xy: np.ndarray | None = None,
        point_labels: np.ndarray | None = None,
        box_xyxy: np.ndarray | None = None,
        mask_logits: np.ndarray | None = None,
        multimask: bool = False,
    ) -> Prediction:
        """Masks for one prompt set or a batch of them.

        points_xy: (N, 2) or (B, N, 2) xy pixels; point_labels: (N,) or (B, N), 1 positive / 0 negative;
        box_xyxy: (4,) or (B, 4) xyxy pixels; mask_logits: (256, 256) or (B, 256, 256) previous logits.
        """
        ...


@contextmanager
def model_errors(what: str, *, where: object) -> Iterator[None]:
    """The one rule for failures inside a model call: a typed :class:`~samwidgets.errors.SamwidgetsError`
    passes through; anything else (a torch or runtime failure, a third-party predictor failing raw) becomes
    ``ModelError("<what> failed: <exception>", where=<model>)``. Used by BasePredictor's encode and decode
    and by the widgets around any Predictor's calls.

        with model_errors("mask decoder", where=self.name):
            masks = run_decoder(...)
    """
    try:
        yield
    except SamwidgetsError:
        raise
    except Exception as exc:  # noqa: BLE001 - turned into a typed error naming the model
        raise ModelError(f"{what} failed: {exc}", where=where) from exc
