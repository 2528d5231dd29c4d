"""SAM 2.1 (Hiera T / S / B+ / L) image prediction behind the Predictor API.

Needs the optional ``sam2`` package (``pip install 'samwidgets[sam2]'``); a clear MissingExtraError is
raised when it is missing, at build time, not at import.

Network: ``sam2.build_sam.build_sam2("configs/sam2.1/sam2.1_hiera_{t,s,b+,l}.yaml", ckpt_path=None)``
(with the package's default post-processing overrides), then a strict state-dict load of the checkpoint
(``{"model": state_dict}``) by :mod:`samwidgets.models.checkpoints`.

Preprocessing matches ``SAM2ImagePredictor.set_image`` (protocols.md, "SAM2"): the slice as (H, W, 3)
uint8 RGB (gray repeated; non-uint8 min-max to 0-255 first, as for SAM), ``ToTensor`` (/255), resize to
1024 x 1024 (aspect not kept), ImageNet mean/std (0.485, 0.456, 0.406) / (0.229, 0.224, 0.225) — done
by the package's own ``SAM2Transforms``. The cache key hashes the uint8 RGB slice.

Embedding features (a cache must keep all three):
``image_embed`` (1, 256, 64, 64), ``high_res_feats_0`` (1, 32, 256, 256), ``high_res_feats_1``
(1, 64, 128, 128), computed as ``set_image`` does (backbone, ``_prepare_backbone_features``, plus
``no_mem_embed`` on the lowest-resolution map when the model says so).

Decoding follows ``SAM2ImagePredictor._predict``: points (xy pixels) and boxes (xyxy pixels) are scaled
by 1024/W, 1024/H; a box becomes two corner points labelled 2 and 3 placed before the clicks;
``sam_prompt_encoder`` then ``sam_mask_decoder`` with the two high-res maps, B prompt sets in one call;
masks are the low-res logits bilinearly resized to (H, W) and thresholded at 0.0; returned low-res
logits are clamped to [-32, 32] as the reference does. K = 3 with ``multimask=True``, else 1.
"""

from __future__ import annotations

import numpy as np

from samwidgets.errors import MissingExtraError
from samwidgets.models.checkpoints import build_from_checkpoint
from samwidgets.models.device import resolve_device
from samwidgets.models.base_predictor import BasePredictor
from samwidgets.models.sam import to_uint8_rgb

ARCH_CONFIGS = {
    "sam2.1_hiera_t": "configs/sam2.1/sam2.1_hiera_t.yaml",
    "sam2.1_hiera_s": "configs/sam2.1/sam2.1_hiera_s.yaml",
    "sam2.1_hiera_b+": "configs/sam2.1/sam2.1_hiera_b+.yaml",
    "sam2.1_hiera_l": "configs/sam2.1/sam2.1_hiera_l.yaml",
}
FEATURE_KEYS = ("image_embed", "high_res_feats_0", "high_res_feats_1")


def config_for(arch: str) -> str:
    """The sam2 package config name of an architecture id such as "sam2.1_hiera_t"."""
    try:
        return ARCH_CONFIGS[arch]
    except KeyError:
        raise ValueError(f"unknown SAM2 architecture {arch!r}; expected one of {sorted(ARCH_CONFIGS)}") from None


def _require_sam2(where: str):
    try:
        import sam2  # noqa: F401  (initialises hydra's config module)
        import sam2.build_sam as build_sam
    except ImportError as exc:
        raise MissingExtraError("sam2", "sam2", where=where) from exc
    return build_sam


def build_network(arch: str, *, video: bool = False):
    """The SAM2 network of ``arch`` with random weights on the CPU (``video=True``: the video predictor)."""
    build_sam = _require_sam2(arch)
    cfg = config_for(arch)
    if video:
        return build_sam.build_sam2_video_predictor(cfg, ckpt_path=None, device="cpu")
    return build_sam.build_sam2(cfg, ckpt_path=None, device="cpu")


