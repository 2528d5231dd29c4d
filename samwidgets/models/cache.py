"""EmbeddingCache: an in-memory LRU bounded in bytes in front of a signed on-disk store.

``BasePredictor.encode`` calls ``cache.get(key, device=...)`` and, on a miss, ``cache.put(key, features)``,
where ``features`` maps names to torch tensors (e.g. ``{"image_embed": (1, 256, 64, 64) float32}``) and the
key is a sha256 hex digest of the preprocessed slice, model name, weights hash and preprocessing version
(:func:`samwidgets.models.base_predictor.embedding_key`).

Memory tier: tensors are kept as handed to ``put`` (on the predictor's device); the bound is the sum of
their ``nbytes``; the least-recently used entries are evicted first, and an entry larger than the whole
bound is never kept in memory (it still goes to disk). Returned tensors are shared with the cache: do
not modify them in place.

Disk tier: one file per key, ``<directory>/<key[:2]>/<key>.swe``: a JSON header (format version, key,
model, tensor names/dtypes/shapes) and the raw tensor bytes, signed with HMAC-SHA256 under a per-cache
secret (``<directory>/secret.key``, 32 random bytes, created 0600 on first use); no pickle anywhere. The
format is in :mod:`samwidgets.models.cache_format`. A torn, truncated, bit-flipped or foreign entry
(another cache's secret, another format, another key) fails verification: it is deleted, counted in
``stats["corrupt_dropped"]`` and reported as a miss, so the caller recomputes. Writes go to a temporary
file in the same folder, are fsync'ed and then ``os.replace``'d into place, so a reader never sees a
half-written entry; a crash leaves at most a ``*.part`` file, which is never read as an entry and is
removed by :meth:`EmbeddingCache.clear`, or at the next first use of the folder by any process once its
writer (the process id in its name) is dead and it is older than :data:`STALE_TMP_SECONDS`. Entries and
the secret are written mode 0600; a secret not owned by the current user or readable by others is refused
(:func:`~samwidgets.models.cache_format.load_or_create_secret`). Only regular files are opened: a FIFO or
device in the folder is a :class:`CacheError` naming it (``clear()`` without a model removes it).

``fp16_on_disk=True`` stores float32/float64 tensors as float16 (half the disk space); they are restored
to their original dtype on read, but their VALUES CHANGE SLIGHTLY (float16 rounding, relative error up to
about 5e-4), so masks decoded from them may differ from freshly encoded ones in rare boundary pixels.
Tensors with values beyond the float16 range are stored at full precision.

Thread safety: one lock guards the memory tier and the counters, so the viewer's background
pre-embedding thread and the UI thread can share one cache; disk writes are atomic per file, so several
processes may share a directory.
"""

from __future__ import annotations

import os
import re
import threading
import warnings
from collections import OrderedDict
from pathlib import Path

from samwidgets.atomic import fsync_dir
from samwidgets.errors import CacheError
from samwidgets.models.cache_format import (
    SECRET_NAME,
    STALE_TMP_SECONDS,
    TMP_SUFFIX,
    CorruptEntry,
    decode_entry,
    encode_entry,
    load_or_create_secret,
    open_regular,
    peek_header,
    remove_dead_writers_temporaries,
)
from samwidgets.paths import cache_root

__all__ = ["EmbeddingCache", "ModelCache", "default_cache_dir", "SECRET_NAME"]

SUFFIX = ".swe"
DEFAULT_MEMORY_BYTES = 1 << 30  # 1 GiB: ~256 SAM/LiteMedSAM embeddings (4 MiB each)
_KEY_RE = re.compile(r"[0-9a-f]{16,128}")


def default_cache_dir() -> Path:
    """``$SAMWIDGETS_CACHE_DIR/embeddings``, else ``~/.cache/samwidgets/embeddings``."""
    return cache_root() / "embeddings"


def _tensor_nbytes(features: dict) -> int:
    return int(sum(t.element_size() * t.nelement() for t in features.values()))


def _torch():
    import torch  # lazy: `samwidgets cache info/clear` must not pay for torch

    return torch


