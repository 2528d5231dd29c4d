"""Prompt sensitivity of one object on one slice: click-robustness maps and box-sensitivity curves.

Headless (no widgets): the viewer runs these in the background, reports use them in their "prompt
sensitivity" section. Every function decodes against ONE embedding (the slice is never re-encoded) and
sends prompts in batches (``predictor.decode`` with (B, 1, 2) points / (B, 4) boxes). Long runs take
``progress(done, total)`` (called after each batch) and ``cancel`` (a callable returning True, or an object
with ``is_set()`` such as ``threading.Event``; checked before each batch): a cancelled run returns what it
has, marked ``complete=False``.

Scores are Dice (default) or IoU of the decoded mask against the (H, W) bool ground truth, with the
conventions of :mod:`samwidgets.metrics`. Points are xy pixels, boxes xyxy, maps (H, W) in array order.

* :func:`click_map`: a single positive click at every point of a regular grid over the object's bounding
  box widened by ``margin`` (a fraction of the box size, at least 2 px) on each side, optionally together
  with the object's tight box. Summary: ``safe_share`` = share of the grid points inside the object whose
  click gives a score >= 0.5 (each grid point stands for an equal area, so this is the share of the
  object's area), best and worst click inside the object, and the score of the click at the
  distance-transform centre the simulators use (:func:`samwidgets.prompts.centre_point`).
* :func:`box_side_curves`: the tight box with one side at a time moved outwards (+) or inwards (-) by a
  fraction of the object's width (x sides) or height (y sides), 0..20 % by default.
* :func:`box_jitter_curve`: every side moved independently by a uniform integer in [-a, a] px
  (:func:`samwidgets.prompts.jitter_box`, seeded ``rng``), ``draws`` boxes per amplitude a = 0..20 px.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd

from samwidgets.errors import PromptError
from samwidgets.prompts import box_from_mask, centre_point, jitter_box

#: Dice at or above which a single click counts as "safe"
SAFE_SCORE = 0.5
SIDES = ("left", "top", "right", "bottom")


@dataclass
class ClickMap:
    """A click-robustness map: ``scores`` (H, W) float, NaN where no click was sampled; ``points_xy`` (N, 2)
    the grid (xy pixels), ``values`` (N,) their scores (NaN if not reached before a cancel); ``stride`` the
    grid spacing in px; ``box_xyxy`` the box sent with every click (None: click alone); ``summary`` (see
    :func:`click_map`); ``complete`` False when cancelled."""

    scores: np.ndarray
    points_xy: np.ndarray
    values: np.ndarray
    stride: int
    box_xyxy: np.ndarray | None
    summary: dict = field(default_factory=dict)
    complete: bool = True

    def filled(self) -> np.ndarray:
        """The map with each grid value spread over its stride x stride cell, for drawing: (H, W) float."""
        out = np.full(self.scores.shape, np.nan)
        h = self.stride // 2
        for (x, y), v in zip(self.points_xy.astype(int), self.values):
            out[max(y - h, 0):y - h + self.stride, max(x - h, 0):x - h + self.stride] = v
        return out


def _cancelled(cancel) -> bool:
    if cancel is None:
        return False
    return bool(cancel.is_set() if hasattr(cancel, "is_set") else cancel())


def mask_scores(masks: np.ndarray, gt: np.ndarray, *, metric: str = "dice") -> np.ndarray:
    """Dice or IoU of each (B, H, W) mask against (H, W) ``gt``; both empty -> 1.0 (metrics' policy)."""
    m = np.asarray(masks, bool).reshape(-1, *gt.shape)
    inter = np.logical_and(m, gt).sum(axis=(1, 2)).astype(float)
    size = m.sum(axis=(1, 2)).astype(float)
    g = float(gt.sum())
    if metric == "dice":
        den, num = size + g, 2.0 * inter
    elif metric == "iou":
        den, num = size + g - inter, inter
    else:
        raise PromptError(f"unknown metric '{metric}'; use 'dice' or 'iou'")
    return np.where(den > 0, num / np.where(den > 0, den, 1.0), 1.0)


def decode_scores(predictor, embedding, gt, *, points_xy=None, boxes_xyxy=None, box_xyxy=None,
                  metric: str = "dice", batch_size: int = 64, progress=None, cancel=None) -> np.ndarray:
    """Score of each prompt of a batch: ``points_xy`` (B, 2) single positive clicks (with the fixed
    ``box_xyxy`` when given) or ``boxes_xyxy`` (B, 4). Decoded ``batch_size`` at a time; returns (B,) float,
    NaN for prompts not reached because ``cancel`` fired."""
    gt = np.asarray(gt, bool)
    prompts = np.asarray(points_xy if points_xy is not None else boxes_xyxy, float)
    out = np.full(len(prompts), np.nan)
    for i in range(0, len(prompts), batch_size):
        if _cancelled(cancel):
            break
        part = prompts[i:i + batch_size]
        if points_xy is not None:
            kw = {"points_xy": part[:, None, :], "point_labels": np.ones((len(part), 1), int)}
            if box_xyxy is not None:
                kw["box_xyxy"] = np.repeat(np.asarray(box_xyxy, float)[None], len(part), axis=0)
        else:
            kw = {"box_xyxy": part}
        pred = predictor.decode(embedding, **kw, multimask=False)
        out[i:i + len(part)] = mask_scores(pred.best(), gt, metric=metric)
        if progress is not None:
            progress(min(i + len(part), len(prompts)), len(prompts))
    return out


def grid_over_object(gt: np.ndarray, *, n_per_side: int = 32, margin: float = 0.25) -> tuple[np.ndarray, int]:
    """A regular grid over the object's bounding box widened by ``margin`` on each side (at least 2 px),
    clipped to the image: ((N, 2) float xy pixels, row by row; stride in px, at most ``n_per_side`` per side)."""
    ys, xs = np.nonzero(gt)
    if len(ys) == 0:
        raise PromptError("cannot map clicks over an empty object")
    h, w = gt.shape
    my = max(2, int(round(margin * (ys.max() - ys.min() + 1))))
    mx = max(2, int(round(margin * (xs.max() - xs.min() + 1))))
    y0, y1 = max(0, ys.min() - my), min(h - 1, ys.max() + my)
    x0, x1 = max(0, xs.min() - mx), min(w - 1, xs.max() + mx)
    stride = max(1, int(np.ceil((max(y1 - y0, x1 - x0) + 1) / max(1, int(n_per_side)))))
    gy, gx = np.meshgrid(np.arange(y0, y1 + 1, stride), np.arange(x0, x1 + 1, stride), indexing="ij")
    return np.stack([gx.ravel(), gy.ravel()], axis=1).astype(float), stride


def _summary(gt, pts, values, centre_xy, centre_score, box_score) -> dict:
    inside = gt[pts[:, 1].astype(int), pts[:, 0].astype(int)]
    v_in = values[inside]
    ok = ~np.isnan(v_in)
    out = {"n_points": int(len(pts)), "n_inside": int(inside.sum()),
           "safe_share": float((v_in[ok] >= SAFE_SCORE).mean()) if ok.any() else float("nan"),
           "centre_xy": centre_xy.tolist(), "centre_score": centre_score, "box_score": box_score}
    if ok.any():
        idx = np.nonzero(inside)[0][ok]
        best, worst = idx[np.argmax(values[idx])], idx[np.argmin(values[idx])]
        out.update(best_xy=pts[best].tolist(), best_score=float(values[best]),
                   worst_xy=pts[worst].tolist(), worst_score=float(values[worst]))
    return out


def click_map(predictor, embedding, gt: np.ndarray, *, with_box: bool = False, n_per_side: int = 32,
              margin: float = 0.25, metric: str = "dice", batch_size: int = 64, rng: np.random.Generator,
              progress: Callable[[int, int], None] | None = None, cancel=None) -> ClickMap:
    """The click-robustness map of the (H, W) bool object ``gt`` on the slice of ``embedding`` (module
    docstring). ``with_box`` sends the object's tight box with every click; ``rng`` breaks ties of the
    distance-transform centre. Summary keys: n_points, n_inside, safe_share, best_xy/best_score,
    worst_xy/worst_score (inside the object), centre_xy/centre_score, box_score (box alone; None without)."""
    gt = np.asarray(gt, bool)
    pts, stride = grid_over_object(gt, n_per_side=n_per_side, margin=margin)
    box = box_from_mask(gt) if with_box else None
    values = decode_scores(predictor, embedding, gt, points_xy=pts, box_xyxy=box, metric=metric,
                           batch_size=batch_size, progress=progress, cancel=cancel)
    complete = not np.isnan(values).any()
    centre = centre_point(gt, rng=rng)
    extra = decode_scores(predictor, embedding, gt, points_xy=centre[None], box_xyxy=box, metric=metric)
    box_score = None
    if box is not None:
        box_score = float(decode_scores(predictor, embedding, gt, boxes_xyxy=box[None], metric=metric)[0])
    scores = np.full(gt.shape, np.nan)
    scores[pts[:, 1].astype(int), pts[:, 0].astype(int)] = values
    summary = _summary(gt, pts, values, centre, float(extra[0]), box_score)
    return ClickMap(scores, pts, values, stride, box, summary, complete)


def moved_box(box_xyxy, side: str, px: float, shape_hw) -> np.ndarray | None:
    """``box_xyxy`` with one side moved outwards by ``px`` (inwards when negative), clipped to the image;
    None when the box would be empty (x_min >= x_max or y_min >= y_max)."""
    b = np.asarray(box_xyxy, float).copy()
    k = SIDES.index(side)
    b[k] += -px if k < 2 else px
    h, w = shape_hw
    b = np.clip(b, 0, [w - 1, h - 1, w - 1, h - 1])
    return b if b[0] < b[2] and b[1] < b[3] else None


def box_side_curves(predictor, embedding, gt: np.ndarray, *, fractions=np.linspace(-0.2, 0.2, 9),
                    metric: str = "dice", batch_size: int = 64) -> pd.DataFrame:
    """Score as each side of the tight box moves by ``fractions`` of the object's width (left/right) or
    height (top/bottom); positive = outwards. Returns columns side, fraction, px, score (NaN when the
    moved box is empty)."""
    gt = np.asarray(gt, bool)
    box = box_from_mask(gt)
    size = {"left": box[2] - box[0] + 1, "right": box[2] - box[0] + 1,
            "top": box[3] - box[1] + 1, "bottom": box[3] - box[1] + 1}
    rows, boxes = [], []
    for side in SIDES:
        for f in np.asarray(fractions, float):
            px = float(np.round(f * size[side]))
            b = moved_box(box, side, px, gt.shape)
            rows.append({"side": side, "fraction": float(f), "px": px})
            boxes.append(b)
    valid = [i for i, b in enumerate(boxes) if b is not None]
    scores = np.full(len(rows), np.nan)
    if valid:
        scores[valid] = decode_scores(predictor, embedding, gt, boxes_xyxy=np.stack([boxes[i] for i in valid]),
                                      metric=metric, batch_size=batch_size)
    return pd.DataFrame(rows).assign(score=scores)


def box_jitter_curve(predictor, embedding, gt: np.ndarray, *, amplitudes=(0, 2, 5, 10, 15, 20), draws: int = 16,
                     metric: str = "dice", batch_size: int = 64, rng: np.random.Generator) -> pd.DataFrame:
    """Score under random jitter: for each amplitude a (px), ``draws`` boxes with every side shifted by a
    uniform integer in [-a, a] (``rng``). Returns columns amplitude, mean, std, min, n."""
    gt = np.asarray(gt, bool)
    box = box_from_mask(gt)
    boxes, amps = [], []
    for a in amplitudes:
        for _ in range(int(draws) if a > 0 else 1):
            b = jitter_box(box, gt.shape, rng=rng, max_px=int(a)) if a > 0 else box
            if b[0] < b[2] and b[1] < b[3]:
                boxes.append(b)
                amps.append(int(a))
    scores = decode_scores(predictor, embedding, gt, boxes_xyxy=np.stack(boxes), metric=metric, batch_size=batch_size)
    df = pd.DataFrame({"amplitude": amps, "score": scores})
    out = df.groupby("amplitude")["score"].agg(["mean", "std", "min", "count"]).reset_index()
    return out.rename(columns={"count": "n"}).fillna({"std": 0.0})
