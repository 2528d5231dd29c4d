"""Autosave of a session's work (prompt log + accepted labels) to a directory, atomically.

Layout of the directory::

    session.json        {"format": "samwidgets.autosave", "version": 1, "log": <prompt log>,
                         "labels_file": "labels-000007.npy" | null, "label_names": [...]}
    labels-000007.npy   the label volume (uint16, same (z, y, x) / (y, x) shape as the image)

A save writes a new ``labels-<generation>.npy`` only when the labels changed, then replaces
``session.json`` atomically (temporary file + fsync + os.replace), and only then deletes older label files.
So at every instant ``session.json`` names a complete label file: a kernel crash loses at most the change
being written.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from pathlib import Path

import numpy as np

from samwidgets.atomic import atomic_write, write_json_atomic
from samwidgets.errors import InputError
from samwidgets.paths import cache_root

FORMAT = "samwidgets.autosave"


class Autosaver:
    """Writes and reads the autosave directory of one session."""

    def __init__(self, directory):
        self.directory = Path(directory)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(f"cannot create the autosave directory: {exc}", where=self.directory) from None
        self._generation = self._last_generation()
        self._labels_file: str | None = None
        self._labels_version: object = None

    @property
    def session_file(self) -> Path:
        return self.directory / "session.json"

    def _last_generation(self) -> int:
        gens = [int(p.stem.split("-")[1]) for p in self.directory.glob("labels-*.npy") if p.stem.split("-")[1].isdigit()]
        return max(gens, default=0)

    def save(self, *, log: dict, labels: np.ndarray, label_names: list[str], labels_version: object) -> None:
        """Save the log and, when ``labels_version`` differs from the last save, a new label file."""
        if labels_version != self._labels_version or self._labels_file is None:
            self._generation += 1
            name = f"labels-{self._generation:06d}.npy"
            atomic_write(self.directory / name, lambda tmp: np.save(tmp, labels), suffix=".npy")
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
        if not self.session_file.exists():
            return None
        try:
            data = json.loads(self.session_file.read_text())
        except (OSError, ValueError) as exc:
            raise InputError(f"the autosave is unreadable: {exc}", where=self.session_file) from None
        if data.get("format") != FORMAT:
            raise InputError("not a samwidgets autosave file", where=self.session_file)
        labels = None
        if data.get("labels_file"):
            path = self.directory / data["labels_file"]
            try:
                labels = np.load(path, allow_pickle=False)
            except (OSError, ValueError) as exc:
                raise InputError(f"the autosaved labels are unreadable: {exc}", where=path) from None
            self._labels_file = data["labels_file"]
        return data["log"], labels, list(data.get("label_names", []))


def set_aside_autosave(directory) -> Path | None:
    """Rename an existing autosave directory to ``<name>-<YYYYmmdd-HHMMSS>`` so that a fresh session does
    not overwrite it; returns the new path, or None when there was nothing to keep."""
    d = Path(directory)
    if not (d / "session.json").exists():
        return None
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
