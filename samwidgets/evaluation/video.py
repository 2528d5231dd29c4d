"""Video propagation protocols: prompt one annotated frame of a clip, follow the object through the clip.

A clip is a :class:`samwidgets.io.video.Clip` (frames (t, y, x[, 3]), labels on some frames). Protocols
(:data:`VIDEO_PROTOCOLS`, one table; names ``video_<method>_<prompt>_<start>``; each is also a row of the
protocol registry :data:`samwidgets.evaluation.protocols.PROTOCOLS`, so ``samwidgets evaluate`` runs it on a
3D image or clip, scored on every frame):

* method ``chain`` — LiteMedSAM box chaining through frames, the CVPR24 3D rule with frames as slices
  (protocols.md "3D handling"; :func:`samwidgets.models.propagate.propagate_from_mask`): the start frame
  is decoded from its prompt, then each next frame (forward, then backward from the start frame) is
  prompted with the 256-scale bounding box (+3 px) of the previous frame's mask; an empty previous mask
  reuses the start frame's box. Every frame is encoded once (through the predictor's embedding cache).
  Box prompts only (LiteMedSAM was trained with boxes).
* method ``sam2`` — SAM2's video predictor (Ma et al. 2024; :class:`samwidgets.models.sam2_video.
  Sam2VolumePropagator`): the prompt on the start frame, ``propagate_in_video`` forward then
  ``reverse=True``, each frame conditioned on SAM2's memory.

prompt ``box`` is the tight box of the start frame's ground truth (xyxy pixels); ``clicks`` is one
positive click at its distance-transform centre (ties broken by ``rng``, Mazurowski's first click).
start ``first`` is the first annotated frame where the object is present, ``middle`` the middle one of
those (index ``(n - 1) // 2``: the CVPR24 middle slice when the frames are consecutive). Scores are computed only on annotated frames: Dice and IoU of each frame's
mask, with ``distance`` = frame - start frame (signed; 0 is the prompted frame itself). A frame is
``lost`` when its Dice falls below ``lost_below`` (default 0.5).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from itertools import product
from typing import Callable

import numpy as np
import pandas as pd

from samwidgets.errors import EvaluationError, PromptError
from samwidgets.metrics import dice, iou
from samwidgets.prompts import Prompt, box_from_mask, first_click

LOST_BELOW = 0.5
FRAME_COLUMNS = ("clip", "object", "protocol", "model", "frame", "frame_name", "start", "distance", "dice",
                 "iou", "gt_area", "pred_area", "lost")


def _frames_u8(array: np.ndarray) -> np.ndarray:
    """(t, y, x[, 3]) frames as uint8 (other dtypes min-max scaled over the clip)."""
    if array.dtype == np.uint8:
        return array
    a = array.astype(np.float64)
    lo, hi = float(a.min()), float(a.max())
    return np.zeros(a.shape, np.uint8) if hi <= lo else np.rint((a - lo) * 255.0 / (hi - lo)).astype(np.uint8)


def chain_from_frame(predictor, frames: np.ndarray, t0: int, prompt: Prompt, *, videos: dict | None = None) -> np.ndarray:
    """LiteMedSAM-style box chaining from frame ``t0`` through (t, y, x[, 3]) uint8 frames -> (t, y, x) bool.

    Frame t0 is decoded from ``prompt``'s box; its mask seeds :func:`propagate_from_mask` over all frames
    (an empty previous mask reuses the seed box). An empty seed mask gives an all-empty prediction."""
    from samwidgets.models.propagate import propagate_from_mask

    emb = predictor.encode(frames[t0])
    seed = np.asarray(predictor.decode(emb, box_xyxy=prompt.box_xyxy).best(), dtype=bool)
    if not seed.any():
        return np.zeros(frames.shape[:3], dtype=bool)
    return propagate_from_mask(predictor, frames, t0, seed, z_range=(0, frames.shape[0] - 1), stop_on_empty=False)


def sam2_from_frame(engine, frames: np.ndarray, t0: int, prompt: Prompt, *, videos: dict | None = None) -> np.ndarray:
    """SAM2 video propagation from frame ``t0`` (box and/or clicks), forward then backward -> (t, y, x) bool.

    ``engine`` is a SAM2 video propagator, or a SAM2 image predictor whose video propagator is built (and
    kept in ``videos``) with the same registry name."""
    if not hasattr(engine, "propagate"):
        from samwidgets.evaluation.volume import _sam2_propagator

        engine = _sam2_propagator(engine, {} if videos is None else videos)
    return engine.propagate(frames, z=t0, box_xyxy=prompt.box_xyxy, points_xy=prompt.points_xy,
                            point_labels=prompt.point_labels)


@dataclass(frozen=True)
class VideoProtocol:
    """One row of the video protocol table: ``propagate(engine, frames, t0, prompt, *, videos)``."""

    name: str
    method: str   # "chain" or "sam2"
    prompt: str   # "box" or "clicks"
    start: str    # "first" or "middle" annotated frame with the object
    propagate: Callable
    reference: str

    @property
    def summary(self) -> str:
        what = "box" if self.prompt == "box" else "one centre click"
        how = "LiteMedSAM box chaining" if self.method == "chain" else "SAM2 video propagation"
        return f"clip: {what} on the {self.start} frame with the object, {how} forward and backward"


_ENGINES = {"chain": (chain_from_frame, "CVPR24 LiteMedSAM 3D box chaining, frames as slices"),
            "sam2": (sam2_from_frame, "Ma et al. 2024, SAM2 video predictor")}

VIDEO_PROTOCOLS: dict[str, VideoProtocol] = {
    f"video_{m}_{p}_{s}": VideoProtocol(f"video_{m}_{p}_{s}", m, p, s, *_ENGINES[m])
    for m, p, s in product(("chain", "sam2"), ("box", "clicks"), ("first", "middle"))
    if not (m == "chain" and p == "clicks")  # LiteMedSAM was trained with boxes
}


def get_video_protocol(name: str) -> VideoProtocol:
    try:
        return VIDEO_PROTOCOLS[name]
    except KeyError:
        raise EvaluationError(f"unknown video protocol '{name}'; valid: {', '.join(VIDEO_PROTOCOLS)}",
                              where=name) from None


@dataclass
class ClipResult:
    """rows: one per annotated frame (columns FRAME_COLUMNS); masks: (t, y, x) bool predictions."""

    rows: pd.DataFrame
    masks: np.ndarray
    start: int


def start_frame(gt: np.ndarray, annotated: list[int], start: str) -> int:
    """The prompted frame: the first, or the middle (index ``(n - 1) // 2``, the CVPR24 middle slice for
    consecutive frames), of the ``annotated`` frames where ``gt`` (t, y, x) is non-empty."""
    present = [t for t in annotated if gt[t].any()]
    if not present:
        raise PromptError("the object is on no annotated frame", where="clip")
    return present[0] if start == "first" else present[(len(present) - 1) // 2]


def start_prompt(proto: VideoProtocol, gt2d: np.ndarray, *, rng: np.random.Generator) -> Prompt:
    """The start frame's prompt: its tight GT box (xyxy pixels) or one centre click (xy pixels)."""
    return Prompt(box_xyxy=box_from_mask(gt2d)) if proto.prompt == "box" else first_click(gt2d, rng=rng)


