"""Device resolution (cuda > mps > cpu, explicit override, typed errors) and the autocast helper."""

from __future__ import annotations

import contextlib
import warnings

import pytest
import torch

from samwidgets.errors import ModelError
from samwidgets.models.device import autocast, available_devices, resolve_device


def _fake_cuda(monkeypatch, count: int):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: count > 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: count)


def _fake_mps(monkeypatch, available: bool):
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: available)


def test_auto_prefers_cuda_then_mps_then_cpu(monkeypatch):
    monkeypatch.delenv("SAMWIDGETS_DEVICE", raising=False)
    _fake_cuda(monkeypatch, 2)
    _fake_mps(monkeypatch, True)
    assert resolve_device("auto") == "cuda"
    _fake_cuda(monkeypatch, 0)
    assert resolve_device() == "mps"
    _fake_mps(monkeypatch, False)
    assert resolve_device(None) == "cpu"
    assert available_devices() == ["cpu"]


def test_explicit_devices(monkeypatch):
    _fake_cuda(monkeypatch, 2)
    _fake_mps(monkeypatch, False)
    assert resolve_device(" CUDA:1 ") == "cuda:1"
    assert resolve_device("cpu") == "cpu"
    with pytest.raises(ModelError, match="2 CUDA device"):
        resolve_device("cuda:2")
    with pytest.raises(ModelError, match="mps"):
        resolve_device("mps")
    _fake_cuda(monkeypatch, 0)
    with pytest.raises(ModelError, match="no CUDA GPU") as info:
        resolve_device("cuda")
    assert "cpu" in str(info.value)  # names what is available


@pytest.mark.parametrize("name", ["tpu", "gpu", "cuda:x", "cpu:0", "", "cuda:-1"])
def test_unknown_devices_raise(name, monkeypatch):
    _fake_cuda(monkeypatch, 1)
    with pytest.raises(ModelError, match="device"):
        resolve_device(name)


def test_environment_override(monkeypatch):
    _fake_cuda(monkeypatch, 1)
    monkeypatch.setenv("SAMWIDGETS_DEVICE", "cpu")
    assert resolve_device("auto") == "cpu"
    assert resolve_device("cuda") == "cuda"  # explicit beats the environment
    monkeypatch.setenv("SAMWIDGETS_DEVICE", "quantum")
    with pytest.raises(ModelError):
        resolve_device("auto")


def test_autocast_contexts():
    assert isinstance(autocast("cpu", None), contextlib.nullcontext)
    assert isinstance(autocast("cpu", "bf16"), contextlib.nullcontext)
    assert isinstance(autocast("mps", "fp16"), contextlib.nullcontext)
    assert isinstance(autocast("cuda", None), contextlib.nullcontext)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "CUDA is not available, disabling autocast" on CPU machines
        ctx = autocast("cuda:0", "bf16")
        assert isinstance(ctx, torch.autocast) and ctx.fast_dtype == torch.bfloat16
        assert autocast("cuda", "fp16").fast_dtype == torch.float16
    with pytest.raises(ModelError, match="precision"):
        autocast("cuda", "int4")
    with autocast("cpu", "bf16"):  # a no-op context runs
        assert torch.ones(2).sum().item() == 2
