import json

import numpy as np
import pandas as pd

from samwidgets.analysis.results import check_results
from samwidgets.analysis.volumes import distance_curve, slice_distance


def _rows(protocol, dices, *, log_mid=None, case="c1"):
    out = []
    for z, d in enumerate(dices):
        log = {"slice": z, "prompts": []}
        if log_mid is not None:
            log["prompted_slice"] = log_mid
        out.append(dict(dataset="d", modality="CT", case=case, label="1", slice=z + 10, model="m",
                        protocol=protocol, step=0, n_points=0, dice=d, iou=d, nsd=d, hd95=1.0, seconds=0.1,
                        failure_type="ok", prompt_log=json.dumps(log), manifest="x", error=None))
    return out


def test_slice_distance_uses_label_extent_middle():
    # slices 10..14 -> z_mid = int((14 - 10) / 2 + 10) = 12
    df = check_results(pd.DataFrame(_rows("propagate_box_3d", [0.2, 0.5, 0.9, 0.6, 0.3]) + _rows("box", [0.8] * 5)))
    d = slice_distance(df)
    assert (d["prompted_slice"] == 12).all()
    prop = d[d["protocol"] == "propagate_box_3d"].sort_values("slice")
    assert prop["distance"].tolist() == [2, 1, 0, 1, 2]
    assert set(slice_distance(df, protocols=["box"])["protocol"]) == {"box"}


def test_slice_distance_prefers_logged_prompted_slice_and_skips_2d():
    rows = _rows("propagate_box_3d", [0.5] * 4, log_mid=11)
    rows.append(dict(rows[0], case="flat", slice=0, prompt_log="{}"))  # a 2D case: one slice only
    d = slice_distance(check_results(pd.DataFrame(rows)))
    assert set(d["case"]) == {"c1"}
    assert (d["prompted_slice"] == 11).all()
    assert d.sort_values("slice")["distance"].tolist() == [1, 0, 1, 2]


def test_distance_curve_means_per_distance(results):
    d = slice_distance(results)
    assert set(d["modality"]) == {"CT"}
    c = distance_curve(d, metric="dice", rng=np.random.default_rng(0), n_boot=100)
    prop = c[c["protocol"] == "propagate_box_3d"].groupby("distance")["mean"].mean()
    assert prop.index.min() == 0
    assert prop.iloc[0] > prop.iloc[-1]  # synthetic propagation degrades away from the prompt
    assert ((c["ci_low"] <= c["mean"]) & (c["mean"] <= c["ci_high"])).all()
