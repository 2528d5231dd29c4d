"""Atomic file writes: user work (masks, prompt logs, autosaves, results, cached embeddings, checkpoints)
is never seen half-written.

Everything is written to a temporary file in the target's own folder, flushed to disk (fsync), then moved
onto the target with ``os.replace`` (atomic on POSIX and Windows). On any failure, KeyboardInterrupt
included, the temporary file is removed and the previous target, if any, stays as it was.
Standard library only, so every layer may use it.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Callable


def fsync_dir(folder: str | os.PathLike) -> None:
    """Make a rename in ``folder`` durable (POSIX); silently skipped where a folder cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _fsync_file(path: str) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def atomic_write(path: str | os.PathLike, write: Callable[[Path], None], *, suffix: str | None = None) -> Path:
    """Call ``write(tmp_path)`` to fill a temporary file beside ``path``, then move it onto ``path``.

    ``suffix`` is the temporary file's extension (some writers pick the format from it, e.g. nibabel
    needs ``.nii.gz``); by default the target's own suffix. Returns ``path`` as a Path.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix is None:
        suffix = ".nii.gz" if path.name.lower().endswith(".nii.gz") else path.suffix
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".tmp{suffix}", dir=str(path.parent))
    os.close(fd)
    try:
        write(Path(tmp))
        _fsync_file(tmp)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    fsync_dir(path.parent)
    return path


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Atomically replace ``path`` with ``text`` (UTF-8)."""
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_json_atomic(path: str | os.PathLike, data) -> Path:
    """Atomically replace ``path`` with ``data`` as indented JSON."""
    return write_text_atomic(path, json.dumps(data, indent=1))
