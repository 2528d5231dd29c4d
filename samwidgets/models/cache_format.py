"""The on-disk format of one embedding-cache entry, and the per-cache signing secret.

One file per key, laid out as::

    MAGIC (8 bytes) | header length (uint32 little-endian) | header (UTF-8 JSON) | payload | tag (32 bytes)

The JSON header holds the format version, the key, the model name (or null), the creation time, the byte
order and, per tensor, its name, dtype, shape, stored dtype, offset and byte length in the payload. The
payload is the tensors' raw bytes, concatenated; nothing is pickled. ``tag`` is HMAC-SHA256 over
everything before it, keyed with the cache's 32-byte secret, so a torn, truncated, bit-flipped or foreign
entry (another cache's secret, another format, filed under another key) fails :func:`decode_entry`.

With ``fp16=True`` float32/float64 tensors whose values fit float16 are stored as float16 and restored to
their dtype on read (values change slightly: relative error up to about 5e-4).
"""

from __future__ import annotations

import errno
import hashlib
import hmac
import json
import os
import re
import stat
import struct
import sys
import threading
import time
from pathlib import Path

from samwidgets.errors import CacheError

MAGIC = b"SWEMB\x00\x01\n"
FORMAT_VERSION = 1
TAG_BYTES = 32
SECRET_NAME = "secret.key"
TMP_SUFFIX = ".part"
_PREFIX = struct.Struct("<I")
_HEAD = len(MAGIC) + _PREFIX.size
_FP16_MAX = 65504.0
STALE_TMP_SECONDS = 60.0  # a dead writer's temporary older than this is removed at the next start
_TMP_PID_RE = re.compile(r"\.(\d+)\.\d+" + re.escape(TMP_SUFFIX) + "$")
_ALIGN = 64  # payload and tensor offsets are multiples of this, so tensors can view the read buffer


class CorruptEntry(Exception):
    """An entry failed verification (the message says which check)."""


