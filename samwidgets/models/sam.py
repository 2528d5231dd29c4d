"""Segment Anything (SAM ViT-B / ViT-L / ViT-H) behind the samwidgets Predictor API.

Preprocessing matches segment-anything's ``SamPredictor.set_image`` exactly (protocols.md, "SAM"):

1. the slice becomes (H, W, 3) uint8 RGB: a gray (H, W) slice is repeated to 3 channels; a slice that is
   not uint8 (float, int16, ...) is first min-max scaled to 0-255 and rounded (SamPredictor itself
   expects uint8; this step is samwidgets' own, documented here). A constant slice becomes all zeros.
2. ``ResizeLongestSide(1024).apply_image``: longest side to 1024 (aspect kept, size rounded), bilinear
   resize of the uint8 image as segment-anything does it;
3. ``Sam.preprocess``: (x - pixel_mean) / pixel_std with SAM's ImageNet mean/std in 0-255 units, then
   zero-pad bottom/right to 1024 x 1024.

The embedding is ``{"image_embed": (1, 256, 64, 64)}``. Decoding follows ``SamPredictor.predict_torch``:
points (xy pixels of the original slice) and boxes (xyxy pixels) are mapped with ``apply_coords`` /
``apply_boxes``, prompts are embedded by ``prompt_encoder`` and decoded by ``mask_decoder`` for a batch
of B prompt sets against the one embedding in a single call; masks are upsampled by
``Sam.postprocess_masks`` (crop to the resized size, bilinear to the original (H, W)) and thresholded at
``mask_threshold`` (0.0). Low-resolution logits are (K, 256, 256); K = 3 with ``multimask=True``, else 1.
"""

from __future__ import annotations

import numpy as np

from samwidgets.errors import MissingExtraError
from samwidgets.models.checkpoints import build_from_checkpoint
from samwidgets.models.device import resolve_device
from samwidgets.models.base_predictor import BasePredictor

IMG_SIZE = 1024
ARCHS = ("vit_b", "vit_l", "vit_h")


