"""CVPR 2025 and NoC summaries from results rows with known per-step scores, and the AUC in the clicks
curve's legend."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from samwidgets.analysis import plots
from samwidgets.analysis.interactive import cvpr25_objects, cvpr25_table, noc_objects, noc_table
from samwidgets.analysis.stats import clicks_curve
from samwidgets.evaluation.click_metrics import noc_summary
from samwidgets.evaluation.table import normalise


def rows(case, label, protocol, dices, *, n_points, modality="CT", ious=None):
    ious = dices if ious is None else ious
    return [{"manifest": "m.yaml", "case_index": 0, "dataset": "d", "modality": modality, "case": case,
             "label": label, "slice": -1, "model": "litemedsam", "protocol": protocol, "step": i + 1,
             "n_points": n, "dice": d, "iou": j, "nsd": d / 2, "hd95": 1.0, "seconds": 0.01,
             "failure_type": "ok", "error": "", "seed": 0}
            for i, (d, j, n) in enumerate(zip(dices, ious, n_points))]


@pytest.fixture()
def table():
    clicks = [0.5, 0.6, 0.7, 0.8, 0.9]
    r = rows("c1", "a", "cvpr25", [0.95, *clicks], n_points=[0, 1, 2, 3, 4, 5])
    r += rows("c1", "b", "cvpr25", [0.9, *[1.0] * 5], n_points=[0, 1, 2, 3, 4, 5])
    r += rows("c2", "a", "cvpr25_points", clicks, n_points=[1, 2, 3, 4, 5])
    seq1 = [0.4, 0.7, 0.86, 0.88, 0.91] + [0.95] * 15      # NoC@85 = 3, NoC@90 = 5
    seq2 = [0.1] * 20                                       # never: 20, 20
    r += rows("c1", "a", "noc:20", seq1, n_points=range(1, 21), ious=seq1)
    r += rows("c2", "a", "noc:20", seq2, n_points=range(1, 21), ious=seq2, modality="MR")
    return normalise(pd.DataFrame(r))


def test_cvpr25_objects_and_table(table):
    objs = cvpr25_objects(table).set_index(["case", "label", "protocol"])
    assert objs.loc[("c1", "a", "cvpr25"), "dsc_auc"] == pytest.approx(2.8)
    assert objs.loc[("c1", "a", "cvpr25"), "nsd_auc"] == pytest.approx(1.4)
    assert objs.loc[("c1", "a", "cvpr25"), "box_dsc"] == pytest.approx(0.95)
    assert objs.loc[("c1", "b", "cvpr25"), "dsc_auc"] == pytest.approx(4.0)
    assert objs.loc[("c2", "a", "cvpr25_points"), "final_dsc"] == pytest.approx(0.9)
    assert np.isnan(objs.loc[("c2", "a", "cvpr25_points"), "box_dsc"])
    t = cvpr25_table(table, rng=np.random.default_rng(0), n_boot=50)
    auc = t[(t.protocol == "cvpr25") & (t.metric == "dsc_auc")].iloc[0]
    assert auc["mean"] == pytest.approx(3.4) and auc["n"] == 1  # two labels of one case averaged


def test_noc_objects_and_table(table):
    objs = noc_objects(table).set_index("case")
    assert objs.loc["c1", "noc@85"] == 3 and objs.loc["c1", "noc@90"] == 5
    assert objs.loc["c2", "noc@85"] == 20 and objs.loc["c2", "iou_1"] == pytest.approx(0.1)
    t = noc_table(table, by=("model", "protocol")).iloc[0]
    assert t["objects"] == 2 and t["NoC@85"] == pytest.approx(11.5) and t["NoC@90"] == pytest.approx(12.5)
    assert t["≥20@85"] == 1 and t["≥20@90"] == 1
    per_mod = noc_table(table).set_index("modality")
    assert per_mod.loc["CT", "NoC@85"] == 3 and per_mod.loc["MR", "≥20@90"] == 1


def test_noc_table_per_group_equals_noc_summary_on_the_same_ious(table):
    rng = np.random.default_rng(3)
    extra = []
    for i in range(12):  # more objects, some reaching the thresholds, some never
        seq = list(np.sort(rng.uniform(0.2, 1.0, size=20)))
        extra += rows(f"r{i}", "a", "noc:20", seq, n_points=range(1, 21), ious=seq, modality="CT" if i % 2 else "MR")
    both = pd.concat([table, normalise(pd.DataFrame(extra))], ignore_index=True)
    got = noc_table(both).set_index("modality")
    d = both[both.protocol == "noc:20"]
    for modality, part in d.groupby("modality"):
        ious = [g.sort_values("step")["iou"].to_numpy(float) for _, g in part.groupby(["case", "label"])]
        want = noc_summary(ious, max_clicks=20)
        row = got.loc[modality]
        assert row["objects"] == len(ious)
        assert (row["NoC@85"], row["NoC@90"]) == (want["noc@85"], want["noc@90"])  # identical, not approx
        assert (row["≥20@85"], row["≥20@90"]) == (want["over@85"], want["over@90"])


def test_tables_without_interactive_rows_are_empty(table):
    other = table.assign(protocol="box")
    assert noc_table(other).empty and noc_objects(other).empty and "noc@85" in noc_objects(other).columns
    assert cvpr25_table(other, rng=np.random.default_rng(0)).empty and cvpr25_objects(other).empty


def test_clicks_legend_carries_the_auc(table):
    curve = clicks_curve(table[table.protocol == "cvpr25_points"], rng=np.random.default_rng(0), n_boot=10)
    fig = plots.plot_clicks(curve)
    labels = [t.get_text() for ax in fig.axes for t in (ax.get_legend().get_texts() if ax.get_legend() else [])]
    assert any("AUC₁₋₅ 2.80" in text for text in labels), labels
    assert np.isnan(plots.curve_auc(curve[curve.n_points < 5]))
