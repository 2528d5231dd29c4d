"""CPU priority of background work: the encoder that prefetches slices yields the cores to the decoder
that answers a click.

On a small CPU a decode that overlaps an encode shares the cores with it: one LiteMedSAM box decode took
54-63 ms instead of 23-24 ms while an encode ran in another thread on 2 cores; with the encoder's threads
at nice 19 it took 23 ms (at nice 10: 38 ms; ``benchmarks/models.py``). A thread whose nice value is
raised gets a small share of a contended core (nice 19: ~1.5 % against a nice-0 thread under Linux's
scheduler) and all of an idle one, so work alone runs as fast as before. The price: while another
program keeps the cores busy, background work waits for it (set ``$SAMWIDGETS_BACKGROUND_NICE`` lower).

Linux only: there a thread has its own nice value (``setpriority`` on its thread id) and threads it starts
inherit it. Elsewhere, or when ``$SAMWIDGETS_BACKGROUND_NICE`` is 0, nothing changes. A raised nice value
cannot be lowered again without privileges, so only threads made for background work are lowered.
"""

from __future__ import annotations

import os
import sys
import threading
from typing import Callable, TypeVar

T = TypeVar("T")

BACKGROUND_NICE = 19   # default increment for background threads; $SAMWIDGETS_BACKGROUND_NICE overrides


def background_nice() -> int:
    """The nice increment for background work: ``$SAMWIDGETS_BACKGROUND_NICE`` (0 = off), else
    :data:`BACKGROUND_NICE`; 0 off Linux."""
    if not sys.platform.startswith("linux"):
        return 0
    try:
        return max(0, min(19, int(os.environ.get("SAMWIDGETS_BACKGROUND_NICE", BACKGROUND_NICE))))
    except ValueError:
        return BACKGROUND_NICE


def lower_this_thread(nice: int | None = None) -> bool:
    """Raise the calling thread's nice value by ``nice`` (default :func:`background_nice`); threads it
    starts afterwards inherit it. True when it changed; False when off or not permitted."""
    nice = background_nice() if nice is None else int(nice)
    if nice <= 0 or not sys.platform.startswith("linux"):
        return False
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + nice))
        return True
    except (OSError, AttributeError):
        return False


def made_in_background_thread(make: Callable[[], T], *, nice: int | None = None) -> T:
    """``make()`` run in a short-lived thread whose priority is lowered first, so threads that ``make``
    starts (an ONNX Runtime session's intra-op pool) run at background priority for their whole life.
    Returns make's result or raises its exception. With priority changes off, ``make()`` runs here."""
    nice = background_nice() if nice is None else int(nice)
    if nice <= 0 or not sys.platform.startswith("linux"):
        return make()
    out: dict = {}

    def run() -> None:
        lower_this_thread(nice)
        try:
            out["value"] = make()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller below
            out["error"] = exc

    worker = threading.Thread(target=run, name="samwidgets-background-setup", daemon=True)
    worker.start()
    worker.join()
    if "error" in out:
        raise out["error"]
    return out["value"]
