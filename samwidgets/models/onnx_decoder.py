"""An optional ONNX Runtime (CPU) path for a segment-anything style mask decoder (LiteMedSAM's).

Why: on a 2-core CPU the eager torch mask decoder (TwoWayTransformer + output upscaling, ~3.5 GFLOP per
prompt set at 64 x 64 image tokens) spends a third of its time outside the matrix products (broadcast
adds, layout copies, the hand-written LayerNorm2d, softmax); ONNX Runtime fuses most of that and runs the
same graph in about half the time (measured on the CT lesion slices, 2 cores: ~60 vs ~120 ms per prompt).

What: :func:`onnx_mask_decoder` exports ``mask_decoder`` with the dense positional encoding folded in as
a constant and ``multimask_output=False`` to ``<cache dir>/onnx/<tag>-<key>.onnx`` on first use (atomic
write, key = weights id + graph version + torch/onnx/onnxruntime versions; see
:mod:`samwidgets.models.onnx_encoder`) and opens a CPU session on it. The prompt encoder stays in torch
(it is cheap and its point embedding uses boolean-mask assignment that the exporter handles poorly).

Graph, one prompt set per run (batch 1):
  inputs  ``image_embed`` (1, 256, 64, 64) float32, ``sparse`` (1, N, 256) float32 (N dynamic: 2 for a box,
          n + 1 for n points without a box, n + 2 with one), ``dense`` (1, 256, 64, 64) float32;
  outputs ``low_res`` (1, 1, 256, 256) float32 logits, ``iou`` (1, 1) float32.
Outputs match the eager module to float32 round-off (max |diff| ~1e-4 on logits of magnitude ~50; see
tests/models/test_litemedsam.py). Any failure raises :class:`OnnxUnavailable`; callers fall back to torch.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from samwidgets.models.onnx_encoder import OnnxUnavailable, cached_export, cpu_session, export_atomic

GRAPH_VERSION = "samdecoder-onemask-1"  # bump when the exported wrapper below changes

__all__ = ["OnnxMaskDecoder", "OnnxUnavailable", "onnx_mask_decoder"]


def _wrapper(mask_decoder, dense_pe):
    import torch

    class OneMaskDecoder(torch.nn.Module):
        """mask_decoder(image, dense_pe, sparse, dense, multimask_output=False) with dense_pe a constant."""

        def __init__(self):
            super().__init__()
            self.decoder = mask_decoder
            self.register_buffer("dense_pe", dense_pe.detach().float().contiguous().clone())

        def forward(self, image_embed, sparse, dense):
            return self.decoder(image_embeddings=image_embed, image_pe=self.dense_pe,
                                sparse_prompt_embeddings=sparse, dense_prompt_embeddings=dense,
                                multimask_output=False)

    return OneMaskDecoder().eval()


class OnnxMaskDecoder:
    """``decoder(image_embed, sparse, dense) -> (low_res (1, 1, S, S), iou (1, 1))``, numpy float32 in/out,
    shapes as in the module docstring (batch 1: call once per prompt set)."""

    def __init__(self, path: Path, *, threads: int | None = None):
        self.path = Path(path)
        self.session = cpu_session(self.path, threads=threads)

    def __call__(self, image_embed: np.ndarray, sparse: np.ndarray, dense: np.ndarray):
        low, iou = self.session.run(None, {"image_embed": image_embed, "sparse": sparse, "dense": dense})
        return low, iou


def onnx_mask_decoder(mask_decoder, dense_pe, *, weights_id: str, tag: str, threads: int | None = None,
                      directory: Path | None = None) -> OnnxMaskDecoder:
    """Export ``mask_decoder`` (eval mode, CPU) once (cached on disk, atomic) and return an
    :class:`OnnxMaskDecoder` on it. dense_pe: (1, C, h, w) positional encoding (weights-only constant).
    Raises OnnxUnavailable when onnx/onnxruntime are missing or the export/load fails."""
    shape = tuple(dense_pe.shape)

    def export(target: Path) -> None:
        import torch

        c = shape[1]
        example = (torch.zeros(shape), torch.zeros((1, 2, c)), torch.zeros(shape))
        export_atomic(_wrapper(mask_decoder, dense_pe), example, target,
                      input_names=["image_embed", "sparse", "dense"], output_names=["low_res", "iou"],
                      dynamic_axes={"sparse": {1: "tokens"}})

    return cached_export(export, lambda path: OnnxMaskDecoder(path, threads=threads), weights_id=weights_id,
                         input_shape=(GRAPH_VERSION,) + shape, tag=tag, directory=directory)
