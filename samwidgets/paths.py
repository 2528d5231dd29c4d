"""Where samwidgets keeps its per-user files (standard library only, so every layer may use it).

The cache root holds ``embeddings/`` (EmbeddingCache), ``onnx/`` (exported encoders and decoders),
``results/`` and ``panels/`` (report sweeps and gallery panels) and ``autosave/`` (viewer sessions).
"""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "SAMWIDGETS_CACHE_DIR"


def cache_root(cache_dir: str | os.PathLike | None = None) -> Path:
    """``cache_dir`` when given, else ``$SAMWIDGETS_CACHE_DIR``, else ``~/.cache/samwidgets``."""
    if cache_dir:
        return Path(cache_dir).expanduser()
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "samwidgets"