class Sam2Predictor(BasePredictor):
    """SAM2 image prediction as a :class:`BasePredictor`; ``model`` is a ``sam2.modeling.SAM2Base``."""

    supports_points = True
    supports_multimask = True
    preprocess_version = "sam2-1"

    def __init__(self, model, *, name: str, device: str, weights_id: str, cache=None):
        super().__init__(name=name, device=device, weights_id=weights_id, cache=cache)
        from sam2.utils.transforms import SAM2Transforms

        self.model = model.to(device).eval()
        self.resolution = int(model.image_size)
        self.transforms = SAM2Transforms(resolution=self.resolution, mask_threshold=0.0)
        r = self.resolution
        self._feat_sizes = [(r // 4, r // 4), (r // 8, r // 8), (r // 16, r // 16)]

    def preprocess(self, image: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
        """(H, W[, 3]) -> ((H, W, 3) uint8 RGB, input size (1024, 1024)); resizing happens in encode_input."""
        return to_uint8_rgb(image), (self.resolution, self.resolution)

    def encode_input(self, x: np.ndarray) -> dict:
        """x: (H, W, 3) uint8 -> the three feature maps named in the module docstring, on self.device."""
        import torch

        with torch.inference_mode():
            return self.features_from_input(x)

    def features_from_input(self, x: np.ndarray) -> dict:
        """:meth:`encode_input` under the caller's autograd mode (encoder fine-tuning needs gradients)."""
        t = self.transforms(x)[None].to(self.device)
        backbone_out = self.model.forward_image(t)
        _, vision_feats, _, _ = self.model._prepare_backbone_features(backbone_out)
        if self.model.directly_add_no_mem_embed:
            vision_feats[-1] = vision_feats[-1] + self.model.no_mem_embed
        # contiguous, so that decoding from these tensors and from their cached copies (always
        # contiguous) runs the same kernels and gives bit-identical logits
        feats = [
            f.permute(1, 2, 0).reshape(1, -1, *size).contiguous()
            for f, size in zip(vision_feats, self._feat_sizes)
        ]
        return {"image_embed": feats[2], "high_res_feats_0": feats[0], "high_res_feats_1": feats[1]}

    def decode_batch(self, embedding, points, labels, boxes, logits, multimask):
        """Batched decode as ``SAM2ImagePredictor._predict``.

        Returns masks (B, K, H, W) bool, scores (B, K) float32, logits (B, K, 256, 256) float32.
        """
        import torch
        import torch.nn.functional as F

        h, w = embedding.original_size
        scale = np.array([self.resolution / w, self.resolution / h])
        dev = self.device
        coords = lab = None
        if boxes is not None:
            corners = boxes.astype(np.float64).reshape(-1, 2, 2) * scale
            coords = torch.as_tensor(corners, dtype=torch.float, device=dev)
            lab = torch.tensor([[2, 3]], dtype=torch.int, device=dev).repeat(coords.shape[0], 1)
        if points is not None:
            pc = torch.as_tensor(points.astype(np.float64) * scale, dtype=torch.float, device=dev)
            pl = torch.as_tensor(labels, dtype=torch.int, device=dev)
            coords = pc if coords is None else torch.cat([coords, pc], dim=1)
            lab = pl if lab is None else torch.cat([lab, pl], dim=1)
        mask_t = None
        if logits is not None:
            mask_t = torch.as_tensor(logits, dtype=torch.float, device=dev)[:, None]
        feats = embedding.features
        n = max(t.shape[0] for t in (coords, mask_t) if t is not None)
        with torch.inference_mode():
            sparse, dense = self.model.sam_prompt_encoder(
                points=None if coords is None else (coords, lab), boxes=None, masks=mask_t
            )
            low_res, iou, _, _ = self.model.sam_mask_decoder(
                image_embeddings=feats["image_embed"].to(dev),
                image_pe=self.model.sam_prompt_encoder.get_dense_pe(),
                sparse_prompt_embeddings=sparse,
                dense_prompt_embeddings=dense,
                multimask_output=multimask,
                repeat_image=n > 1,
                high_res_features=[feats["high_res_feats_0"].to(dev), feats["high_res_feats_1"].to(dev)],
            )
            up = F.interpolate(low_res.float(), (h, w), mode="bilinear", align_corners=False)
            masks = up > 0.0
            low_res = torch.clamp(low_res, -32.0, 32.0)
        return masks.cpu().numpy(), iou.float().cpu().numpy(), low_res.float().cpu().numpy()


def build(spec, *, checkpoint=None, device: str = "auto", cache=None) -> Sam2Predictor:
    """Build the SAM2 image predictor of ``spec`` (arch "sam2.1_hiera_{t,s,b+,l}") from its checkpoint."""
    dev = resolve_device(device)
    _require_sam2(spec.name)
    config_for(spec.arch)
    model, _, sha = build_from_checkpoint(lambda: build_network(spec.arch), spec, checkpoint)
    return Sam2Predictor(model, name=spec.name, device=dev, weights_id=sha, cache=cache)
