"""The sweep results table: its columns, loading it, and reducing it to the rows an analysis uses.

One row per (case, label, slice or volume, model, protocol, prompt step), as written by
:func:`samwidgets.evaluation.run_sweep`. ``slice`` is the z index of a 2D plane (0 for a 2D image) or -1
for a row that scores a whole volume. ``prompt_log`` is a JSON string
``{"slice": z, "prompts": [{"points_xy": [[x, y], ...], "point_labels": [...], "box_xyxy": [x0, y0, x1, y1]},
...], "protocol": ...}`` with xy pixels of the original slice and xyxy boxes.

Nothing here imports torch: it is pandas and numpy only.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from samwidgets.errors import EvaluationError, ResultsError
from samwidgets.evaluation.failures import FAILURE_TYPES
from samwidgets.evaluation.table import COLUMNS, METRICS, REQUIRED_COLUMNS

# metrics where a larger value is better (hd95 is a distance: smaller is better)
HIGHER_IS_BETTER = {"dice": True, "iou": True, "nsd": True, "hd95": False}
# the columns that identify one scored object in one plane, across models and protocols
UNIT = ("dataset", "case", "label", "slice")
_INT_COLUMNS = tuple(c for c, dtype in COLUMNS.items() if dtype == "int64")

__all__ = ["FAILURE_TYPES", "METRICS", "HIGHER_IS_BETTER", "UNIT", "load_results", "check_results", "ok_rows",
           "final_step", "prompt_kind", "per_case", "parse_prompt_log", "problem_rows", "select"]


def load_results(path, *, required=REQUIRED_COLUMNS) -> pd.DataFrame:
    """Read a results table (.parquet or .csv) and check that it has the ``required`` columns.

    Raises :class:`ResultsError` naming the file when it is missing, unreadable or lacks columns.
    """
    path = Path(path)
    if not path.is_file():
        raise ResultsError("results table not found", where=path)
    try:
        df = pd.read_csv(path) if path.suffix.lower() == ".csv" else pd.read_parquet(path)
    except Exception as exc:  # pyarrow / parser errors of many kinds
        raise ResultsError(f"cannot read the results table: {exc}", where=path) from exc
    return check_results(df, required=required, where=path)


def check_results(df: pd.DataFrame, *, required=REQUIRED_COLUMNS, where=None) -> pd.DataFrame:
    """Return ``df`` with normalised dtypes, or raise :class:`ResultsError` listing missing columns."""
    if not isinstance(df, pd.DataFrame):
        raise ResultsError(f"expected a pandas DataFrame, got {type(df).__name__}", where=where)
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise ResultsError(f"results table lacks columns {missing}", where=where)
    df = df.copy()
    for col in _INT_COLUMNS:
        if col in df.columns:
            df[col] = pd.to_numeric(df[col], errors="coerce").fillna(-1 if col == "slice" else 0).astype(int)
    for col in METRICS:
        if col in df.columns:
            df[col] = pd.to_numeric(df[col], errors="coerce").astype(float)
    for col in ("dataset", "modality", "case", "label", "model", "protocol", "failure_type"):
        if col in df.columns:
            df[col] = df[col].astype(str)
    return df


def ok_rows(df: pd.DataFrame) -> pd.DataFrame:
    """Rows without an error (``error`` empty / None / NaN)."""
    if "error" not in df.columns:
        return df
    err = df["error"]
    bad = err.notna() & (err.astype(str).str.len() > 0) & (err.astype(str) != "None")
    return df[~bad]


def final_step(df: pd.DataFrame) -> pd.DataFrame:
    """For each (unit, model, protocol) keep only the row of the last prompt step (the final result)."""
    if df.empty:
        return df
    keys = [*UNIT, "model", "protocol"]
    last = df.groupby(keys, dropna=False)["step"].transform("max")
    return df[df["step"] == last]


def prompt_kind(protocol: str) -> str:
    """Which prompt a protocol starts from: ``"box"``, ``"point"``, ``"propagation"`` (a 3D protocol) or
    ``"other"`` (a name the protocol registry does not know), read from the registry
    (:data:`samwidgets.evaluation.protocols.PROTOCOLS`)."""
    from samwidgets.evaluation.protocols import parse_protocol

    try:
        parsed = parse_protocol(protocol)
    except EvaluationError:
        return "other"
    return "propagation" if parsed.volume else parsed.spec.first_kind(parsed.n)


def per_case(df: pd.DataFrame, metric: str, *, keys=("dataset", "modality", "case", "model", "protocol")) -> pd.DataFrame:
    """One score per case (the bootstrap unit), following the CVPR24 evaluation.

    Uses the final prompt step. For each (case, label): the volume row (slice -1) when there is one, else the
    mean over that label's slice rows; then the mean over labels (``nanmean``: NaN scores are skipped, as in
    Mazurowski et al.). Returns the ``keys`` columns plus ``metric`` and ``n_labels``.
    """
    d = final_step(ok_rows(df))
    if d.empty:
        return pd.DataFrame(columns=[*keys, metric, "n_labels"])
    keys = list(keys)
    label_keys = [*keys, "label"]
    has_volume = d.groupby(label_keys, dropna=False)["slice"].transform(lambda s: bool((s == -1).any()))
    d = d[(~has_volume) | (d["slice"] == -1)]
    per_label = d.groupby(label_keys, dropna=False)[metric].mean().reset_index()
    out = per_label.groupby(keys, dropna=False).agg(**{metric: (metric, "mean"), "n_labels": ("label", "nunique")})
    return out.reset_index()


def parse_prompt_log(value) -> dict:
    """The prompt log of a row as a dict (``{}`` when absent); accepts a JSON string or a dict."""
    if isinstance(value, dict):
        return value
    if value is None or (isinstance(value, float) and np.isnan(value)) or value == "":
        return {}
    try:
        data = json.loads(value)
    except (TypeError, ValueError) as exc:
        raise ResultsError(f"prompt log is not valid JSON: {exc}", where="prompt_log") from exc
    return data if isinstance(data, dict) else {"prompts": data}


def problem_rows(df: pd.DataFrame) -> pd.DataFrame:
    """Rows that failed or were skipped, counted per (model, protocol, failure_type, error)."""
    if "error" not in df.columns:
        return pd.DataFrame(columns=["model", "protocol", "failure_type", "error", "rows"])
    bad = df[~df.index.isin(ok_rows(df).index)]
    return bad.groupby(["model", "protocol", "failure_type", "error"], dropna=False).size().rename("rows").reset_index()


def select(df: pd.DataFrame, **equals) -> pd.DataFrame:
    """Rows where each given column equals its value; a None value leaves that column unfiltered."""
    for col, value in equals.items():
        if value is not None:
            df = df[df[col].astype(str) == str(value)]
    return df
