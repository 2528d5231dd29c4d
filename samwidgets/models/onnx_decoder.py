"""An optional ONNX Runtime (CPU) path for a segment-anything style mask decoder (LiteMedSAM's).

Why: on a 2-core CPU the eager torch mask decoder (TwoWayTransformer + output upscaling, ~3.5 GFLOP per
prompt set at 64 x 64 image tokens) spends a third of its time outside the matrix products (broadcast
adds, layout copies, the hand-written LayerNorm2d, softmax). The rearranged graph run by ONNX Runtime
needs about half the FLOPs and none of the large copies: one box 15.7 vs 45.9 ms, 16 boxes 178 vs 699 ms
(``benchmarks/models.py``, both paths in one run, 2 cores).

What: :func:`onnx_mask_decoder` exports ``mask_decoder``, rearranged for the CPU as
:class:`~samwidgets.models.litemedsam_decoder.TokenMajorDecoder` (same weights and maths, half the FLOPs,
dense positional encoding folded in as a constant, ``multimask_output=False``), to ``<cache dir>/onnx/<tag>-<key>.onnx`` on first use (atomic
write, key = weights id + graph version + torch/onnx/onnxruntime versions; see
:mod:`samwidgets.models.onnx_encoder`) and opens a CPU session on it. The prompt encoder stays in torch
(it is cheap and its point embedding uses boolean-mask assignment that the exporter handles poorly).

Graphs (see :mod:`samwidgets.models.litemedsam_decoder` for the maths), one prompt set per run:
  ``<tag>-prepare``: ``image_embed``, ``dense`` (1, 256, 64, 64) float32 -> image-side arrays that do not
          depend on the sparse prompts (run once per embedding when there is no mask prompt);
  ``<tag>``: those arrays + ``sparse`` (1, P, 256) float32 (P dynamic: 2 for a box, n + 1 for n points
          without a box, n + 2 with one) -> ``low_res`` (1, 1, 256, 256) logits, ``iou`` (1, 1).
Outputs match the eager module to float32 round-off (max |diff| ~1e-4 on logits of magnitude ~50; see
tests/models/test_litemedsam.py). Any failure raises :class:`OnnxUnavailable`; callers fall back to torch.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from samwidgets.models.onnx_encoder import (
    OnnxUnavailable,
    cached_export,
    cpu_session,
    export_atomic,
)

GRAPH_VERSION = "tokenmajor-2"  # bump when litemedsam_decoder.TokenMajorDecoder or the wrappers change

__all__ = ["OnnxMaskDecoder", "OnnxUnavailable", "onnx_mask_decoder"]

PREPARE_OUTPUTS = ["src", "k0t", "v0", "q0"]


def _wrappers(mask_decoder, dense_pe):
    import torch

    from samwidgets.models.litemedsam_decoder import TokenMajorDecoder

    core = TokenMajorDecoder(mask_decoder, dense_pe).eval()

    class Prepare(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.core = core

        def forward(self, image_embed, dense):
            return self.core.prepare(image_embed, dense)

    return Prepare().eval(), core


class OnnxMaskDecoder:
    """Two ONNX Runtime sessions over :class:`~samwidgets.models.litemedsam_decoder.TokenMajorDecoder`:

    ``prepare(image_embed (1, C, h, w), dense (1, C, h, w))`` -> dict of the image-side arrays
    (``src``, ``k0t``, ``v0``, ``q0``; reuse it for every prompt set with the same dense embedding);
    ``decode(prepared, sparse (1, P, C))`` -> (low_res (1, 1, 4h, 4w), iou (1, 1)). numpy float32.
    """

    def __init__(self, prepare_path: Path, decode_path: Path, *, threads: int | None = None):
        self.path = Path(decode_path)
        self.prepare_path = Path(prepare_path)
        self._prepare = cpu_session(self.prepare_path, threads=threads)
        self._decode = cpu_session(self.path, threads=threads)

    def prepare(self, image_embed: np.ndarray, dense: np.ndarray) -> dict:
        outs = self._prepare.run(None, {"image_embed": image_embed, "dense": dense})
        return dict(zip(PREPARE_OUTPUTS, outs))

    def decode(self, prepared: dict, sparse: np.ndarray):
        low, iou = self._decode.run(None, {**prepared, "sparse": sparse})
        return low, iou


def onnx_mask_decoder(mask_decoder, dense_pe, *, weights_id: str, tag: str, threads: int | None = None,
                      directory: Path | None = None) -> OnnxMaskDecoder:
    """Export the two graphs of ``mask_decoder`` (eval mode, CPU) once (cached on disk, atomic writes) and
    return an :class:`OnnxMaskDecoder` on them. dense_pe: (1, C, h, w) positional encoding (a constant
    of the weights). Raises OnnxUnavailable when onnx/onnxruntime are missing or the export/load fails."""
    import torch

    shape = tuple(dense_pe.shape)
    prepare_module, core = _wrappers(mask_decoder, dense_pe)
    example = torch.zeros(shape)
    with torch.no_grad():
        prepared = prepare_module(example, example)

    def export_prepare(target: Path) -> None:
        export_atomic(prepare_module, (example, example), target, input_names=["image_embed", "dense"],
                      output_names=PREPARE_OUTPUTS)

    def export_decode(target: Path) -> None:
        export_atomic(core, tuple(prepared) + (torch.zeros((1, 2, shape[1])),), target,
                      input_names=PREPARE_OUTPUTS + ["sparse"], output_names=["low_res", "iou"],
                      dynamic_axes={"sparse": {1: "tokens"}})

    key = (GRAPH_VERSION,) + shape
    prepare_path = cached_export(export_prepare, lambda path: (cpu_session(path), path)[1], weights_id=weights_id,
                                 input_shape=key, tag=tag + "-prepare", directory=directory)
    return cached_export(export_decode, lambda path: OnnxMaskDecoder(prepare_path, path, threads=threads),
                         weights_id=weights_id, input_shape=key, tag=tag, directory=directory)