def open_regular(path: Path, *, follow_symlinks: bool = True) -> int:
    """A read-only descriptor of ``path`` if it is a regular file; a FIFO, device, socket or folder raises
    :class:`CacheError` naming the path (opened non-blocking and checked with ``fstat``, so a FIFO never
    hangs). ``follow_symlinks=False`` also refuses a symbolic link. FileNotFoundError propagates."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    if not follow_symlinks:
        flags |= getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise CacheError("is a symbolic link; not trusted here", where=path) from exc
        raise CacheError(f"cannot open: {exc.strerror or exc}", where=path) from exc
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise CacheError("not a regular file (a FIFO, device, socket or folder); remove it", where=path)
    if hasattr(os, "O_NONBLOCK"):
        os.set_blocking(fd, True)
    return fd


def _check_secret_owner(fd: int, path: Path) -> None:
    """Refuse a secret another user could have planted or can read: it must be owned by the current user
    and have no group/other permission bits (0600 or stricter). POSIX only."""
    if not hasattr(os, "geteuid"):
        return
    info = os.fstat(fd)
    if info.st_uid != os.geteuid():
        raise CacheError(f"the cache secret is owned by uid {info.st_uid}, not by you (uid {os.geteuid()}); "
                         "it is not trusted: delete the cache folder's secret.key and its entries", where=path)
    if stat.S_IMODE(info.st_mode) & 0o077:
        raise CacheError(f"the cache secret has mode {stat.S_IMODE(info.st_mode):04o}; it must be 0600 "
                         "(readable by you only): it is not trusted. Delete secret.key and the cache entries "
                         "to start afresh", where=path)


def load_or_create_secret(directory: Path) -> bytes:
    """The 32-byte secret of the cache in ``directory``; created (mode 0600) on first use.

    Publication is atomic (``os.link`` of a fully written temporary file), so two processes starting at
    once agree on one secret. An existing secret is trusted only if it is a regular file (not a link)
    owned by the current user with mode 0600 (no group/other bits); otherwise this REFUSES with a
    :class:`CacheError` saying so (it is never silently replaced, since entries signed with it would be
    lost and a planted key must be noticed). Raises :class:`CacheError` when the folder or secret cannot
    be used.
    """
    path = directory / SECRET_NAME
    try:
        directory.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            tmp = directory / f".{SECRET_NAME}.{os.getpid()}.{threading.get_ident()}{TMP_SUFFIX}"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.write(fd, os.urandom(32))
                os.fsync(fd)
            finally:
                os.close(fd)
            try:
                os.link(tmp, path)  # fails if another process published first: keep theirs
            except FileExistsError:
                pass
            except OSError:  # file systems without hard links
                if not path.exists():
                    os.replace(tmp, path)
            finally:
                tmp.unlink(missing_ok=True)
        fd = open_regular(path, follow_symlinks=False)
        try:
            _check_secret_owner(fd, path)
            secret = os.read(fd, 64)
        finally:
            os.close(fd)
    except OSError as exc:
        raise CacheError(f"cannot use the embedding cache directory: {exc}", where=directory) from exc
    if len(secret) != 32:
        raise CacheError(f"cache secret has {len(secret)} bytes, expected 32; delete it to start afresh",
                         where=path)
    return secret


def encode_entry(key: str, features: dict, model: str | None, secret: bytes, *, fp16: bool = False) -> bytes:
    """The signed bytes of one entry: ``features`` maps names to torch tensors (any device)."""
    import torch

    tensors, blobs, offset = [], [], 0
    for name, t in features.items():
        src = t.detach().to("cpu").contiguous()
        stored = src
        if (fp16 and src.dtype in (torch.float32, torch.float64)
                and (src.numel() == 0 or bool(src.abs().max() <= _FP16_MAX))):
            stored = src.to(torch.float16)
        raw = stored.reshape(-1).view(torch.uint8).numpy().tobytes() if stored.numel() else b""
        pad = -offset % _ALIGN
        blobs.append(b"\0" * pad)
        offset += pad
        tensors.append({"name": name, "dtype": str(src.dtype).replace("torch.", ""),
                        "stored": str(stored.dtype).replace("torch.", ""), "shape": list(src.shape),
                        "offset": offset, "nbytes": len(raw)})
        blobs.append(raw)
        offset += len(raw)
    header = json.dumps({"format": FORMAT_VERSION, "key": key, "model": model, "created": time.time(),
                         "byteorder": sys.byteorder, "tensors": tensors}, sort_keys=True).encode()
    header += b" " * (-(_HEAD + len(header)) % _ALIGN)  # payload starts aligned: zero-copy reads
    body = MAGIC + _PREFIX.pack(len(header)) + header + b"".join(blobs)
    return body + hmac.new(secret, body, hashlib.sha256).digest()


def decode_entry(key: str, data: bytes | bytearray, secret: bytes) -> tuple[dict, str | None]:
    """(features as CPU tensors in their original dtypes, model name or None) of a verified entry.

    With a ``bytearray`` the tensors are views of it where dtypes allow (no copy). Raises
    :class:`CorruptEntry` unless the magic, lengths, signature, format version, key and byte order all
    check out.
    """
    import torch

    view = memoryview(data)
    if len(view) < _HEAD + TAG_BYTES or bytes(view[:len(MAGIC)]) != MAGIC:
        raise CorruptEntry("bad magic or too short")
    (hlen,) = _PREFIX.unpack_from(view, len(MAGIC))
    if _HEAD + hlen + TAG_BYTES > len(view):
        raise CorruptEntry("header length past end of file")
    body, tag = view[:-TAG_BYTES], view[-TAG_BYTES:]
    if not hmac.compare_digest(hmac.new(secret, body, hashlib.sha256).digest(), bytes(tag)):
        raise CorruptEntry("signature mismatch")
    buffer = data if isinstance(data, bytearray) else bytearray(body)
    try:
        header = json.loads(bytes(view[_HEAD:_HEAD + hlen]))
        if header["format"] != FORMAT_VERSION or header["key"] != key:
            raise CorruptEntry("format or key mismatch")
        if header.get("byteorder") != sys.byteorder:
            raise CorruptEntry("written on a machine of the other byte order")
        base, end = _HEAD + hlen, len(body)
        out = {}
        for spec in header["tensors"]:
            stored, dtype = getattr(torch, spec["stored"]), getattr(torch, spec["dtype"])
            start, n = base + int(spec["offset"]), int(spec["nbytes"])
            size = torch.empty(0, dtype=stored).element_size()
            if start < base or start + n > end or n % size:
                raise CorruptEntry("tensor outside the payload")
            if n == 0:
                t = torch.empty(0, dtype=stored)
            elif start % size == 0:
                t = torch.frombuffer(buffer, dtype=stored, count=n // size, offset=start)
            else:
                t = torch.frombuffer(bytearray(view[start:start + n]), dtype=stored)
            out[spec["name"]] = t.reshape(spec["shape"]).to(dtype)
        return out, header.get("model")
    except CorruptEntry:
        raise
    except Exception as exc:  # a signed but malformed header (e.g. a future format): treat as corrupt
        raise CorruptEntry(f"malformed header: {exc}") from exc


def peek_header(path: Path) -> dict | None:
    """The JSON header of an entry file, NOT verified (for listing and clearing only), or None.
    A path that is not a regular file raises :class:`CacheError` naming it."""
    try:
        with os.fdopen(open_regular(path), "rb") as fh:
            start = fh.read(_HEAD)
            if len(start) < _HEAD or not start.startswith(MAGIC):
                return None
            (hlen,) = _PREFIX.unpack_from(start, len(MAGIC))
            if hlen > 1 << 20:
                return None
            header = json.loads(fh.read(hlen))
        return header if isinstance(header, dict) else None
    except (OSError, ValueError):
        return None




def _pid_alive(pid: int) -> bool:
    """Whether a process with this id runs on this machine (signal 0; a permission error means alive)."""
    if pid <= 0:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def remove_dead_writers_temporaries(paths, *, min_age: float = STALE_TMP_SECONDS) -> int:
    """Unlink each temporary ``.<name>.<pid>.<thread>.part`` of ``paths`` whose writer process is not
    running and whose mtime is at least ``min_age`` seconds old; others are left alone. Returns the count."""
    removed, now = 0, time.time()
    for path in paths:
        match = _TMP_PID_RE.search(Path(path).name)
        if not match or _pid_alive(int(match.group(1))):
            continue
        try:
            if now - os.lstat(path).st_mtime >= min_age:
                os.unlink(path)
                removed += 1
        except OSError:
            continue
    return removed
