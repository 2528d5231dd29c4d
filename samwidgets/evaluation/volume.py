"""The 3D protocols: one middle-slice box, propagated through the volume, scored on the volume.

* ``propagate_box_3d``: LiteMedSAM CVPR24 chaining (:func:`samwidgets.models.propagate.propagate_box_3d`):
  the label's 3D box ``[x_min, y_min, z_min, x_max, y_max, z_max]`` (:func:`samwidgets.prompts.box3d_from_mask`)
  prompts the middle slice ``int((z_max - z_min) / 2 + z_min)`` with its xy extent; each next slice up to
  z_max and down to z_min is prompted by the previous mask's box widened by 3 px.
* ``sam2_video_3d``: the same middle-slice box handed to SAM2's video predictor, propagated forward and in
  reverse (:mod:`samwidgets.models.sam2_video`; sam2 models only).

Slices go through ``predictor.encode``, so with the runner's embedding cache a slice already encoded for
the per-slice protocols is not encoded again. Volumes are (z, y, x[, 3]); the result is (z, y, x) bool.
"""

from __future__ import annotations

import importlib
import time

import numpy as np

from samwidgets.errors import EvaluationError
from samwidgets.evaluation.protocols import Protocol, Step
from samwidgets.prompts import box3d_from_mask, middle_slice_prompt

#: functions tried, in order, in samwidgets.models.sam2_video for the SAM2 video propagation
_SAM2_FUNCTIONS = ("propagate_box_3d", "propagate_video_3d", "propagate_box", "propagate")


def _sam2_propagate():
    module = importlib.import_module("samwidgets.models.sam2_video")
    for name in _SAM2_FUNCTIONS:
        fn = getattr(module, name, None)
        if callable(fn):
            return fn
    raise EvaluationError("samwidgets.models.sam2_video has no propagation function", where="sam2_video_3d")


def run_volume_protocol(protocol: Protocol, predictor, volume: np.ndarray, gt: np.ndarray) -> tuple[Step, dict]:
    """Run a 3D protocol on a (z, y, x[, 3]) volume for the (z, y, x) bool label ``gt``.

    Returns (Step with the (z, y, x) bool mask, extra prompt-log fields {"box3d", "slice"}).
    """
    gt = np.asarray(gt, bool)
    t0 = time.perf_counter()
    box3d = box3d_from_mask(gt)
    z_mid, prompt = middle_slice_prompt(box3d)
    if protocol.kind == "propagate_box_3d":
        from samwidgets.models.propagate import propagate_box_3d

        fn = propagate_box_3d
    elif protocol.kind == "sam2_video_3d":
        fn = _sam2_propagate()
    else:
        raise EvaluationError(f"'{protocol.name}' is not a volume protocol", where=protocol.name)
    mask = np.asarray(fn(predictor, volume, box3d), bool)
    if mask.shape != gt.shape:
        raise EvaluationError(f"propagation returned shape {mask.shape}, expected {gt.shape}", where=protocol.name)
    return Step(1, [prompt], mask, time.perf_counter() - t0), {"box3d": box3d.tolist(), "slice": z_mid}
