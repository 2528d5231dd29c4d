"""The multivariable view of failure factors: which descriptors explain a low score, together.

Per group (default: modality × model × protocol), a gradient-boosted regression tree model
(scikit-learn ``HistGradientBoostingRegressor``, which takes NaN descriptors as they are) predicts the
score of each row from its descriptors. It is evaluated by cross-validation **grouped by case**
(``GroupKFold``: no case has rows in both the training and the test fold), and shown with that
performance so that a weak model reads as weak:

* ``cv_r2``: R² of the out-of-fold predictions against the scores (0 = no better than the mean; < 0 worse);
* ``cv_auc``: ROC AUC of the out-of-fold predictions for telling rows with ``score < threshold`` apart
  (NaN when one class is missing); 0.5 = chance.

Importance of a descriptor = permutation importance on each held-out fold (``sklearn.inspection.
permutation_importance``, drop in R² when the descriptor's values are shuffled, ``n_repeats`` per fold),
reported as the mean over folds and repeats with the 2.5–97.5 % range of those values. Randomness (fold
models, permutations) is drawn from the explicit ``rng``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from samwidgets.analysis.factors import GROUP, factor_rows, usable_descriptors
from samwidgets.evaluation.table import DESCRIPTOR_COLUMNS

#: descriptors left out of the multivariable model: obj_mm repeats obj_px where spacing is known and
#: is NaN elsewhere, so it would split the size signal between two columns
MODEL_EXCLUDED = ("obj_mm",)
IMPORTANCE_COLUMNS = [*GROUP, "descriptor", "importance", "low", "high", "cv_r2", "cv_auc", "n_rows",
                      "n_cases", "n_folds"]


@dataclass
class FactorModel:
    """One group's cross-validated model: its performance and descriptor importances (largest first)."""

    group: dict
    n_rows: int
    n_cases: int
    n_folds: int
    cv_r2: float = float("nan")
    cv_auc: float = float("nan")
    importances: pd.DataFrame = field(default_factory=pd.DataFrame)
    note: str = ""

    @property
    def weak(self) -> bool:
        """True when the model does not explain the score (CV R² below 0.1, or not fitted)."""
        return not (np.isfinite(self.cv_r2) and self.cv_r2 >= 0.1)