def volume_driver(proto: VideoProtocol) -> Callable:
    """The protocol registry's ``volume_driver`` for ``proto``: on a (t, y, x[, 3]) clip (or volume) whose
    (t, y, x) label counts as annotated on every frame, one volume-level step (the prediction over all
    frames) with prompt-log extras {"slice": start frame}."""
    def driver(protocol, predictor, volume, gt, *, rng):
        t_start = time.perf_counter()
        gt = np.asarray(gt, bool)
        t0 = start_frame(gt, list(range(gt.shape[0])), proto.start)
        prompt = start_prompt(proto, gt[t0], rng=rng)
        masks = np.asarray(proto.propagate(predictor, _frames_u8(np.asarray(volume)), t0, prompt), dtype=bool)
        from samwidgets.evaluation.protocols import Step

        yield Step(1, [prompt], masks, time.perf_counter() - t_start), {"slice": t0}
    return driver


def propagate_clip(clip, protocol: str, engine, *, value: int | None = None, rng: np.random.Generator,
                   lost_below: float = LOST_BELOW) -> ClipResult:
    """Run one video protocol on one object of ``clip`` and score it on the annotated frames.

    engine: a Predictor (method "chain"); for method "sam2" a SAM2 video propagator
    (:func:`samwidgets.models.sam2_video.build_video`) or a SAM2 image predictor. value: the object's label value (None: any label
    > 0). Returns a :class:`ClipResult`.
    """
    proto = get_video_protocol(protocol)
    frames = _frames_u8(clip.image.array)
    gt = clip.masks(value)
    annotated = clip.annotated_frames
    t0 = start_frame(gt, annotated, proto.start)
    prompt = start_prompt(proto, gt[t0], rng=rng)
    masks = np.asarray(proto.propagate(engine, frames, t0, prompt), dtype=bool)
    model = str(getattr(engine, "name", type(engine).__name__))
    rows = []
    for t in annotated:
        d = dice(masks[t], gt[t])
        rows.append({"clip": clip.name, "object": -1 if value is None else int(value), "protocol": protocol,
                     "model": model, "frame": t, "frame_name": clip.frame_names[t], "start": t0,
                     "distance": t - t0, "dice": d, "iou": iou(masks[t], gt[t]), "gt_area": int(gt[t].sum()),
                     "pred_area": int(masks[t].sum()), "lost": bool(d < lost_below)})
    return ClipResult(pd.DataFrame(rows, columns=list(FRAME_COLUMNS)), masks, t0)


def lost_frames(rows: pd.DataFrame) -> pd.DataFrame:
    """Per (model, protocol) and direction: the first frame, going away from the start, whose Dice fell
    below the threshold (tracking lost), and how many frames were lost in all. Columns: model, protocol,
    direction ("forward"/"backward"), first_lost (frame or -1), distance, n_lost, n_frames."""
    out = []
    for (model, protocol), part in rows.groupby(["model", "protocol"], sort=True):
        for direction, sel in (("forward", part["distance"] > 0), ("backward", part["distance"] < 0)):
            side = part[sel].reindex(part[sel]["distance"].abs().sort_values(kind="mergesort").index)
            hit = side[side["lost"]]
            out.append({"model": model, "protocol": protocol, "direction": direction,
                        "first_lost": int(hit["frame"].iloc[0]) if len(hit) else -1,
                        "distance": int(hit["distance"].iloc[0]) if len(hit) else 0,
                        "n_lost": int(side["lost"].sum()), "n_frames": int(len(side))})
    return pd.DataFrame(out)
