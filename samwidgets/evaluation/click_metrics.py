"""Summary metrics of interactive protocols: the CVPR 2025 AUC and the RITM number of clicks (NoC).

* :func:`click_auc` matches ``CVPR25_iter_eval.py`` (JunMa11/CVPR-MedSegFMCompetition):
  ``scipy.integrate.cumulative_trapezoid(scores[-5:], np.arange(5))[-1]``, the trapezoid rule over the
  scores of the 5 click steps at x = 0..4 (the optional box step excluded), so at most 4.0.
* :func:`noc` and :func:`noc_summary` match ``compute_noc_metric`` of SamsungLabs/ritm_interactive_segmentation
  (``isegm/inference/utils.py``): NoC@t is the 1-based index of the first click whose IoU >= t, or
  ``max_clicks`` (20) if none; averaged over objects; "over max" counts the objects whose NoC equals
  ``max_clicks``, which (as in the reference) includes an object that reaches t exactly at the last click.
  The reference keeps IoUs as float32 (``np.array(ious, dtype=np.float32)``) and compares them with the
  threshold in float32; so does :func:`noc`.
"""

from __future__ import annotations

import numpy as np
from scipy import integrate

from samwidgets.errors import EvaluationError

#: CVPR 2025: clicks after the optional box; the AUC runs over their scores at x = 0 .. N_CLICKS - 1
AUC_CLICKS = 5
#: RITM: clicks per object, and the IoU thresholds reported
NOC_MAX_CLICKS = 20
NOC_THRESHOLDS = (0.85, 0.90)


def click_auc(scores, *, n_clicks: int = AUC_CLICKS) -> float:
    """CVPR 2025 DSC_AUC / NSD_AUC: trapezoid area under the last ``n_clicks`` scores at x = 0..n-1.

    scores: the per-step scores of one object in step order (box step first when there is one).
    """
    s = np.asarray(scores, dtype=float).reshape(-1)
    if len(s) < n_clicks:
        raise EvaluationError(f"the AUC needs the scores of {n_clicks} click steps, got {len(s)}")
    return float(integrate.cumulative_trapezoid(s[-n_clicks:], np.arange(n_clicks))[-1])


def noc(ious, threshold: float, *, max_clicks: int = NOC_MAX_CLICKS) -> int:
    """RITM NoC of one object: 1-based index of the first IoU >= ``threshold`` (float32), else ``max_clicks``."""
    vals = np.asarray(ious, dtype=np.float32).reshape(-1)[:max_clicks] >= np.float32(threshold)
    return int(np.argmax(vals)) + 1 if vals.any() else int(max_clicks)


def noc_key(threshold: float) -> str:
    """The threshold as the summary keys spell it: percent, "85" for 0.85."""
    return f"{round(threshold * 100):d}"


def noc_summary(all_ious, *, thresholds=NOC_THRESHOLDS, max_clicks: int = NOC_MAX_CLICKS) -> dict:
    """``compute_noc_metric``: for each threshold t, {"noc@t": mean NoC over objects, "over@t": how many
    objects have NoC == max_clicks}; keys use t in percent ("noc@85", "over@85"). ``all_ious``: one IoU
    sequence per object (click 1 first)."""
    nocs = {t: [noc(ious, t, max_clicks=max_clicks) for ious in all_ious] for t in thresholds}
    return summarize_nocs(nocs, max_clicks=max_clicks)


def summarize_nocs(nocs: dict, *, max_clicks: int) -> dict:
    """The averaging half of ``compute_noc_metric``, given each object's NoC already computed:
    ``nocs`` maps a threshold t to one NoC per object; returns {"noc@t": mean (NaN without objects),
    "over@t": how many NoCs equal ``max_clicks``} with t in percent, as :func:`noc_summary`."""
    out: dict = {}
    for t, values in nocs.items():
        scores = np.asarray(values, dtype=int)  # the reference: np.array(..., dtype=int)
        key = noc_key(t)
        out[f"noc@{key}"] = float(scores.mean()) if len(scores) else float("nan")
        out[f"over@{key}"] = int((scores == max_clicks).sum())
    return out
