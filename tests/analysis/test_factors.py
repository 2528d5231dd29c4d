"""Failure factors on synthetic results tables whose answer is known (no model, no sweep)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from samwidgets.analysis import factor_model, factors, findings
from .synthetic import synthetic_factor_results
from samwidgets.evaluation.table import DESCRIPTOR_COLUMNS


def synthetic(seed=0, n_cases=30, per_case=6):
    """US: dice rises with boundary contrast (cnr); CT: dice is noise. Other descriptors are noise."""
    return synthetic_factor_results(rng=np.random.default_rng(seed), n_cases=n_cases, per_case=per_case)


def test_bins_and_spearman_find_the_planted_factor():
    df = synthetic()
    rng = np.random.default_rng(1)
    bins = factors.binned_scores(df, descriptors=["obj_cnr", "obj_solidity", "obj_components"], rng=rng,
                                 n_boot=200)
    us = bins[(bins.modality == "US") & (bins.descriptor == "obj_cnr")].sort_values("bin")
    assert list(us["bin"]) == [1, 2, 3, 4] and us["n_rows"].sum() == 180
    assert us["mean"].is_monotonic_increasing and us["mean"].iloc[0] < 0.45 < 0.75 < us["mean"].iloc[-1]
    assert (us["ci_low"] <= us["mean"]).all() and (us["mean"] <= us["ci_high"]).all()
    comps = bins[(bins.modality == "US") & (bins.descriptor == "obj_components")]
    assert list(comps["low"]) == [1.0, 2.0]  # two distinct values: one bin each
    sp = factors.spearman_table(df, descriptors=["obj_cnr", "obj_solidity"], rng=rng, n_boot=200)
    cnr = sp[(sp.modality == "US") & (sp.descriptor == "obj_cnr")].iloc[0]
    assert cnr.rho > 0.9 and cnr.ci_low > 0.85 and cnr.n_cases == 30
    noise = sp[(sp.modality == "CT") & (sp.descriptor == "obj_cnr")].iloc[0]
    assert noise.ci_low < 0 < noise.ci_high


def test_spearman_against_scipy_and_case_bootstrap():
    from scipy.stats import spearmanr

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=50), rng.normal(size=50)
    x[3] = np.inf
    rho, lo, hi = factors.spearman_ci(x, y, np.arange(50) // 5, rng=rng, n_boot=300)
    assert rho == pytest.approx(spearmanr(np.where(np.isinf(x), 1e300, x), y).statistic)
    assert lo <= rho <= hi
    assert np.isnan(factors.spearman_ci([1, 2], [3, 4], [0, 1], rng=rng)[0])


def test_model_ranks_the_planted_factor_first_and_reports_its_cv_score():
    df = synthetic()
    models = factor_model.fit_models(df, rng=np.random.default_rng(2), n_repeats=3)
    us, ct = [m for m in models if m.group["modality"] == "US"][0], [m for m in models if m.group["modality"] == "CT"][0]
    assert us.importances["descriptor"].iloc[0] == "obj_cnr" and us.cv_r2 > 0.7 and us.cv_auc > 0.9
    assert us.n_folds == 5 and not us.weak
    assert ct.weak  # noise: the model does not generalise across cases
    perf = factor_model.performance_table(models)
    assert set(perf.columns) >= {"cv_r2", "cv_auc", "top", "note"}
    few = factor_model.fit_models(synthetic(n_cases=3), rng=np.random.default_rng(0))
    assert all(m.n_folds == 0 and "too few" in m.note for m in few)


def test_findings_are_generated_from_the_numbers():
    df = synthetic()
    rng = np.random.default_rng(3)
    bins = factors.binned_scores(df, rng=rng, n_boot=100)
    sp = factors.spearman_table(df, rng=rng, n_boot=100)
    models = factor_model.fit_models(df, rng=rng, n_repeats=2)
    text = findings.findings(models, bins, sp)
    us = [t for t in text if t.startswith("**In US**")]
    assert len(us) == 1 and "boundary contrast (CNR)" in us[0] and "Dice rises from" in us[0]
    top = bins[(bins.modality == "US") & (bins.descriptor == "obj_cnr") & (bins.bin == 4)].iloc[0]
    assert f"{top['mean']:.3f}" in us[0]
    assert "R² = " in us[0] and "grouped by case" in us[0]
    ct = [t for t in text if t.startswith("**In CT**")]
    assert all("weak model" in t for t in ct)


def test_off_label_rows_are_kept_apart_and_extremes():
    df = synthetic(n_cases=5)
    df.loc[df.index[:6], "off_label"] = True
    assert len(factors.off_label_rows(df)) == 6
    assert len(factors.factor_rows(df)) == len(df) - 6 and len(factors.factor_rows(df, off_label=True)) == len(df)
    ext = factors.extreme_rows(df, "obj_cnr", k=2, where={"modality": "US"})
    assert list(ext["extreme"]) == ["lowest", "lowest", "highest", "highest"]
    assert ext["obj_cnr"].iloc[0] <= ext["obj_cnr"].iloc[-1] and ext.drop_duplicates(["case", "extreme"]).shape[0] == 4
    assert factors.has_descriptors(df) and not factors.has_descriptors(df.drop(columns=list(DESCRIPTOR_COLUMNS)))


def test_explain_marks_off_label_groups_and_draws():
    from samwidgets.analysis import why

    df = synthetic(n_cases=8, per_case=4)
    df.loc[df.modality == "CT", "off_label"] = True
    on = why.explain(df, n_boot=50, rng=np.random.default_rng(0), n_repeats=2)
    assert set(on.bins.modality) == {"US"}
    both = why.explain(df, n_boot=50, rng=np.random.default_rng(0), n_repeats=2, off_label=True)
    assert set(both.bins.modality) == {"US", "CT"}
    assert all(("off-label" in t) == t.startswith("**In CT**") for t in both.findings)
    group = why.groups(on)[0]
    assert group == {"modality": "US", "model": "litemedsam", "protocol": "box"}
    fig = why.plot_factor_bins(on, group)
    assert len(fig.axes) == len(on.top[on.top.modality == "US"])
    rows = why.gallery_rows(df, on, group, k=1)
    assert list(rows["extreme"]) == ["lowest", "highest"] and rows["factor"].str.contains("=").all()


def test_sentence_says_when_a_bin_holds_few_cases():
    bins = pd.DataFrame({"bin": [1, 2], "n_bins": [2, 2], "low": [0.1, 2.0], "high": [1.0, 3.0],
                         "mean": [0.2, 0.8], "ci_low": [0.2, 0.7], "ci_high": [0.2, 0.9], "n_cases": [1, 5]})
    text = findings.factor_sentence(bins, None, "obj_cnr", "dice")
    assert text == ("Dice rises from 0.200 [0.200, 0.200] (1 case) in the lowest half of boundary contrast (CNR) "
                    "(≤ 1) to 0.800 [0.700, 0.900] in the highest (≥ 2).")
