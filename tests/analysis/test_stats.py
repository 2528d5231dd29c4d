import numpy as np
import pandas as pd
import pytest

from samwidgets.analysis.results import check_results
from samwidgets.analysis.stats import (
    bootstrap_ci, clicks_curve, disagreements, failure_breakdown, paired_differences, paired_test, summarize,
    worst_k,
)
from samwidgets.errors import ResultsError


def test_bootstrap_ci_covers_mean_and_narrows_with_n():
    rng = np.random.default_rng(0)
    small = rng.normal(0.5, 0.1, 20)
    large = rng.normal(0.5, 0.1, 2000)
    est, lo, hi = bootstrap_ci(small, rng=np.random.default_rng(1), n_boot=2000)
    assert est == pytest.approx(small.mean())
    assert lo < est < hi
    # percentile interval of the mean ~ +-1.96 * sd / sqrt(n)
    assert hi - lo == pytest.approx(2 * 1.96 * small.std(ddof=0) / np.sqrt(20), rel=0.25)
    _, lo2, hi2 = bootstrap_ci(large, rng=np.random.default_rng(1), n_boot=500)
    assert hi2 - lo2 < (hi - lo) / 4


def test_bootstrap_ci_is_reproducible_with_the_same_rng_and_handles_edges():
    x = np.arange(10.0)
    assert bootstrap_ci(x, rng=np.random.default_rng(3)) == bootstrap_ci(x, rng=np.random.default_rng(3))
    assert bootstrap_ci([np.nan, 0.4], rng=np.random.default_rng(0)) == (0.4, 0.4, 0.4)
    assert all(np.isnan(v) for v in bootstrap_ci([], rng=np.random.default_rng(0)))
    est, lo, hi = bootstrap_ci(x, rng=np.random.default_rng(0), statistic=np.median)
    assert est == 4.5 and lo <= est <= hi


def test_summarize_groups_and_counts_cases(results):
    s = summarize(results, metrics=("dice", "nsd"), by=("modality", "model", "protocol"),
                  rng=np.random.default_rng(0), n_boot=200)
    assert set(s["metric"]) == {"dice", "nsd"}
    assert ((s["ci_low"] <= s["mean"]) & (s["mean"] <= s["ci_high"])).all()
    # propagation only on the 3D (CT) dataset
    assert set(s[s["protocol"] == "propagate_box_3d"]["modality"]) == {"CT"}
    n_cases = results.groupby("modality")["case"].nunique()
    for _, row in s.iterrows():
        assert row["n"] == n_cases[row["modality"]]


def test_summarize_box_vs_point(results):
    s = summarize(results, metrics=("dice",), by=("model", "prompt_kind"), rng=np.random.default_rng(0), n_boot=100)
    assert set(s["prompt_kind"]) == {"box", "point", "propagation"}


def test_clicks_curve_one_point_per_click_count(results):
    c = clicks_curve(results, metric="dice", rng=np.random.default_rng(0), n_boot=100)
    assert set(c["protocol"]) == {"point_iterative:3"}
    assert sorted(c["n_points"].unique()) == [1, 2, 3]
    # synthetic scores rise with clicks
    means = c.groupby("n_points")["mean"].mean()
    assert means[3] > means[1]


def test_failure_breakdown_rows_sum_to_one(results):
    b = failure_breakdown(results, by="modality")
    assert np.allclose(b.sum(axis=1), 1.0)
    assert list(b.columns)[0] == "ok"
    counts = failure_breakdown(results, by="modality", normalize=False)
    assert counts.to_numpy().sum() > 0 and counts.dtypes.iloc[0].kind == "i"


def test_paired_differences_and_wilcoxon(results):
    box = results[results["protocol"] == "box"]
    pairs = paired_differences(box, metric="dice", column="model", a="litemedsam", b="sam_vit_b")
    n_units = len(box[box["model"] == "litemedsam"].drop_duplicates(["dataset", "case", "label", "slice"]))
    assert len(pairs) == n_units
    assert np.allclose(pairs["diff"], pairs["dice_b"] - pairs["dice_a"])
    test = paired_test(pairs["diff"], rng=np.random.default_rng(0), n_boot=200)
    assert test.n == len(pairs)
    assert test.mean_diff > 0  # the synthetic second model is better
    assert test.pvalue < 0.05
    from scipy.stats import wilcoxon
    assert test.pvalue == pytest.approx(wilcoxon(pairs["diff"]).pvalue)


def test_paired_test_no_difference_is_not_significant():
    rng = np.random.default_rng(5)
    x = rng.uniform(0.01, 0.3, 20)
    t = paired_test(np.concatenate([x, -x]), rng=rng, n_boot=500)  # exactly symmetric around 0
    assert t.pvalue > 0.9 and t.ci_low < 0 < t.ci_high and t.mean_diff == pytest.approx(0, abs=1e-12)
    zero = paired_test(np.zeros(5), rng=rng)
    assert np.isnan(zero.pvalue) and zero.n == 5


