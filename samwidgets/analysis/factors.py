"""Failure factors, one descriptor at a time: score by quantile bins and Spearman correlation, with
bootstrap intervals over cases; the rows at each extreme of a descriptor for galleries.

Rows are the final prompt step of every scored object (one per case, label, slice or volume, model and
protocol), without errors and without off-label rows (a protocol the model was not trained for is a
separate finding: :func:`off_label_rows`). Descriptor columns are those of the results table
(:data:`samwidgets.evaluation.table.DESCRIPTOR_COLUMNS`; formulas in :mod:`samwidgets.masks.descriptors`).

Intervals resample **cases** (all rows of a case together), so many slices of one volume never count as
independent observations. Every random choice takes an explicit ``rng``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from samwidgets.analysis.results import final_step, ok_rows
from samwidgets.analysis.stats import bootstrap_ci
from samwidgets.evaluation.table import DESCRIPTOR_COLUMNS

GROUP = ("modality", "model", "protocol")
#: descriptor column -> words used in tables and generated findings
DESCRIPTOR_LABELS = {
    "obj_px": "object size (px)", "obj_fraction": "object size (fraction of the image)",
    "obj_mm": "object size (mm² / mm³)", "obj_components": "number of components",
    "obj_solidity": "solidity", "obj_circularity": "circularity", "obj_elongation": "elongation",
    "obj_holes": "number of holes", "obj_cnr": "boundary contrast (CNR)",
    "obj_edge_gradient": "boundary sharpness (relative gradient)", "obj_heterogeneity": "heterogeneity inside",
    "obj_touches_border": "touching the image border", "box_tightness": "box area / object area",
    "box_other_fill": "share of the box filled by other structures",
    "click_dist_px": "first click's distance to the boundary (px)",
    "click_dist_rel": "first click's depth (relative to the inscribed radius)",
}
BIN_COLUMNS = [*GROUP, "descriptor", "bin", "n_bins", "low", "high", "n_rows", "n_cases", "mean",
               "ci_low", "ci_high"]
SPEARMAN_COLUMNS = [*GROUP, "descriptor", "n_rows", "n_cases", "rho", "ci_low", "ci_high"]


def label(descriptor: str) -> str:
    """Words for a descriptor column (the column name when it has none)."""
    return DESCRIPTOR_LABELS.get(descriptor, descriptor)


def has_descriptors(df: pd.DataFrame) -> bool:
    """Whether the table holds descriptor values (tables written before descriptors existed do not)."""
    cols = [c for c in DESCRIPTOR_COLUMNS if c in df.columns]
    return bool(cols) and bool(df[cols].notna().any().any())


def off_label_rows(df: pd.DataFrame) -> pd.DataFrame:
    """Rows of protocols the model was not trained for (``off_label``), final step, no error."""
    if "off_label" not in df.columns:
        return df.iloc[0:0]
    d = final_step(ok_rows(df))
    return d[d["off_label"].astype(bool)]


def factor_rows(df: pd.DataFrame, *, metric: str = "dice", off_label: bool = False) -> pd.DataFrame:
    """Final-step, error-free rows with a finite ``metric``: what factor analyses use. Off-label rows
    (protocols the model was not trained for) are left out unless ``off_label=True`` (every analysis is
    per protocol, so they never mix with on-label rows)."""
    d = final_step(ok_rows(df))
    if not off_label and "off_label" in d.columns:
        d = d[~d["off_label"].astype(bool)]
    d = d[np.isfinite(pd.to_numeric(d[metric], errors="coerce"))]
    return d.reset_index(drop=True)


def usable_descriptors(d: pd.DataFrame, descriptors=DESCRIPTOR_COLUMNS, *, min_rows: int = 5) -> list[str]:
    """Descriptors with at least ``min_rows`` finite values and more than one distinct value in ``d``."""
    out = []
    for c in descriptors:
        if c not in d.columns:
            continue
        x = pd.to_numeric(d[c], errors="coerce")
        x = x[np.isfinite(x)]
        if len(x) >= min_rows and x.nunique() > 1:
            out.append(c)
    return out


def _case_means(part: pd.DataFrame, metric: str) -> np.ndarray:
    return part.groupby(["dataset", "case"], sort=False)[metric].mean().to_numpy()


def binned_scores(df: pd.DataFrame, *, metric: str = "dice", descriptors=None, by=GROUP, n_bins: int = 4,
                  rng: np.random.Generator, n_boot: int = 500, level: float = 0.95,
                  min_rows: int = 5, off_label: bool = False) -> pd.DataFrame:
    """Mean ``metric`` per quantile bin of each descriptor, per ``by`` group, with bootstrap CIs.

    Bins are ``pandas.qcut`` quantiles of the descriptor's ranks within the group (a descriptor with at
    most ``n_bins`` distinct values gets one bin per value; ties never straddle bins, so ``n_bins`` can be
    smaller than asked); ``bin`` 1 holds the lowest values, ``low``/``high`` its value range. The mean
    of a bin is over cases (rows of one case in the bin averaged first) with a percentile bootstrap CI over
    those cases (:func:`samwidgets.analysis.stats.bootstrap_ci`). Columns: :data:`BIN_COLUMNS`.
    """
    d = factor_rows(df, metric=metric, off_label=off_label)
    rows = []
    for key, part in d.groupby(list(by), sort=True):
        key = key if isinstance(key, tuple) else (key,)
        for c in usable_descriptors(part, descriptors or DESCRIPTOR_COLUMNS, min_rows=min_rows):
            x = pd.to_numeric(part[c], errors="coerce")
            sub, x = part[x.notna()], x[x.notna()]
            if x.nunique() <= n_bins:  # few distinct values (e.g. components): one bin each
                bins = x.rank(method="dense") - 1
            else:  # quantiles of the ranks, so infinite values (a flat CNR) sort last
                bins = pd.qcut(x.rank(method="average"), n_bins, labels=False, duplicates="drop")
            bins = bins.astype(int)
            n = int(bins.max()) + 1
            for b in range(n):
                in_bin = sub[bins.to_numpy() == b]
                if in_bin.empty:
                    continue
                xb = x[bins.to_numpy() == b]
                est, lo, hi = bootstrap_ci(_case_means(in_bin, metric), rng=rng, n_boot=n_boot, level=level)
                rows.append({**dict(zip(by, key)), "descriptor": c, "bin": b + 1, "n_bins": n,
                             "low": float(xb.min()), "high": float(xb.max()), "n_rows": len(in_bin),
                             "n_cases": in_bin.groupby(["dataset", "case"]).ngroups, "mean": est,
                             "ci_low": lo, "ci_high": hi})
    return pd.DataFrame(rows, columns=BIN_COLUMNS)


def _spearman(x: np.ndarray, y: np.ndarray) -> float:
    from scipy.stats import rankdata

    if len(x) < 3:
        return float("nan")
    rx, ry = rankdata(x), rankdata(y)
    sx, sy = rx.std(), ry.std()
    if sx == 0 or sy == 0:
        return float("nan")
    return float(((rx - rx.mean()) * (ry - ry.mean())).mean() / (sx * sy))


def spearman_ci(x, y, cases, *, rng: np.random.Generator, n_boot: int = 500,
                level: float = 0.95) -> tuple[float, float, float]:
    """(rho, low, high): Spearman's rank correlation of x and y (average ranks for ties) and its
    percentile bootstrap interval resampling ``cases`` (rows of a case drawn together). Infinite x
    values rank above every finite one; NaN pairs are dropped. Fewer than 3 pairs: NaN."""
    x = np.asarray(x, float)
    y = np.asarray(y, float)
    cases = np.asarray(cases)
    keep = ~np.isnan(x) & np.isfinite(y)
    x, y, cases = x[keep], y[keep], cases[keep]
    big = np.finfo(float).max
    x = np.where(np.isposinf(x), big, np.where(np.isneginf(x), -big, x))  # inf ranks last, as a value
    rho = _spearman(x, y)
    if not np.isfinite(rho) or n_boot <= 0:
        return rho, float("nan"), float("nan")
    uniq, inverse = np.unique(cases, return_inverse=True)
    members = [np.nonzero(inverse == i)[0] for i in range(len(uniq))]
    if len(uniq) < 2:
        return rho, float("nan"), float("nan")
    boots = []
    for _ in range(int(n_boot)):
        pick = rng.integers(0, len(uniq), len(uniq))
        idx = np.concatenate([members[i] for i in pick])
        r = _spearman(x[idx], y[idx])
        if np.isfinite(r):
            boots.append(r)
    if not boots:
        return rho, float("nan"), float("nan")
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(boots, [alpha, 1.0 - alpha])
    return rho, float(lo), float(hi)


def spearman_table(df: pd.DataFrame, *, metric: str = "dice", descriptors=None, by=GROUP,
                   rng: np.random.Generator, n_boot: int = 500, level: float = 0.95,
                   min_rows: int = 5, off_label: bool = False) -> pd.DataFrame:
    """Spearman correlation of each descriptor with ``metric`` per ``by`` group, with a case-bootstrap
    CI (:func:`spearman_ci`). Columns: :data:`SPEARMAN_COLUMNS`."""
    d = factor_rows(df, metric=metric, off_label=off_label)
    rows = []
    for key, part in d.groupby(list(by), sort=True):
        key = key if isinstance(key, tuple) else (key,)
        cases = (part["dataset"].astype(str) + "/" + part["case"].astype(str)).to_numpy()
        for c in usable_descriptors(part, descriptors or DESCRIPTOR_COLUMNS, min_rows=min_rows):
            x = pd.to_numeric(part[c], errors="coerce").to_numpy(float)
            rho, lo, hi = spearman_ci(x, part[metric].to_numpy(float), cases, rng=rng, n_boot=n_boot,
                                      level=level)
            ok = ~np.isnan(x)
            rows.append({**dict(zip(by, key)), "descriptor": c, "n_rows": int(ok.sum()),
                         "n_cases": len(set(cases[ok])), "rho": rho, "ci_low": lo, "ci_high": hi})
    return pd.DataFrame(rows, columns=SPEARMAN_COLUMNS)


def extreme_rows(df: pd.DataFrame, descriptor: str, *, metric: str = "dice", k: int = 3,
                 where: dict | None = None, off_label: bool = False) -> pd.DataFrame:
    """The ``k`` rows with the lowest and the ``k`` with the highest ``descriptor`` (factor rows, at most
    one row per case at each end), with a column ``extreme`` = "lowest" / "highest"; ``where`` filters
    columns by equality first (e.g. ``{"modality": "US"}``)."""
    d = factor_rows(df, metric=metric, off_label=off_label)
    for col, value in (where or {}).items():
        d = d[d[col].astype(str) == str(value)]
    d = d[pd.to_numeric(d[descriptor], errors="coerce").notna()]
    if d.empty:
        return d.assign(extreme=pd.Series(dtype=str))
    d = d.sort_values(descriptor, kind="mergesort")
    low = d.drop_duplicates(["dataset", "case"]).head(k).assign(extreme="lowest")
    high = d.iloc[::-1].drop_duplicates(["dataset", "case"]).head(k).assign(extreme="highest")
    high = high[~high.index.isin(low.index)]
    return pd.concat([low, high]).reset_index(drop=True)
