"""open_case on results-table rows (fake predictor; the embedded sample manifest)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import samwidgets.widgets
from samwidgets.errors import InputError, PromptError
from samwidgets.paths import repo_root
from widgets.fakes import FakePredictor

REPO_ROOT = repo_root()

SAMPLE = REPO_ROOT / "data_manifests" / "sample.yaml"


def row(**kw):
    base = {"manifest": "data_manifests/sample.yaml", "case": "1007_5", "case_index": 5, "slice": 0,
            "model": "litemedsam", "label": "", "prompt_log": ""}
    return {**base, **kw}


def open_row(r):
    return samwidgets.widgets.open_case(r, model=FakePredictor(), background=False, autosave_dir=None)


def test_label_column_selects_the_scored_ground_truth():
    from samwidgets.manifest import find_case

    labels = find_case(SAMPLE, "1007_5").load_labels()
    name = sorted(labels)[-1]
    v = open_row(row(label=name, prompt_log=json.dumps(
        {"protocol": "point", "slice": 0, "prompts": [{"points_xy": [[40, 60]], "point_labels": [1], "box_xyxy": None}]})))
    assert v.session.gt_label == name and v.ui.gt_label.value == name and v.ui.label.value == name
    assert v.session.state.points == ((40.0, 60.0, 1),)
    gt = labels[name]
    inter = (v.session.mask & gt).sum()
    assert v.session.metrics["dice"] == pytest.approx(2 * inter / (v.session.mask.sum() + gt.sum()))


def test_volume_row_uses_the_log_slice_and_pandas_series():
    log = {"protocol": "box3d", "slice": 7, "box3d": [1, 2, 3, 4, 5, 6],
           "prompts": [{"points_xy": None, "point_labels": None, "box_xyxy": [250, 220, 330, 290]}]}
    r = pd.Series(row(case="CT_Lesion_000001_02_01_008-023", case_index=np.int64(0), slice=-1,
                      label="lesion", prompt_log=json.dumps(log)))
    v = open_row(r)
    assert v.session.z == 7 and v.session.state.box == (250.0, 220.0, 330.0, 290.0)
    assert v.ui.status.value.startswith("prompts: 1 | Dice ")


def test_case_index_disambiguates_and_bad_rows_raise_typed_errors():
    v = open_row(row(case="10", case_index=11, slice=float("nan")))
    assert v.case_id == "10" and v.session.image.is_rgb
    with pytest.raises(InputError):
        open_row({"case": "10"})
    with pytest.raises(InputError):
        open_row(row(manifest="no/such/manifest.yaml"))
    with pytest.raises(PromptError):
        open_row(row(prompt_log="{not json"))
