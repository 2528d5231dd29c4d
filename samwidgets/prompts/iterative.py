"""Iterative click simulators: Mazurowski's error-region clicks and micro-sam's random corrections.

Both follow protocols.md "Prompt simulation" exactly:

* **Mazurowski iterative** (:func:`first_click`, :func:`error_click`, :func:`next_iterative_prompt`):
  the first point is the centre (distance-transform argmax) of the whole label; each next point is the
  distance-transform centre of the error region ``gt XOR pred``, positive (1) if that pixel is inside the
  ground truth, negative (0) otherwise. All points are re-sent at every round; the previous logits are not
  fed back (the runner does not pass ``mask_logits``). Up to N points (9 in the study).
* **micro-sam iterative** (:func:`microsam_correction`, :func:`next_microsam_prompt`): start from the
  ground-truth box or one centre point; each round adds one positive point drawn uniformly from the missed
  region ``gt & ~pred`` and one negative point drawn uniformly from the wrongly included region
  ``pred & ~gt`` (a region that is empty contributes no point); the start box is kept in every round.
  Feeding the previous logits back is the runner's choice (protocol suffix ``:logits``).

Masks are (y, x) bool; points are xy pixels; every random choice uses the explicit ``rng``.
A round whose error region is empty returns ``None``: the prediction is already perfect and there is
nothing to click.
"""

from __future__ import annotations

import numpy as np

from samwidgets.prompts.geometry import centre_point, random_point
from samwidgets.prompts.types import Prompt


def first_click(gt: np.ndarray, *, rng: np.random.Generator) -> Prompt:
    """One positive point at the distance-transform centre of the whole (y, x) label."""
    pt = centre_point(np.asarray(gt, bool), rng=rng)
    return Prompt(points_xy=pt[None, :], point_labels=np.ones(1, int))


def error_click(gt: np.ndarray, pred: np.ndarray, *, rng: np.random.Generator) -> tuple[np.ndarray, int] | None:
    """The next Mazurowski click: ((2,) xy point, label) or None when ``pred`` equals ``gt``.

    The point is the distance-transform centre of ``gt XOR pred`` (ties broken by ``rng``); the label is
    1 when the point lies inside ``gt`` (a missed pixel), 0 when outside (a wrongly included pixel).
    """
    gt = np.asarray(gt, bool)
    pred = np.asarray(pred, bool)
    err = gt ^ pred
    if not err.any():
        return None
    pt = centre_point(err, rng=rng)
    return pt, int(gt[int(pt[1]), int(pt[0])])


def _append(prompt: Prompt, pts: np.ndarray, labels: np.ndarray) -> Prompt:
    old_pts = np.zeros((0, 2)) if prompt.points_xy is None else np.asarray(prompt.points_xy, float)
    old_lab = np.zeros(0, int) if prompt.point_labels is None else np.asarray(prompt.point_labels, int)
    return Prompt(
        points_xy=np.concatenate([old_pts, np.asarray(pts, float).reshape(-1, 2)]),
        point_labels=np.concatenate([old_lab, np.asarray(labels, int).reshape(-1)]),
        box_xyxy=prompt.box_xyxy,
    )


def next_iterative_prompt(
    prompt: Prompt, gt: np.ndarray, pred: np.ndarray, *, rng: np.random.Generator
) -> Prompt | None:
    """``prompt`` with one more :func:`error_click` appended (all points re-sent), or None if no error."""
    click = error_click(gt, pred, rng=rng)
    if click is None:
        return None
    pt, label = click
    return _append(prompt, pt[None, :], np.array([label]))


def microsam_correction(
    gt: np.ndarray, pred: np.ndarray, *, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray] | None:
    """One micro-sam round: points (k, 2) xy and labels (k,), k <= 2, or None when ``pred`` equals ``gt``.

    A positive point uniformly from ``gt & ~pred`` (first) and a negative one uniformly from
    ``pred & ~gt`` (second); a region that is empty gives no point.
    """
    gt = np.asarray(gt, bool)
    pred = np.asarray(pred, bool)
    pts, labels = [], []
    missed = gt & ~pred
    extra = pred & ~gt
    if missed.any():
        pts.append(random_point(missed, rng=rng))
        labels.append(1)
    if extra.any():
        pts.append(random_point(extra, rng=rng))
        labels.append(0)
    if not pts:
        return None
    return np.stack(pts), np.array(labels, int)


def next_microsam_prompt(
    prompt: Prompt, gt: np.ndarray, pred: np.ndarray, *, rng: np.random.Generator
) -> Prompt | None:
    """``prompt`` (box and points kept) plus one :func:`microsam_correction`, or None if no error."""
    corr = microsam_correction(gt, pred, rng=rng)
    if corr is None:
        return None
    return _append(prompt, *corr)
