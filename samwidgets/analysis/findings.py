"""Plain-language findings generated from the failure-factor numbers (never written by hand).

:func:`top_factors` picks, per group, the descriptors that most explain the score: by permutation
importance when the group's cross-validated model is not weak (:attr:`FactorModel.weak`), otherwise by the
size of a Spearman correlation whose interval excludes 0. :func:`findings` turns them into sentences
such as "In US (litemedsam · box): Dice falls from 0.930 [0.900, 0.950] to 0.710 [0.600, 0.800] from the
highest to the lowest quartile of boundary contrast (CNR) (Spearman ρ = 0.45 [0.30, 0.58], 40 cases)".
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from samwidgets.analysis.factor_model import FactorModel
from samwidgets.analysis.factors import GROUP, label

_QUANTILE = {2: "half", 3: "tercile", 4: "quartile", 5: "quintile", 10: "decile"}


def _keyed(table: pd.DataFrame, by) -> dict[tuple, pd.DataFrame]:
    """``table`` split by the string values of the ``by`` columns plus ``descriptor``."""
    if table.empty:
        return {}
    keys = table[[*by, "descriptor"]].astype(str)
    return {tuple(k): part for k, part in table.groupby([keys[c] for c in keys.columns], sort=False)}


def top_factors(models: list[FactorModel], spearman: pd.DataFrame, *, k: int = 3, by=GROUP,
                min_cases: int = 4) -> pd.DataFrame:
    """Up to ``k`` descriptors per group, best first, with ``rank`` and ``source`` ("importance" or
    "spearman"). Importance ranking keeps descriptors whose mean importance is > 0; the Spearman fallback
    keeps those whose CI excludes 0 and that were measured on at least ``min_cases`` cases, largest |ρ|
    first, and only the first of descriptors with the same ρ and interval (they rank objects alike)."""
    rows = []
    fitted = {tuple(str(m.group[c]) for c in by): m for m in models}
    by_group = {tuple(map(str, key if isinstance(key, tuple) else (key,))): part
                for key, part in spearman.groupby(list(by), sort=False)} if len(spearman) else {}
    for key in sorted(set(fitted) | set(by_group)):
        m = fitted.get(key)
        if m is not None and not m.weak and len(m.importances):
            imp = m.importances[m.importances["importance"] > 0].head(k)
            picks = [(d, "importance") for d in imp["descriptor"]]
        else:
            s = by_group.get(key, spearman.iloc[0:0])
            s = s[((s["ci_low"] > 0) | (s["ci_high"] < 0)) & (s["n_cases"] >= min_cases)]
            s = s.reindex(s["rho"].abs().sort_values(ascending=False).index)
            # one of two descriptors that rank the objects identically (size in px and as a fraction of
            # same-sized images): same rho and interval
            s = s[~s[["rho", "ci_low", "ci_high"]].round(6).duplicated()].head(k)
            picks = [(d, "spearman") for d in s["descriptor"]]
        for rank, (d, source) in enumerate(picks, start=1):
            rows.append({**dict(zip(by, key)), "descriptor": d, "rank": rank, "source": source})
    return pd.DataFrame(rows, columns=[*by, "descriptor", "rank", "source"])


def fmt_value(x: float) -> str:
    """A descriptor value in 3 significant digits; inf as ∞, NaN as –."""
    if not np.isfinite(x):
        return "∞" if x > 0 else "–"
    return f"{x:.3g}"


def _ci(mean, lo, hi) -> str:
    return f"{mean:.3f} [{lo:.3f}, {hi:.3f}]" if np.isfinite(mean) else "–"


def _bin(row) -> str:
    """A bin's mean [CI], saying how few cases it holds when under 3 (then the interval means little)."""
    n = int(row["n_cases"])
    few = f" ({n} case{'s' if n != 1 else ''})" if n < 3 else ""
    return _ci(row["mean"], row["ci_low"], row["ci_high"]) + few


