"""Mazurowski et al. 2023 ("Segment anything model for medical image analysis: an experimental study"),
the five single-call prompt modes, as defined in protocols.md "Prompt simulation".

Objects are 8-connected components of the label, largest first; a "centre point" is the argmax of the
Euclidean distance transform (see :func:`samwidgets.prompts.geometry.centre_point`), ties broken by the
explicit ``rng``. Modes:

1. one positive point at the centre of the largest component;
2. one positive point per component (at most 3), all in one call;
3. a tight box around the largest component;
4. a tight box per component (at most 3), each decoded separately, the masks OR-ed;
5. one tight box around the whole label.

Each mode returns a list of :class:`Prompt`; every prompt in the list is decoded on its own and the
masks are OR-ed (only mode 4 returns more than one). Coordinates are xy pixels, boxes xyxy.
"""

from __future__ import annotations

import numpy as np

from samwidgets.errors import PromptError
from samwidgets.prompts.geometry import box_from_mask, centre_point, components
from samwidgets.prompts.types import Prompt

#: at most this many components get a prompt in modes 2 and 4
MAX_COMPONENTS = 3
MODES = (1, 2, 3, 4, 5)


def mazurowski_prompts(gt: np.ndarray, mode: int, *, rng: np.random.Generator) -> list[Prompt]:
    """Prompts of Mazurowski mode ``mode`` (1-5) for the (y, x) bool ground-truth mask ``gt``.

    Returns a list of Prompt, each to be decoded separately with the masks OR-ed. Raises PromptError
    for an empty mask or an unknown mode.
    """
    if mode not in MODES:
        raise PromptError(f"unknown Mazurowski mode {mode}; valid modes: 1, 2, 3, 4, 5")
    gt = np.asarray(gt, bool)
    if not gt.any():
        raise PromptError("cannot prompt an empty label")
    one = np.ones(1, int)
    if mode == 5:
        return [Prompt(box_xyxy=box_from_mask(gt))]
    comps = components(gt, max_components=MAX_COMPONENTS)
    if mode == 1:
        return [Prompt(points_xy=centre_point(comps[0], rng=rng)[None, :], point_labels=one)]
    if mode == 2:
        pts = np.stack([centre_point(c, rng=rng) for c in comps])
        return [Prompt(points_xy=pts, point_labels=np.ones(len(pts), int))]
    if mode == 3:
        return [Prompt(box_xyxy=box_from_mask(comps[0]))]
    return [Prompt(box_xyxy=box_from_mask(c)) for c in comps]
