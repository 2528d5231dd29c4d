"""What fine-tuning needs from each model family: which modules train, the decoder forward with gradients,
the target at the decoder's output scale, and the checkpoint layout.

Both heads run the prompt encoder without gradients (frozen) and the mask decoder with them, on a box
prompt given in xy pixels of the original slice, and return low-resolution logits (1, 1, 256, 256):

* LiteMedSAM: the box becomes the 256-frame box exactly as :meth:`LiteMedSAMPredictor.decode_batch`
  (``box_to_256``); the logits cover the zero-padded 256 x 256 input (image top-left, longest side 256),
  so the target is the mask resized like the image (``resize_longest_side``, INTER_AREA on 0/1, >= 0.5)
  and zero-padded, as LiteMedSAM's own training resizes and pads its ground truth. Checkpoint: the whole
  network's state dict (the format of ``lite_medsam.pth``).
* SAM2: the box becomes two corner points labelled 2 and 3 scaled by 1024/W, 1024/H (as
  :meth:`Sam2Predictor.decode_batch`); the logits cover the whole 1024 x 1024 input resized without
  keeping the aspect ratio, so the target is the mask resized to 256 x 256 (INTER_AREA, >= 0.5).
  Checkpoint: ``{"model": state_dict}`` as the official SAM 2.1 files.

With ``train_encoder`` the image encoder also trains (features recomputed from the prepared input with
gradients every step); otherwise features come from the embedding cache, detached.
"""

from __future__ import annotations

import cv2
import numpy as np

from samwidgets.models.litemedsam import IMAGE_SIZE, box_to_256, resize_longest_side

LOW_RES = 256


def _mask_area(mask: np.ndarray, size_wh: tuple[int, int]) -> np.ndarray:
    small = cv2.resize(mask.astype(np.float32), size_wh, interpolation=cv2.INTER_AREA)
    return (small >= 0.5).astype(np.float32)


