"""CVPR 2025 AUC and RITM NoC: known answers and the reference formulas re-written here."""

from __future__ import annotations

import numpy as np
import pytest

from samwidgets.errors import EvaluationError
from samwidgets.evaluation.click_metrics import click_auc, noc, noc_summary


def test_auc_of_a_known_sequence_excludes_the_box_step():
    clicks = [0.5, 0.6, 0.7, 0.8, 0.9]
    # (0.5+0.6)/2 + (0.6+0.7)/2 + (0.7+0.8)/2 + (0.8+0.9)/2
    assert click_auc(clicks) == pytest.approx(2.8)
    assert click_auc([0.99] + clicks) == pytest.approx(2.8)
    assert click_auc([1.0] * 5) == pytest.approx(4.0)
    with pytest.raises(EvaluationError):
        click_auc([0.5, 0.6])


def reference_noc(all_ious, iou_thrs, max_clicks=20):
    """``compute_noc_metric`` as written in isegm/inference/utils.py (np.int -> int)."""
    def _get_noc(iou_arr, iou_thr):
        vals = iou_arr >= iou_thr
        return np.argmax(vals) + 1 if np.any(vals) else max_clicks

    noc_list, over_max_list = [], []
    for iou_thr in iou_thrs:
        scores_arr = np.array([_get_noc(iou_arr, iou_thr) for iou_arr in all_ious], dtype=int)
        noc_list.append(scores_arr.mean())
        over_max_list.append((scores_arr == max_clicks).sum())
    return noc_list, over_max_list


def test_noc_known_answers():
    ious = [0.4, 0.7, 0.86, 0.89, 0.91]
    assert noc(ious, 0.85) == 3 and noc(ious, 0.90) == 5 and noc(ious, 0.95) == 20
    assert noc([0.95], 0.9) == 1
    assert noc([0.5] * 19 + [0.9], 0.9) == 20  # reaching it at the last click also reads 20
    s = noc_summary([ious, [0.95] * 20, [0.1] * 20])
    assert s == {"noc@85": pytest.approx((3 + 1 + 20) / 3), "over@85": 1,
                 "noc@90": pytest.approx((5 + 1 + 20) / 3), "over@90": 1}


def test_noc_agrees_with_the_reference_on_random_sequences():
    rng = np.random.default_rng(0)
    all_ious = [np.array(np.sort(rng.uniform(0.3, 1.0, size=int(rng.integers(1, 21)))), dtype=np.float32)
                for _ in range(200)]
    all_ious.append(np.array([0.85] * 3, dtype=np.float32))  # float32 0.85 sits on the threshold
    ref_noc, ref_over = reference_noc(all_ious, [0.85, 0.90])
    got = noc_summary(all_ious)
    assert got["noc@85"] == pytest.approx(ref_noc[0]) and got["noc@90"] == pytest.approx(ref_noc[1])
    assert (got["over@85"], got["over@90"]) == (ref_over[0], ref_over[1])
