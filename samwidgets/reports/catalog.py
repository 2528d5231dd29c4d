"""Which report notebooks exist, where they live, and which parameters each declares.

Notebooks live in ``notebooks/`` of the repository (``$SAMWIDGETS_NOTEBOOKS`` overrides the folder). A
report name is a notebook's file stem (``per_modality_analysis``) or a path to any ``.ipynb`` that has a
cell tagged ``parameters`` (papermill's convention).
"""

from __future__ import annotations

import ast
import os
from pathlib import Path

from samwidgets.errors import ReportError, SamwidgetsError
from samwidgets.paths import repo_folder


def notebooks_dir() -> Path:
    """``$SAMWIDGETS_NOTEBOOKS``, else ``<repository>/notebooks``; ReportError when samwidgets is installed
    without its repository and the variable is not set."""
    env = os.environ.get("SAMWIDGETS_NOTEBOOKS")
    if env:
        return Path(env).expanduser()
    try:
        return repo_folder("notebooks", hint="set SAMWIDGETS_NOTEBOOKS to a folder of report notebooks "
                                            "or give a notebook's path")
    except SamwidgetsError as exc:
        raise ReportError(exc.reason, where=exc.where) from exc


def available() -> list[str]:
    """Names of the report notebooks in :func:`notebooks_dir`, sorted (none without that folder)."""
    try:
        folder = notebooks_dir()
    except ReportError:
        return []
    return sorted(p.stem for p in folder.glob("*.ipynb")) if folder.is_dir() else []


def find_notebook(name: str) -> Path:
    """The notebook file for a report name or a path; unknown names raise :class:`ReportError`."""
    candidate = Path(name).expanduser()
    if candidate.suffix == ".ipynb":
        if candidate.is_file():
            return candidate.resolve()
        raise ReportError("notebook file not found", where=candidate)
    path = notebooks_dir() / f"{name}.ipynb"
    if path.is_file():
        return path
    names = ", ".join(available()) or f"none found in {notebooks_dir()}"
    raise ReportError(f"unknown report '{name}'; available: {names}", where=name)


def declared_parameters(path: Path) -> dict[str, dict]:
    """The notebook's ``parameters`` cell as ``{name: {"default": source text, "value": python value or
    None, "type": annotation, "help": comment}}`` (papermill's inspection; values via literal_eval)."""
    import papermill

    try:
        params = papermill.inspect_notebook(str(path))
    except Exception as exc:
        raise ReportError(f"cannot read the notebook's parameters: {exc}", where=path) from exc
    out = {}
    for name, info in params.items():
        text = str(info.get("default", ""))
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            value = text
        out[name] = {"default": text, "value": value, "type": info.get("inferred_type_name"),
                     "help": info.get("help", "")}
    return out


def check_parameters(path: Path, params: dict) -> dict[str, dict]:
    """Raise :class:`ReportError` for a parameter the notebook does not declare; return the declared ones."""
    declared = declared_parameters(path)
    unknown = sorted(set(params) - set(declared))
    if unknown:
        raise ReportError(f"unknown parameter(s) {', '.join(unknown)}; this notebook takes: "
                          f"{', '.join(declared) or 'no parameters'}", where=path)
    return declared
