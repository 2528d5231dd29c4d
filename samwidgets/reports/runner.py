"""Run a report notebook with papermill into ``reports/<date>-<name>/`` and export it.

A run folder holds:

* ``<name>.ipynb``   the executed notebook (partially executed if a cell failed);
* ``<name>.html``    standalone HTML, code hidden, figures embedded as data URIs, parameters at the top;
* ``params.json``    the parameters: those given, the notebook's defaults, and run facts (times, kernel);
* ``results.parquet`` the results table the report analysed (written by the notebook through its
  ``results_out`` parameter, which the runner points into the folder).

Kernel: papermill is given ``kernel_name="python3"``. jupyter_client resolves that spec's ``python`` argv to
the running interpreter (``sys.executable``), so the notebook runs in the same virtual environment as the
``samwidgets`` command, also in a fresh CI venv where ipykernel installed the spec into ``<venv>/share``.

A failing cell never loses work: papermill's :class:`PapermillExecutionError` is caught, the partial notebook
is exported with a banner saying which cell failed and why, and then :class:`ReportError` is raised naming
the notebook and the cell.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from samwidgets.errors import ReportError
from samwidgets.reports.catalog import check_parameters, find_notebook
from samwidgets.reports.html import export_html
from samwidgets.reports.parameters import inject_parameters, validate_parameters

DEFAULT_KERNEL = "python3"


@dataclass
class Report:
    """Paths of one report run and how long it took (seconds)."""

    name: str
    folder: Path
    notebook: Path
    html: Path
    params: Path
    results: Path | None
    seconds: float


def run_folder(out_dir, name: str, *, date: _dt.date | None = None) -> Path:
    """A new folder ``<out_dir>/<YYYY-MM-DD>-<name>``; ``-2``, ``-3`` ... are appended rather than overwrite."""
    date = date or _dt.date.today()
    base = Path(out_dir) / f"{date:%Y-%m-%d}-{name}"
    folder, n = base, 1
    while folder.exists():
        n += 1
        folder = base.with_name(f"{base.name}-{n}")
    folder.mkdir(parents=True)
    return folder


def run_report(name: str, params: dict | None = None, *, out_dir="reports", kernel_name: str = DEFAULT_KERNEL,
               cwd=None, progress: bool = False, log_output: bool = False, date: _dt.date | None = None,
               start_timeout: int = 120) -> Report:
    """Execute report ``name`` (a notebook stem or an .ipynb path) with ``params`` and export it.

    ``cwd``: the working directory of the kernel (default: the current one), so relative paths given as
    parameters mean what they mean to the caller. Returns a :class:`Report`; raises :class:`ReportError`
    for an unknown notebook or parameter, a parameter value that is not JSON-like (see
    :mod:`samwidgets.reports.parameters`; checked before anything runs), and after exporting when a cell failed.
    """
    params = validate_parameters(dict(params or {}))
    notebook = find_notebook(name)
    stem = notebook.stem
    declared = check_parameters(notebook, params)
    folder = run_folder(out_dir, stem, date=date)
    results_path = folder / "results.parquet"
    if "results_out" in declared and params.get("results_out") is None:
        params["results_out"] = str(results_path.resolve())
    out_nb = folder / f"{stem}.ipynb"
    html_path = folder / f"{stem}.html"
    effective = {k: v["value"] for k, v in declared.items()}
    effective.update(params)
    started = time.perf_counter()
    started_at = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    failure, cell = _execute(notebook, out_nb, params, kernel_name=kernel_name, cwd=cwd, progress=progress,
                             log_output=log_output, start_timeout=start_timeout)
    seconds = time.perf_counter() - started
    _copy_results(effective, results_path)
    meta = {"notebook": stem, "started": started_at, "seconds": round(seconds, 1), "kernel": kernel_name,
            "status": "failed" if failure else "ok"}
    (folder / "params.json").write_text(json.dumps(
        {"report": stem, "parameters": effective, "given": params,
         "defaults": {k: v["default"] for k, v in declared.items()}, "run": meta},
        indent=2, default=str) + "\n")
    if not out_nb.is_file():  # the kernel never started: export an empty notebook that says so
        import nbformat

        nbformat.write(nbformat.v4.new_notebook(), str(out_nb))
    export_html(out_nb, html_path, title=f"samwidgets report: {stem}", params=effective, failure=failure,
                meta=meta)
    report = Report(stem, folder, out_nb, html_path, folder / "params.json",
                    results_path if results_path.is_file() else None, seconds)
    if failure:
        err = ReportError(f"{failure}; partial notebook and HTML in {folder}", where=notebook)
        err.report = report
        err.cell = cell
        raise err
    return report


def _execute(notebook: Path, out_nb: Path, params: dict, *, kernel_name, cwd, progress, log_output,
             start_timeout) -> tuple[str | None, int | None]:
    """Run papermill; return (None, None) on success or (failure text, cell index) on failure.

    The parameters cell is injected here (:func:`inject_parameters`, literal assignments only), so papermill
    is given no parameters to translate.
    """
    import nbformat
    import papermill
    from papermill.exceptions import PapermillExecutionError

    nb = nbformat.read(str(notebook), as_version=4)
    if params:
        nb = inject_parameters(nb, params)
    try:
        papermill.execute_notebook(
            nb, str(out_nb), parameters=None, kernel_name=kernel_name,
            cwd=str(cwd or os.getcwd()), progress_bar=progress, log_output=log_output,
            request_save_on_cell_execute=True, start_timeout=start_timeout,
        )
    except PapermillExecutionError as exc:
        src = (exc.source or "").strip().splitlines()
        first = src[0][:120] if src else ""
        return (f"cell {exc.cell_index} (execution count {exc.exec_count}, starting `{first}`) raised "
                f"{exc.ename}: {exc.evalue}", exc.cell_index)
    except Exception as exc:  # kernel could not start or died: still leave what exists
        return f"the notebook could not be executed: {type(exc).__name__}: {exc}", None
    return None, None


def _copy_results(effective: dict, results_path: Path) -> None:
    """If the notebook did not write the table itself, copy the ``results`` file it analysed."""
    if results_path.is_file():
        return
    src = effective.get("results")
    if isinstance(src, str) and Path(src).is_file() and Path(src).resolve() != results_path.resolve():
        shutil.copyfile(src, results_path)
