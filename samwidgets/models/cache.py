"""EmbeddingCache: an in-memory LRU bounded in bytes in front of a signed on-disk store.

``BasePredictor.encode`` calls ``cache.get(key, device=...)`` and, on a miss, ``cache.put(key, features)``,
where ``features`` maps names to torch tensors (e.g. ``{"image_embed": (1, 256, 64, 64) float32}``) and the
key is a sha256 hex digest of the preprocessed slice, model name, weights hash and preprocessing version
(:func:`samwidgets.models.predictor.embedding_key`).

Memory tier: tensors are kept as handed to ``put`` (on the predictor's device); the bound is the sum of
their ``nbytes``; the least-recently used entries are evicted first, and an entry larger than the whole
bound is never kept in memory (it still goes to disk). Returned tensors are shared with the cache: do
not modify them in place.

Disk tier: one file per key, ``<directory>/<key[:2]>/<key>.swe``, laid out as::

    MAGIC (8 bytes) | header length (uint32 little-endian) | header (UTF-8 JSON) | payload | tag (32 bytes)

The JSON header holds the format version, the key, the model name (when given), the creation time and,
per tensor, its name, dtype, shape, stored dtype, offset and byte length in the payload; the payload is
the raw little-endian tensor bytes (no pickle anywhere). ``tag`` is HMAC-SHA256 over everything before
it, keyed with a per-cache secret (``<directory>/secret.key``, 32 random bytes, created 0600 on first
use). A torn, truncated, bit-flipped or foreign entry (another cache's secret, another format, another
key) therefore fails verification: it is deleted, counted in ``stats["corrupt_dropped"]`` and reported
as a miss, so the caller recomputes. Writes go to a temporary file in the same folder, are fsync'ed and
then ``os.replace``'d into place, so a reader never sees a half-written entry; a crash leaves at most a
``*.part`` file, which is never read as an entry and is removed by :meth:`EmbeddingCache.clear`.

``fp16_on_disk=True`` stores float32/float64 tensors as float16 (half the disk space); they are restored
to their original dtype on read, but their VALUES CHANGE SLIGHTLY (float16 rounding, relative error up to
about 5e-4), so masks decoded from them may differ from freshly encoded ones in rare boundary pixels.
Tensors with values beyond the float16 range are stored at full precision.

Thread safety: one lock guards the memory tier and the counters, so the viewer's background
pre-embedding thread and the UI thread can share one cache; disk writes are atomic per file, so several
processes may share a directory.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import struct
import sys
import threading
import time
import warnings
from collections import OrderedDict
from pathlib import Path

from samwidgets.errors import CacheError

MAGIC = b"SWEMB\x00\x01\n"
FORMAT_VERSION = 1
SUFFIX = ".swe"
TMP_SUFFIX = ".part"
SECRET_NAME = "secret.key"
TAG_BYTES = 32
DEFAULT_MEMORY_BYTES = 1 << 30  # 1 GiB: ~256 SAM/LiteMedSAM embeddings (4 MiB each)
_KEY_RE = re.compile(r"^[0-9a-f]{16,128}$")
_FP16_MAX = 65504.0
_PREFIX = struct.Struct("<I")


def default_cache_dir() -> Path:
    """``$SAMWIDGETS_CACHE_DIR/embeddings``, else ``~/.cache/samwidgets/embeddings``."""
    root = os.environ.get("SAMWIDGETS_CACHE_DIR")
    base = Path(root).expanduser() if root else Path.home() / ".cache" / "samwidgets"
    return base / "embeddings"


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

    def contains(self, key: str) -> bool:
        """Whether ``key`` is in memory or has a disk entry (existence only; nothing is decoded or verified)."""
        key = self._check_key(key)
        with self._lock:
            if key in self._memory:
                return True
        return self.disk and self._path(key).is_file()

    def info(self) -> dict:
        """Disk store summary: directory, entries, bytes_on_disk, per-model entry counts ("unknown" when
        no model was recorded), stale temporary files, and the memory tier's counters."""
        entries, size, per_model, stale = 0, 0, {}, 0
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
                model = (self._peek_header(path) or {}).get("model") or "unknown"
                per_model[model] = per_model.get(model, 0) + 1
        return {"directory": str(self.directory), "entries": entries, "bytes_on_disk": size,
                "models": dict(sorted(per_model.items())), "stale_tmp_files": stale, **self.stats}

    def clear(self, *, model: str | None = None) -> int:
        """Remove entries (all, or only those whose header names ``model``) from memory and disk, plus any
        stale temporary files. Returns the number of disk entries removed. The secret is kept."""
        removed = 0
        with self._lock:
            for key in [k for k, item in self._memory.items() if model is None or item[2] == model]:
                self._forget(key)
        if self.disk and self.directory.is_dir():
            for path in self._entry_files(include_tmp=True):
                is_tmp = path.name.endswith(TMP_SUFFIX)
                if model is not None and (is_tmp or (self._peek_header(path) or {}).get("model") != model):
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
        if not isinstance(key, str) or not _KEY_RE.match(key):
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

    def _ensure_secret(self) -> bytes:
        if self._secret is not None:
            return self._secret
        path = self.directory / SECRET_NAME
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            if not path.exists():
                tmp = self.directory / f".{SECRET_NAME}.{os.getpid()}.{threading.get_ident()}{TMP_SUFFIX}"
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                try:
                    os.write(fd, os.urandom(32))
                    os.fsync(fd)
                finally:
                    os.close(fd)
                try:
                    os.link(tmp, path)  # atomic, fails if another process published first
                except FileExistsError:
                    pass
                except OSError:
                    if not path.exists():
                        os.replace(tmp, path)
                finally:
                    tmp.unlink(missing_ok=True)
            secret = path.read_bytes()
        except OSError as exc:
            raise CacheError(f"cannot use the embedding cache directory: {exc}", where=self.directory) from exc
        if len(secret) != 32:
            raise CacheError(f"cache secret has {len(secret)} bytes, expected 32; delete it to start afresh",
                             where=path)
        self._secret = secret
        return secret

    def _encode(self, key: str, features: dict, model: str | None) -> bytes:
        torch = _torch()
        tensors, blobs, offset = [], [], 0
        for name, t in features.items():
            src = t.detach().to("cpu").contiguous()
            stored = src
            if (self.fp16_on_disk and src.dtype in (torch.float32, torch.float64)
                    and (src.numel() == 0 or bool(src.abs().max() <= _FP16_MAX))):
                stored = src.to(torch.float16)
            raw = stored.reshape(-1).view(torch.uint8).numpy().tobytes() if stored.numel() else b""
            tensors.append({"name": name, "dtype": str(src.dtype).replace("torch.", ""),
                            "stored": str(stored.dtype).replace("torch.", ""), "shape": list(src.shape),
                            "offset": offset, "nbytes": len(raw)})
            blobs.append(raw)
            offset += len(raw)
        header = json.dumps({"format": FORMAT_VERSION, "key": key, "model": model, "created": time.time(),
                             "byteorder": sys.byteorder, "tensors": tensors}, sort_keys=True).encode()
        body = MAGIC + _PREFIX.pack(len(header)) + header + b"".join(blobs)
        return body + hmac.new(self._ensure_secret(), body, hashlib.sha256).digest()

    def _write(self, key: str, features: dict, model: str | None) -> None:
        data = self._encode(key, features, model)
        final = self._path(key)
        tmp = final.parent / f".{key}.{os.getpid()}.{threading.get_ident()}{TMP_SUFFIX}"
        try:
            final.parent.mkdir(parents=True, exist_ok=True)
            with open(tmp, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, final)
            _fsync_dir(final.parent)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise CacheError(f"cannot write embedding to the cache: {exc}", where=final) from exc
        with self._lock:
            self._counts["disk_writes"] += 1

    def _read(self, key: str) -> tuple[dict | None, str | None]:
        path = self._path(key)
        try:
            with open(path, "rb") as fh:
                data = fh.read()
                ident = os.fstat(fh.fileno())
        except FileNotFoundError:
            return None, None
        except OSError as exc:
            raise CacheError(f"cannot read cache entry: {exc}", where=path) from exc
        try:
            return self._decode(key, data)
        except _Corrupt:
            self._drop(path, ident)
            return None, None

    def _decode(self, key: str, data: bytes) -> tuple[dict, str | None]:
        torch = _torch()
        head = len(MAGIC) + _PREFIX.size
        if len(data) < head + TAG_BYTES or not data.startswith(MAGIC):
            raise _Corrupt("bad magic or too short")
        (hlen,) = _PREFIX.unpack_from(data, len(MAGIC))
        if head + hlen + TAG_BYTES > len(data):
            raise _Corrupt("header length past end of file")
        body, tag = data[:-TAG_BYTES], data[-TAG_BYTES:]
        if not hmac.compare_digest(hmac.new(self._ensure_secret(), body, hashlib.sha256).digest(), tag):
            raise _Corrupt("signature mismatch")
        try:
            header = json.loads(body[head: head + hlen])
            if header["format"] != FORMAT_VERSION or header["key"] != key:
                raise _Corrupt("format or key mismatch")
            if header.get("byteorder") != sys.byteorder:
                raise _Corrupt("written on a machine of the other byte order")
            payload = memoryview(body)[head + hlen:]
            out = {}
            for spec in header["tensors"]:
                stored = getattr(torch, spec["stored"])
                dtype = getattr(torch, spec["dtype"])
                start, n = int(spec["offset"]), int(spec["nbytes"])
                if start < 0 or start + n > len(payload):
                    raise _Corrupt("tensor past end of payload")
                buf = bytearray(payload[start:start + n])
                t = torch.frombuffer(buf, dtype=stored) if n else torch.empty(0, dtype=stored)
                out[spec["name"]] = t.reshape(spec["shape"]).to(dtype)
            return out, header.get("model")
        except _Corrupt:
            raise
        except Exception as exc:  # malformed header that was nevertheless signed: treat as corrupt
            raise _Corrupt(str(exc)) from exc

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

    @staticmethod
    def _peek_header(path: Path) -> dict | None:
        """The JSON header of an entry, unverified (for info/clear only), or None if unreadable."""
        try:
            with open(path, "rb") as fh:
                start = fh.read(len(MAGIC) + _PREFIX.size)
                if len(start) < len(MAGIC) + _PREFIX.size or not start.startswith(MAGIC):
                    return None
                (hlen,) = _PREFIX.unpack_from(start, len(MAGIC))
                if hlen > 1 << 20:
                    return None
                header = json.loads(fh.read(hlen))
            return header if isinstance(header, dict) else None
        except (OSError, ValueError):
            return None


class _Corrupt(Exception):
    """Internal: a disk entry failed verification."""


def _fsync_dir(folder: Path) -> None:
    """Make a rename durable (POSIX); silently skipped where directories cannot be opened."""
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