def test_paired_differences_refuses_ambiguous_pairs(results):
    with pytest.raises(ResultsError, match="filter"):
        paired_differences(results, metric="dice", column="model", a="litemedsam", b="sam_vit_b")
    with pytest.raises(ResultsError, match="no rows"):
        paired_differences(results, metric="dice", column="model", a="nope", b="litemedsam")


def test_disagreements_only_one_side_succeeds():
    pairs = pd.DataFrame({"dice_a": [0.9, 0.2, 0.8, 0.1], "dice_b": [0.1, 0.9, 0.85, 0.2]})
    pairs["diff"] = pairs["dice_b"] - pairs["dice_a"]
    out = disagreements(pairs, metric="dice", threshold=0.5)
    assert len(out) == 2
    assert set(out["winner"]) == {"a", "b"}
    assert out["diff"].abs().is_monotonic_decreasing


def test_worst_k_per_group(results):
    from samwidgets.analysis.results import final_step

    final = final_step(results)
    w = worst_k(results, metric="dice", k=2, group_by=("modality",))
    assert w.groupby("modality").size().to_dict() == {m: 2 for m in final["modality"].unique()}
    for mod, part in w.groupby("modality"):
        expected = np.sort(final[final["modality"] == mod]["dice"].to_numpy())[:2]
        assert np.allclose(part["dice"].to_numpy(), expected)
    h = worst_k(results, metric="hd95", k=1, group_by=())
    assert h["hd95"].iloc[0] == pytest.approx(final["hd95"].max())
    f = worst_k(results, metric="dice", k=3, group_by=("modality",), failure_type="fragmented")
    assert len(f) > 0 and (f["failure_type"] == "fragmented").all()


def test_worst_k_is_the_minimum_of_final_steps():
    rows = []
    for i, d in enumerate([0.5, 0.1, 0.9, 0.3]):
        rows.append(dict(dataset="d", modality="CT", case=f"c{i}", label="1", slice=0, model="m", protocol="p",
                         step=0, n_points=0, dice=d, iou=d, nsd=d, hd95=1 / d, seconds=0.1, failure_type="ok",
                         prompt_log="{}", manifest="x", error=None))
    df = check_results(pd.DataFrame(rows))
    assert list(worst_k(df, metric="dice", k=2, group_by=())["case"]) == ["c1", "c3"]
    assert list(worst_k(df, metric="hd95", k=1, group_by=())["case"]) == ["c1"]


def test_paired_by_and_pair_rows(results):
    from samwidgets.analysis.stats import pair_rows, paired_by

    box = results[results["protocol"] == "box"]
    pairs = paired_differences(box, metric="dice", column="model", a="litemedsam", b="sam_vit_b")
    per = paired_by(pairs, by="modality", rng=np.random.default_rng(0), n_boot=50)
    assert list(per["modality"]) == sorted(pairs["modality"].unique())
    assert per["n"].sum() == len(pairs)
    rows = pair_rows(pairs.head(3), metric="dice")
    assert list(rows["model"]) == ["litemedsam", "sam_vit_b"] * 3
    assert np.allclose(rows["dice"].to_numpy()[1::2], pairs.head(3)["dice_b"].to_numpy())
    assert (rows["prompt_log"].to_numpy()[0::2] == pairs.head(3)["prompt_log_a"].to_numpy()).all()


def test_compare_holds_the_other_column(results):
    from samwidgets.analysis.stats import compare

    pairs, other, held = compare(results, column="model", a="litemedsam", b="sam_vit_b", metric="dice")
    assert other == "protocol" and held == "box"
    assert (pairs["protocol_a"] == "box").all() and (pairs["protocol_b"] == "box").all()
    pairs, other, held = compare(results, column="protocol", a="box", b="propagate_box_3d", metric="dice",
                                 fixed="sam_vit_b")
    assert other == "model" and held == "sam_vit_b" and set(pairs["modality"]) == {"CT"}
    with pytest.raises(ResultsError):
        compare(results, column="dataset", a="x", b="y", metric="dice")


def test_worst_k_leaves_off_label_rows_out_and_groups_by_protocol(results):
    df = results.copy()
    df["off_label"] = df["protocol"].str.startswith("point")
    w = worst_k(df, metric="dice", k=2)
    assert not w["off_label"].any() and w.groupby(["modality", "protocol"]).size().max() <= 2
    assert set(w["protocol"]) == set(df.loc[~df["off_label"], "protocol"])
    assert worst_k(df, metric="dice", k=2, off_label=True)["off_label"].any()
