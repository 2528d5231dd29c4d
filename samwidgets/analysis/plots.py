"""Figures for the analysis notebooks (matplotlib, no pyplot state kept: every function returns a Figure).

Inputs are the tables of :mod:`samwidgets.analysis.stats` and :mod:`samwidgets.analysis.volumes`;
error bars are their bootstrap confidence intervals.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

FAILURE_COLOURS = {
    "ok": "#4daf4a", "under_segmentation": "#377eb8", "leak": "#e41a1c", "over_segmentation/leak": "#e41a1c",
    "wrong_object": "#984ea3", "fragmented": "#ff7f00",
}


def _label(values) -> str:
    return " / ".join(str(v) for v in (values if isinstance(values, tuple) else (values,)))


def _empty(fig: Figure, ax, message: str) -> Figure:
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes)
    ax.set_axis_off()
    return fig


def plot_summary(summary: pd.DataFrame, *, metric: str = "dice", x: str = "modality",
                 hue=("model", "protocol"), title: str | None = None) -> Figure:
    """Grouped bars of the mean ``metric`` per ``x`` group, one bar per ``hue`` combination, with CI."""
    hue = list(hue)
    s = summary[summary["metric"] == metric].copy()
    s["_x"] = s[x].astype(str)
    s["_hue"] = s[hue].astype(str).agg(" / ".join, axis=1) if len(s) else ""
    groups = sorted(s["_x"].unique())
    hues = sorted(s["_hue"].unique())
    fig = Figure(figsize=(max(6.0, 0.35 * len(groups) * max(1, len(hues)) + 3), 4.2), layout="constrained")
    ax = fig.subplots()
    if s.empty:
        return _empty(fig, ax, f"no {metric} scores")
    width = 0.8 / max(1, len(hues))
    pos = np.arange(len(groups))
    for i, h in enumerate(hues):
        part = s[s["_hue"] == h].set_index("_x").reindex(groups)
        mean = part["mean"].to_numpy(float)
        err = np.vstack([mean - part["ci_low"].to_numpy(float), part["ci_high"].to_numpy(float) - mean])
        ax.bar(pos + (i - (len(hues) - 1) / 2) * width, mean, width, yerr=np.nan_to_num(err), capsize=2, label=h)
    ax.set_xticks(pos, groups, rotation=30, ha="right")
    ax.set_ylabel(f"mean {metric} (95% bootstrap CI)")
    if metric != "hd95":
        ax.set_ylim(0, 1.05)
    ax.set_title(title or f"{metric} by {x}")
    ax.legend(fontsize="small", title=" / ".join(hue), loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return fig


def curve_auc(line: pd.DataFrame) -> float:
    """AUC of a clicks curve by the CVPR 2025 definition (:func:`samwidgets.evaluation.click_metrics.click_auc`):
    trapezoid over the mean scores after clicks 1..5 at x = 0..4 (max 4.0); NaN when any of them is missing.
    For ``cvpr25`` lines this is the mean DSC_AUC of the objects (the trapezoid is linear)."""
    from samwidgets.evaluation.click_metrics import AUC_CLICKS, click_auc

    means = line.set_index("n_points")["mean"]
    wanted = list(range(1, AUC_CLICKS + 1))
    if not set(wanted) <= set(means.index):
        return float("nan")
    return click_auc(means.loc[wanted].to_numpy(float))


def plot_clicks(curve: pd.DataFrame, *, metric: str = "dice", by=("model", "protocol"), facet: str | None = "modality") -> Figure:
    """``metric`` against the number of clicks, one line (with CI band) per ``by`` group, one panel per facet.
    Each legend entry carries the line's AUC over clicks 1..5 (:func:`curve_auc`) when it has those points."""
    panels = sorted(curve[facet].astype(str).unique()) if facet and not curve.empty else [None]
    fig = Figure(figsize=(min(4.0 * len(panels), 16), 3.6), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(panels), sharey=True, squeeze=False)[0])
    if curve.empty:
        return _empty(fig, axes[0], "no point-prompt protocol in these results")
    for ax, panel in zip(axes, panels):
        part = curve if panel is None else curve[curve[facet].astype(str) == panel]
        for key, line in part.groupby(list(by), sort=True):
            line = line.sort_values("n_points")
            auc = curve_auc(line)
            label = _label(key) + ("" if np.isnan(auc) else f" (AUC₁₋₅ {auc:.2f})")
            ax.plot(line["n_points"], line["mean"], marker="o", label=label)
            ax.fill_between(line["n_points"], line["ci_low"], line["ci_high"], alpha=0.2)
        ax.set_xlabel("number of clicks")
        ax.set_title(panel or "")
        ax.set_ylim(0, 1.05)
    axes[0].set_ylabel(f"mean {metric}")
    axes[-1].legend(fontsize="small", loc="lower right")
    return fig