def factor_sentence(bins: pd.DataFrame, spear: pd.Series | None, descriptor: str, metric: str) -> str:
    """One sentence: the score in the lowest and highest bin of ``descriptor`` (``bins`` holds that
    group's bins of that descriptor) and, when given, its Spearman correlation."""
    lo, hi = bins.loc[bins["bin"].idxmin()], bins.loc[bins["bin"].idxmax()]
    word = _QUANTILE.get(int(lo["n_bins"]), "bin")
    name = label(descriptor)
    if lo["n_bins"] <= 2 and lo["high"] == lo["low"] and hi["high"] == hi["low"]:
        text = (f"{metric.capitalize()} is {_bin(lo)} at {name} = {fmt_value(lo['low'])} and {_bin(hi)} at "
                f"{fmt_value(hi['low'])}")
    else:
        verb = "rises" if hi["mean"] > lo["mean"] else "falls"
        text = (f"{metric.capitalize()} {verb} from {_bin(lo)} in the lowest {word} of {name} "
                f"(≤ {fmt_value(lo['high'])}) to {_bin(hi)} in the highest (≥ {fmt_value(hi['low'])})")
    if spear is not None and np.isfinite(spear["rho"]):
        text += (f"; Spearman ρ = {spear['rho']:.2f} [{spear['ci_low']:.2f}, {spear['ci_high']:.2f}], "
                 f"{int(spear['n_rows'])} objects of {int(spear['n_cases'])} cases")
    return text + "."


def _model_sentence(m: FactorModel | None, metric: str, threshold: float) -> str:
    if m is None or m.n_folds == 0:
        why = m.note if m is not None else "not fitted"
        return f"No cross-validated model ({why}); factors ranked by Spearman correlations whose CI excludes 0."
    auc = f", AUC {m.cv_auc:.2f} for {metric} < {threshold:g}" if np.isfinite(m.cv_auc) else ""
    text = (f"All descriptors together explain R² = {m.cv_r2:.2f} of {metric}{auc} ({m.n_folds}-fold "
            f"cross-validation grouped by case, {m.n_rows} objects of {m.n_cases} cases)")
    if m.weak:
        return text + ": a weak model, so factors are ranked by Spearman correlations whose CI excludes 0."
    return text + "; factors ranked by permutation importance."


def findings(models: list[FactorModel], bins: pd.DataFrame, spearman: pd.DataFrame, *, metric: str = "dice",
             threshold: float = 0.5, k: int = 3, by=GROUP, min_cases: int = 4,
             off_label_groups=frozenset()) -> list[str]:
    """Markdown paragraphs, one per group: the model's cross-validated performance, then one sentence per
    top factor (:func:`top_factors`, :func:`factor_sentence`). Groups with nothing to say are left out;
    groups in ``off_label_groups`` (tuples of the ``by`` values as strings) are titled "off-label"."""
    tops = top_factors(models, spearman, k=k, by=by, min_cases=min_cases)
    fitted = {tuple(str(m.group[c]) for c in by): m for m in models}
    bins_of, spear_of = _keyed(bins, by), _keyed(spearman, by)
    out = []
    for key, part in tops.groupby(list(by), sort=True):
        key = tuple(map(str, key if isinstance(key, tuple) else (key,)))
        sentences = []
        for d in part.sort_values("rank")["descriptor"]:
            b = bins_of.get((*key, d), pd.DataFrame())
            s = spear_of.get((*key, d), pd.DataFrame())
            if len(b):
                sentences.append(factor_sentence(b, s.iloc[0] if len(s) else None, d, metric))
        if sentences:
            tag = ", off-label" if key in off_label_groups else ""
            title = f"**In {key[0]}** ({' · '.join(key[1:])}{tag}): " if len(key) > 1 else f"**In {key[0]}**{tag}: "
            out.append(title + _model_sentence(fitted.get(key), metric, threshold) + " "
                       + " ".join(sentences))
    return out
