"""Autosave of a session's work (prompt log + accepted labels) to a directory, atomically.

Layout of the directory::

    session.json        {"format": "samwidgets.autosave", "version": 1, "log": <prompt log>,
                         "labels_file": "labels-000007.npy" | null, "label_names": [...]}
    labels-000007.npy   the label volume (uint16, same (z, y, x) / (y, x) shape as the image)

A save writes a new ``labels-<generation>.npy`` only when the labels changed, then replaces
``session.json`` atomically (temporary file + fsync + os.replace), and only then deletes older label files.
So at every instant ``session.json`` names a complete label file: a kernel crash loses at most the change
being written.

Saving is off the click path: :meth:`Autosaver.touch` marks the session dirty and a timer writes it
``delay`` seconds later (0.5 s by default, so edits in a burst cost one write); :meth:`Autosaver.flush`
writes at once (the Session flushes on accept, propagate, save, slice change, close and interpreter exit).
An acknowledged accept is therefore on disk before ``accept`` returns.

One writer per folder: the Autosaver holds an exclusive ``flock`` on ``.lock`` while it lives (the kernel
drops it when the process dies, kill -9 included). A second Autosaver on a locked folder raises
:class:`AutosaveInUse`; on taking the lock, temporaries (``.*.tmp*``) left by a dead writer are removed.
Where ``fcntl`` is missing (Windows) folders are not locked and temporaries older than an hour are removed.
"""

from __future__ import annotations

import atexit
import hashlib
import os
import re
import threading
import time
import weakref
from pathlib import Path
from typing import Callable

import numpy as np

from samwidgets.atomic import atomic_write, write_json_atomic
from samwidgets.errors import InputError
from samwidgets.paths import cache_root
from samwidgets.widgets.annotation import LABEL_MAX
from samwidgets.widgets.prompt_log import check_regular_file, read_json_file

FORMAT = "samwidgets.autosave"
SESSION_FILE = "session.json"   # the log and the name of the current label file, in the autosave folder
DEFAULT_DELAY = 0.5          # seconds from the last edit to the write (the issue asks for <= 1 s)
STALE_TMP_AGE = 3600.0       # without fcntl: a temporary this old belongs to a dead writer


class AutosaveInUse(InputError):
    """The autosave folder is held by another live session (another viewer of the same case)."""


def _lock(directory: Path):
    """An open file holding an exclusive flock on ``directory/.lock``; None where fcntl is missing.

    Raises AutosaveInUse when another open file (this process or another) holds it."""
    try:
        import fcntl
    except ImportError:
        return None
    path = directory / ".lock"
    check_regular_file(path, "the autosave lock file", missing_ok=True)
    try:
        handle = open(path, "a+")
    except OSError as exc:
        raise InputError(f"cannot open the autosave lock file: {exc.strerror or exc}", where=path) from None
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise AutosaveInUse("another open session autosaves to this folder", where=directory) from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle


def remove_stale_temporaries(directory: Path, *, locked: bool) -> list[str]:
    """Delete temporaries of dead writers (``.*.tmp*``): all of them when we hold the folder's lock (no
    live writer can own one), else only those older than STALE_TMP_AGE. Returns the names removed."""
    removed = []
    now = time.time()
    for p in directory.glob(".*.tmp*"):
        try:
            if locked or now - p.stat().st_mtime > STALE_TMP_AGE:
                p.unlink()
                removed.append(p.name)
        except OSError:
            pass
    return removed


def _flush_at_exit(ref) -> None:
    saver = ref()
    if saver is not None:
        try:
            saver.flush()
        except Exception:  # noqa: BLE001 - nothing to report to at interpreter exit
            pass


