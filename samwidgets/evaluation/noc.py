"""The RITM number-of-clicks protocol ``noc:N`` (N = 20 in the field): up to N clicks per object.

Reference: SamsungLabs/ritm_interactive_segmentation, ``isegm/inference/evaluation.py`` (``evaluate_sample``)
with its ``Clicker`` (:class:`samwidgets.prompts.ritm.RitmClicker`) and ``compute_noc_metric``
(:func:`samwidgets.evaluation.click_metrics.noc_summary`). The prediction starts empty; click k is placed by
the clicker on the previous prediction and every click so far is sent to the model (all points re-sent, as
the reference's predictor receives the whole clicker; no previous mask fed back: SAM-family models here take
clicks only). Step k's row holds the IoU after k clicks; NoC@85/90 and the objects still below after N
clicks are computed from those rows by :func:`samwidgets.analysis.interactive.noc_table`.

Differences, both without effect on NoC: the reference stops an object once its IoU reaches the target
(0.90); here every object gets all N steps (so curves are over the same objects), and a perfect prediction
adds no click and repeats its mask. 2D: one object on one slice ((H, W) bool); on a 3D volume the runner
runs it per slice like the other 2D protocols. Points are xy pixels.
"""

from __future__ import annotations

import time
from typing import Iterator

import numpy as np

from samwidgets.evaluation.protocols import Step
from samwidgets.prompts import Prompt
from samwidgets.prompts.ritm import RitmClicker

#: the registry name of the protocol (written ``noc:N``)
NOC_PROTOCOL = "noc"


def run_noc(predictor, embedding, gt: np.ndarray, *, max_clicks: int = 20) -> Iterator[Step]:
    """Yield steps 1..max_clicks for the (H, W) bool object ``gt`` on the slice of ``embedding``."""
    gt = np.asarray(gt, bool)
    clicker = RitmClicker(gt)
    mask = np.zeros_like(gt)
    prompt = None
    for step in range(1, int(max_clicks) + 1):
        t0 = time.perf_counter()
        if clicker.next_click(mask) is not None:
            pts, labels = clicker.points()
            prompt = Prompt(points_xy=pts, point_labels=labels)
            pred = predictor.decode(embedding, **prompt.decode_kwargs(), multimask=False)
            mask = np.asarray(pred.best(), bool)
        yield Step(step, [prompt], mask, time.perf_counter() - t0)
