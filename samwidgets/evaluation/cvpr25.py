"""The CVPR 2025 interactive protocol: ``cvpr25`` (box, then 5 clicks) and ``cvpr25_points`` (5 clicks).

Reference: ``CVPR25_iter_eval.py`` of JunMa11/CVPR-MedSegFMCompetition (clicks and box:
:mod:`samwidgets.prompts.cvpr25`; AUC: :func:`samwidgets.evaluation.click_metrics.click_auc`). Per object:

* ``cvpr25``: step 1 decodes the challenge box (:func:`~samwidgets.prompts.cvpr25.cvpr25_box`); steps 2..6
  each add one click at the centre of the largest error component of the previous step's prediction and
  decode again with the box and every click so far (6 rows; the AUC uses steps 2..6);
* ``cvpr25_points``: no box (the reference scores that step 0 and leaves it out of the AUC); steps 1..5 are
  the clicks, the first one at the centre of the object's largest component (5 rows).
A step whose prediction is already perfect adds no click and repeats the mask (the reference re-runs the
model with unchanged prompts; the models here are deterministic). Scores (DSC, NSD at 2 mm with the
voxel spacing) are computed per step by the runner; the AUC and final values by
:func:`samwidgets.analysis.interactive.cvpr25_summary` from those rows.

2D images (:func:`run_cvpr25`): all prompts go to one decode against the image's embedding.

3D volumes (:func:`run_cvpr25_volume`, one volume-level row per step, ``slice = -1``). The reference runs 3D
models; the models here segment 2D slices, so the volume is handled like this (the deliberate difference):

* box step: slice ``z_mid`` is decoded with the box; the mask is carried to the other slices of
  ``z_min..z_max`` by the LiteMedSAM CVPR24 box chaining (:func:`samwidgets.models.propagate.propagate_from_mask`:
  each next slice gets the previous mask's box at 256 scale + 3 px; an empty previous mask reuses the
  middle mask's box). An empty middle mask leaves the volume empty;
* ``cvpr25_points``' first click: its slice is decoded with the point and the mask carried the same way
  through the whole volume until it comes back empty;
* every later click: only the clicked slice is decoded again, with all clicks on that slice plus, for
  ``cvpr25``, that slice's box from the box step (its chained box, or the challenge box if the box step
  left the slice empty); every other slice keeps its mask.

Coordinates: clicks are (z, y, x) array indices in the prompt log; prompts sent to a model are xy pixels.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Iterator

import numpy as np

from samwidgets.evaluation.protocols import Step
from samwidgets.prompts import Prompt
from samwidgets.prompts.cvpr25 import N_CLICKS, Cvpr25Box, cvpr25_box, cvpr25_click

#: the registry names of the two CVPR 2025 protocols (with, without the box step)
CVPR25_PROTOCOLS = ("cvpr25", "cvpr25_points")


@dataclass
class VolumeStep(Step):
    """A volume step: ``prompts`` holds what the decoded slice got; ``clicks`` counts every click so far
    (on all slices), which is what ``n_points`` reports for the results table."""

    clicks: int = 0

    @property
    def n_points(self) -> int:
        return self.clicks


def _decode(predictor, embedding, prompt: Prompt) -> np.ndarray:
    pred = predictor.decode(embedding, **prompt.decode_kwargs(), multimask=False)
    return np.asarray(pred.best(), bool)


def _prompt(box_xyxy, points: list[np.ndarray], labels: list[int]) -> Prompt:
    if not points:
        return Prompt(box_xyxy=box_xyxy)
    return Prompt(points_xy=np.stack(points).astype(float), point_labels=np.asarray(labels, int), box_xyxy=box_xyxy)


def run_cvpr25(predictor, embedding, gt: np.ndarray, *, box: bool, rng: np.random.Generator,
               n_clicks: int = N_CLICKS) -> Iterator[Step]:
    """Steps of ``cvpr25`` (``box=True``) or ``cvpr25_points`` on a 2D (H, W) bool object ``gt``."""
    gt = np.asarray(gt, bool)
    t0 = time.perf_counter()
    box_xyxy = cvpr25_box(gt, rng=rng).box_xyxy if box else None
    points: list[np.ndarray] = []
    labels: list[int] = []
    mask = np.zeros_like(gt)
    prompt = None
    step = 0
    if box:
        prompt = _prompt(box_xyxy, points, labels)
        mask = _decode(predictor, embedding, prompt)
        step += 1
        yield Step(step, [prompt], mask, time.perf_counter() - t0)
    for _ in range(n_clicks):
        t0 = time.perf_counter()
        click = cvpr25_click(gt, mask)
        if click is not None:
            points.append(click.xy())
            labels.append(click.label)
            prompt = _prompt(box_xyxy, points, labels)
            mask = _decode(predictor, embedding, prompt)
        step += 1
        yield Step(step, [prompt] if prompt is not None else [], mask, time.perf_counter() - t0)


class _VolumeState:
    """The per-slice state of a volume run: the prediction, the clicks per slice, the box-step boxes."""

    def __init__(self, predictor, volume: np.ndarray, gt: np.ndarray, start: Cvpr25Box | None):
        self.predictor, self.volume, self.gt, self.start = predictor, volume, gt, start
        self.mask = np.zeros(gt.shape, bool)
        self.clicks: dict[int, tuple[list, list]] = {}
        self.log: list[list[int]] = []
        self.box_step: np.ndarray | None = None

    def slice_box(self, z: int):
        """The box a click decode on slice z carries: None without a start box; else the box-step mask's
        chained box (256 scale + 3 px, as the propagation) or the challenge box when it is empty."""
        if self.start is None:
            return None
        from samwidgets.models.propagate import box_256_to_pixels, mask_box_256

        b = None if self.box_step is None else mask_box_256(self.box_step[z])
        return self.start.box_xyxy if b is None else box_256_to_pixels(b, self.gt.shape[1:])

    def propagate(self, z: int, mask2d: np.ndarray, z_range) -> None:
        from samwidgets.models.propagate import propagate_from_mask

        if mask2d.any():
            self.mask = propagate_from_mask(self.predictor, self.volume, z, mask2d, z_range=z_range)
        else:
            self.mask = np.zeros(self.gt.shape, bool)
            self.mask[z] = mask2d

    def click(self, first: bool) -> tuple[Prompt | None, int]:
        """Add the next click and update the prediction; returns (prompt decoded, its slice) or (None, -1)."""
        c = cvpr25_click(self.gt, self.mask)
        if c is None:
            return None, -1
        z = c.index[0]
        self.log.append([*c.index, c.label])
        pts, labs = self.clicks.setdefault(z, ([], []))
        pts.append(c.xy())
        labs.append(c.label)
        prompt = _prompt(self.slice_box(z), pts, labs)
        mask2d = _decode(self.predictor, self.predictor.encode(self.volume[z]), prompt)
        if first:
            self.propagate(z, mask2d, None)
        else:
            self.mask[z] = mask2d
        return prompt, z


def run_cvpr25_volume(predictor, volume: np.ndarray, gt: np.ndarray, *, box: bool, rng: np.random.Generator,
                      n_clicks: int = N_CLICKS) -> Iterator[tuple[Step, dict]]:
    """Steps of ``cvpr25`` / ``cvpr25_points`` on a (z, y, x[, 3]) volume for the (z, y, x) bool object ``gt``.

    Yields (Step with the (z, y, x) bool prediction, prompt-log extras {"slice": decoded slice or -1,
    "cvpr25_box": the challenge box or None, "clicks_zyx": [[z, y, x, label], ...] so far}).
    Slices are encoded through ``predictor.encode`` (so the runner's embedding cache serves repeats).
    """
    gt = np.asarray(gt, bool)
    t0 = time.perf_counter()
    start = cvpr25_box(gt, rng=rng) if box else None
    state = _VolumeState(predictor, np.asarray(volume), gt, start)
    extra = {"cvpr25_box": None if start is None else start.to_json()}
    step = 0
    if start is not None:
        prompt = Prompt(box_xyxy=start.box_xyxy)
        mid = _decode(predictor, predictor.encode(state.volume[start.z_mid]), prompt)
        state.propagate(start.z_mid, mid, (start.z_min, start.z_max))
        state.box_step = state.mask.copy()
        step += 1
        yield VolumeStep(step, [prompt], state.mask.copy(), time.perf_counter() - t0, 0), \
            {**extra, "slice": start.z_mid, "clicks_zyx": []}
    for k in range(n_clicks):
        t0 = time.perf_counter()
        prompt, z = state.click(first=start is None and k == 0)
        step += 1
        yield VolumeStep(step, [] if prompt is None else [prompt], state.mask.copy(), time.perf_counter() - t0,
                         len(state.log)), {**extra, "slice": z, "clicks_zyx": [list(c) for c in state.log]}
