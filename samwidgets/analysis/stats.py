"""Statistics the analysis notebooks show: bootstrap confidence intervals, summaries, paired tests.

Every random choice takes an explicit numpy ``rng`` (Generator). Bootstrap intervals are percentile
intervals over cases (the unit is one case, see :func:`samwidgets.analysis.results.per_case`), so
several labels or slices of one case never count as independent samples.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from samwidgets.analysis.results import (
    HIGHER_IS_BETTER, UNIT, final_step, ok_rows, per_case, prompt_kind,
)
from samwidgets.errors import ResultsError


def bootstrap_ci(values, *, rng: np.random.Generator, n_boot: int = 1000, level: float = 0.95,
                 statistic=np.mean) -> tuple[float, float, float]:
    """(estimate, low, high): ``statistic`` of ``values`` and its percentile bootstrap interval.

    NaN and infinite values are dropped (hd95 is inf when a mask is empty: count those separately).
    No value gives (nan, nan, nan); one value gives an interval of zero width.
    ``n_boot`` resamples of the same size are drawn with replacement from ``rng``.
    """
    x = np.asarray(values, dtype=float).ravel()
    x = x[np.isfinite(x)]
    if x.size == 0:
        return (float("nan"),) * 3
    est = float(statistic(x))
    if x.size == 1 or n_boot <= 0:
        return est, est, est
    idx = rng.integers(0, x.size, size=(int(n_boot), x.size))
    boots = np.apply_along_axis(statistic, 1, x[idx]) if statistic is not np.mean else x[idx].mean(axis=1)
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(boots, [alpha, 1.0 - alpha])
    return est, float(lo), float(hi)


def summarize(df: pd.DataFrame, *, metrics=("dice", "iou", "nsd"), by=("modality", "model", "protocol"),
              rng: np.random.Generator, n_boot: int = 1000, level: float = 0.95) -> pd.DataFrame:
    """Mean of each metric per group with a bootstrap CI over cases.

    Returns a long table: the ``by`` columns, ``metric``, ``n`` (cases), ``mean``, ``ci_low``, ``ci_high``.
    ``by`` may include ``"prompt_kind"`` (box / point / propagation), derived from the protocol.
    """
    by = list(by)
    rows = []
    for metric in metrics:
        keys = ["dataset", "modality", "case", "model", "protocol"]
        cases = per_case(df, metric, keys=keys)
        cases["prompt_kind"] = cases["protocol"].map(prompt_kind)
        for group, part in cases.groupby(by, dropna=False, sort=True):
            group = group if isinstance(group, tuple) else (group,)
            est, lo, hi = bootstrap_ci(part[metric], rng=rng, n_boot=n_boot, level=level)
            rows.append({**dict(zip(by, group)), "metric": metric, "n": int(part[metric].notna().sum()),
                         "mean": est, "ci_low": lo, "ci_high": hi})
    return pd.DataFrame(rows, columns=[*by, "metric", "n", "mean", "ci_low", "ci_high"])


def clicks_curve(df: pd.DataFrame, *, metric: str = "dice", by=("modality", "model", "protocol"),
                 rng: np.random.Generator, n_boot: int = 500, level: float = 0.95) -> pd.DataFrame:
    """Metric against the number of clicks, for every protocol step that used points.

    Each prompt step is one point on the curve; the score per case is the mean over its labels and slices
    at that step. Returns the ``by`` columns, ``n_points``, ``n``, ``mean``, ``ci_low``, ``ci_high``.
    """
    d = ok_rows(df)
    d = d[d["n_points"] > 0]
    by = list(by)
    cols = [*by, "n_points", "n", "mean", "ci_low", "ci_high"]
    if d.empty:
        return pd.DataFrame(columns=cols)
    case_keys = [*by, "n_points", "dataset", "case"]
    cases = d.groupby(case_keys, dropna=False)[metric].mean().reset_index()
    rows = []
    for group, part in cases.groupby([*by, "n_points"], dropna=False, sort=True):
        est, lo, hi = bootstrap_ci(part[metric], rng=rng, n_boot=n_boot, level=level)
        rows.append({**dict(zip([*by, "n_points"], group)), "n": len(part), "mean": est, "ci_low": lo, "ci_high": hi})
    return pd.DataFrame(rows, columns=cols)


def failure_breakdown(df: pd.DataFrame, *, by: str = "modality", normalize: bool = True) -> pd.DataFrame:
    """Share (or count) of each failure type per ``by`` group, final prompt step, rows without error.

    Rows: the groups; columns: failure types in the order of
    :data:`samwidgets.evaluation.failures.FAILURE_TYPES`, each followed by its former names (other types
    appended).
    """
    from samwidgets.evaluation.failures import failure_type_order

    order = failure_type_order()

    d = final_step(ok_rows(df))
    table = pd.crosstab(d[by], d["failure_type"], normalize="index" if normalize else False)
    order = [c for c in order if c in table.columns] + [c for c in table.columns if c not in order]
    return table[order]


def paired_differences(df: pd.DataFrame, *, metric: str, column: str, a: str, b: str,
                       unit=UNIT) -> pd.DataFrame:
    """Pair the final scores of ``column == a`` and ``column == b`` on the same units.

    ``column`` is ``"model"`` or ``"protocol"`` (filter the other one first). A unit is one
    (dataset, case, label, slice) by default. Returns one row per unit present on both sides, with
    ``modality``, ``{metric}_a``, ``{metric}_b``, ``diff`` (b - a), and the rows' ``prompt_log_a/_b``,
    ``failure_type_a/_b``, ``model_a/_b``, ``protocol_a/_b`` and ``manifest`` so that galleries can
    redraw both. Raises :class:`ResultsError` if a unit has several rows on one side.
    """
    unit = list(unit)
    d = final_step(ok_rows(df))
    sides = {}
    for tag, value in (("a", a), ("b", b)):
        part = d[d[column].astype(str) == str(value)]
        if part.empty:
            raise ResultsError(f"no rows with {column} == {value!r}", where=column)
        if part.duplicated(unit).any():
            raise ResultsError(
                f"several rows per {unit} for {column} == {value!r}: filter the other models/protocols first",
                where=column)
        keep = [*unit, "modality", "manifest", metric, "prompt_log", "failure_type", "model", "protocol"]
        sides[tag] = part[keep].rename(columns={c: f"{c}_{tag}" for c in keep if c not in (*unit, "modality", "manifest")})
    pairs = sides["a"].merge(sides["b"].drop(columns=["modality", "manifest"]), on=unit, how="inner")
    pairs["diff"] = pairs[f"{metric}_b"] - pairs[f"{metric}_a"]
    return pairs.reset_index(drop=True)


@dataclass
class PairedTest:
    """Wilcoxon signed-rank test of paired differences (b - a)."""

    n: int
    mean_diff: float
    median_diff: float
    ci_low: float
    ci_high: float
    statistic: float
    pvalue: float

    def as_dict(self) -> dict:
        return asdict(self)


def paired_test(diffs, *, rng: np.random.Generator, n_boot: int = 1000, level: float = 0.95) -> PairedTest:
    """Two-sided Wilcoxon signed-rank test (scipy, ``zero_method="wilcox"``) on paired differences.

    Also returns the mean difference with a bootstrap CI. Fewer than one non-zero difference gives
    statistic and p-value NaN (the test is undefined), never an exception.
    """
    from scipy.stats import wilcoxon

    x = np.asarray(diffs, dtype=float)
    x = x[np.isfinite(x)]
    mean, lo, hi = bootstrap_ci(x, rng=rng, n_boot=n_boot, level=level)
    stat = p = float("nan")
    if np.count_nonzero(x) >= 1:
        res = wilcoxon(x, zero_method="wilcox", alternative="two-sided")
        stat, p = float(res.statistic), float(res.pvalue)
    return PairedTest(n=int(x.size), mean_diff=mean, median_diff=float(np.median(x)) if x.size else float("nan"),
                      ci_low=lo, ci_high=hi, statistic=stat, pvalue=p)


def disagreements(pairs: pd.DataFrame, *, metric: str, threshold: float = 0.5, k: int | None = None) -> pd.DataFrame:
    """Units where exactly one side succeeds (score on the good side of ``threshold``), largest gap first.

    Adds ``winner`` ("a" or "b"). For hd95 success means a distance *below* the threshold.
    """
    good = HIGHER_IS_BETTER.get(metric, True)
    sa, sb = pairs[f"{metric}_a"], pairs[f"{metric}_b"]
    ok_a = sa >= threshold if good else sa <= threshold
    ok_b = sb >= threshold if good else sb <= threshold
    out = pairs[ok_a != ok_b].copy()
    out["winner"] = np.where(ok_a[ok_a != ok_b], "a", "b")
    out = out.reindex(out["diff"].abs().sort_values(ascending=False).index)
    return out.head(k) if k else out


def worst_k(df: pd.DataFrame, *, metric: str = "dice", k: int = 4, group_by=("modality", "protocol"),
            failure_type: str | None = None, off_label: bool = False) -> pd.DataFrame:
    """The ``k`` worst rows per group (final step, no error), worst first; optionally one failure type.

    Worst means the lowest score, or the largest distance for hd95. Rows with a NaN score are skipped.
    Rows of protocols the model was not trained for (``off_label``, e.g. points on LiteMedSAM) are left
    out unless ``off_label=True``, so that they do not fill the gallery: reports show them in their own
    section (:func:`samwidgets.analysis.factors.off_label_rows`).
    """
    d = final_step(ok_rows(df))
    if not off_label and "off_label" in d.columns:
        d = d[~d["off_label"].astype(bool)]
    d = d[d[metric].notna()]
    if failure_type:
        d = d[d["failure_type"] == failure_type]
    asc = HIGHER_IS_BETTER.get(metric, True)
    d = d.sort_values(metric, ascending=asc, kind="mergesort")
    group_by = list(group_by) if group_by else []
    if not group_by:
        return d.head(k).reset_index(drop=True)
    return d.groupby(group_by, sort=True, dropna=False).head(k).sort_values(
        [*group_by, metric], ascending=[True] * len(group_by) + [asc], kind="mergesort").reset_index(drop=True)


def paired_by(pairs: pd.DataFrame, *, by: str = "modality", rng: np.random.Generator,
              n_boot: int = 1000) -> pd.DataFrame:
    """:func:`paired_test` per ``by`` group of a :func:`paired_differences` table, one row per group."""
    rows = [{by: key, **paired_test(part["diff"], rng=rng, n_boot=n_boot).as_dict()}
            for key, part in pairs.groupby(by, sort=True)]
    return pd.DataFrame(rows, columns=[by, *PairedTest.__dataclass_fields__])


def pair_rows(pairs: pd.DataFrame, *, metric: str) -> pd.DataFrame:
    """Results-schema rows for the two sides of each pair, interleaved (a, b, a, b, ...): what a gallery
    of paired cases draws, each row with its own model, protocol, score, failure type and prompt log."""
    out = []
    for _, p in pairs.iterrows():
        for side in ("a", "b"):
            row = {c: p[c] for c in (*UNIT, "modality", "manifest")}
            row.update(model=p[f"model_{side}"], protocol=p[f"protocol_{side}"], step=-1, n_points=0,
                       failure_type=p[f"failure_type_{side}"], prompt_log=p[f"prompt_log_{side}"])
            row[metric] = p[f"{metric}_{side}"]
            out.append(row)
    return pd.DataFrame(out)


def compare(df: pd.DataFrame, *, column: str, a: str, b: str, metric: str, fixed: str | None = None):
    """:func:`paired_differences` of ``a`` against ``b`` in ``column`` ("model" or "protocol"), holding the
    other column at ``fixed`` (None: its first value in sorted order). Returns (pairs, other column, value)."""
    if column not in ("model", "protocol"):
        raise ResultsError(f"compare models or protocols, not {column!r}", where="column")
    other = "protocol" if column == "model" else "model"
    candidates = sorted(df.loc[df[column].astype(str).isin([str(a), str(b)]), other].astype(str).unique())
    value = str(fixed) if fixed is not None else (candidates[0] if candidates else None)
    sub = df[df[other].astype(str) == value] if value is not None else df
    return paired_differences(sub, metric=metric, column=column, a=a, b=b), other, value
