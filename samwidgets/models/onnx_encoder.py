"""An optional ONNX Runtime (CPU) path for a torch image encoder.

Why: on a small CPU the eager torch TinyViT encoder of LiteMedSAM takes about twice as long as the same
graph run by ONNX Runtime (measured 2.2 s vs 1.0 s per slice on 2 cores; outputs equal to ~3e-6).

What: :func:`onnx_encoder` exports ``module`` (a torch ``nn.Module`` taking one (1, 3, S, S) float32
tensor and returning one tensor) to ``<cache dir>/onnx/<tag>-<key>.onnx`` on first use and opens an
ONNX Runtime session on it; later processes reuse the file. The key hashes the weights id, the input
shape, and the torch, onnx and onnxruntime versions, so a new checkpoint or toolchain gets a new file.
The file is written to a temporary name in the same folder and ``os.replace``'d into place, so a crash
or a concurrent process never leaves a half-written model that would be loaded later; a file that
fails to load is deleted and exported again once.

Cache dir: ``$SAMWIDGETS_CACHE_DIR`` else ``~/.cache/samwidgets``. Sessions (:func:`cpu_session`) do not
let idle intra-op threads spin-wait (``$SAMWIDGETS_ORT_SPIN=1`` re-enables it): spinning ORT threads
slowed the torch work that follows a run 5-10x on 2 cores, with no gain for ORT itself.

The encoder session's intra-op threads run at background CPU priority (:mod:`samwidgets.priority`;
``$SAMWIDGETS_BACKGROUND_NICE=0`` turns it off): a mask decode that overlaps an encode (the viewer's
prefetch) keeps its speed.

Any failure (onnxruntime or onnx missing, export error) raises :class:`OnnxUnavailable`; callers fall
back to torch. torch and onnxruntime are imported inside the functions.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from pathlib import Path

import numpy as np

from samwidgets.atomic import atomic_write
from samwidgets.paths import cache_root
from samwidgets.priority import made_in_background_thread


class OnnxUnavailable(RuntimeError):
    """The ONNX Runtime path cannot be used here (package missing or export/load failed)."""


def onnx_dir() -> Path:
    """``$SAMWIDGETS_CACHE_DIR/onnx``, else ``~/.cache/samwidgets/onnx``."""
    return cache_root() / "onnx"


def export_key(*, weights_id: str, input_shape: tuple, tag: str) -> str:
    """Hash naming an export: weights, input shape(s) and the torch/onnx/onnxruntime versions."""
    import onnx
    import onnxruntime
    import torch

    text = f"{tag}|{weights_id}|{tuple(input_shape)}|torch {torch.__version__}|onnx {onnx.__version__}|ort {onnxruntime.__version__}"
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def cpu_session(path: Path, *, threads: int | None = None):
    """An ONNX Runtime CPU InferenceSession on ``path``, all graph optimisations, ``threads`` intra-op."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads:
        options.intra_op_num_threads = int(threads)
    if os.environ.get("SAMWIDGETS_ORT_SPIN", "0") != "1":
        # idle intra-op threads spin-wait by default after each run, stealing the cores from the torch
        # work that follows (measured: torch decodes after an ORT run 5-10x slower on 2 cores)
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


class OnnxEncoder:
    """A callable ONNX Runtime session: ``encoder(x)`` with x (1, 3, S, S) float32 numpy -> numpy output."""

    def __init__(self, path: Path, *, threads: int | None = None):
        self.path = Path(path)
        # the encoder is the long throughput job (background prefetch), the decoder the latency job: the
        # session's intra-op threads run at background priority (samwidgets.priority), so a decode that
        # overlaps an encode keeps its speed; an encode alone runs as fast as before
        self.session = made_in_background_thread(lambda: cpu_session(self.path, threads=threads))
        self.input_name = self.session.get_inputs()[0].name

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input_name: np.ascontiguousarray(x, dtype=np.float32)})[0]


def export_atomic(module, inputs: tuple, target: Path, *, input_names: list[str], output_names: list[str],
                  dynamic_axes: dict | None = None) -> None:
    """``torch.onnx.export`` (TorchScript exporter, opset 17) of ``module(*inputs)`` to ``target``, written
    to a temporary file in the same folder, fsync'ed and ``os.replace``'d into place."""
    import torch

    def export(tmp: Path) -> None:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                module, tuple(inputs), str(tmp), dynamo=False, input_names=input_names,
                output_names=output_names, dynamic_axes=dynamic_axes, opset_version=17, do_constant_folding=True,
            )

    atomic_write(target, export)


def cached_export(export, open_session, *, weights_id: str, input_shape: tuple, tag: str,
                  directory: Path | None = None):
    """Open ``<directory>/<tag>-<key>.onnx`` with ``open_session(path)``, exporting it first with
    ``export(path)`` when missing; a file that fails to load is deleted and exported again once.
    Raises OnnxUnavailable when onnx/onnxruntime are missing or the export/load fails."""
    try:
        import onnx  # noqa: F401  (needed by the exporter)
        import onnxruntime  # noqa: F401
    except ImportError as exc:
        raise OnnxUnavailable(f"onnxruntime/onnx not importable: {exc}") from exc
    folder = Path(directory) if directory is not None else onnx_dir()
    target = folder / f"{tag}-{export_key(weights_id=weights_id, input_shape=input_shape, tag=tag)}.onnx"
    if target.exists():
        try:
            return open_session(target)
        except Exception:  # a stale or corrupt file: drop it and export afresh
            try:
                target.unlink()
            except OSError:
                pass
    try:
        export(target)
        return open_session(target)
    except Exception as exc:
        raise OnnxUnavailable(f"ONNX export/load of {tag} failed: {exc}") from exc


def onnx_encoder(module, *, weights_id: str, input_shape: tuple[int, ...], tag: str,
                 threads: int | None = None, directory: Path | None = None) -> OnnxEncoder:
    """Export ``module`` once (cached on disk, atomic write) and return an :class:`OnnxEncoder` on it.

    module: torch module in eval mode on the CPU, one input of ``input_shape`` (e.g. (1, 3, 256, 256)).
    weights_id: sha256 (or tag) of the weights the module holds. tag: short name used in the file name.
    Raises OnnxUnavailable when onnx/onnxruntime are missing or the export/load fails.
    """
    def export(target: Path) -> None:
        import torch

        export_atomic(module, (torch.zeros(input_shape, dtype=torch.float32),), target,
                      input_names=["image"], output_names=["features"])

    return cached_export(export, lambda path: OnnxEncoder(path, threads=threads), weights_id=weights_id,
                         input_shape=input_shape, tag=tag, directory=directory)
