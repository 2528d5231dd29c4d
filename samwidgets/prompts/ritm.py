"""The RITM click simulator used for NoC@85 / NoC@90 (numpy/scipy only).

Matches the ``Clicker`` of SamsungLabs/ritm_interactive_segmentation (``isegm/inference/clicker.py``, used by
``isegm/inference/evaluation.py`` and summarised by ``compute_noc_metric`` in ``isegm/inference/utils.py``;
protocols.md "Interactive protocols of the field"), step by step:

1. false negatives ``FN = gt & ~pred`` and false positives ``FP = ~gt & pred``;
2. each padded by one background pixel on every side, then an L2 distance transform (the reference's
   ``cv2.distanceTransform(..., DIST_L2, 0)`` is the exact Euclidean transform, as scipy's here; the padding
   makes the image border count as background), the padding cut off again;
3. both transforms multiplied by the "not clicked yet" map, so a pixel is never clicked twice;
4. a positive click if ``max(FN distance) > max(FP distance)`` (strictly: a tie gives a negative click);
5. the click is the first pixel, in row-major order (``np.where(...)[0]``), where the chosen transform
   reaches its maximum. Deterministic: no random choice.

The first click of an object comes from an empty prediction, so it is positive, at the ground truth's
distance-transform maximum. :class:`RitmClicker` keeps the clicked-pixel map between clicks; all clicks are
re-sent to the model at every step by the protocol driver (:mod:`samwidgets.evaluation.noc`).

One deliberate difference: for a perfect prediction (no FN, no FP) :meth:`RitmClicker.next_click` returns
None instead of a negative click at the first not-yet-clicked pixel; the reference never gets there because
its evaluation stops once the IoU reaches the target (0.90) and a perfect IoU is 1.

Masks are (y, x) bool; :attr:`RitmClick.yx` is (row, column), :meth:`RitmClick.xy` the xy pixel.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from samwidgets.errors import PromptError
from samwidgets.masks.distance import distance_map


@dataclass(frozen=True)
class RitmClick:
    """One click: ``yx`` (row, column) array indices; ``positive`` True for a click on a missed pixel."""

    yx: tuple[int, int]
    positive: bool

    @property
    def label(self) -> int:
        return int(self.positive)

    def xy(self) -> np.ndarray:
        return np.array([self.yx[1], self.yx[0]], dtype=float)


class RitmClicker:
    """The RITM clicker for one object: ``gt`` (y, x) bool; remembers which pixels were clicked."""

    def __init__(self, gt: np.ndarray):
        g = np.asarray(gt)
        if g.ndim != 2:
            raise PromptError(f"the RITM clicker needs a 2D (y, x) mask, got shape {g.shape}")
        self.gt = g.astype(bool)
        self.not_clicked = np.ones(self.gt.shape, bool)
        self.clicks: list[RitmClick] = []

    def next_click(self, pred: np.ndarray) -> RitmClick | None:
        """The click for prediction ``pred`` ((y, x) bool), recorded as clicked; None if ``pred`` is perfect."""
        p = np.asarray(pred).astype(bool, copy=False)
        if p.shape != self.gt.shape:
            raise PromptError(f"prediction {p.shape} does not match the ground truth {self.gt.shape}")
        fn, fp = self.gt & ~p, ~self.gt & p
        if not fn.any() and not fp.any():
            return None
        fn_dt = distance_map(fn) * self.not_clicked
        fp_dt = distance_map(fp) * self.not_clicked
        fn_max, fp_max = fn_dt.max(), fp_dt.max()
        positive = bool(fn_max > fp_max)
        dt, top = (fn_dt, fn_max) if positive else (fp_dt, fp_max)
        ys, xs = np.nonzero(dt == top)
        click = RitmClick(yx=(int(ys[0]), int(xs[0])), positive=positive)
        self.not_clicked[click.yx] = False
        self.clicks.append(click)
        return click

    def points(self) -> tuple[np.ndarray, np.ndarray]:
        """All clicks so far as ((N, 2) float xy pixels, (N,) int labels 1 positive / 0 negative)."""
        if not self.clicks:
            return np.zeros((0, 2)), np.zeros(0, int)
        return np.stack([c.xy() for c in self.clicks]), np.array([c.label for c in self.clicks], int)
