"""Background CPU priority: lowered per thread, inherited by threads started afterwards, off on request."""

from __future__ import annotations

import os
import sys
import threading

import pytest

from samwidgets import priority

linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice values are Linux only")


def nice_of(tid: int) -> int:
    return os.getpriority(os.PRIO_PROCESS, tid)


def run_in_thread(fn):
    out = {}
    t = threading.Thread(target=lambda: out.setdefault("v", fn()))
    t.start()
    t.join()
    return out["v"]


@linux
def test_lower_this_thread_changes_only_that_thread(monkeypatch):
    monkeypatch.delenv("SAMWIDGETS_BACKGROUND_NICE", raising=False)
    main = nice_of(threading.get_native_id())

    def lowered():
        assert priority.lower_this_thread()
        return nice_of(threading.get_native_id())

    assert run_in_thread(lowered) == min(19, main + priority.BACKGROUND_NICE)
    assert nice_of(threading.get_native_id()) == main


@linux
def test_threads_started_by_make_inherit_the_background_priority():
    main = nice_of(threading.get_native_id())

    def make():
        seen = {}
        child = threading.Thread(target=lambda: seen.setdefault("nice", nice_of(threading.get_native_id())))
        child.start()
        child.join()
        return seen["nice"]

    assert priority.made_in_background_thread(make, nice=5) == min(19, main + 5)
    assert nice_of(threading.get_native_id()) == main


def test_errors_reach_the_caller_and_zero_turns_it_off(monkeypatch):
    def boom():
        raise ValueError("nope")

    with pytest.raises(ValueError, match="nope"):
        priority.made_in_background_thread(boom, nice=3)
    monkeypatch.setenv("SAMWIDGETS_BACKGROUND_NICE", "0")
    assert priority.background_nice() == 0
    here = threading.get_native_id()
    assert priority.made_in_background_thread(threading.get_native_id) == here   # ran in the calling thread
    assert run_in_thread(priority.lower_this_thread) is False
    monkeypatch.setenv("SAMWIDGETS_BACKGROUND_NICE", "many")
    assert priority.background_nice() == (priority.BACKGROUND_NICE if sys.platform.startswith("linux") else 0)


@linux
def test_an_onnx_encoder_session_runs_its_threads_at_background_priority(tmp_path, monkeypatch):
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnxruntime")
    from samwidgets.models.onnx_encoder import onnx_encoder

    monkeypatch.delenv("SAMWIDGETS_BACKGROUND_NICE", raising=False)
    main = nice_of(threading.get_native_id())
    conv = torch.nn.Conv2d(3, 4, 3).eval()
    opts = dict(weights_id="tiny", input_shape=(1, 3, 16, 16), tag="tiny", threads=2, directory=tmp_path)
    onnx_encoder(conv, **opts)              # exports (torch may start its own threads here), then opens
    before = set(os.listdir("/proc/self/task"))
    enc = onnx_encoder(conv, **opts)        # opens the exported file: only the session's threads are new
    new = [int(t) for t in set(os.listdir("/proc/self/task")) - before]
    alive = []
    for tid in new:
        try:
            alive.append(nice_of(tid))
        except OSError:      # the short-lived setup thread has ended
            pass
    assert alive and all(n == min(19, main + priority.BACKGROUND_NICE) for n in alive)
    assert enc(torch.zeros(1, 3, 16, 16).numpy()).shape == (1, 4, 14, 14)
