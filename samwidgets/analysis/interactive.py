"""Interactive-protocol summaries from a results table: the CVPR 2025 AUC / final scores and RITM NoC.

Both read the per-step rows the sweep writes (one row per object and prompt step) and never re-run a model:

* :func:`cvpr25_objects` / :func:`cvpr25_table`: per object (case, label, slice or volume, model, protocol)
  of ``cvpr25`` / ``cvpr25_points``, DSC_AUC and NSD_AUC (:func:`samwidgets.evaluation.click_metrics.click_auc`:
  trapezoid over the 5 click steps at x = 0..4, at most 4.0), Final DSC / NSD (last step) and, for ``cvpr25``,
  the box step's DSC; the table averages objects per case (the challenge's per-case mean over classes; the
  trapezoid is linear, so the AUC of the mean equals the mean of the AUCs), then cases per group with a
  bootstrap CI over cases.
* :func:`noc_objects` / :func:`noc_table`: per object of ``noc:N``, NoC@85 and NoC@90 from its IoU sequence
  (:func:`samwidgets.evaluation.click_metrics.noc`); per group, RITM's ``compute_noc_metric`` figures
  (:func:`samwidgets.evaluation.click_metrics.summarize_nocs`, the evaluation layer's one averaging): mean
  NoC over objects (the reference's unit is the object), the objects with NoC = N ("≥N@85/90"), and seconds
  per click.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from samwidgets.analysis.results import UNIT, ok_rows
from samwidgets.analysis.stats import bootstrap_ci
from samwidgets.evaluation.click_metrics import AUC_CLICKS, NOC_THRESHOLDS, click_auc, noc, noc_key, summarize_nocs
from samwidgets.evaluation.cvpr25 import CVPR25_PROTOCOLS
from samwidgets.evaluation.noc import NOC_PROTOCOL

OBJECT_KEYS = ("modality", *UNIT, "model", "protocol")


def _kind(protocol: str) -> str:
    return str(protocol).split(":", 1)[0]


def _rows_of(df: pd.DataFrame, kinds) -> pd.DataFrame:
    d = ok_rows(df)
    return d[d["protocol"].map(_kind).isin(kinds)]


def cvpr25_objects(df: pd.DataFrame) -> pd.DataFrame:
    """One row per object run with a CVPR 2025 protocol: OBJECT_KEYS, steps, box_dsc (NaN without a box
    step), dsc_auc, nsd_auc, final_dsc, final_nsd. Objects with fewer than 5 click steps are left out."""
    cols = [*OBJECT_KEYS, "steps", "box_dsc", "dsc_auc", "nsd_auc", "final_dsc", "final_nsd"]
    d = _rows_of(df, CVPR25_PROTOCOLS)
    out = []
    for key, g in d.groupby(list(OBJECT_KEYS), dropna=False, sort=True):
        g = g.sort_values("step")
        clicks = g[g["n_points"] > 0] if (g["n_points"] == 0).any() else g
        if len(clicks) < AUC_CLICKS:
            continue
        box = g[g["n_points"] == 0]
        out.append({**dict(zip(OBJECT_KEYS, key)), "steps": len(g),
                    "box_dsc": float(box["dice"].iloc[0]) if len(box) else float("nan"),
                    "dsc_auc": click_auc(clicks["dice"]), "nsd_auc": click_auc(clicks["nsd"]),
                    "final_dsc": float(g["dice"].iloc[-1]), "final_nsd": float(g["nsd"].iloc[-1])})
    return pd.DataFrame(out, columns=cols)


def cvpr25_table(df: pd.DataFrame, *, by=("modality", "model", "protocol"), rng: np.random.Generator,
                 n_boot: int = 1000) -> pd.DataFrame:
    """Per group: mean [95% bootstrap CI over cases] of DSC_AUC, NSD_AUC, Final DSC, Final NSD and the box
    step's DSC. Columns: ``by``, metric, n (cases), mean, ci_low, ci_high."""
    objs = cvpr25_objects(df)
    by = list(by)
    cols = [*by, "metric", "n", "mean", "ci_low", "ci_high"]
    if objs.empty:
        return pd.DataFrame(columns=cols)
    metrics = ["dsc_auc", "nsd_auc", "final_dsc", "final_nsd", "box_dsc"]
    cases = objs.groupby([*by, "dataset", "case"], dropna=False)[metrics].mean().reset_index()
    rows = []
    for group, part in cases.groupby(by, dropna=False, sort=True):
        group = group if isinstance(group, tuple) else (group,)
        for m in metrics:
            est, lo, hi = bootstrap_ci(part[m], rng=rng, n_boot=n_boot)
            rows.append({**dict(zip(by, group)), "metric": m, "n": int(part[m].notna().sum()),
                         "mean": est, "ci_low": lo, "ci_high": hi})
    return pd.DataFrame(rows, columns=cols)


def noc_objects(df: pd.DataFrame, *, thresholds=NOC_THRESHOLDS) -> pd.DataFrame:
    """One row per object run with ``noc:N``: OBJECT_KEYS, clicks (N), iou_1 (after one click), iou_final,
    noc@85, noc@90 (per ``thresholds``), seconds_per_click."""
    d = _rows_of(df, (NOC_PROTOCOL,))
    out = []
    for key, g in d.groupby(list(OBJECT_KEYS), dropna=False, sort=True):
        g = g.sort_values("step")
        max_clicks = int(str(key[-1]).split(":")[1]) if ":" in str(key[-1]) else len(g)
        ious = g["iou"].to_numpy(float)
        row = {**dict(zip(OBJECT_KEYS, key)), "clicks": max_clicks, "iou_1": float(ious[0]),
               "iou_final": float(ious[-1]), "seconds_per_click": float(g["seconds"].mean())}
        for t in thresholds:
            row[f"noc@{noc_key(t)}"] = noc(ious, t, max_clicks=max_clicks)
        out.append(row)
    cols = [*OBJECT_KEYS, "clicks", "iou_1", "iou_final", "seconds_per_click",
            *(f"noc@{noc_key(t)}" for t in thresholds)]
    return pd.DataFrame(out, columns=cols)


def noc_table(df: pd.DataFrame, *, by=("modality", "model", "protocol"), thresholds=NOC_THRESHOLDS) -> pd.DataFrame:
    """RITM's results table per group: objects, NoC@85, NoC@90 (means), ≥N@85 and ≥N@90 (objects with NoC
    equal to N), mean IoU after 1 click and after N clicks, seconds per click."""
    by = list(by)
    rows = []
    objs = noc_objects(df, thresholds=thresholds)
    if objs.empty:
        return pd.DataFrame(columns=[*by, "objects"])
    for group, part in objs.groupby(by, dropna=False, sort=True):
        group = group if isinstance(group, tuple) else (group,)
        n = int(part["clicks"].max())
        row = {**dict(zip(by, group)), "objects": len(part)}
        summary = summarize_nocs({t: part[f"noc@{noc_key(t)}"] for t in thresholds}, max_clicks=n)
        for t in thresholds:  # compute_noc_metric: mean NoC, and how many objects have NoC == N
            k = noc_key(t)
            row[f"NoC@{k}"] = summary[f"noc@{k}"]
            row[f"≥{n}@{k}"] = summary[f"over@{k}"]
        row.update({"IoU@1": float(part["iou_1"].mean()), f"IoU@{n}": float(part["iou_final"].mean()),
                    "s/click": float(part["seconds_per_click"].mean())})
        rows.append(row)
    return pd.DataFrame(rows)
