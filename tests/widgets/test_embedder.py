"""The background embedder's wish list: current slice first, further ahead in the scroll direction,
cancellation on scrolling, a waited-for slice moved to the front, bounded memory."""

from __future__ import annotations

import threading

import numpy as np

from samwidgets.widgets.embedder import Embedder, prefetch_order


def test_prefetch_order_at_rest_is_symmetric_nearest_first():
    assert prefetch_order(5, 2, 0, 20) == [5, 6, 4, 7, 3, 8, 2, 9, 1]
    assert prefetch_order(5, 1, 0, 20) == [5, 6, 4, 7, 3]
    assert prefetch_order(0, 2, 0, 20) == [0, 1, 2, 3, 4]      # out of range left out
    assert prefetch_order(3, 0, 1, 20) == [3]


def test_prefetch_order_puts_the_slices_ahead_first_while_scrolling():
    assert prefetch_order(5, 2, 1, 20) == [5, 6, 4, 7, 3, 8, 9, 2, 1]
    assert prefetch_order(5, 2, -1, 20) == [5, 4, 6, 3, 7, 2, 1, 8, 9]
    assert prefetch_order(18, 2, 1, 20) == [18, 19, 17, 16, 15, 14]
    assert sorted(prefetch_order(9, 2, 1, 20)) == sorted(prefetch_order(9, 2, 0, 20))   # the same slices


class Gated:
    """A predictor whose encode waits for a gate and records the order of encodes."""

    name = "gated"

    def __init__(self):
        self.gate = threading.Event()
        self.order: list[int] = []

    def encode(self, plane):
        self.gate.wait(10)
        self.order.append(int(plane[0, 0]))
        return {"z": int(plane[0, 0])}


def embedder(n=30, keep=16):
    pred = Gated()
    planes = [np.full((4, 4), z, np.int32) for z in range(n)]
    return pred, Embedder(pred, lambda z: planes[z], n, background=True, keep=keep)


def running(e, z):
    """Wait until the worker has started slice z."""
    for _ in range(500):
        with e._lock:
            if e._running == z:
                return
        threading.Event().wait(0.01)
    raise AssertionError(f"slice {z} never started")


def test_scrolling_encodes_the_current_slice_first_then_ahead():
    pred, e = embedder()
    e.focus(10, 2)                      # 10 starts (blocked at the gate); 11, 9, 12, 8, 13, 7, 14, 6 queued
    running(e, 10)
    for z in (11, 12, 13):
        e.focus(z, 2)                   # scrolling forward
    pred.gate.set()
    e.wait(10)
    # 10 was already running; then 13 (current), ahead 14, behind 12, ahead 15, behind 11, 16, 17, behind 9
    assert pred.order[:2] == [10, 13]
    assert pred.order[2:] == [14, 12, 15, 11, 16, 17, 9]
    assert e.cancelled == 3 and not {8, 7, 6} & set(pred.order)
    e.close()


def test_a_slice_waited_for_jumps_the_queue():
    pred, e = embedder()
    e.focus(10, 2)                      # 10 running; queue 11, 9, 12, 8, ...
    running(e, 10)
    got = {}
    t = threading.Thread(target=lambda: got.setdefault("emb", e.get(8)))
    t.start()
    for _ in range(100):                # wait until get() has moved 8 to the front
        with e._lock:
            if e._queue and e._queue[0] == 8:
                break
        threading.Event().wait(0.01)
    pred.gate.set()
    t.join(10)
    assert got["emb"] == {"z": 8} and pred.order[:2] == [10, 8]
    e.close()


def test_memory_stays_bounded_and_close_releases_waiters():
    pred, e = embedder(n=40, keep=4)
    pred.gate.set()
    for z in range(0, 40, 3):
        e.focus(z, 2)
        e.wait(10)
    assert sum(e.ready(z) for z in range(40)) <= 4
    pred.gate.clear()
    e.focus(20, 2)                      # 20 blocks at the gate
    running(e, 20)
    waiter = threading.Thread(target=lambda: e.wait(10))
    waiter.start()
    e.close()
    pred.gate.set()
    waiter.join(10)
    assert not waiter.is_alive()


def test_an_encoder_error_is_kept_and_the_worker_goes_on():
    class Failing(Gated):
        def encode(self, plane):
            if int(plane[0, 0]) == 3:
                raise RuntimeError("boom")
            return super().encode(plane)

    pred = Failing()
    pred.gate.set()
    planes = [np.full((4, 4), z, np.int32) for z in range(6)]
    e = Embedder(pred, lambda z: planes[z], 6, background=True)
    e.focus(2, 1)
    e.wait(10)
    assert e.status(3) == "error" and e.ready(2) and e.ready(1)
    assert "boom" in str(e.error(3))
    e.close()