class LiteMedSAMHead:
    """Fine-tuning view of a :class:`~samwidgets.models.litemedsam.LiteMedSAMPredictor`."""

    family = "litemedsam"

    def __init__(self, predictor, *, train_encoder: bool = False):
        import torch

        self.torch = torch
        self.predictor = predictor
        self.net = predictor.net
        self.train_encoder = train_encoder
        self.net.requires_grad_(False)
        self.decoder = self.net.mask_decoder
        self.decoder.requires_grad_(True)
        if train_encoder:
            self.net.image_encoder.requires_grad_(True)
        with torch.no_grad():
            self.dense_pe = self.net.prompt_encoder.get_dense_pe().float().contiguous()

    def parameters(self):
        mods = [self.decoder] + ([self.net.image_encoder] if self.train_encoder else [])
        return [p for m in mods for p in m.parameters()]

    def train(self, mode: bool = True) -> None:
        self.net.eval()
        self.decoder.train(mode)
        if self.train_encoder:
            self.net.image_encoder.train(mode)

    def features(self, sample) -> dict:
        if self.train_encoder:
            x = self.torch.from_numpy(sample.prepared).to(self.predictor.device)
            return {"image_embed": self.net.image_encoder(x)}
        return {"image_embed": sample.features["image_embed"].detach().to(self.predictor.device).float()}

    def logits(self, features: dict, box_xyxy: np.ndarray, size_hw: tuple[int, int]):
        """(4,) xyxy box in original pixels -> (1, 1, 256, 256) logits with gradients."""
        torch = self.torch
        dev = self.predictor.device
        box = torch.from_numpy(box_to_256(box_xyxy, size_hw).astype(np.float32).reshape(1, 1, 4)).to(dev)
        with torch.no_grad():
            sparse, dense = self.net.prompt_encoder(points=None, boxes=box, masks=None)
        low, _ = self.decoder(image_embeddings=features["image_embed"], image_pe=self.dense_pe.to(dev),
                              sparse_prompt_embeddings=sparse, dense_prompt_embeddings=dense,
                              multimask_output=False)
        return low

    def target(self, mask: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
        """(H, W) bool -> ((256, 256) float32 target, (h, w) valid region at the top-left)."""
        small = resize_longest_side(mask.astype(np.float32))
        small = (small >= 0.5).astype(np.float32)
        out = np.zeros((IMAGE_SIZE, IMAGE_SIZE), dtype=np.float32)
        out[:small.shape[0], :small.shape[1]] = small
        return out, small.shape[:2]

    def state_dict(self) -> dict:
        return {k: v.detach().cpu().clone() for k, v in self.net.state_dict().items()}

    def load_state_dict(self, state: dict) -> None:
        self.net.load_state_dict(state)

    def checkpoint_object(self, state: dict):
        return state


class Sam2Head:
    """Fine-tuning view of a :class:`~samwidgets.models.sam2.Sam2Predictor`."""

    family = "sam2"

    def __init__(self, predictor, *, train_encoder: bool = False):
        import torch

        self.torch = torch
        self.predictor = predictor
        self.model = predictor.model
        self.train_encoder = train_encoder
        self.model.requires_grad_(False)
        self.decoder = self.model.sam_mask_decoder
        self.decoder.requires_grad_(True)
        if train_encoder:
            self.model.image_encoder.requires_grad_(True)

    def parameters(self):
        mods = [self.decoder] + ([self.model.image_encoder] if self.train_encoder else [])
        return [p for m in mods for p in m.parameters()]

    def train(self, mode: bool = True) -> None:
        self.model.eval()
        self.decoder.train(mode)
        if self.train_encoder:
            self.model.image_encoder.train(mode)

    def features(self, sample) -> dict:
        if self.train_encoder:
            return self.predictor.features_from_input(sample.prepared)
        dev = self.predictor.device
        return {k: v.detach().to(dev).float() for k, v in sample.features.items()}

    def logits(self, features: dict, box_xyxy: np.ndarray, size_hw: tuple[int, int]):
        """(4,) xyxy box in original pixels -> (1, 1, 256, 256) logits with gradients."""
        torch = self.torch
        dev = self.predictor.device
        h, w = size_hw
        r = self.predictor.resolution
        corners = np.asarray(box_xyxy, dtype=np.float64).reshape(1, 2, 2) * np.array([r / w, r / h])
        coords = torch.as_tensor(corners, dtype=torch.float, device=dev)
        labels = torch.tensor([[2, 3]], dtype=torch.int, device=dev)
        with torch.no_grad():
            sparse, dense = self.model.sam_prompt_encoder(points=(coords, labels), boxes=None, masks=None)
            pe = self.model.sam_prompt_encoder.get_dense_pe()
        low, _, _, _ = self.decoder(
            image_embeddings=features["image_embed"], image_pe=pe, sparse_prompt_embeddings=sparse,
            dense_prompt_embeddings=dense, multimask_output=False, repeat_image=False,
            high_res_features=[features["high_res_feats_0"], features["high_res_feats_1"]],
        )
        return low

    def target(self, mask: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
        """(H, W) bool -> ((256, 256) float32 target, (256, 256): the whole frame is valid)."""
        return _mask_area(mask, (LOW_RES, LOW_RES)), (LOW_RES, LOW_RES)

    def state_dict(self) -> dict:
        return {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()}

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state)

    def checkpoint_object(self, state: dict):
        return {"model": state}


def head_for(predictor, *, train_encoder: bool = False):
    """The head of a loaded predictor (LiteMedSAM or SAM2); ModelError for other models."""
    from samwidgets.errors import ModelError
    from samwidgets.models.litemedsam import LiteMedSAMPredictor
    from samwidgets.models.sam2 import Sam2Predictor

    if isinstance(predictor, LiteMedSAMPredictor):
        return LiteMedSAMHead(predictor, train_encoder=train_encoder)
    if isinstance(predictor, Sam2Predictor):
        return Sam2Head(predictor, train_encoder=train_encoder)
    raise ModelError(f"fine-tuning supports LiteMedSAM and SAM2 models, not '{predictor.name}'",
                     where=predictor.name)