class EmbeddingCache:
    """Memory LRU (bounded in bytes) + signed on-disk store of encoder features; see module docstring.

    directory:    on-disk store (default :func:`default_cache_dir`); created on first use.
    memory_bytes: bound of the memory tier, in bytes of tensor data (0 disables the memory tier).
    disk:         False keeps everything in memory only (no directory is touched).
    fp16_on_disk: store floating tensors as float16 on disk (values change slightly; see above).
    """

    def __init__(
        self,
        directory: str | os.PathLike | None = None,
        *,
        memory_bytes: int = DEFAULT_MEMORY_BYTES,
        disk: bool = True,
        fp16_on_disk: bool = False,
    ):
        if int(memory_bytes) < 0:
            raise CacheError(f"memory_bytes must be >= 0, got {memory_bytes}")
        self.directory = Path(directory).expanduser() if directory is not None else default_cache_dir()
        self.memory_bytes = int(memory_bytes)
        self.disk = bool(disk)
        self.fp16_on_disk = bool(fp16_on_disk)
        self._lock = threading.RLock()
        self._memory: OrderedDict[str, tuple[dict, int, str | None]] = OrderedDict()
        self._bytes = 0
        self._secret: bytes | None = None
        self._counts = {"hits_memory": 0, "hits_disk": 0, "misses": 0, "corrupt_dropped": 0,
                        "disk_writes": 0, "write_errors": 0}

    # -- public API ---------------------------------------------------------------------------
    @property
    def stats(self) -> dict[str, int]:
        """A snapshot: hits_memory, hits_disk, misses, corrupt_dropped, disk_writes, write_errors,
        bytes_in_memory, entries_in_memory."""
        with self._lock:
            return dict(self._counts, bytes_in_memory=self._bytes, entries_in_memory=len(self._memory))

    def get(self, key: str, *, device=None) -> dict | None:
        """Features stored under ``key`` moved to ``device`` (None: memory hits as stored, disk hits on
        CPU), or None on a miss. A corrupt disk entry is dropped and counted, and reads as a miss."""
        key = self._check_key(key)
        with self._lock:
            item = self._memory.get(key)
            if item is not None:
                self._memory.move_to_end(key)
                self._counts["hits_memory"] += 1
                return self._to_device(item[0], device)
        features, model = self._read(key) if self.disk else (None, None)
        with self._lock:
            if features is None:
                self._counts["misses"] += 1
                return None
            self._counts["hits_disk"] += 1
        features = self._to_device(features, device)
        self._remember(key, features, model)
        return dict(features)

    def put(self, key: str, features: dict, *, model: str | None = None) -> None:
        """Store ``features`` (name -> torch.Tensor) under ``key`` in memory and, unless present, on disk.
        ``model`` (the registry name) is recorded in the disk header for :meth:`info` / :meth:`clear`.

        A failed disk write (disk full, folder turned read-only) does not fail the caller, whose features
        are still good: it warns (RuntimeWarning), counts ``stats["write_errors"]`` and leaves no file."""
        key = self._check_key(key)
        torch = _torch()
        if not isinstance(features, dict) or not features:
            raise CacheError("features must be a non-empty dict of tensors", where=key)
        for name, value in features.items():
            if not isinstance(name, str) or not isinstance(value, torch.Tensor):
                raise CacheError(f"feature {name!r} is not a torch.Tensor ({type(value).__name__})", where=key)
        features = {name: t.detach() for name, t in features.items()}
        self._remember(key, features, model)
        if self.disk and not self._path(key).exists():
            try:
                self._write(key, features, model)
            except CacheError as exc:
                with self._lock:
                    self._counts["write_errors"] += 1
                warnings.warn(f"embedding not saved to disk: {exc}", RuntimeWarning, stacklevel=2)

    def verify(self, key: str) -> bool:
        """Whether ``key`` has a memory entry or a disk entry that passes full verification (signature,
        header, sizes); a corrupt disk entry is dropped and counted, so this returns False and the caller
        recomputes. Costs one read and HMAC of the file (milliseconds), far less than an encode."""
        key = self._check_key(key)
        with self._lock:
            if key in self._memory:
                return True
        return self.disk and self._read(key)[0] is not None

    def contains(self, key: str) -> bool:
        """Whether ``key`` is in memory or has a disk entry (existence only; nothing is decoded or verified)."""
        key = self._check_key(key)
        with self._lock:
            if key in self._memory:
                return True
        return self.disk and self._path(key).is_file()

    def bound(self, model: str) -> "ModelCache":
        """A view of this cache that records ``model`` in every entry it writes (for :meth:`info` and
        ``clear(model=...)``); hand it to ``samwidgets.models.load(name, cache=...)``."""
        return ModelCache(self, model)

    def info(self) -> dict:
        """Disk store summary: directory, entries, bytes_on_disk, per-model entry counts ("unknown" when
        no model was recorded), stale temporary files, and the memory tier's counters."""
        entries, size, per_model, stale = 0, 0, {}, 0
        self._check_directory()
        if self.disk and self.directory.is_dir():
            for path in self._entry_files(include_tmp=True):
                if path.name.endswith(TMP_SUFFIX):
                    stale += 1
                    continue
                try:
                    size += path.stat().st_size
                except OSError:
                    continue
                entries += 1
                model = (peek_header(path) or {}).get("model") or "unknown"
                per_model[model] = per_model.get(model, 0) + 1
        return {"directory": str(self.directory), "entries": entries, "bytes_on_disk": size,
                "models": dict(sorted(per_model.items())), "stale_tmp_files": stale, **self.stats}

    def clear(self, *, model: str | None = None) -> int:
        """Remove entries (all, or only those whose header names ``model``) from memory and disk, plus any
        stale temporary files. Returns the number of disk entries removed. The secret is kept."""
        removed = 0
        self._check_directory()
        with self._lock:
            for key in [k for k, item in self._memory.items() if model is None or item[2] == model]:
                self._forget(key)
        if self.disk and self.directory.is_dir():
            for path in self._entry_files(include_tmp=True):
                is_tmp = path.name.endswith(TMP_SUFFIX)
                if model is not None and (is_tmp or (peek_header(path) or {}).get("model") != model):
                    continue
                try:
                    path.unlink()
                except FileNotFoundError:
                    continue
                except OSError as exc:
                    raise CacheError(f"cannot remove cache entry: {exc}", where=path) from exc
                if not is_tmp:
                    removed += 1
                    if model is not None:
                        self._forget(path.name[: -len(SUFFIX)])
        return removed

    # -- memory tier --------------------------------------------------------------------------
    def _remember(self, key: str, features: dict, model: str | None) -> None:
        size = _tensor_nbytes(features)
        with self._lock:
            old = self._memory.get(key)
            model = model if model is not None or old is None else old[2]
            self._forget(key)
            if size > self.memory_bytes:
                return  # larger than the whole bound: disk only
            self._memory[key] = (dict(features), size, model)
            self._bytes += size
            while self._bytes > self.memory_bytes:
                _, (_, evicted, _) = self._memory.popitem(last=False)
                self._bytes -= evicted

    def _forget(self, key: str) -> None:
        with self._lock:
            item = self._memory.pop(key, None)
            if item is not None:
                self._bytes -= item[1]

    @staticmethod
    def _to_device(features: dict, device) -> dict:
        if device is None or device == "auto":
            return dict(features)
        return {name: t.to(device) for name, t in features.items()}

    # -- disk tier ----------------------------------------------------------------------------
    @staticmethod
    def _check_key(key: str) -> str:
        if not isinstance(key, str) or not _KEY_RE.fullmatch(key):
            raise CacheError(f"invalid cache key {key!r} (expected a lowercase hex digest)")
        return key

    def _path(self, key: str) -> Path:
        return self.directory / key[:2] / f"{key}{SUFFIX}"

    def _entry_files(self, *, include_tmp: bool):
        for sub in sorted(self.directory.iterdir()):
            if not sub.is_dir() or len(sub.name) != 2:
                continue
            for path in sorted(sub.iterdir()):
                if path.name.endswith(SUFFIX) or (include_tmp and path.name.endswith(TMP_SUFFIX)):
                    yield path

    def _check_directory(self) -> None:
        if self.disk and self.directory.exists() and not self.directory.is_dir():
            raise CacheError("the embedding cache folder is a file, not a folder", where=self.directory)

    def _ensure_secret(self) -> bytes:
        if self._secret is None:
            self._check_directory()
            self._secret = load_or_create_secret(self.directory)
            self.remove_stale_temporaries()
        return self._secret

    def remove_stale_temporaries(self, *, min_age: float = STALE_TMP_SECONDS) -> int:
        """Delete ``*.part`` files left by writers that died (kill -9, power loss): the process id in the
        name is not running on this machine and the file is older than ``min_age`` seconds. Run once at
        the first disk use of each cache object. Returns how many were removed."""
        if not self.directory.is_dir():
            return 0
        paths = list(self.directory.glob(f"*{TMP_SUFFIX}")) + list(self._entry_files(include_tmp=True))
        return remove_dead_writers_temporaries(paths, min_age=min_age)

    def _write(self, key: str, features: dict, model: str | None) -> None:
        data = encode_entry(key, features, model, self._ensure_secret(), fp16=self.fp16_on_disk)
        final = self._path(key)
        tmp = final.parent / f".{key}.{os.getpid()}.{threading.get_ident()}{TMP_SUFFIX}"
        try:
            final.parent.mkdir(parents=True, exist_ok=True)
            tmp.unlink(missing_ok=True)  # a leftover of a dead thread with our ids: O_EXCL below
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, final)
            fsync_dir(final.parent)
        except OSError as exc:
            raise CacheError(f"cannot write embedding to the cache: {exc}", where=final) from exc
        finally:  # also on Ctrl-C: no temporary file is left behind
            try:
                tmp.unlink(missing_ok=True)
            except OSError:
                pass
        with self._lock:
            self._counts["disk_writes"] += 1

    def _read(self, key: str) -> tuple[dict | None, str | None]:
        path = self._path(key)
        try:
            with os.fdopen(open_regular(path), "rb") as fh:
                ident = os.fstat(fh.fileno())
                data = bytearray(ident.st_size)  # decoded tensors view this buffer: no second copy
                complete = fh.readinto(data) == ident.st_size
        except FileNotFoundError:
            return None, None
        except OSError as exc:
            raise CacheError(f"cannot read cache entry: {exc}", where=path) from exc
        try:
            if not complete:
                raise CorruptEntry("file shorter than its size")
            return decode_entry(key, data, self._ensure_secret())
        except CorruptEntry:
            self._drop(path, ident)
            return None, None

    def _drop(self, path: Path, ident: os.stat_result) -> None:
        """Delete a corrupt entry unless another writer has replaced it since we read it."""
        try:
            now = os.stat(path)
            if (now.st_ino, now.st_mtime_ns, now.st_size) == (ident.st_ino, ident.st_mtime_ns, ident.st_size):
                path.unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise CacheError(f"corrupt cache entry cannot be removed: {exc}", where=path) from exc
        with self._lock:
            self._counts["corrupt_dropped"] += 1


class ModelCache:
    """``get`` / ``put`` / ``contains`` of an :class:`EmbeddingCache`, with ``put`` tagging one model."""

    def __init__(self, cache: EmbeddingCache, model: str):
        self.cache = cache
        self.model = model

    def get(self, key: str, *, device=None) -> dict | None:
        return self.cache.get(key, device=device)

    def put(self, key: str, features: dict, *, model: str | None = None) -> None:
        self.cache.put(key, features, model=model or self.model)

    def contains(self, key: str) -> bool:
        return self.cache.contains(key)

    def verify(self, key: str) -> bool:
        return self.cache.verify(key)

    @property
    def stats(self) -> dict[str, int]:
        return self.cache.stats
