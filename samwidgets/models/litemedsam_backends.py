"""LiteMedSAM's two backends, chosen once when the predictor is made (:mod:`samwidgets.models.litemedsam`):
:class:`OnnxBackend` (ONNX Runtime encoder and decoder, the CPU default) and :class:`TorchBackend` (eager
torch: GPUs, MPS, or the CPU when asked), plus the reference mask post-processing both share.

Shapes: the network input is (1, 3, 256, 256) float32; ``image_embed`` is (1, 256, 64, 64); low-res logits
are (B, 1, 256, 256); masks are (B, 1, H, W) in the original slice's pixels.
"""

from __future__ import annotations

import weakref
from pathlib import Path

import numpy as np

from samwidgets.models.device import autocast

IMAGE_SIZE = 256  # the network's input side (CVPR24 LiteMedSAM: longest side resized to 256, padded square)

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
