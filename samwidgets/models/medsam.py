"""MedSAM (SAM ViT-B fine-tuned on medical images, Ma et al. 2024) behind the Predictor API.

The network is SAM ViT-B; the pipeline is MedSAM's own reference inference (``MedSAM_Inference.py``),
not SamPredictor's (protocols.md, "MedSAM"):

1. the slice becomes 3 channels (a gray slice is repeated); a non-uint8 slice is first min-max scaled to
   0-255 (float, samwidgets' own step so any dtype works);
2. resize to 1024 x 1024 *without* keeping the aspect ratio, bicubic. The reference uses
   ``skimage.transform.resize(order=3, preserve_range=True, anti_aliasing=True)`` and truncates to uint8;
   samwidgets uses OpenCV ``INTER_CUBIC`` (scikit-image is not a dependency), clips to 0-255 and
   truncates a uint8 input the same way. Deliberate difference: no Gaussian anti-aliasing when shrinking
   slices larger than 1024 (values may differ by a few grey levels there; identical geometry);
3. min-max to [0, 1] over the resized image (divisor clipped at 1e-8), no mean/std normalisation and no
   padding: the [0, 1] tensor goes straight into ``image_encoder`` as in the reference.

Decoding: box prompts only (points were not trained: ``supports_points = False``, and decode raises
ModelError for them). A box (xyxy pixels of the original slice) is scaled by 1024/W and 1024/H,
``prompt_encoder(points=None, boxes=box)`` then ``mask_decoder(multimask_output=False)``: one mask
(K = 1). The mask is ``sigmoid(low-res logits)`` bilinearly upsampled (align_corners=False) to the
original (H, W), then ``> 0.5``. Previous logits (256 x 256) may be passed as ``mask_logits``.
Embedding: ``{"image_embed": (1, 256, 64, 64)}``.
"""

from __future__ import annotations

import numpy as np

from samwidgets.models.checkpoints import build_from_checkpoint
from samwidgets.models.device import resolve_device
from samwidgets.models.base_predictor import BasePredictor
from samwidgets.models.sam import IMG_SIZE, build_network, run_sam_decoder  # MedSAM keeps SAM's 1024² encoder input


def medsam_input(image: np.ndarray) -> np.ndarray:
    """MedSAM preprocessing of one slice: (H, W[, 3]) -> (1024, 1024, 3) float32 in [0, 1].

    See the module docstring for each step and how it relates to the reference implementation.
    """
    import cv2

    arr = np.asarray(image)
    is_uint8 = arr.dtype == np.uint8
    a = arr.astype(np.float32)
    if not is_uint8:
        lo, hi = float(a.min()), float(a.max())
        a = (a - lo) * np.float32(255.0 / (hi - lo)) if hi > lo else np.zeros_like(a)
    if a.ndim == 2:
        a = np.repeat(a[:, :, None], 3, axis=2)
    r = cv2.resize(a, (IMG_SIZE, IMG_SIZE), interpolation=cv2.INTER_CUBIC)
    r = np.clip(r, 0.0, 255.0)
    if is_uint8:
        # the reference casts the resized uint8 image with .astype(np.uint8) (truncation); the 1e-3
        # absorbs float32 rounding in cv2 (a constant 42 must not come back as 41.99998 -> 41)
        r = np.floor(r + 1e-3)
    lo, hi = float(r.min()), float(r.max())
    r = (r - lo) / max(hi - lo, 1e-8)
    return np.ascontiguousarray(r, dtype=np.float32)


class MedSamPredictor(BasePredictor):
    """MedSAM as a :class:`BasePredictor`; ``model`` is a SAM ViT-B network with MedSAM weights."""

    supports_points = False
    supports_multimask = False
    preprocess_version = "medsam-1"

    def __init__(self, model, *, name: str, device: str, weights_id: str, cache=None):
        super().__init__(name=name, device=device, weights_id=weights_id, cache=cache)
        self.model = model.to(device).eval()

    def preprocess(self, image: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
        """(H, W[, 3]) -> ((1024, 1024, 3) float32 in [0, 1], input size (1024, 1024))."""
        return medsam_input(image), (IMG_SIZE, IMG_SIZE)

    def encode_input(self, x: np.ndarray) -> dict:
        """x: (1024, 1024, 3) float32 -> {"image_embed": (1, 256, 64, 64)} on self.device."""
        import torch

        with torch.inference_mode():
            t = torch.as_tensor(x, device=self.device).permute(2, 0, 1).contiguous()[None]
            embed = self.model.image_encoder(t)
        return {"image_embed": embed}

    def decode_batch(self, embedding, points, labels, boxes, logits, multimask):
        """B boxes (xyxy original pixels) -> masks (B, 1, H, W) bool, scores (B, 1), logits (B, 1, 256, 256)."""
        import torch
        import torch.nn.functional as F

        h, w = embedding.original_size
        box_t = mask_t = None
        if boxes is not None:
            scale = np.array([IMG_SIZE / w, IMG_SIZE / h, IMG_SIZE / w, IMG_SIZE / h], dtype=np.float64)
            box_t = torch.as_tensor(boxes.astype(np.float64) * scale, dtype=torch.float, device=self.device)
            box_t = box_t[:, None, :]  # (B, 1, 4) as in the reference
        if logits is not None:
            mask_t = torch.as_tensor(logits, dtype=torch.float, device=self.device)[:, None]
        low_res, iou = run_sam_decoder(self.model, self.device, embedding, None, box_t, mask_t, False)
        with torch.inference_mode():
            prob = F.interpolate(torch.sigmoid(low_res), size=(h, w), mode="bilinear", align_corners=False)
            masks = prob > 0.5
        return masks.cpu().numpy(), iou.float().cpu().numpy(), low_res.float().cpu().numpy()


def build(spec, *, checkpoint=None, device: str = "auto", cache=None) -> MedSamPredictor:
    """Build MedSAM from its checkpoint (SAM ViT-B architecture, strict state-dict load)."""
    dev = resolve_device(device)
    model, _, sha = build_from_checkpoint(lambda: build_network(spec.arch), spec, checkpoint)
    return MedSamPredictor(model, name=spec.name, device=dev, weights_id=sha, cache=cache)