def plot_failure_breakdown(breakdown: pd.DataFrame, *, title: str = "failure types") -> Figure:
    """Stacked horizontal bars: the share of each failure type per group (rows of ``breakdown``)."""
    fig = Figure(figsize=(7, 0.45 * max(3, len(breakdown)) + 1.2), layout="constrained")
    ax = fig.subplots()
    if breakdown.empty:
        return _empty(fig, ax, "no rows")
    left = np.zeros(len(breakdown))
    names = [str(i) for i in breakdown.index]
    for col in breakdown.columns:
        vals = breakdown[col].to_numpy(float)
        ax.barh(names, vals, left=left, label=col, color=FAILURE_COLOURS.get(col))
        left += vals
    ax.set_xlabel("share of rows" if left.max() <= 1.0 + 1e-9 else "rows")
    ax.set_title(title)
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return fig


def plot_paired(pairs: pd.DataFrame, *, metric: str, a: str, b: str) -> Figure:
    """Left: score of ``a`` against ``b`` per unit (coloured by modality); right: histogram of b - a."""
    fig = Figure(figsize=(10, 4), layout="constrained")
    ax1, ax2 = fig.subplots(1, 2)
    if pairs.empty:
        return _empty(fig, ax1, "no paired units")
    for mod, part in pairs.groupby("modality"):
        ax1.scatter(part[f"{metric}_a"], part[f"{metric}_b"], s=14, alpha=0.7, label=str(mod))
    lo = float(np.nanmin(pairs[[f"{metric}_a", f"{metric}_b"]].to_numpy()))
    hi = float(np.nanmax(pairs[[f"{metric}_a", f"{metric}_b"]].to_numpy()))
    ax1.plot([lo, hi], [lo, hi], color="grey", lw=1, ls="--")
    ax1.set_xlabel(f"{metric}: {a}")
    ax1.set_ylabel(f"{metric}: {b}")
    ax1.legend(fontsize="small")
    ax2.hist(pairs["diff"].dropna(), bins=min(30, max(5, len(pairs) // 2)), color="#377eb8")
    ax2.axvline(0, color="grey", lw=1)
    ax2.set_xlabel(f"{metric} difference ({b} - {a})")
    ax2.set_ylabel("units")
    return fig


def plot_distance(curve: pd.DataFrame, *, metric: str = "dice", by=("model", "protocol")) -> Figure:
    """``metric`` per slice against distance from the prompted slice, one line (CI band) per group."""
    fig = Figure(figsize=(7, 4), layout="constrained")
    ax = fig.subplots()
    if curve.empty:
        return _empty(fig, ax, "no 3D slice rows in these results")
    for key, line in curve.groupby(list(by), sort=True):
        line = line.sort_values("distance")
        ax.plot(line["distance"], line["mean"], marker=".", label=_label(key))
        ax.fill_between(line["distance"], line["ci_low"], line["ci_high"], alpha=0.2)
    ax.set_xlabel("distance from the prompted slice (slices)")
    ax.set_ylabel(f"mean {metric}")
    ax.set_ylim(0, 1.05)
    ax.legend(fontsize="small")
    return fig
