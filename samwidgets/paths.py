"""Where samwidgets keeps its per-user files and finds its repository (standard library only, no side
effects at import, so every layer and ``bootstrap.py`` run by the system python3 may use it).

The cache root holds ``embeddings/`` (EmbeddingCache), ``onnx/`` (exported encoders and decoders),
``results/`` and ``panels/`` (report sweeps and gallery panels) and ``autosave/`` (viewer sessions).

The repository root (a source checkout: the folder holding ``samwidgets/`` and ``pyproject.toml``) holds
``data_manifests/`` and ``notebooks/``. An installed wheel has no repository: :func:`repo_root` is then
None and :func:`repo_folder` says so with a clear error.
"""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "SAMWIDGETS_CACHE_DIR"
_PACKAGE_PARENT = Path(__file__).resolve().parents[1]


def cache_root(cache_dir: str | os.PathLike | None = None) -> Path:
    """``cache_dir`` when given, else ``$SAMWIDGETS_CACHE_DIR``, else ``~/.cache/samwidgets``."""
    if cache_dir:
        return Path(cache_dir).expanduser()
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "samwidgets"


def repo_root() -> Path | None:
    """The source checkout holding this package (the folder with ``samwidgets/`` and ``pyproject.toml``:
    a clone or an editable install), or None when samwidgets is installed from a wheel."""
    return _PACKAGE_PARENT if (_PACKAGE_PARENT / "pyproject.toml").is_file() else None


def repo_folder(name: str, *, hint: str = "") -> Path:
    """``<repository>/<name>`` (e.g. ``data_manifests``, ``notebooks``); a SamwidgetsError naming the folder
    when samwidgets is installed without its repository or the folder is missing. ``hint`` says what to do
    instead (e.g. "set SAMWIDGETS_NOTEBOOKS")."""
    from samwidgets.errors import SamwidgetsError

    root = repo_root()
    advice = f"; {hint}" if hint else ""
    if root is None:
        raise SamwidgetsError(f"samwidgets is installed without its source repository, which holds {name}/{advice}",
                              where=name)
    folder = root / name
    if not folder.is_dir():
        raise SamwidgetsError(f"the repository has no {name}/ folder{advice}", where=folder)
    return folder