def to_uint8_rgb(image: np.ndarray) -> np.ndarray:
    """(H, W) or (H, W, 3) of any real dtype -> (H, W, 3) uint8.

    uint8 is kept as is; anything else is min-max scaled to 0-255 and rounded (constant -> zeros).
    """
    arr = np.asarray(image)
    if arr.dtype != np.uint8:
        a = arr.astype(np.float64)
        lo, hi = float(a.min()), float(a.max())
        a = (a - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(a)
        arr = np.clip(np.rint(a), 0, 255).astype(np.uint8)
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    return np.ascontiguousarray(arr)


def build_network(arch: str):
    """The SAM network of ``arch`` ("vit_b" | "vit_l" | "vit_h") with random initial weights (CPU)."""
    try:
        from segment_anything import sam_model_registry
    except ImportError as exc:  # pragma: no cover - a core dependency
        raise MissingExtraError("segment-anything", "sam", where=arch) from exc
    if arch not in ARCHS:
        raise ValueError(f"unknown SAM architecture {arch!r}; expected one of {ARCHS}")
    return sam_model_registry[arch](checkpoint=None)


def run_sam_decoder(model, device, embedding, coords, box_t, mask_t, multimask: bool):
    """prompt_encoder + mask_decoder of a segment_anything ``Sam`` (SAM or MedSAM weights) for B prompt
    sets in the model's 1024 frame -> (low-res logits (B, K, 256, 256), iou (B, K)) torch tensors."""
    import torch

    with torch.inference_mode():
        sparse, dense = model.prompt_encoder(points=coords, boxes=box_t, masks=mask_t)
        return model.mask_decoder(
            image_embeddings=embedding.features["image_embed"].to(device),
            image_pe=model.prompt_encoder.get_dense_pe(),
            sparse_prompt_embeddings=sparse,
            dense_prompt_embeddings=dense,
            multimask_output=multimask,
        )


class SamPredictorAdapter(BasePredictor):
    """SAM (any ViT size) as a :class:`BasePredictor`. ``model`` is a ``segment_anything.modeling.Sam``."""

    supports_points = True
    supports_multimask = True
    preprocess_version = "sam-1"

    def __init__(self, model, *, name: str, device: str, weights_id: str, cache=None):
        super().__init__(name=name, device=device, weights_id=weights_id, cache=cache)
        from segment_anything.utils.transforms import ResizeLongestSide

        self.model = model.to(device).eval()
        self.transform = ResizeLongestSide(model.image_encoder.img_size)

    # -- encoder ---------------------------------------------------------------------------------
    def preprocess(self, image: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
        """(H, W[, 3]) -> the resized (h, w, 3) uint8 RGB image (longest side 1024) and (h, w).

        Normalisation and padding happen in :meth:`encode_input` with ``Sam.preprocess``, exactly as
        ``SamPredictor.set_torch_image`` does; the cache key hashes this uint8 array.
        """
        rgb = to_uint8_rgb(image)
        resized = self.transform.apply_image(rgb)
        return np.ascontiguousarray(resized), (int(resized.shape[0]), int(resized.shape[1]))

    def encode_input(self, x: np.ndarray) -> dict:
        """x: (h, w, 3) uint8 -> {"image_embed": (1, 256, 64, 64) float32 tensor on self.device}."""
        import torch

        with torch.inference_mode():
            t = torch.as_tensor(x, device=self.device).permute(2, 0, 1).contiguous()[None]
            embed = self.model.image_encoder(self.model.preprocess(t.float()))
        return {"image_embed": embed}

    # -- decoder ---------------------------------------------------------------------------------
    def _prompt_tensors(self, embedding, points, labels, boxes, logits):
        """Map validated prompts (original-slice xy pixels) into the model's 1024 input frame."""
        import torch

        size = embedding.original_size
        coords = None
        if points is not None:
            c = self.transform.apply_coords(points.astype(np.float64), size)
            coords = (
                torch.as_tensor(c, dtype=torch.float, device=self.device),
                torch.as_tensor(labels, dtype=torch.int, device=self.device),
            )
        box_t = None
        if boxes is not None:
            b = self.transform.apply_boxes(boxes.astype(np.float64), size)
            box_t = torch.as_tensor(b, dtype=torch.float, device=self.device)
        mask_t = None
        if logits is not None:
            mask_t = torch.as_tensor(logits, dtype=torch.float, device=self.device)[:, None]
        return coords, box_t, mask_t

    def _run_decoder(self, embedding, coords, box_t, mask_t, multimask):
        return run_sam_decoder(self.model, self.device, embedding, coords, box_t, mask_t, multimask)

    def decode_batch(self, embedding, points, labels, boxes, logits, multimask):
        """Batched decode as ``SamPredictor.predict_torch``; see the module docstring.

        Returns masks (B, K, H, W) bool, scores (B, K) float32, logits (B, K, 256, 256) float32.
        """
        import torch

        coords, box_t, mask_t = self._prompt_tensors(embedding, points, labels, boxes, logits)
        low_res, iou = self._run_decoder(embedding, coords, box_t, mask_t, multimask)
        with torch.inference_mode():
            up = self.model.postprocess_masks(low_res, tuple(embedding.input_size), tuple(embedding.original_size))
            masks = up > self.model.mask_threshold
        return (
            masks.cpu().numpy(),
            iou.float().cpu().numpy(),
            low_res.float().cpu().numpy(),
        )


def build(spec, *, checkpoint=None, device: str = "auto", cache=None) -> SamPredictorAdapter:
    """Build the SAM predictor of ``spec`` (arch vit_b/vit_l/vit_h) from its checkpoint.

    The network is made with ``sam_model_registry[arch](checkpoint=None)`` and the checkpoint is loaded
    strictly (see :mod:`samwidgets.models.checkpoints`); the file's sha256 is the ``weights_id``.
    Raises CheckpointError for a missing, corrupt or wrong-architecture file.
    """
    dev = resolve_device(device)
    model, _, sha = build_from_checkpoint(lambda: build_network(spec.arch), spec, checkpoint)
    return SamPredictorAdapter(model, name=spec.name, device=dev, weights_id=sha, cache=cache)
