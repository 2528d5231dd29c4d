import json

import numpy as np
import pandas as pd
import pytest

from samwidgets.analysis.results import (
    check_results, final_step, load_results, ok_rows, parse_prompt_log, per_case, prompt_kind,
)
from samwidgets.errors import ResultsError
from samwidgets.evaluation.table import COLUMNS


def _row(**kw):
    base = dict(dataset="d", modality="CT", case="c1", label="1", slice=0, model="m", protocol="box", step=0,
                n_points=0, dice=0.5, iou=0.3, nsd=0.4, hd95=3.0, seconds=0.1, failure_type="ok",
                prompt_log="{}", manifest="x.yaml", error=None)
    base.update(kw)
    return base


def test_load_results_roundtrip_parquet_and_csv(tmp_path, results):
    results.to_parquet(tmp_path / "r.parquet")
    results.to_csv(tmp_path / "r.csv", index=False)
    a = load_results(tmp_path / "r.parquet")
    b = load_results(tmp_path / "r.csv")
    assert list(a.columns) == list(COLUMNS)
    assert len(a) == len(b) == len(results)
    assert a["slice"].dtype.kind == "i" and b["dice"].dtype.kind == "f"


def test_load_results_errors_name_the_file(tmp_path):
    with pytest.raises(ResultsError, match="not found"):
        load_results(tmp_path / "missing.parquet")
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"not parquet")
    with pytest.raises(ResultsError, match="bad.parquet"):
        load_results(bad)
    pd.DataFrame({"dice": [1.0]}).to_parquet(tmp_path / "few.parquet")
    with pytest.raises(ResultsError, match="lacks columns"):
        load_results(tmp_path / "few.parquet")


def test_final_step_keeps_last_step_per_unit():
    df = check_results(pd.DataFrame([_row(step=0, dice=0.1), _row(step=1, dice=0.2), _row(step=2, dice=0.9),
                                      _row(protocol="point", step=0, dice=0.4)]))
    out = final_step(df)
    assert sorted(out["dice"]) == [0.4, 0.9]


def test_ok_rows_drops_errors():
    df = check_results(pd.DataFrame([_row(error=None), _row(error="boom", case="c2"), _row(error="", case="c3")]))
    assert sorted(ok_rows(df)["case"]) == ["c1", "c3"]


def test_per_case_prefers_volume_rows_and_averages_labels():
    rows = [
        _row(label="1", slice=0, dice=0.0), _row(label="1", slice=1, dice=0.2), _row(label="1", slice=-1, dice=0.8),
        _row(label="2", slice=0, dice=0.4), _row(label="2", slice=1, dice=0.6),  # no volume row: mean 0.5
    ]
    out = per_case(check_results(pd.DataFrame(rows)), "dice")
    assert len(out) == 1
    assert out["dice"].iloc[0] == pytest.approx((0.8 + 0.5) / 2)
    assert out["n_labels"].iloc[0] == 2


def test_per_case_skips_nan_labels():
    rows = [_row(label="1", dice=np.nan), _row(label="2", dice=0.6)]
    out = per_case(check_results(pd.DataFrame(rows)), "dice")
    assert out["dice"].iloc[0] == pytest.approx(0.6)


@pytest.mark.parametrize("protocol,kind", [
    ("box", "box"), ("box_jitter", "box"), ("mazurowski:3", "box"), ("mazurowski:5", "box"),
    ("microsam_box:8", "box"), ("point", "point"), ("mazurowski:1", "point"), ("point_iterative:9", "point"),
    ("microsam_point:8", "point"), ("propagate_box_3d", "propagation"), ("sam2_video_3d", "propagation"),
    ("something", "other"),
])
def test_prompt_kind(protocol, kind):
    assert prompt_kind(protocol) == kind


def test_parse_prompt_log():
    log = {"slice": 3, "prompts": [{"box_xyxy": [1, 2, 3, 4]}]}
    assert parse_prompt_log(json.dumps(log)) == log
    assert parse_prompt_log(None) == {} and parse_prompt_log(float("nan")) == {} and parse_prompt_log("") == {}
    with pytest.raises(ResultsError):
        parse_prompt_log("{nope")
