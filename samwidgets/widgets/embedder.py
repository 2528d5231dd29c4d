"""Per-slice embeddings for a session: synchronous, or on one background thread with neighbour prefetch.

Slices are (y, x) or (y, x, 3) planes of the session's image, indexed by z (array order); the predictor's
own EmbeddingCache (if any) sits underneath, this keeps the last ``keep`` embeddings of this image in
memory (least recently used dropped first).

Background scheduling: one worker thread takes slices from an ordered wish list. :meth:`focus` (the user
now looks at slice z) replaces the list: z first, then the neighbours, nearest first, further ahead in the
direction the user is scrolling, both ways at rest (:func:`prefetch_order`); slices dropped from the list
are cancelled (an encode already running finishes and is kept). :meth:`get` moves a slice someone waits
for to the front. The worker runs at background CPU priority (:mod:`samwidgets.priority`), so a decode
the user waits for is not slowed by a prefetch encode running beside it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Callable

from samwidgets.errors import SamwidgetsError
from samwidgets.models.protocol import model_errors
from samwidgets.priority import lower_this_thread


def prefetch_order(z: int, radius: int, direction: int, n_slices: int) -> list[int]:
    """Slices to embed when the user looks at slice z, in order: z, then its neighbours nearest first, to
    2·radius on both sides. Scrolling (direction +1 or -1), the slices ahead come first: ahead to 2·radius
    interleaved with behind to radius (ahead before behind at equal distance), then the rest behind, which
    a scroll that goes on replaces before they are reached; at rest (direction 0) both sides alternate.
    Out of range slices are left out. The depth gives a scroll a lead: one encode (~0.4-0.8 s per slice
    on 2 CPU cores) can be longer than the time between two slices."""
    radius = max(int(radius), 0)
    step = 1 if direction >= 0 else -1
    first_behind = 2 * radius if direction == 0 else radius
    order = [z]
    for d in range(1, 2 * radius + 1):
        order.append(z + step * d)
        if d <= first_behind:
            order.append(z - step * d)
    order += [z - step * d for d in range(first_behind + 1, 2 * radius + 1)]
    return [zz for zz in order if 0 <= zz < n_slices]


class Embedder:
    """Embeds slices z of ``get_slice(z)`` with ``predictor.encode``.

    background=False: :meth:`get` encodes in the calling thread. background=True: :meth:`request` and
    :meth:`focus` queue encodes for one worker thread, which calls ``on_ready(z, error)`` when each ends.
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
        self._queue: list[int] = []                    # wanted, not started: the worker takes the first
        self._running: int | None = None
        self._events: dict[int, threading.Event] = {}  # queued or running z -> set when it ends
        self._cond = threading.Condition(threading.RLock())
        self._lock = self._cond                        # one lock for all the state above
        self._closed = False
        self._last_focus: int | None = None
        self._worker: threading.Thread | None = None
        self.cancelled = 0   # queued encodes dropped by focus() (the user scrolled on)

    # -- queries -----------------------------------------------------------------------------
    def ready(self, z: int) -> bool:
        with self._lock:
            return z in self._done

    def pending(self, z: int) -> bool:
        """Queued or being encoded in the background."""
        with self._lock:
            return z in self._events

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

    def status(self, z: int) -> str:
        """"ready" | "embedding" | "error" | "not embedded" for slice z."""
        with self._lock:
            if z in self._done:
                return "ready"
            if z in self._events:
                return "embedding"
            if z in self._errors:
                return "error"
        return "not embedded"

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

    def _work(self) -> None:
        """The worker thread (at background CPU priority, samwidgets.priority: a decode for the user's
        click or box gets the cores first): encode the first wanted slice until closed."""
        lower_this_thread()
        while True:
            with self._cond:
                while not self._queue and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                z = self._running = self._queue.pop(0)
            err = None
            try:
                self._encode(z)
            except SamwidgetsError as exc:
                err = exc
            except Exception as exc:  # noqa: BLE001 - model_errors wraps model failures; keep the worker alive
                err = SamwidgetsError(f"encoding slice {z} failed: {type(exc).__name__}: {exc}")
            finally:
                with self._cond:
                    if err is not None:
                        self._errors[z] = err
                    self._running = None
                    event = self._events.pop(z, None)
                    self._cond.notify_all()
                if event is not None:
                    event.set()  # waiters in get() go on without waiting for the on_ready listeners
            if self.on_ready is not None:
                try:
                    self.on_ready(z, err)
                except Exception:  # a listener bug must not kill the worker
                    pass

    def _enqueue(self, order: list[int]) -> None:
        """Make ``order`` (minus ready and running slices) the wish list; drop the rest. Lock held."""
        wanted = [z for z in order if z not in self._done and z != self._running]
        for z in self._queue:
            if z not in wanted:
                self.cancelled += 1
                event = self._events.pop(z, None)
                if event is not None:
                    event.set()
        self._queue = wanted
        for z in wanted:
            self._errors.pop(z, None)
            self._events.setdefault(z, threading.Event())
        if self._worker is None and wanted and not self._closed:
            self._worker = threading.Thread(target=self._work, name="samwidgets-embed", daemon=True)
            self._worker.start()
        self._cond.notify_all()

    def request(self, z: int) -> None:
        """Make sure slice z gets embedded (appended to the wish list in the background, or right now when
        not background)."""
        if not 0 <= z < self.n_slices:
            return
        if self.background:
            with self._lock:
                if z not in self._done and z not in self._events and not self._closed:
                    self._enqueue(self._queue + [z])
            return
        if not self.ready(z):
            self._encode(z)

    def get(self, z: int):
        """The embedding of slice z, encoding it (or waiting for the background encode, moved to the front
        of the queue) if needed."""
        emb = self.peek(z)
        if emb is not None:
            return emb
        while True:
            with self._lock:
                event = self._events.get(z)
                if event is not None and z in self._queue and self._queue[0] != z:
                    self._queue.remove(z)
                    self._queue.insert(0, z)
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

    def focus(self, z: int, radius: int) -> None:
        """The user now looks at slice z: the wish list becomes :func:`prefetch_order` (z first, further
        ahead in the scroll direction); queued slices not in it are cancelled. Memory stays bounded by
        ``keep`` embeddings."""
        if not self.background:
            return
        with self._lock:
            last, self._last_focus = self._last_focus, int(z)
            direction = 0 if last is None or last == z else (1 if z > last else -1)
            if not self._closed:
                self._enqueue(prefetch_order(int(z), radius, direction, self.n_slices))

    def wait(self, timeout: float | None = None) -> None:
        """Block until every queued encode has finished (or ``timeout`` seconds have passed)."""
        with self._cond:
            self._cond.wait_for(lambda: not self._queue and self._running is None, timeout)

    def close(self) -> None:
        """Stop the worker: queued encodes are dropped and anyone waiting for them goes on (an encode
        already running ends on its own; its result is dropped with the worker)."""
        with self._cond:
            self._closed = True
            self._queue = []
            events, self._events = list(self._events.values()), {}
            self._cond.notify_all()
        for event in events:
            event.set()