class Autosaver:
    """Writes and reads the autosave directory of one session.

    snapshot: ``() -> dict(log=..., labels=..., label_names=..., labels_version=...)`` called when a
    debounced save runs (in the timer thread) or on :meth:`flush`; needed for :meth:`touch`.
    """

    def __init__(self, directory, *, snapshot: Callable[[], dict] | None = None, delay: float = DEFAULT_DELAY):
        self.directory = Path(directory)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(f"cannot create the autosave directory: {exc}", where=self.directory) from None
        self._lock_handle = _lock(self.directory)
        self.removed_temporaries = remove_stale_temporaries(self.directory, locked=self._lock_handle is not None)
        self._generation = self._last_generation()
        self._labels_file: str | None = None
        self._labels_version: object = None
        self.snapshot = snapshot
        self.delay = float(delay)
        self._dirty = False
        self._timer: threading.Timer | None = None
        self._write_lock = threading.Lock()
        self._state_lock = threading.Lock()
        self._seq = self._written_seq = 0
        self.writes = 0
        self._atexit = weakref.ref(self)
        atexit.register(_flush_at_exit, self._atexit)

    # -- debounced saving ----------------------------------------------------------------------
    def touch(self) -> None:
        """Mark the session changed; a save runs ``delay`` seconds after the first untouched change."""
        with self._state_lock:
            self._dirty = True
            if self._timer is None:
                self._timer = threading.Timer(self.delay, self._timer_fired)
                self._timer.daemon = True
                self._timer.start()

    def _timer_fired(self) -> None:
        with self._state_lock:
            self._timer = None
        try:
            self.flush()
        except Exception:  # noqa: BLE001 - the next flush retries; a timer thread has no one to tell
            with self._state_lock:
                self._dirty = True

    @property
    def pending(self) -> bool:
        """True when a change has not been written yet."""
        return self._dirty

    def flush(self) -> bool:
        """Write now if anything changed since the last write; True when it wrote.

        Never call it while holding a lock that ``snapshot`` takes (the timer thread calls it too)."""
        with self._state_lock:
            if not self._dirty or self.snapshot is None:
                return False
            self._dirty = False
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            self._seq += 1
            seq = self._seq
        try:
            snap = self.snapshot()
            with self._write_lock:
                if seq < self._written_seq:  # a later snapshot is already on disk
                    return False
                self.save(**snap)
                self._written_seq = seq
        except BaseException:
            with self._state_lock:
                self._dirty = True
            raise
        self.writes += 1
        return True

    def close(self) -> None:
        """Flush, stop the timer and release the folder's lock."""
        try:
            self.flush()
        finally:
            if self._lock_handle is not None:
                try:
                    self._lock_handle.close()
                except OSError:
                    pass
                self._lock_handle = None

    def __del__(self):
        handle = getattr(self, "_lock_handle", None)
        if handle is not None:
            try:
                handle.close()
            except Exception:  # noqa: BLE001
                pass

    @property
    def session_file(self) -> Path:
        return self.directory / SESSION_FILE

    def _last_generation(self) -> int:
        gens = [int(p.stem.split("-")[1]) for p in self.directory.glob("labels-*.npy") if p.stem.split("-")[1].isdigit()]
        return max(gens, default=0)

    def save(self, *, log: dict, labels, label_names: list[str], labels_version: object) -> None:
        """Save the log and, when ``labels_version`` differs from the last save, a new label file.

        labels: the label array, or a callable returning it (called only when a label file is written)."""
        if labels_version != self._labels_version or self._labels_file is None:
            data = labels() if callable(labels) else labels
            self._generation += 1
            name = f"labels-{self._generation:06d}.npy"
            atomic_write(self.directory / name, lambda tmp: np.save(tmp, data), suffix=".npy")
            self._labels_file, self._labels_version = name, labels_version
        write_json_atomic(
            self.session_file,
            {"format": FORMAT, "version": 1, "log": log, "labels_file": self._labels_file,
             "label_names": list(label_names)},
        )
        for old in self.directory.glob("labels-*.npy"):
            if old.name != self._labels_file:
                try:
                    old.unlink()
                except OSError:
                    pass

    def load(self) -> tuple[dict, np.ndarray | None, list[str]] | None:
        """(log, labels or None, label_names) from the directory, or None when nothing was saved yet."""
        loaded = read_autosave(self.directory)
        if loaded is not None:
            self._labels_file = loaded[3]
        return None if loaded is None else loaded[:3]


