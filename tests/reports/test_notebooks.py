"""Every report notebook executes under papermill on the embedded sample (LiteMedSAM, CPU, tiny sweep).

One real sweep runs once per session (the first per-modality report); every other notebook gets the same
sweep parameters and the same session cache root, so it reuses that results table and the embeddings.
"""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest

from samwidgets.reports import run_report

from .conftest import REPO

SAMPLE = REPO / "data_manifests" / "sample.yaml"


def _params(cache):
    return {
        "manifests": [str(SAMPLE)], "models": ["litemedsam"],
        "protocols": ["box", "point_iterative:2", "propagate_box_3d"],
        "max_cases_per_dataset": 1, "seed": 0, "device": "cpu", "cache_dir": str(cache),
    }


def _images(html: str) -> int:
    return len(re.findall(r'<img [^>]*src="data:image/png;base64,', html))


def _text(html: str) -> str:
    html = re.sub(r"<(style|script)\b.*?</\1>", "", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


@pytest.fixture(scope="session")
def first_report(session_cache, tmp_path_factory):
    """The per-modality report that runs the session's one real sweep."""
    assert SAMPLE.is_file(), "the embedded sample manifest is part of the repository"
    out = tmp_path_factory.mktemp("reports")
    return run_report("per_modality_analysis", {**_params(session_cache), "n_boot": 100}, out_dir=out)


def _run(name, cache, tmp_path, **extra):
    report = run_report(name, {**_params(cache), **extra}, out_dir=tmp_path)
    return report, report.html.read_text()


def test_per_modality_analysis(first_report):
    html = first_report.html.read_text()
    text = _text(html)
    assert "computed by a new sweep" in text
    assert _images(html) >= 5  # dice/iou/nsd bars, box vs point, clicks, failure types
    assert text.count("[") > 10 and "n=1" in text  # "mean [low, high] n=..." cells of the CI tables
    table = pd.read_parquet(first_report.results)
    assert {"CT", "US", "MR"} <= set(table["modality"])
    assert table.groupby("dataset")["case"].nunique().max() == 1  # max_cases_per_dataset = 1
    for modality in set(table["modality"]):
        assert f" {modality} " in text
    params = json.loads(first_report.params.read_text())["parameters"]
    assert params["max_cases_per_dataset"] == 1 and params["protocols"][1] == "point_iterative:2"
    assert 'id="report-parameters"' in html and "point_iterative:2" in html


def test_failure_gallery(first_report, session_cache, tmp_path):
    report, html = _run("failure_gallery", session_cache, tmp_path, k=2, group_by=["modality"])
    text = _text(html)
    assert "(reused)" in text  # the results table of the first report, through the session cache
    n_modalities = pd.read_parquet(first_report.results)["modality"].nunique()
    assert _images(html) >= n_modalities + 1  # one gallery per modality + the failure breakdown
    assert '"prompts"' in text or "&quot;prompts&quot;" in html  # every item carries its prompt log
    assert "samwidgets.widgets.open_case(table.iloc[i])" in text
    assert pd.read_parquet(report.results).shape == pd.read_parquet(first_report.results).shape


def test_model_comparison(first_report, session_cache, tmp_path):
    report, html = _run("model_comparison", session_cache, tmp_path, column="protocol", a="box", b="point_iterative:2",
                        k=2, n_boot=100)
    text = _text(html)
    assert "Wilcoxon signed-rank" in text and "paired units" in text
    assert _images(html) >= 2


def test_propagation_3d(first_report, session_cache, tmp_path):
    # this notebook sweeps 3D cases only: give it the session's table instead of a second sweep
    report, html = _run("propagation_3d", session_cache, tmp_path, n_boot=100, results=str(first_report.results))
    text = _text(html)
    assert "distance from the prompted slice" in text
    assert "propagate_box_3d" in text and "deeplesion" in text
    assert _images(html) == 1


def test_demo(first_report, session_cache, tmp_path):
    report, html = _run("demo", session_cache, tmp_path, k=1, n_boot=100)
    assert _images(html) >= 6
    assert "(reused)" in _text(html)


def test_failure_factors_on_the_sample(first_report, session_cache, tmp_path):
    report, html = _run("failure_factors", session_cache, tmp_path, n_boot=50, gallery_k=1)
    text = _text(html)
    assert "(reused)" in text and "Findings" in text
    assert "too few to model" in text  # one case per dataset: no cross-validated model, and it says so
    table = pd.read_parquet(report.results)
    assert table["obj_cnr"].notna().any() and table["off_label"].any()  # points on LiteMedSAM
    assert "Prompts the model was not trained for (off-label)" in text and "point_iterative:2" in text


def test_failure_factors_names_a_planted_factor(tmp_path):
    """On a table where Dice follows boundary contrast in US, the report says so with numbers (no model run)."""
    import importlib.util

    import numpy as np

    spec = importlib.util.spec_from_file_location("analysis_synthetic", REPO / "tests" / "analysis" / "synthetic.py")
    synthetic = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(synthetic)
    path = tmp_path / "synthetic.parquet"
    synthetic.synthetic_factor_results(rng=np.random.default_rng(0)).to_parquet(path)
    report = run_report("failure_factors", {"results": str(path), "n_boot": 50, "replay": False, "gallery_k": 1},
                        out_dir=tmp_path)
    text = _text(report.html.read_text())
    assert "In US (litemedsam · box): All descriptors together explain R² = " in text
    assert "boundary contrast (CNR)" in text and "Dice rises from" in text
    assert _images(report.html.read_text()) >= 1  # the binned-score figure


def test_prompt_sensitivity(first_report, session_cache, tmp_path):
    report, html = _run("prompt_sensitivity", session_cache, tmp_path, protocols=["box"], k=1, grid=4,
                        objects_per_modality=1, box_curves=1, results=str(first_report.results))
    text = _text(html)
    assert "Safe click area per modality" in text and "tight box lowers Dice by more than" in text
    assert "The same maps with the box" in text
    assert _images(html) >= 5  # maps alone and with the box, safe-click distribution, box + click, box curves
    assert "No gallery case could be mapped" not in text
