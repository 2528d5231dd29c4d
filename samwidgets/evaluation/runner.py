"""The dataset x model x protocol sweep: :func:`run_sweep`.

The sweep is cut into units, one per (case, model) (:mod:`samwidgets.evaluation.unit`): all labels, slices,
protocols and prompt steps of a case for one model, so each slice is encoded once per model. Units run in
this process (the default), or as Dask tasks on a local cluster of worker processes (``workers=N``), an
existing cluster (``scheduler=ADDRESS``) or a caller's ``client`` (:mod:`samwidgets.evaluation.cluster`,
:mod:`samwidgets.evaluation.remote`). Either way the rows come back to this process, which alone writes
the table.

Determinism: every random choice uses a Generator seeded with ``SeedSequence([seed, sha256(case key,
label, protocol, slice)])`` (:func:`samwidgets.evaluation.rows.case_rng`), independent of the order of
cases, models and protocols, of resumption and of which worker ran the unit; two runs with the same seed
give the same table except the timing columns, in process or on a cluster.

Resumption: the table is appended to ``out`` after complete units, atomically (temporary file +
``os.replace``) and at least every FLUSH_SECONDS; a rerun with the same ``out`` skips every (manifest,
case, model, protocol, seed) that already has rows (rows marked ``error`` count as finished: delete them
to retry). On completion the file is rewritten in the canonical order
(:func:`samwidgets.evaluation.table.sort_table`), so an interrupted-then-resumed sweep ends with the same
table as an uninterrupted one. A unit whose worker died is rerun by the scheduler; its rows reach the
table once.

Bad input: unknown protocol or model names raise EvaluationError / ModelError listing the valid ones
before any work; a case that fails to load, a slice that fails to encode, a protocol that fails on one
label, or a unit that fails on a worker becomes a row with ``failure_type = "error"`` and its ``error``
text, and the sweep goes on.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from samwidgets.errors import EvaluationError
from samwidgets.evaluation.cache_spec import MEMORY_CACHE_BYTES, CacheSpec, make_cache
from samwidgets.evaluation.cluster import describe_client, open_client
from samwidgets.evaluation.protocols import parse_protocol
from samwidgets.evaluation.rows import case_rng
from samwidgets.evaluation.table import append_rows, empty_table, read_table, sort_table, write_table
from samwidgets.evaluation.unit import Unit, run_in_process

__all__ = ["FLUSH_SECONDS", "MEMORY_CACHE_BYTES", "case_rng", "run_sweep"]

#: the table is written at least this often (seconds) while a sweep runs, at unit boundaries
FLUSH_SECONDS = 30.0


def _load_manifests(manifests) -> list[tuple[str, list]]:
    from samwidgets.manifest import load_manifest

    if isinstance(manifests, (str, Path)) or hasattr(manifests, "cases"):
        manifests = [manifests]
    out = []
    for m in manifests:
        if hasattr(m, "cases"):
            out.append((str(getattr(m, "path", getattr(m, "name", "manifest"))), list(m.cases)))
        else:
            loaded = load_manifest(m)  # absolute path: resumes and reopens from any working directory
            out.append((str(Path(loaded.path).resolve()), list(loaded.cases)))
    return out


def _model_sources(models) -> dict:
    """``{name: registry name or predictor object}`` in the order given, first of each name kept; unknown
    registry names raise ModelError listing the valid ones."""
    from samwidgets.models import get_spec

    if isinstance(models, str) or hasattr(models, "decode"):
        models = [models]
    out: dict = {}
    for m in models:
        if isinstance(m, str):
            get_spec(m)
            name = m
        else:
            name = str(getattr(m, "name", type(m).__name__))
        out.setdefault(name, m)
    if not out:
        raise EvaluationError("no model given")
    return out


def _load_models(sources: dict, *, device: str, cache) -> dict:
    """``{name: predictor}``: registry names loaded on ``device``, all sharing one embedding cache."""
    from samwidgets.models import load

    shared = None
    out = {}
    for name, m in sources.items():
        if isinstance(m, str):
            shared = shared if shared is not None else make_cache(cache)
            m = load(m, device=device, cache=shared)
        out[name] = m
    return out


def _plan(mans, names, protos, done: set, seed: int, max_cases) -> tuple[list[Unit], int]:
    """The units still to run (manifest order, then model order) and the number already finished."""
    units, finished = [], 0
    for mpath, cases in mans:
        for index, case in enumerate(cases[:max_cases]):
            for name in names:
                todo = tuple(p for p in protos if (mpath, case.case_id, name, p.name, seed) not in done)
                if todo:
                    units.append(Unit(mpath, index, case, name, todo, seed))
                else:
                    finished += 1
    return units, finished


@contextmanager
def _executor(sources: dict, *, device, cache, workers, scheduler, client):
    """Yield ``execute(units) -> iterator of UnitResult`` for the place chosen (module docstring)."""
    with open_client(workers=workers, scheduler=scheduler, client=client) as (dask_client, pin_gpus):
        if dask_client is None:
            predictors = _load_models(sources, device=device, cache=cache)
            yield lambda units: run_in_process(units, predictors)
            return
        from samwidgets.evaluation.remote import run_on_client

        print(describe_client(dask_client), file=sys.stderr, flush=True)  # the dashboard address first
        spec = CacheSpec.of(cache)
        yield lambda units: run_on_client(dask_client, units, sources, device=device, cache=spec,
                                          pin_gpus=pin_gpus)


def _check_options(seed, max_cases, protocols) -> list:
    if int(seed) < 0:
        raise EvaluationError(f"seed must be >= 0, got {seed}")
    if max_cases is not None and int(max_cases) < 1:
        raise EvaluationError(f"max_cases must be >= 1, got {max_cases}")
    if isinstance(protocols, str):
        protocols = [protocols]
    protos = list({p.name: p for p in (parse_protocol(n) for n in protocols)}.values())
    if not protos:
        raise EvaluationError("no protocol given; valid protocols: see `samwidgets evaluate --help`")
    return protos


def run_sweep(
    manifests,
    models,
    protocols,
    *,
    out=None,
    max_cases: int | None = None,
    seed: int = 0,
    device: str = "auto",
    cache=None,
    progress: bool = True,
    workers: int | None = None,
    scheduler: str | None = None,
    client=None,
) -> pd.DataFrame:
    """Evaluate models x protocols on every case of the manifests; returns the results table.

    manifests: paths (or loaded Manifest objects); models: registry names (or predictor objects, which a
    cluster receives pickled with each task); protocols: names (see :mod:`samwidgets.evaluation.protocols`);
    out: parquet path to write and resume (None keeps the table in memory); max_cases: first N cases of
    each manifest; cache: an EmbeddingCache or a directory for one (None: memory only; on a cluster each
    worker builds its own with the same folder and memory bound). At most one of: workers (start a local
    Dask cluster of N processes), scheduler (address of a running one), client (a distributed.Client);
    none runs in this process. Returns the whole table at ``out`` (rows of earlier runs included) in
    canonical order, columns in :mod:`samwidgets.evaluation.table`; ``table.attrs["sweep"]`` holds this
    run's units, encoder calls, unit seconds and units per worker.
    """
    protos = _check_options(seed, max_cases, protocols)
    sources = _model_sources(models)
    mans = _load_manifests(manifests)
    table = read_table(out) if out is not None else empty_table()
    done = set(zip(table["manifest"], table["case"], table["model"], table["protocol"], table["seed"]))
    units, finished = _plan(mans, list(sources), protos, done, int(seed), max_cases)

    if not units:  # all done already: no model to load, no cluster to start
        table, stats = _drive(iter(()), 0, finished, table, out, progress=progress)
    else:
        with _executor(sources, device=device, cache=cache, workers=workers, scheduler=scheduler,
                       client=client) as execute:
            table, stats = _drive(execute(units), len(units), finished, table, out, progress=progress)
    table = sort_table(table)
    if out is not None:
        write_table(table, out)
    table.attrs["sweep"] = stats
    return table


def _drive(results, n_units: int, finished: int, table: pd.DataFrame, out, *, progress: bool):
    """Append each unit's rows as it arrives (written to ``out`` at least every FLUSH_SECONDS, and on any
    exit); returns the table and this run's stats: units, encoder calls, seconds spent in the units (summed
    over processes) and units per worker."""
    from tqdm import tqdm

    stats = {"units": 0, "encoder_calls": 0, "seconds": 0.0, "workers": Counter()}
    bar = tqdm(total=finished + n_units, initial=finished, disable=not progress, desc="samwidgets evaluate",
               unit="case")
    pending: list[dict] = []
    last_flush = time.monotonic()
    try:
        for result in results:
            pending += result.rows
            stats["units"] += 1
            stats["encoder_calls"] += result.encoder_calls
            stats["seconds"] += result.seconds
            stats["workers"][result.worker] += 1
            bar.set_postfix_str(result.unit.case_id[:40])
            bar.update(1)
            if out is not None and time.monotonic() - last_flush > FLUSH_SECONDS:
                table, pending = append_rows(pending, out, table), []
                last_flush = time.monotonic()
    finally:
        bar.close()
        table = append_rows(pending, out, table)
    return table, {**stats, "workers": dict(stats["workers"])}
