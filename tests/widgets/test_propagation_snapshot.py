"""Propagation works on the slice and label it started from, whatever the user does while it runs.

A slow predictor wrapper holds every encode of propagation until the test has scrolled away, which makes
the race deterministic: before the fix, the slice on screen when propagation finished was skipped (left
empty) and the change was recorded against it.
"""

from __future__ import annotations

import threading

import numpy as np

from samwidgets.widgets import Session
from widgets.fakes import FakePredictor


def volume(n=7, h=64, w=80, seed=0):
    return np.random.default_rng(seed).integers(0, 255, size=(n, h, w), dtype=np.uint8)


class GatedPredictor(FakePredictor):
    """FakePredictor whose encodes in thread ``armed`` wait on ``gate``; ``entered`` is set at the first wait."""

    def __init__(self):
        super().__init__()
        self.armed: threading.Thread | None = None
        self.gate = threading.Event()
        self.entered = threading.Event()

    def encode(self, image):
        if threading.current_thread() is self.armed:
            self.entered.set()
            assert self.gate.wait(10), "test never released the gate"
        return super().encode(image)


def test_slice_change_during_propagation_keeps_every_slice_and_the_start_slice():
    fake = GatedPredictor()
    s = Session(volume(), model=fake)
    z0 = s.z
    assert z0 == 3
    s.box(20, 15, 50, 40)
    s.accept("lesion")
    accepted = s.labels[z0].copy()
    out = {}
    worker = threading.Thread(target=lambda: out.setdefault("done", s.propagate("lesion")), daemon=True)
    fake.armed = worker
    worker.start()
    assert fake.entered.wait(10)
    s.set_slice(5)          # the user scrolls while propagation runs
    s.box(0, 0, 10, 10)     # and prompts there
    fake.gate.set()
    worker.join(20)
    assert not worker.is_alive()
    done = out["done"]
    assert done == [z for z in range(7) if z != z0]          # slice 5 (on screen at the end) is written
    for z in done:
        assert (s.labels[z] == 1)[15:41, 20:51].all(), f"slice {z} empty or wrong"
    np.testing.assert_array_equal(s.labels[z0], accepted)      # the start slice is left as accepted
    assert s.z == 5
    ev = s.prompt_log["events"][-1]
    assert ev["op"] == "propagate" and ev["slice"] == z0
    # the change is recorded against the start slice: undo returns there and removes only the propagation
    assert s.undo()
    assert s.z == z0
    assert not s.labels[[z for z in range(7) if z != z0]].any()
    np.testing.assert_array_equal(s.labels[z0], accepted)
