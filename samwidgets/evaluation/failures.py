"""Failure typing: one word per prediction saying how it went wrong.

Rules, applied in this order to a bool prediction P and ground truth G (2D or 3D, same shape), with
TP = |P ∩ G|, FP = |P \\ G|, FN = |G \\ P|, precision = TP/|P|, recall = TP/|G|:

1. ``ok``                 Dice >= OK_DICE (also: both empty).
2. ``under_segmentation`` P is empty (nothing predicted) while G is not.
3. ``wrong_object``       precision < WRONG_OBJECT_MAX_PRECISION and recall < WRONG_OBJECT_MAX_RECALL:
                          most of the prediction lies outside the ground truth and it covers little of it
                          (also when G is empty but P is not).
4. ``fragmented``         P has more components than G (8-connectivity in 2D, 26 in 3D, ignoring
                          components smaller than FRAGMENT_MIN_SHARE of |P|) and its largest component
                          holds less than FRAGMENT_MAX_LARGEST_SHARE of |P|.
5. ``leak``               FP > FN: over-segmentation, the prediction spills beyond the object.
6. ``under_segmentation`` otherwise (FN >= FP): the prediction misses part of the object.

Rows that could not be computed get ``error``; protocols not applicable to a case or model get ``skipped``
(both set by the runner).
"""

from __future__ import annotations

import numpy as np

from samwidgets.masks.components import connected_components
from samwidgets.metrics import dice

#: a prediction with at least this Dice is "ok"
OK_DICE = 0.8
#: "wrong object" needs precision below this (most of the prediction outside the ground truth) ...
WRONG_OBJECT_MAX_PRECISION = 0.5
#: ... and recall below this (little of the object covered)
WRONG_OBJECT_MAX_RECALL = 0.5
#: components smaller than this share of the prediction are noise, not fragments
FRAGMENT_MIN_SHARE = 0.01
#: "fragmented" when the largest predicted component holds less than this share of the prediction
FRAGMENT_MAX_LARGEST_SHARE = 0.8

FAILURE_TYPES = ("ok", "under_segmentation", "leak", "wrong_object", "fragmented", "error", "skipped")
#: names earlier versions wrote, mapped to today's (result tables on disk may still hold them)
FORMER_FAILURE_TYPES = {"over_segmentation/leak": "leak"}


def failure_type_order() -> tuple[str, ...]:
    """FAILURE_TYPES with each former name right after the type it became (the order tables show)."""
    out: list[str] = []
    for name in FAILURE_TYPES:
        out.append(name)
        out.extend(old for old, new in FORMER_FAILURE_TYPES.items() if new == name)
    return tuple(out)


def _component_sizes(mask: np.ndarray) -> np.ndarray:
    labels, n = connected_components(mask)
    return np.bincount(labels.ravel(), minlength=n + 1)[1:]


def failure_type(pred: np.ndarray, gt: np.ndarray) -> str:
    """Classify one prediction by the rules of the module docstring; returns one of FAILURE_TYPES."""
    p = np.asarray(pred, bool)
    g = np.asarray(gt, bool)
    if dice(p, g) >= OK_DICE:
        return "ok"
    n_p, n_g = int(p.sum()), int(g.sum())
    if n_p == 0:
        return "under_segmentation"
    tp = int(np.logical_and(p, g).sum())
    precision = tp / n_p
    recall = tp / n_g if n_g else 0.0
    if precision < WRONG_OBJECT_MAX_PRECISION and recall < WRONG_OBJECT_MAX_RECALL:
        return "wrong_object"
    union = np.nonzero(p | g)
    sl = tuple(slice(int(i.min()), int(i.max()) + 1) for i in union)  # components never leave the union box
    p, g = p[sl], g[sl]
    sizes_p = _component_sizes(p)
    kept = sizes_p[sizes_p >= FRAGMENT_MIN_SHARE * n_p]
    n_comp_g = len(_component_sizes(g))
    if len(kept) > n_comp_g and sizes_p.max() < FRAGMENT_MAX_LARGEST_SHARE * n_p:
        return "fragmented"
    fp, fn = n_p - tp, n_g - tp
    return "leak" if fp > fn else "under_segmentation"