def read_autosave(directory) -> tuple[dict, np.ndarray | None, list[str], str | None] | None:
    """(log, labels or None, label_names, labels file name) of an autosave folder (no lock taken), or None
    when it holds no ``session.json``. InputError naming the file when it is unreadable: not a regular file
    (checked before opening, so a FIFO cannot block), larger than prompt_log.MAX_LOG_BYTES, not JSON (nesting too
    deep included), not an autosave, or labels that are not a label volume (:func:`check_label_array`)."""
    d = Path(directory)
    session_file = d / SESSION_FILE
    if not session_file.exists() and not session_file.is_symlink():
        return None
    data = read_json_file(session_file, "the autosave")
    if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("log"), dict):
        raise InputError("not a samwidgets autosave file", where=session_file)
    labels, name = None, data.get("labels_file")
    if name:
        path = d / Path(str(name)).name
        check_regular_file(path, "the autosaved labels file")
        try:
            labels = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise InputError(f"the autosaved labels are unreadable: {exc}", where=path) from None
        check_label_array(labels, path)
    names = data.get("label_names", [])
    if not (isinstance(names, list) and all(isinstance(n, str) for n in names)):
        raise InputError(f"label_names must be a list of strings, got {names!r:.80}", where=session_file)
    if labels is not None and labels.size and int(labels.max()) > len(names):
        raise InputError(f"the autosaved labels use ids up to {int(labels.max())} but only {len(names)} label "
                         f"names are saved", where=path)
    return data["log"], labels, names, name


def check_label_array(labels: np.ndarray, path: Path) -> None:
    """InputError naming ``path`` unless ``labels`` is a (y, x) or (z, y, x) array of integer (or bool)
    label ids in 0..LABEL_MAX (the session's label volume type): a float, text or record array, or negative
    or too large ids, would be cast silently or fail on restore."""
    if labels.ndim not in (2, 3):
        raise InputError(f"the autosaved labels are {labels.ndim}-D, not a (y, x) or (z, y, x) label volume",
                         where=path)
    if labels.dtype.kind not in "biu":
        raise InputError(f"the autosaved labels are of type {labels.dtype}, not integer label ids", where=path)
    if labels.size and labels.dtype.kind != "b":
        lo, hi = int(labels.min()), int(labels.max())
        if lo < 0 or hi > LABEL_MAX:
            raise InputError(f"the autosaved label ids span {lo}..{hi}, outside 0..{LABEL_MAX}", where=path)


def _prompt_events(log: dict) -> list[dict]:
    events = log.get("events")
    return [e for e in events if isinstance(e, dict)] if isinstance(events, list) else []


def describe_autosave(directory) -> str:
    """"5 prompts on 2 slices, labels on 3 slices" for an autosave folder ("" when it holds none)."""
    try:
        loaded = read_autosave(directory)
    except InputError as exc:
        return f"an unreadable autosave ({exc.reason})"
    if loaded is None:
        return ""
    log, labels, _, _ = loaded
    prompts = [e for e in _prompt_events(log) if e.get("op") in ("click", "box", "set_prompt")]
    slices = {repr(e.get("slice")) for e in prompts}  # repr: a corrupt log may hold unhashable values
    if labels is None or not labels.any():
        labelled = "no labels"
    elif labels.ndim == 3:
        labelled = f"labels on {int(labels.reshape(len(labels), -1).any(axis=1).sum())} slices"
    else:
        labelled = f"{int(np.count_nonzero(labels))} labelled pixels"
    return f"{len(prompts)} prompts on {len(slices)} slices, {labelled}"


def set_aside_autosave(directory) -> Path | None:
    """Rename an existing autosave directory to ``<name>-<YYYYmmdd-HHMMSS>`` so that a fresh session does
    not overwrite it; returns the new path, or None when there was nothing to keep."""
    d = Path(directory)
    if not (d / SESSION_FILE).exists():
        return None
    handle = _lock(d)   # AutosaveInUse when a live session writes there: never rename a folder in use
    if handle is not None:
        handle.close()
    target = d.with_name(f"{d.name}-{time.strftime('%Y%m%d-%H%M%S')}")
    n = 1
    while target.exists():
        target, n = d.with_name(f"{d.name}-{time.strftime('%Y%m%d-%H%M%S')}-{n}"), n + 1
    d.rename(target)
    return target


def default_autosave_dir(opened) -> Path | None:
    """``$SAMWIDGETS_CACHE_DIR/autosave/<name>`` (else ~/.cache/samwidgets/...) for a case or a file:
    name = the case key, or the file name plus a hash of its full path; None for an in-memory array."""
    if opened.case_key:
        name = opened.case_key
    elif getattr(opened.image, "path", None):
        p = str(Path(opened.image.path).resolve())
        name = f"{Path(p).name}-{hashlib.sha1(p.encode()).hexdigest()[:10]}"
    else:
        return None
    return cache_root() / "autosave" / re.sub(r"[^A-Za-z0-9._-]+", "_", name)
