"""Why a model fails: the failure-factor analyses of a results table in one call, and their figure.

:func:`explain` runs the per-descriptor views (:mod:`samwidgets.analysis.factors`: score by quantile bins,
Spearman correlation, both with case-bootstrap CIs), the cross-validated multivariable model
(:mod:`samwidgets.analysis.factor_model`) and the generated findings
(:mod:`samwidgets.analysis.findings`) for every modality × model × protocol group. The failure-factors
report and the demo report's "why" section both call it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from samwidgets.analysis import factor_model, factors, findings as F


@dataclass
class Explanation:
    """Everything :func:`explain` computed (tables as documented in their modules)."""

    bins: pd.DataFrame
    spearman: pd.DataFrame
    models: list
    top: pd.DataFrame
    findings: list[str]
    metric: str
    threshold: float
    off_label: bool = False

    @property
    def performance(self) -> pd.DataFrame:
        return factor_model.performance_table(self.models)

    @property
    def importances(self) -> pd.DataFrame:
        return factor_model.importance_table(self.models)

    def top_spearman(self) -> pd.DataFrame:
        """The Spearman rows of the top factors, in rank order, with ``rank`` and ``source``."""
        if self.top.empty:
            return self.top
        keys = [*factors.GROUP, "descriptor"]
        sp = self.spearman.astype({c: str for c in factors.GROUP})
        return self.top.merge(sp, on=keys, how="left").sort_values([*factors.GROUP, "rank"])


def explain(df: pd.DataFrame, *, metric: str = "dice", threshold: float = 0.5, n_bins: int = 4,
            n_boot: int = 500, k: int = 3, rng: np.random.Generator, n_repeats: int = 5,
            min_cases: int = 4, min_rows: int = 12, descriptors=None, off_label: bool = False) -> Explanation:
    """Run every failure-factor analysis on ``df`` (see the module docstring); ``k`` top factors per group;
    ``off_label`` also analyses the protocols a model was not trained for (as their own groups)."""
    bins = factors.binned_scores(df, metric=metric, n_bins=n_bins, rng=rng, n_boot=n_boot, descriptors=descriptors,
                                 off_label=off_label)
    spear = factors.spearman_table(df, metric=metric, rng=rng, n_boot=n_boot, descriptors=descriptors,
                                   off_label=off_label)
    models = factor_model.fit_models(df, metric=metric, threshold=threshold, rng=rng, n_repeats=n_repeats,
                                     min_cases=min_cases, min_rows=min_rows, descriptors=descriptors,
                                     off_label=off_label)
    top = F.top_factors(models, spear, k=k, min_cases=min_cases)
    off = factors.off_label_rows(df) if off_label else df.iloc[0:0]
    off_groups = {tuple(map(str, g)) for g in off[list(factors.GROUP)].drop_duplicates().itertuples(index=False)}
    text = F.findings(models, bins, spear, metric=metric, threshold=threshold, k=k, min_cases=min_cases,
                      off_label_groups=off_groups)
    return Explanation(bins, spear, models, top, text, metric, threshold, off_label)


def plot_factor_bins(ex: Explanation, group: dict, *, descriptors=None, panel: float = 3.0) -> Figure:
    """Mean score (95 % case-bootstrap CI) per quantile bin of each top descriptor of one group, one
    panel per descriptor; x ticks give each bin's value range."""
    sel = ex.top
    for col, value in group.items():
        sel = sel[sel[col].astype(str) == str(value)]
    names = list(descriptors or sel.sort_values("rank")["descriptor"])
    fig = Figure(figsize=(panel * max(1, len(names)), panel + 0.4), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, max(1, len(names)), squeeze=False).ravel())
    if not names:
        axes[0].text(0.5, 0.5, "no factor stands out", ha="center", va="center", transform=axes[0].transAxes)
        axes[0].set_axis_off()
        return fig
    for ax, name in zip(axes, names):
        b = ex.bins[ex.bins["descriptor"] == name]
        for col, value in group.items():
            b = b[b[col].astype(str) == str(value)]
        b = b.sort_values("bin")
        mean = b["mean"].to_numpy(float)
        err = np.vstack([mean - b["ci_low"].to_numpy(float), b["ci_high"].to_numpy(float) - mean])
        ax.errorbar(np.arange(len(b)), mean, yerr=np.nan_to_num(err), marker="o", capsize=3)
        ticks = [F.fmt_value(lo) if lo == hi else f"{F.fmt_value(lo)}–{F.fmt_value(hi)}" for lo, hi in zip(b["low"], b["high"])]
        ax.set_xticks(np.arange(len(b)), ticks, rotation=30, ha="right", fontsize=7)
        ax.set_ylim(0, 1.05)
        ax.set_title(factors.label(name), fontsize=8)
        ax.set_ylabel(f"mean {ex.metric} (95% CI)", fontsize=8)
    fig.suptitle(" · ".join(str(v) for v in group.values()), fontsize=9)
    return fig


def groups(ex: Explanation) -> list[dict]:
    """The groups that have top factors, in sorted order, as {column: value} dicts."""
    if ex.top.empty:
        return []
    keys = ex.top[list(factors.GROUP)].drop_duplicates().sort_values(list(factors.GROUP))
    return [dict(zip(factors.GROUP, row)) for row in keys.itertuples(index=False)]


def gallery_rows(df: pd.DataFrame, ex: Explanation, group: dict, *, k: int = 2, n_factors: int = 1) -> pd.DataFrame:
    """Rows at each extreme of the group's ``n_factors`` top descriptors (:func:`factors.extreme_rows`),
    with a ``factor`` column naming the descriptor and its value."""
    sel = ex.top
    for col, value in group.items():
        sel = sel[sel[col].astype(str) == str(value)]
    out = []
    for name in sel.sort_values("rank")["descriptor"].head(n_factors):
        rows = factors.extreme_rows(df, name, metric=ex.metric, k=k, where=group, off_label=ex.off_label)
        rows["factor"] = [f"{factors.label(name)} = {F.fmt_value(float(v))} ({e})" for v, e in zip(rows[name], rows["extreme"])]
        out.append(rows)
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame()
