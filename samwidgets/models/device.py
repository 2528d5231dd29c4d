"""Device choice and mixed-precision contexts shared by the model adapters.

``resolve_device("auto")`` picks CUDA, then Apple MPS, then the CPU. An explicit device ("cpu", "cuda",
"cuda:1", "mps") is honoured when it exists; an unknown or unavailable one raises
:class:`samwidgets.errors.ModelError` naming the devices that are available, instead of a torch traceback
at the first forward pass.

``autocast(device, dtype=...)`` is a context for the encoder/decoder forward passes: on CUDA with
``dtype="bf16"`` or ``"fp16"`` it enables ``torch.autocast``; everywhere else (CPU, MPS, ``dtype=None``)
it does nothing. Adapters keep it off by default where reduced precision changes masks (LiteMedSAM: see
its module docstring).

torch is imported inside the functions, never at module import.
"""

from __future__ import annotations

import contextlib
import os
import re

from samwidgets.errors import ModelError

_DEVICE_RE = re.compile(r"^(cpu|cuda|mps)(?::(\d+))?$")
_DTYPES = {"bf16": "bfloat16", "bfloat16": "bfloat16", "fp16": "float16", "float16": "float16", "half": "float16"}


def available_devices() -> list[str]:
    """Devices torch can use here, e.g. ["cuda:0", "cuda:1", "cpu"] (always ends with "cpu")."""
    import torch

    devices: list[str] = []
    if torch.cuda.is_available():
        devices += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        devices.append("mps")
    devices.append("cpu")
    return devices


def resolve_device(device: str | None = "auto") -> str:
    """Turn "auto" / None / an explicit name into a usable torch device string.

    "auto" (or None, or ``$SAMWIDGETS_DEVICE`` when set and ``device`` is "auto"): "cuda" if a CUDA GPU is
    visible, else "mps" if available, else "cpu". An explicit "cuda", "cuda:N", "mps" or "cpu" is returned
    normalised (lower case, stripped) after checking it exists. Anything else raises ModelError.
    """
    import torch

    name = "auto" if device is None else str(device).strip().lower()
    if name == "auto":
        env = os.environ.get("SAMWIDGETS_DEVICE", "").strip().lower()
        if env and env != "auto":
            return resolve_device(env)
        if torch.cuda.is_available():
            return "cuda"
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return "mps"
        return "cpu"
    match = _DEVICE_RE.match(name)
    if match is None:
        raise ModelError(
            f"unknown device '{device}'; use 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps' "
            f"(available here: {', '.join(available_devices())})",
            where="device",
        )
    kind, index = match.group(1), match.group(2)
    if kind == "cuda":
        if not torch.cuda.is_available():
            raise ModelError(
                f"device '{device}' requested but no CUDA GPU is available "
                f"(available here: {', '.join(available_devices())})",
                where="device",
            )
        if index is not None and int(index) >= torch.cuda.device_count():
            raise ModelError(
                f"device '{device}' does not exist: {torch.cuda.device_count()} CUDA device(s) visible",
                where="device",
            )
    elif kind == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise ModelError(
                f"device 'mps' requested but Apple MPS is not available "
                f"(available here: {', '.join(available_devices())})",
                where="device",
            )
        if index is not None:
            raise ModelError(f"device '{device}': mps takes no index", where="device")
    elif index is not None:
        raise ModelError(f"device '{device}': cpu takes no index", where="device")
    return name


def autocast(device: str, dtype: str | None = None):
    """A context manager for reduced-precision forward passes on CUDA.

    device: a resolved device string. dtype: None (full float32, the default), "bf16"/"bfloat16" or
    "fp16"/"float16". On a non-CUDA device, or with dtype None, returns a no-op context, so callers can
    always write ``with autocast(self.device, self.precision): ...``. An unknown dtype raises ModelError.
    """
    if dtype is None:
        return contextlib.nullcontext()
    key = str(dtype).lower()
    if key not in _DTYPES:
        raise ModelError(f"unknown precision '{dtype}'; use None, 'bf16' or 'fp16'", where="precision")
    if not str(device).startswith("cuda"):
        return contextlib.nullcontext()
    import torch

    return torch.autocast(device_type="cuda", dtype=getattr(torch, _DTYPES[key]))
