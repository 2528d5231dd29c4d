"""Run a sweep for a notebook, or reuse the results table of an identical earlier one.

A report rerun is fast because of two caches under one root folder ``cache_dir`` (default
``$SAMWIDGETS_CACHE_DIR`` or ``~/.cache/samwidgets``):

* ``<cache_dir>/embeddings``: the embedding cache the sweep encodes through (encoder work is paid once);
* ``<cache_dir>/results/<key>.parquet``: finished results tables, keyed by a hash of the sweep parameters
  (manifests *and their file contents*, models, protocols, max_cases, seed) and the samwidgets version. The
  same parameters on unchanged manifests load the table instead of sweeping again. ``device`` is not part
  of the key: CPU and GPU results agree to decoder precision.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from samwidgets.analysis.results import check_results, load_results
from samwidgets.atomic import atomic_write
from samwidgets.errors import EvaluationError
from samwidgets.paths import cache_root


def _as_list(value) -> list[str]:
    if value is None:
        return []
    if isinstance(value, (str, os.PathLike)):
        return [str(value)]
    return [str(v) for v in value]


def sweep_key(manifests, models, protocols, *, max_cases, seed, only_3d: bool = False) -> str:
    """sha256 over the sweep parameters, each manifest's bytes, the samwidgets version and the results
    table's columns (a table cached before a column existed is not reused)."""
    from samwidgets import __version__
    from samwidgets.evaluation.table import COLUMNS

    h = hashlib.sha256()
    params = {"manifests": _as_list(manifests), "models": _as_list(models), "protocols": _as_list(protocols),
              "max_cases": max_cases, "seed": int(seed), "version": __version__, "columns": list(COLUMNS)}
    if only_3d:
        params["only_3d"] = True
    h.update(json.dumps(params, sort_keys=True).encode())
    for m in params["manifests"]:
        path = Path(m)
        h.update(path.read_bytes() if path.is_file() else f"missing:{m}".encode())
    return h.hexdigest()[:32]


@dataclass
class SweepOutcome:
    """What :func:`load_or_run` did: the table, where it lies, and whether it was reused."""

    results: pd.DataFrame
    path: Path
    reused: bool
    key: str | None = None
    seconds: float = 0.0

    def describe(self) -> str:
        """One markdown line: rows, cases, models, protocols, where the table came from."""
        df = self.results
        how = "reused" if self.reused else f"computed by a new sweep in {self.seconds:.1f} s"
        n_bad = int((df["error"].fillna("").astype(str) != "").sum()) if "error" in df else 0
        return (f"**{len(df)} rows**, {df['case'].nunique()} cases, models {sorted(df['model'].unique())}, "
                f"protocols {sorted(df['protocol'].unique())}; table `{self.path}` ({how})"
                + (f"; {n_bad} rows skipped or failed (see the last section)" if n_bad else ""))


def load_or_run(manifests, models, protocols, *, max_cases=None, seed: int = 0, device: str = "auto",
                cache_dir=None, results=None, progress: bool = True, only_3d: bool = False,
                workers: int | None = None, scheduler: str | None = None, client=None) -> SweepOutcome:
    """Load ``results`` if that file exists; else reuse a cached identical sweep; else run the sweep.

    ``results``: a table to analyse as is (then the sweep parameters are ignored), or None.
    ``max_cases``: the first N cases of each *dataset* of each manifest (None: all). ``only_3d``: keep only
    the cases a manifest declares 3D (``dims: 3``), for the volume analyses.
    The sweep is :func:`samwidgets.evaluation.run_sweep` with its embedding cache in
    ``<cache_dir>/embeddings``; its table is written to ``<cache_dir>/results/<key>.parquet``. ``workers``,
    ``scheduler`` or ``client`` run it on Dask (see run_sweep); like ``device`` they are not part of the key:
    the table is the same wherever it was computed.
    """
    if results and Path(results).is_file():
        return SweepOutcome(load_results(results), Path(results), True)
    manifests, models, protocols = _as_list(manifests), _as_list(models), _as_list(protocols)
    if not (manifests and models and protocols):
        raise EvaluationError("a sweep needs at least one manifest, one model and one protocol "
                              "(or an existing results table)", where="sweep")
    root = cache_root(cache_dir)
    key = sweep_key(manifests, models, protocols, max_cases=max_cases, seed=seed, only_3d=only_3d)
    path = root / "results" / f"{key}.parquet"
    if path.is_file():
        return SweepOutcome(load_results(path), path, True, key)
    import time

    from samwidgets.evaluation import run_sweep

    path.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    tmp = path.with_suffix(".part.parquet")
    df = run_sweep(first_cases_per_dataset(manifests, max_cases, only_3d=only_3d), models, protocols, out=tmp,
                   max_cases=None, seed=seed, device=device, cache=_embedding_cache(root), progress=progress,
                   workers=workers, scheduler=scheduler, client=client)
    df = check_results(df, where="run_sweep")
    os.replace(tmp, path)  # run_sweep(out=tmp) has written the table atomically
    return SweepOutcome(df, path, False, key, time.perf_counter() - started)


def first_cases_per_dataset(manifests, max_cases, *, only_3d: bool = False):
    """Loaded manifests keeping, in manifest order, the first ``max_cases`` cases of each dataset.

    A manifest may hold several datasets (the embedded sample holds six), so "per dataset" is not
    ``run_sweep``'s "per manifest". None keeps every case. ``only_3d`` first drops every case whose
    manifest entry does not say ``dims: 3``.
    """
    import dataclasses

    from samwidgets.manifest import load_manifest

    out = []
    for m in _as_list(manifests):
        manifest = load_manifest(m)
        if only_3d:
            manifest = dataclasses.replace(manifest, cases=[c for c in manifest.cases if c.dims == 3])
        if max_cases is None:
            out.append(manifest)
            continue
        seen: dict[str, int] = {}
        kept = []
        for case in manifest.cases:
            if seen.get(case.dataset, 0) < int(max_cases):
                seen[case.dataset] = seen.get(case.dataset, 0) + 1
                kept.append(case)
        out.append(dataclasses.replace(manifest, cases=kept))
    return out


def _embedding_cache(root: Path):
    from samwidgets.models.cache import EmbeddingCache

    return EmbeddingCache(root / "embeddings")


def save_table(df: pd.DataFrame, path) -> Path:
    """Write the results table a report used next to it (parquet), creating the folder."""
    return atomic_write(path, lambda tmp: df.to_parquet(tmp, index=False))
