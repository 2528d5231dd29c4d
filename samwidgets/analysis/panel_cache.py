"""On-disk cache of gallery panels: the displayed slice, its ground truth and the replayed mask.

A gallery rerun on the same results then opens no manifest, reads no image and loads no model. An entry
is keyed by a sha256 of the samwidgets version, the manifest file's bytes, the row's dataset, case, label,
slice, model, protocol and prompt log, and whether the mask was replayed: the same assumption as the
results-table cache (``samwidgets.analysis.cached_sweep``), which is keyed by manifest contents too. Entries are
``<cache_dir>/panels/<key[:2]>/<key>.npz`` (image uint8, bit-packed masks), written atomically; a missing
or damaged entry is a miss, never an error.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from samwidgets.atomic import atomic_write
from samwidgets.lru import LRU


def manifest_digests(maxsize: int = 64) -> LRU:
    """A memo of manifest file digests for :func:`panel_path` (one gallery reads a few manifests, once each)."""
    return LRU(maxsize=maxsize)


def _file_digest(path: str, digests: LRU | None) -> str:
    p = Path(path)
    try:
        st = p.stat()
    except OSError:
        return f"missing:{path}"
    compute = lambda: hashlib.sha256(p.read_bytes()).hexdigest()  # noqa: E731
    if digests is None:
        return compute()
    return digests.get_or_compute((str(p.resolve()), st.st_size, st.st_mtime_ns), compute)


def panel_path(cache_dir, row, *, replay: bool, digests: LRU | None = None) -> Path:
    """Where the panel of results row ``row`` is cached under the cache root ``cache_dir``. ``digests``
    (:func:`manifest_digests`) memoises the manifest files' digests across rows; None hashes every time."""
    from samwidgets import __version__
    from samwidgets.paths import cache_root

    fields = [str(row[c]) for c in ("dataset", "case", "label", "slice", "model", "protocol", "prompt_log")]
    ident = json.dumps([__version__, _file_digest(str(row["manifest"]), digests), fields, bool(replay)])
    key = hashlib.sha256(ident.encode()).hexdigest()
    return cache_root(cache_dir) / "panels" / key[:2] / f"{key}.npz"


def _pack(mask):
    return np.packbits(np.asarray(mask, bool).ravel())


def save_panel(path: Path, *, z: int, image: np.ndarray, gt: np.ndarray, pred, prompts: list, note: str) -> None:
    """Write one panel atomically; an OS error only costs a recompute next time."""
    extra = {} if pred is None else {"pred": _pack(pred)}
    meta = np.frombuffer(json.dumps({"prompts": prompts, "note": note}).encode(), np.uint8)
    try:
        atomic_write(path, lambda tmp: np.savez(tmp, z=np.int64(z), image=np.asarray(image), gt=_pack(gt),
                                                hw=np.asarray(gt.shape), meta=meta, **extra))
    except OSError:
        pass


def load_panel(path: Path) -> dict | None:
    """The cached panel as ``{z, image, gt, pred, prompts, note}``, or None when absent or unreadable."""
    try:
        with np.load(path) as data:
            h, w = (int(v) for v in data["hw"])
            unpack = lambda bits: np.unpackbits(bits, count=h * w).reshape(h, w).astype(bool)  # noqa: E731
            meta = json.loads(bytes(data["meta"]).decode())
            image = data["image"]
            if image.shape[:2] != (h, w):
                return None
            return {"z": int(data["z"]), "image": image, "gt": unpack(data["gt"]),
                    "pred": unpack(data["pred"]) if "pred" in data.files else None,
                    "prompts": meta["prompts"], "note": meta["note"]}
    except Exception:  # missing, torn or foreign file: a miss
        return None