def _auc(y_low: np.ndarray, score: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    if y_low.all() or not y_low.any():
        return float("nan")
    return float(roc_auc_score(y_low, score))


def fit_group(part: pd.DataFrame, *, metric: str = "dice", threshold: float = 0.5, descriptors=None,
              rng: np.random.Generator, n_splits: int = 5, n_repeats: int = 5, min_cases: int = 4,
              min_rows: int = 12, group: dict | None = None) -> FactorModel:
    """Fit and cross-validate the model on one group's factor rows (see the module docstring).

    Runs with one OpenMP / BLAS thread: on a shared CPU, threads spinning against each other made a fit
    hundreds of times slower than a single thread."""
    import sklearn.ensemble  # noqa: F401  (load its OpenMP runtime first: limits apply to loaded libraries)
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        return _fit_group(part, metric=metric, threshold=threshold, descriptors=descriptors, rng=rng,
                          n_splits=n_splits, n_repeats=n_repeats, min_cases=min_cases, min_rows=min_rows,
                          group=group)


def _fit_group(part, *, metric, threshold, descriptors, rng, n_splits, n_repeats, min_cases, min_rows,
               group) -> FactorModel:
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.inspection import permutation_importance
    from sklearn.metrics import r2_score
    from sklearn.model_selection import GroupKFold

    cases = (part["dataset"].astype(str) + "/" + part["case"].astype(str)).to_numpy()
    n_cases = len(set(cases))
    cols = [c for c in usable_descriptors(part, descriptors or DESCRIPTOR_COLUMNS) if c not in MODEL_EXCLUDED]
    out = FactorModel(group or {}, len(part), n_cases, 0)
    if n_cases < min_cases or len(part) < min_rows or not cols:
        out.note = (f"too few to model: {len(part)} rows, {n_cases} cases, {len(cols)} varying descriptors "
                    f"(needs {min_rows} rows, {min_cases} cases)")
        return out
    X = part[cols].apply(pd.to_numeric, errors="coerce").to_numpy(float)
    X = np.clip(X, -1e12, 1e12)  # an infinite CNR (flat regions) is a very large one
    y = part[metric].to_numpy(float)
    folds = GroupKFold(n_splits=min(n_splits, n_cases))
    pred = np.full(len(y), np.nan)
    imps = []
    for train, test in folds.split(X, y, cases):
        model = HistGradientBoostingRegressor(max_iter=100, max_depth=3, learning_rate=0.1,
                                              min_samples_leaf=5, random_state=int(rng.integers(2**31 - 1)))
        model.fit(X[train], y[train])
        pred[test] = model.predict(X[test])
        if len(test) >= 2:
            res = permutation_importance(model, X[test], y[test], n_repeats=n_repeats, scoring="r2",
                                         random_state=int(rng.integers(2**31 - 1)))
            imps.append(res.importances)  # (n_features, n_repeats)
    out.n_folds = folds.get_n_splits()
    out.cv_r2 = float(r2_score(y, pred))
    out.cv_auc = _auc(y < threshold, -pred)
    all_imp = np.concatenate(imps, axis=1) if imps else np.full((len(cols), 1), np.nan)
    all_imp = np.where(np.isfinite(all_imp), all_imp, np.nan)
    out.importances = pd.DataFrame({
        "descriptor": cols, "importance": np.nanmean(all_imp, axis=1),
        "low": np.nanpercentile(all_imp, 2.5, axis=1), "high": np.nanpercentile(all_imp, 97.5, axis=1),
    }).sort_values("importance", ascending=False, kind="mergesort").reset_index(drop=True)
    return out


def fit_models(df: pd.DataFrame, *, metric: str = "dice", threshold: float = 0.5, by=GROUP, descriptors=None,
               rng: np.random.Generator, n_splits: int = 5, n_repeats: int = 5, min_cases: int = 4,
               min_rows: int = 12, off_label: bool = False) -> list[FactorModel]:
    """:func:`fit_group` for every ``by`` group of the table's factor rows (off-label rows with
    ``off_label=True``), in sorted group order."""
    d = factor_rows(df, metric=metric, off_label=off_label)
    out = []
    for key, part in d.groupby(list(by), sort=True):
        key = key if isinstance(key, tuple) else (key,)
        out.append(fit_group(part, metric=metric, threshold=threshold, descriptors=descriptors, rng=rng,
                             n_splits=n_splits, n_repeats=n_repeats, min_cases=min_cases, min_rows=min_rows,
                             group=dict(zip(by, key))))
    return out


def importance_table(models: list[FactorModel]) -> pd.DataFrame:
    """One row per (group, descriptor) of the fitted models, with the group's CV performance.
    Columns: :data:`IMPORTANCE_COLUMNS` (the group columns are those the models were fitted by)."""
    rows = []
    for m in models:
        for _, r in m.importances.iterrows():
            rows.append({**m.group, **r.to_dict(), "cv_r2": m.cv_r2, "cv_auc": m.cv_auc, "n_rows": m.n_rows,
                         "n_cases": m.n_cases, "n_folds": m.n_folds})
    return pd.DataFrame(rows)


def performance_table(models: list[FactorModel]) -> pd.DataFrame:
    """One row per group: rows, cases, folds, CV R², CV AUC, the top descriptor, or why it was not fitted."""
    return pd.DataFrame([{**m.group, "n_rows": m.n_rows, "n_cases": m.n_cases, "n_folds": m.n_folds,
                          "cv_r2": m.cv_r2, "cv_auc": m.cv_auc,
                          "top": m.importances["descriptor"].iloc[0] if len(m.importances) else "",
                          "note": m.note or ("weak model: read its ranking with care" if m.weak else "")}
                         for m in models])
