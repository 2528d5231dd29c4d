"""The results table: its columns, and atomic reads and appends of the parquet file.

One row per (case, label, slice or volume, model, protocol, prompt step). Columns (the report notebooks
and ``samwidgets.widgets.open_case(row)`` rely on these names):

=================  =======  ====================================================================
manifest           str      absolute path of the manifest the case came from
case_index         int      position of the case in its manifest
dataset            str
modality           str
case               str      case id
label              str      label name ("" on a row for a case that failed to load)
slice              int      z of a per-slice row (0 for a 2D image); -1 for a volume-level row
model              str      registry name
protocol           str      protocol name as given (e.g. "point_iterative:9")
step               int      prompting round, 1-based (0 on error / skipped rows)
n_points           int      points sent in this step (all prompts of the step)
dice iou nsd hd95  float    :func:`samwidgets.metrics.score` (NSD 0 unless Dice > 0.2; hd95 inf when one
                            mask is empty); NaN on error / skipped rows
seconds            float    prompt simulation + decoding time of this step (encoding excluded)
encode_seconds     float    time spent encoding this row's slice (0 on a cache hit), NaN for volumes
failure_type       str      :func:`samwidgets.evaluation.failures.failure_type`, or "error" / "skipped"
prompt_log         str      JSON {"protocol", "slice", "prompts": [Prompt.to_json(), ...]} (+ "box3d"; volume
                            rows of cvpr25*: "cvpr25_box" and "clicks_zyx" [[z, y, x, label], ...])
error              str      "" when fine; else the error (or the reason a row was skipped)
seed               int      the sweep seed
off_label          bool     the protocol sends a prompt kind the model was not trained with (points on
                            LiteMedSAM / MedSAM): :mod:`samwidgets.evaluation.describe`
obj_* box_* click_* float   descriptors (:data:`DESCRIPTOR_COLUMNS`) of the object and of the first prompt
                            (:mod:`samwidgets.masks.descriptors`, formulas there); NaN where undefined,
                            on error rows and in tables written before they existed
=================  =======  ====================================================================

Descriptor columns (names from :class:`~samwidgets.masks.descriptors.ObjectDescriptors` and
:class:`~samwidgets.masks.descriptors.PromptDescriptors`): obj_px, obj_fraction, obj_mm (mm² or mm³, NaN
when the spacing is unknown), obj_components, obj_solidity, obj_circularity, obj_elongation, obj_holes,
obj_cnr (3 px ring), obj_edge_gradient, obj_heterogeneity, obj_touches_border (0/1); box_tightness,
box_other_fill, click_dist_px, click_dist_rel.

Writes go to a temporary file beside the target, then ``os.replace`` it: a crash leaves the previous
complete table, never a torn one.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from samwidgets.atomic import atomic_write
from samwidgets.errors import EvaluationError
from samwidgets.masks.descriptors import OBJECT_DESCRIPTORS, PROMPT_DESCRIPTORS

#: descriptor columns, all float64: the object's, then the first prompt's
DESCRIPTOR_COLUMNS: tuple[str, ...] = (*OBJECT_DESCRIPTORS, *PROMPT_DESCRIPTORS)

#: the metric columns (:func:`samwidgets.metrics.score`)
METRICS: tuple[str, ...] = ("dice", "iou", "nsd", "hd95")

#: every column and its dtype, in table order: the one definition of the results schema
COLUMNS: dict[str, str] = {
    "manifest": "str", "case_index": "int64", "dataset": "str", "modality": "str", "case": "str",
    "label": "str", "slice": "int64", "model": "str", "protocol": "str", "step": "int64",
    "n_points": "int64", **{name: "float64" for name in METRICS},
    "seconds": "float64", "encode_seconds": "float64", "failure_type": "str", "prompt_log": "str",
    "error": "str", "seed": "int64", "off_label": "bool",
    **{name: "float64" for name in DESCRIPTOR_COLUMNS},
}
#: the columns every results table has had since the first version: what an analysis may rely on (tables
#: written before case_index, encode_seconds, seed, off_label and the descriptors existed still load)
REQUIRED_COLUMNS: tuple[str, ...] = (
    "dataset", "modality", "case", "label", "slice", "model", "protocol", "step", "n_points",
    *METRICS, "seconds", "failure_type", "prompt_log", "manifest", "error",
)
SORT_COLUMNS = ["manifest", "case_index", "case", "model", "label", "slice", "protocol", "step"]


def empty_table() -> pd.DataFrame:
    return normalise(pd.DataFrame({c: [] for c in COLUMNS}))


def normalise(df: pd.DataFrame) -> pd.DataFrame:
    """The table with exactly COLUMNS in order and their dtypes (missing strings -> "", numbers -> NaN)."""
    out = {}
    for col, dtype in COLUMNS.items():
        values = df[col] if col in df else pd.Series([None] * len(df), index=df.index)
        if dtype == "str":
            out[col] = values.fillna("").astype(str).astype(object)
        elif dtype == "bool":
            out[col] = values.map(lambda v: str(v).strip().lower() in ("true", "1", "1.0")).astype(bool)
        elif dtype == "int64":
            out[col] = pd.to_numeric(values, errors="coerce").fillna(-1 if col == "slice" else 0).astype("int64")
        else:
            out[col] = pd.to_numeric(values, errors="coerce").astype("float64")
    return pd.DataFrame(out).reset_index(drop=True)


def sort_table(df: pd.DataFrame) -> pd.DataFrame:
    """Canonical row order (stable): manifest, case position, model, label, slice, protocol, step."""
    return df.sort_values(SORT_COLUMNS, kind="mergesort").reset_index(drop=True)


def read_table(path: str | os.PathLike) -> pd.DataFrame:
    """Read a results table; a missing file is an empty table, an unreadable one an EvaluationError."""
    path = Path(path)
    if not path.exists():
        return empty_table()
    try:
        df = pd.read_parquet(path)
    except Exception as exc:
        raise EvaluationError(
            f"cannot read the existing results table ({exc}); move it away or choose another --out", where=path
        ) from exc
    missing = [c for c in ("manifest", "case", "model", "protocol", "seed") if c not in df]
    if missing:
        raise EvaluationError(f"not a samwidgets results table (missing columns {missing})", where=path)
    return normalise(df)


def write_table(df: pd.DataFrame, path: str | os.PathLike) -> None:
    """Atomically (temporary file + os.replace) write ``df`` to ``path`` as parquet."""
    table = normalise(df)
    try:
        atomic_write(path, lambda tmp: table.to_parquet(tmp, index=False))
    except OSError as exc:
        raise EvaluationError(f"cannot write the results table: {exc}", where=path) from exc


def append_rows(rows: list[dict], path: str | os.PathLike | None, existing: pd.DataFrame) -> pd.DataFrame:
    """``existing`` plus ``rows``, written atomically to ``path`` when given; returns the new table."""
    if not rows:
        return existing
    new = normalise(pd.DataFrame(rows))
    table = new if existing.empty else pd.concat([existing, new], ignore_index=True)
    if path is not None:
        write_table(table, path)
    return table


def _row_value(row, key: str):
    """``row[key]`` of a pandas Series or a dict; None when absent, None, NaN or an empty string."""
    try:
        value = row[key]
    except (KeyError, IndexError, TypeError):
        return None
    if value is None or (isinstance(value, float) and value != value) or (isinstance(value, str) and not value):
        return None
    return value


def case_for_row(row, *, manifests: dict | None = None):
    """The manifest :class:`~samwidgets.manifest.Case` a results row scored: the one rule for finding it.

    Reads ``manifest`` (a path, resolved by :func:`samwidgets.manifest.resolve_manifest_path`), ``case`` and,
    when present, ``case_index`` (the case's position in its manifest; used when the case there has the
    row's id) and ``dataset`` (``"<dataset>/<case>"`` is unique in a manifest holding several datasets).
    ``manifests`` caches loaded manifests by path across calls. Raises InputError when the row lacks
    ``manifest`` or ``case``, ManifestError when the manifest is missing or holds no such case.
    """
    from samwidgets.errors import InputError
    from samwidgets.manifest import load_manifest, resolve_manifest_path

    path, case = _row_value(row, "manifest"), _row_value(row, "case")
    if path is None or case is None:
        raise InputError("a results row needs 'manifest' and 'case'", where="results row")
    path = str(resolve_manifest_path(path))
    manifests = {} if manifests is None else manifests
    if path not in manifests:
        manifests[path] = load_manifest(path)
    manifest = manifests[path]
    index, dataset = _row_value(row, "case_index"), _row_value(row, "dataset")
    if index is not None and 0 <= int(index) < len(manifest.cases):
        chosen = manifest.cases[int(index)]
        if chosen.case_id == str(case) and dataset in (None, chosen.dataset):
            return chosen
    if dataset is not None and f"{dataset}/{case}" in {c.key for c in manifest.cases}:
        return manifest.case(f"{dataset}/{case}")
    return manifest.case(str(case))
