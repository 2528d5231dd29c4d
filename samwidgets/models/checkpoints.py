"""Checkpoint files: where they live, how they are read, how they are checked against an architecture.

* :func:`resolve_checkpoint` finds the file for a model: an explicit path, else
  ``<weights dir>/<spec.filename>`` where the weights dir is ``$SAMWIDGETS_WEIGHTS_DIR`` or
  ``~/.cache/samwidgets/weights``. A missing file raises :class:`CheckpointError` saying how to fetch it
  (``samwidgets weights fetch NAME``).
* :func:`load_state_dict` reads a file with ``torch.load(weights_only=True, map_location="cpu")`` (no
  pickled code is ever run) and unwraps SAM2's ``{"model": state_dict}`` layout. A truncated or corrupt
  file raises :class:`CheckpointError`.
* :func:`apply_state_dict` loads a state dict strictly into a network after comparing key sets and tensor
  shapes itself, so that a checkpoint for another architecture raises :class:`CheckpointError` naming a
  few of the offending keys instead of torch's multi-page RuntimeError.
* :func:`file_sha256` hashes a checkpoint (the predictor's ``weights_id``), memoised by
  (path, size, mtime) so a second build does not re-read hundreds of megabytes; a file taken from the
  weights directory must match the registry's sha256 or the ``<file>.sha256`` record that
  ``samwidgets weights fetch`` wrote (:func:`verify_hash`).
* :func:`warn_if_unverified`: loading a model whose registry entry has no published sha256 (MedSAM today,
  "unverified" in ``samwidgets weights list``) warns with
  :class:`~samwidgets.errors.UnverifiedCheckpointWarning` naming the file; a model with a published hash
  (the file was checked against it) does not warn.

The weights directory and the sidecar record are those of :mod:`samwidgets.models.weights`.

torch is imported inside the functions that need it.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any, Mapping

from samwidgets.errors import CheckpointError, UnverifiedCheckpointWarning
from samwidgets.lru import LRU
from samwidgets.models.weights import UNVERIFIED, WEIGHTS_ENV, read_sidecar, weights_dir
from samwidgets.models.weights import file_sha256 as _hash_file

_MAX_NAMED = 5  # how many offending keys an error message names
#: checkpoint digests by (resolved path, size, mtime_ns): a few checkpoints are loaded per process, each
#: hashed once (a SAM ViT-H file takes seconds); bounded to the last 32 files
CHECKPOINT_DIGESTS = LRU(maxsize=32)


def resolve_checkpoint(spec, checkpoint: str | os.PathLike | None = None) -> Path:
    """The checkpoint file for ``spec`` (a :class:`~samwidgets.models.registry.ModelSpec`).

    An explicit ``checkpoint`` path wins; otherwise ``<weights dir>/<spec.filename>``. Raises
    :class:`CheckpointError` when the file does not exist (with the ``samwidgets weights fetch`` hint) or
    is a directory.
    """
    if checkpoint is not None:
        path = Path(checkpoint).expanduser()
    elif spec.filename is not None:
        path = weights_dir() / spec.filename
    else:
        raise CheckpointError(f"model '{spec.name}' has no checkpoint file name; pass checkpoint=PATH", where=spec.name)
    if not path.exists():
        hint = f"run `samwidgets weights fetch {spec.name}`"
        if spec.url is None:
            hint += " (no public download URL is known: place the file there by hand)"
        raise CheckpointError(
            f"checkpoint for '{spec.name}' not found; {hint} or pass checkpoint=PATH "
            f"(weights dir: {weights_dir()}, set ${WEIGHTS_ENV} to change it)",
            where=path,
        )
    if not path.is_file():
        raise CheckpointError(f"checkpoint for '{spec.name}' is not a file", where=path)
    return path


def load_state_dict(path: str | os.PathLike, *, where: object | None = None) -> dict[str, Any]:
    """Read a checkpoint file into a ``{name: tensor}`` state dict on the CPU.

    Uses ``torch.load(weights_only=True, map_location="cpu")``. A SAM2 checkpoint ``{"model": sd}`` is
    unwrapped. Raises :class:`CheckpointError` (``where`` defaults to the path) when the file cannot be
    unpickled safely (truncated, corrupt, not a torch file) or does not hold a dict of tensors.
    """
    import torch

    path = Path(path)
    where = path if where is None else where
    try:
        obj = torch.load(path, weights_only=True, map_location="cpu")
    except FileNotFoundError:
        raise CheckpointError("checkpoint file not found", where=where) from None
    except Exception as exc:  # truncated zip, bad pickle, disallowed global, ...
        raise CheckpointError(
            f"cannot read checkpoint (corrupt, truncated or not a torch weights file): {type(exc).__name__}: "
            f"{str(exc).splitlines()[0][:200] if str(exc) else ''}",
            where=where,
        ) from exc
    if isinstance(obj, Mapping) and "model" in obj and isinstance(obj["model"], Mapping):
        obj = obj["model"]
    elif isinstance(obj, Mapping) and "state_dict" in obj and isinstance(obj["state_dict"], Mapping):
        obj = obj["state_dict"]
    if not isinstance(obj, Mapping) or not obj:
        raise CheckpointError(f"checkpoint holds {type(obj).__name__}, not a state dict of tensors", where=where)
    not_tensors = [k for k, v in obj.items() if not isinstance(v, torch.Tensor)]
    if not_tensors:
        raise CheckpointError(f"checkpoint entries are not tensors: {_name_few(not_tensors)}", where=where)
    return dict(obj)


def apply_state_dict(module, state_dict: Mapping[str, Any], *, where: object | None = None, arch: str = "") -> None:
    """Load ``state_dict`` into ``module`` strictly.

    Before loading, compares key sets and shapes; any missing key, unexpected key or shape mismatch raises
    :class:`CheckpointError` naming up to five keys of each kind (``arch`` names the expected architecture
    in the message).
    """
    expected = module.state_dict()
    missing = [k for k in expected if k not in state_dict]
    unexpected = [k for k in state_dict if k not in expected]
    shapes = [
        f"{k} {tuple(state_dict[k].shape)} vs {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state_dict and tuple(state_dict[k].shape) != tuple(v.shape)
    ]
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing keys ({_name_few(missing)})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected keys ({_name_few(unexpected)})")
        if shapes:
            parts.append(f"{len(shapes)} shape mismatches (checkpoint vs model: {_name_few(shapes)})")
        target = f" the {arch} architecture" if arch else " this architecture"
        raise CheckpointError(
            f"checkpoint does not fit{target} (wrong model file?): " + "; ".join(parts), where=where
        )
    try:
        module.load_state_dict(state_dict, strict=True)
    except Exception as exc:  # e.g. dtype that cannot be copied
        raise CheckpointError(f"checkpoint could not be loaded: {exc}", where=where) from exc


def file_sha256(path: str | os.PathLike, *, memo: LRU | None = CHECKPOINT_DIGESTS) -> str:
    """sha256 hex digest of a file, memoised in ``memo`` (default :data:`CHECKPOINT_DIGESTS`; None: no
    memo) by (resolved path, size, mtime_ns), so a changed file is hashed again."""
    path = Path(path).resolve()
    st = path.stat()
    if memo is None:
        return _hash_file(path)
    return memo.get_or_compute((str(path), st.st_size, st.st_mtime_ns), lambda: _hash_file(path))


def verify_hash(spec, path: Path, digest: str) -> None:
    """Raise CheckpointError when ``digest`` differs from the registry's sha256 of ``spec`` or, where the
    registry has none, from the ``<file>.sha256`` record written by ``samwidgets weights fetch``."""
    expected = spec.sha256 or read_sidecar(path)
    if expected and expected.lower() != digest:
        raise CheckpointError(
            f"sha256 of the checkpoint is {digest[:12]}..., expected {expected[:12]}... (incomplete or "
            f"replaced file): run `samwidgets weights fetch {spec.name}` again",
            where=path,
        )


def unverified_message(spec, path: Path, digest: str) -> str | None:
    """Why loading ``path`` for ``spec`` is unverified, or None when the registry publishes a sha256 for
    ``spec`` (a weights-dir file was checked against it by :func:`verify_hash`; an explicit path is the
    user's own file, e.g. a fine-tune). ``digest``: the file's sha256."""
    if spec.sha256 is not None:
        return None
    recorded = read_sidecar(path)
    since = (" (unchanged since `samwidgets weights fetch` recorded its hash)" if recorded == digest
             else f" (sha256 {digest})")
    return (f"{path}: checkpoint of '{spec.name}' is {UNVERIFIED}: samwidgets knows no published sha256 for "
            f"it, so it cannot confirm this is the publisher's file{since}; compare its sha256 with the "
            "publisher's")


def warn_if_unverified(spec, path: Path, digest: str) -> bool:
    """Warn (:class:`UnverifiedCheckpointWarning`, naming ``path``) when :func:`unverified_message` has a
    reason; returns whether it warned."""
    message = unverified_message(spec, path, digest)
    if message is not None:
        warnings.warn(message, UnverifiedCheckpointWarning, stacklevel=3)
    return message is not None


def build_from_checkpoint(make_module, spec, checkpoint=None):
    """Resolve and read the checkpoint of ``spec``, then build the network and load it strictly.

    ``make_module()`` makes the randomly initialised network; it is called only after the file was found
    and read, so a missing or corrupt file fails fast. Returns (module, checkpoint path, sha256 of the
    file). Every failure is a :class:`CheckpointError`; a model with no published sha256 loads with an
    :class:`UnverifiedCheckpointWarning` (:func:`warn_if_unverified`).
    """
    path = resolve_checkpoint(spec, checkpoint)
    digest = file_sha256(path)
    if checkpoint is None:  # the weights-dir file must be the one fetched; explicit paths may be fine-tunes
        verify_hash(spec, path, digest)
    state = load_state_dict(path)
    module = make_module()
    apply_state_dict(module, state, where=path, arch=f"{spec.name} ({spec.arch})")
    del state
    warn_if_unverified(spec, path, digest)
    return module, path, digest


def _name_few(keys: list[str]) -> str:
    shown = ", ".join(keys[:_MAX_NAMED])
    return shown + (", ..." if len(keys) > _MAX_NAMED else "")
