"""The 3D protocols: one middle-slice box, propagated through the volume, scored on the volume.

* ``propagate_box_3d``: LiteMedSAM CVPR24 chaining (:func:`samwidgets.models.propagate.propagate_box_3d`):
  the label's 3D box ``[x_min, y_min, z_min, x_max, y_max, z_max]`` (:func:`samwidgets.prompts.box3d_from_mask`)
  prompts the middle slice ``int((z_max - z_min) / 2 + z_min)`` with its xy extent; each next slice up to
  z_max and down to z_min is prompted by the previous mask's box widened by 3 px.
* ``sam2_video_3d``: the same middle-slice box handed to SAM2's video predictor
  (:class:`samwidgets.models.sam2_video.Sam2VolumePropagator`, built once per model and sweep from the
  same registry name and default checkpoint), propagated forward and in reverse from the middle slice and
  limited to the box's z range [z_min, z_max], as the LiteMedSAM chaining is (sam2 models only). SAM2's
  video predictor keeps its own frame features, so these slices are encoded by it, not by the cache.

Slices go through ``predictor.encode``, so with the runner's embedding cache a slice already encoded for
the per-slice protocols is not encoded again. Volumes are (z, y, x[, 3]); the result is (z, y, x) bool.
"""

from __future__ import annotations

import time

import numpy as np

from samwidgets.errors import EvaluationError
from samwidgets.evaluation.protocols import Protocol, Step
from samwidgets.prompts import box3d_from_mask, middle_slice_prompt

def _sam2_propagator(predictor, videos: dict):
    """The video propagator for a sam2 image predictor, built once and kept in ``videos``."""
    from samwidgets.models.sam2_video import build_video

    name = str(getattr(predictor, "name", ""))
    if name not in videos:
        videos[name] = build_video(name, device=str(getattr(predictor, "device", "auto")))
    return videos[name]


def propagate_chain(predictor, volume: np.ndarray, *, box3d, z_mid: int, prompt, videos: dict) -> np.ndarray:
    """``propagate_box_3d``: the LiteMedSAM CVPR24 chaining from the middle slice; (z, y, x) bool."""
    from samwidgets.models.propagate import propagate_box_3d

    return propagate_box_3d(predictor, volume, box3d)


def propagate_sam2_video(predictor, volume: np.ndarray, *, box3d, z_mid: int, prompt, videos: dict) -> np.ndarray:
    """``sam2_video_3d``: SAM2's video predictor from the middle-slice box (xyxy) over [z_min, z_max]."""
    video = _sam2_propagator(predictor, videos)
    return video.propagate(volume, z=z_mid, box_xyxy=prompt.box_xyxy, z_range=(int(box3d[2]), int(box3d[5])))


def run_volume_protocol(
    protocol: Protocol, predictor, volume: np.ndarray, gt: np.ndarray, *, videos: dict | None = None
) -> tuple[Step, dict]:
    """Run a 3D protocol on a (z, y, x[, 3]) volume for the (z, y, x) bool label ``gt``.

    ``videos`` keeps the SAM2 video propagators built for ``sam2_video_3d`` across calls (one per model).
    Returns (Step with the (z, y, x) bool mask, extra prompt-log fields {"box3d", "slice"}).
    """
    gt = np.asarray(gt, bool)
    t0 = time.perf_counter()
    box3d = box3d_from_mask(gt)
    z_mid, prompt = middle_slice_prompt(box3d)
    if protocol.spec.run_volume is None:
        raise EvaluationError(f"'{protocol.name}' is not a volume protocol", where=protocol.name)
    mask = protocol.spec.run_volume(predictor, volume, box3d=box3d, z_mid=z_mid, prompt=prompt,
                                    videos={} if videos is None else videos)
    mask = np.asarray(mask, bool)
    if mask.shape != gt.shape:
        raise EvaluationError(f"propagation returned shape {mask.shape}, expected {gt.shape}", where=protocol.name)
    return Step(1, [prompt], mask, time.perf_counter() - t0), {"box3d": box3d.tolist(), "slice": z_mid}


def run_volume_steps(protocol: Protocol, predictor, volume: np.ndarray, gt: np.ndarray, *, rng: np.random.Generator,
                     videos: dict | None = None) -> list[tuple[Step, dict]]:
    """Every step of ``protocol`` on the whole (z, y, x[, 3]) volume for the (z, y, x) bool label ``gt``:
    the spec's ``volume_driver`` (multi-step protocols such as ``cvpr25``, with ``rng``), else the one step of
    :func:`run_volume_protocol`. Returns [(Step with a (z, y, x) mask, prompt-log extras with "slice")]."""
    driver = protocol.spec.volume_driver
    if driver is None:
        return [run_volume_protocol(protocol, predictor, volume, gt, videos=videos)]
    return list(driver(protocol, predictor, volume, np.asarray(gt, bool), rng=rng))
