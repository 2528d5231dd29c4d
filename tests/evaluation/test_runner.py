"""The sweep runner with a fake predictor: rows, determinism, resumption, encode-once, bad input."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from samwidgets.errors import EvaluationError, ModelError
from samwidgets.evaluation import COLUMNS, run_sweep
from samwidgets.evaluation import runner as runner_module
from samwidgets.evaluation import unit as unit_module
from samwidgets.prompts import Prompt

from .fakes import FakePredictor, fake_manifest
from .tables import tables_equal

PROTOCOLS = ["box", "box_jitter", "point_iterative:3", "mazurowski:2", "propagate_box_3d"]


@pytest.fixture(autouse=True)
def fake_propagation(monkeypatch):
    """Stand-in for models.propagate: box on every slice of the 3D box's z range."""

    def propagate(predictor, volume, box3d):
        x0, y0, z0, x1, y1, z1 = np.asarray(box3d, int)
        out = np.zeros(volume.shape[:3], bool)
        for z in range(z0, z1 + 1):
            emb = predictor.encode(volume[z])
            out[z] = predictor.decode(emb, box_xyxy=[x0, y0, x1, y1]).masks[0]
        return out

    import types
    import sys

    mod = types.ModuleType("samwidgets.models.propagate")
    mod.propagate_box_3d = propagate
    monkeypatch.setitem(sys.modules, "samwidgets.models.propagate", mod)


def sweep(tmp_path, out=None, **kw):
    kw.setdefault("seed", 3)
    return run_sweep([fake_manifest(tmp_path, broken=kw.pop("broken", False))], [kw.pop("model", FakePredictor())],
                     kw.pop("protocols", PROTOCOLS), out=out, progress=False, **kw)


def test_rows_and_columns(tmp_path):
    t = sweep(tmp_path)
    assert list(t.columns) == list(COLUMNS)
    ok = t[t.error == ""]
    assert set(ok.protocol) == set(PROTOCOLS)
    it = ok[ok.protocol == "point_iterative:3"]
    assert sorted(set(it.step)) == [1, 2, 3] and (it.n_points == it.step).all()
    vol = ok[ok.protocol == "propagate_box_3d"]
    assert (vol.slice == -1).all() and set(vol.case) == {"vol0", "vol1"}
    # 2D cases: propagate_box_3d is skipped with a reason, each label of each image evaluated
    skipped = t[t.failure_type == "skipped"]
    assert set(skipped.case) == {"img0", "img1"} and (skipped.protocol == "propagate_box_3d").all()
    assert set(ok[ok.case == "img0"].label) == {"polyp", "tool"}
    row = ok[(ok.protocol == "point_iterative:3") & (ok.step == 2)].iloc[0]
    log = json.loads(row.prompt_log)
    assert log["protocol"] == "point_iterative:3" and log["slice"] == row.slice
    assert Prompt.from_json(log["prompts"][0]).n_points == 2
    assert ok.dice.between(0, 1).all() and ok.failure_type.isin(
        ["ok", "under_segmentation", "leak", "wrong_object", "fragmented"]).all()


def test_every_slice_encoded_once(tmp_path):
    pred = FakePredictor()
    t = sweep(tmp_path, model=pred)
    per_slice = t[(t.slice >= 0) & (t.error == "")][["case", "slice"]].drop_duplicates()
    # the fake has no cache: propagation re-encodes its z range; per-slice encodes happen once per slice
    prop_slices = 0
    for case in ("vol0", "vol1"):
        rows = t[(t.case == case) & (t.protocol == "propagate_box_3d")]
        box = json.loads(rows.iloc[0].prompt_log)["box3d"]
        prop_slices += int(box[5] - box[2] + 1)
    assert pred.stats["encoder_calls"] == len(per_slice) + prop_slices


def test_deterministic_and_order_independent(tmp_path):
    a = sweep(tmp_path)
    b = sweep(tmp_path)
    assert tables_equal(a, b)
    c = sweep(tmp_path, protocols=list(reversed(PROTOCOLS)))
    assert tables_equal(a, c)
    d = sweep(tmp_path, seed=4)
    jit_a = a[a.protocol == "box_jitter"].prompt_log.tolist()
    jit_d = d[d.protocol == "box_jitter"].prompt_log.tolist()
    assert jit_a != jit_d


def test_interrupted_then_resumed_equals_uninterrupted(tmp_path, monkeypatch):
    full = sweep(tmp_path, out=tmp_path / "full.parquet")
    out = tmp_path / "resumed.parquet"
    real = unit_module.evaluate_case
    calls = {"n": 0}

    def flaky(*args, **kw):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(*args, **kw)

    monkeypatch.setattr(unit_module, "evaluate_case", flaky)
    monkeypatch.setattr(runner_module, "FLUSH_SECONDS", 0.0)
    with pytest.raises(KeyboardInterrupt):
        sweep(tmp_path, out=out)
    partial = pd.read_parquet(out)
    assert 0 < partial.case.nunique() < full.case.nunique()
    monkeypatch.setattr(unit_module, "evaluate_case", real)
    pred = FakePredictor()
    resumed = sweep(tmp_path, out=out, model=pred)
    assert tables_equal(resumed, full)
    assert tables_equal(pd.read_parquet(out), full)
    # a third run has nothing left to do
    pred2 = FakePredictor()
    again = sweep(tmp_path, out=out, model=pred2)
    assert pred2.stats["encoder_calls"] == 0 and tables_equal(again, full)


def test_broken_case_becomes_error_rows(tmp_path):
    t = sweep(tmp_path, broken=True)
    bad = t[t.case == "broken"]
    assert len(bad) == len(PROTOCOLS) and (bad.failure_type == "error").all()
    assert bad.error.str.contains("cannot read broken.nii.gz").all()
    assert set(t.case) == {"vol0", "broken", "vol1", "img0", "img1"}


def test_box_only_model_skips_point_protocols(tmp_path):
    t = sweep(tmp_path, model=FakePredictor(name="boxonly", supports_points=False), protocols=["box", "point"])
    assert (t[t.protocol == "point"].failure_type == "skipped").all()
    assert (t[t.protocol == "box"].error == "").all()


def test_bad_names_list_valid_ones(tmp_path):
    with pytest.raises(EvaluationError, match="valid protocols"):
        sweep(tmp_path, protocols=["box", "clicks:3"])
    with pytest.raises(ModelError, match="valid models"):
        sweep(tmp_path, model="not_a_model")


def test_max_cases(tmp_path):
    t = sweep(tmp_path, max_cases=1, protocols=["box"])
    assert set(t.case) == {"vol0"}
