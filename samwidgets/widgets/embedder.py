"""Per-slice embeddings for a session: synchronous, or in a background thread with neighbour prefetch.

Slices are (y, x) or (y, x, 3) planes of the session's image; the predictor's own EmbeddingCache (if any)
sits underneath, this keeps the last ``keep`` embeddings of this image in memory by slice index z.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable

from samwidgets.errors import SamwidgetsError
from samwidgets.models.protocol import model_errors


class Embedder:
    """Embeds slices z of ``get_slice(z)`` with ``predictor.encode``.

    background=False: :meth:`get` encodes in the calling thread. background=True: :meth:`request` queues the
    encode on one worker thread and calls ``on_ready(z, error)`` from that thread when it finishes.
    """

    def __init__(self, predictor, get_slice: Callable, n_slices: int, *, background: bool = False,
                 keep: int = 16, on_ready: Callable | None = None):
        self.predictor = predictor
        self.get_slice = get_slice
        self.n_slices = int(n_slices)
        self.background = bool(background)
        self.keep = max(int(keep), 1)
        self.on_ready = on_ready
        self._done: OrderedDict[int, object] = OrderedDict()
        self._errors: dict[int, SamwidgetsError] = {}
        self._pending: dict[int, Future] = {}
        self._events: dict[int, threading.Event] = {}  # set when slice z's encode ends, before on_ready
        self._lock = threading.RLock()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="samwidgets-embed") if background else None
        self.cancelled = 0   # queued encodes dropped by focus() (the user scrolled on)

    # -- queries -----------------------------------------------------------------------------
    def ready(self, z: int) -> bool:
        with self._lock:
            return z in self._done

    def pending(self, z: int) -> bool:
        with self._lock:
            return z in self._pending

    def error(self, z: int) -> SamwidgetsError | None:
        with self._lock:
            return self._errors.get(z)

    def peek(self, z: int):
        """The embedding of slice z if it is ready, else None (never blocks, never encodes)."""
        with self._lock:
            emb = self._done.get(z)
            if emb is not None:
                self._done.move_to_end(z)
            return emb

    # -- work --------------------------------------------------------------------------------
    def _encode(self, z: int):
        with model_errors(f"encoding slice {z}", where=getattr(self.predictor, "name", "model")):
            emb = self.predictor.encode(self.get_slice(z))
        with self._lock:
            self._done[z] = emb
            self._done.move_to_end(z)
            while len(self._done) > self.keep:
                self._done.popitem(last=False)
            self._errors.pop(z, None)
        return emb

    def _run(self, z: int) -> None:
        err = None
        try:
            self._encode(z)
        except SamwidgetsError as exc:
            err = exc
            with self._lock:
                self._errors[z] = exc
        finally:
            with self._lock:
                self._pending.pop(z, None)
                event = self._events.pop(z, None)
            if event is not None:
                event.set()  # waiters in get() go on without waiting for the on_ready listeners
        if self.on_ready is not None:
            try:
                self.on_ready(z, err)
            except Exception:  # a listener bug must not kill the worker
                pass

    def request(self, z: int) -> None:
        """Make sure slice z gets embedded (queued in the background, or right now when not background)."""
        if not 0 <= z < self.n_slices:
            return
        with self._lock:
            if z in self._done or z in self._pending:
                return
            if self._pool is not None:
                self._errors.pop(z, None)
                self._events[z] = threading.Event()
                self._pending[z] = self._pool.submit(self._run, z)
                return
        self._encode(z)

    def get(self, z: int):
        """The embedding of slice z, encoding it (or waiting for the background encode) if needed."""
        emb = self.peek(z)
        if emb is not None:
            return emb
        while True:
            with self._lock:
                event = self._events.get(z)
            if event is None:
                break
            if event.wait(1.0):   # re-check every second: a cancelled or dropped encode never strands us
                break
        emb = self.peek(z)
        if emb is not None:
            return emb
        err = self.error(z)
        if err is not None:
            raise err
        return self._encode(z)

    def prefetch(self, z: int, radius: int) -> None:
        """Queue the neighbours z±1..radius (background mode only; nearest first)."""
        if self._pool is None:
            return
        for d in range(1, int(radius) + 1):
            for zz in (z + d, z - d):
                self.request(zz)

    def focus(self, z: int, radius: int) -> None:
        """The user now looks at slice z: cancel queued encodes of slices farther than ``radius`` (those
        not started yet), then queue z first and z±1, z±2, ... up to ``radius``. Memory stays bounded by
        ``keep`` embeddings (least recently used dropped first)."""
        wanted = {z + d for d in range(-int(radius), int(radius) + 1)}
        with self._lock:
            for zz, fut in list(self._pending.items()):
                if zz not in wanted and fut.cancel():
                    self._pending.pop(zz, None)
                    event = self._events.pop(zz, None)
                    if event is not None:
                        event.set()
                    self.cancelled += 1
        self.request(z)
        self.prefetch(z, radius)

    def status(self, z: int) -> str:
        """"ready" | "embedding" | "error" | "not embedded" for slice z."""
        with self._lock:
            if z in self._done:
                return "ready"
            if z in self._pending:
                return "embedding"
            if z in self._errors:
                return "error"
        return "not embedded"

    def wait(self, timeout: float | None = None) -> None:
        """Block until every queued encode has finished."""
        with self._lock:
            futs = list(self._pending.values())
        for f in futs:
            try:
                f.result(timeout=timeout)
            except Exception:
                pass

    def close(self) -> None:
        """Stop the worker: queued encodes are dropped and anyone waiting for them goes on."""
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        with self._lock:
            for fut in self._pending.values():
                fut.cancel()
            self._pending.clear()
            events, self._events = list(self._events.values()), {}
        for event in events:
            event.set()
