"""Prompt types and simulators (numpy/scipy only; every random choice takes an explicit ``rng``).

Points are xy pixels of the original 2D slice, boxes xyxy, volumes (z, y, x). Definitions follow
/work/shared/docs/protocols.md "Prompt simulation" and "3D handling".
"""

from samwidgets.prompts.geometry import (
    BOX_JITTER_PX,
    box_from_mask,
    centre_point,
    components,
    grid_points,
    jitter_box,
    random_point,
)
from samwidgets.masks.distance import distance_map
from samwidgets.prompts.iterative import (
    error_click,
    first_click,
    microsam_correction,
    next_iterative_prompt,
    next_microsam_prompt,
)
from samwidgets.prompts.mazurowski import MAX_COMPONENTS, mazurowski_prompts
from samwidgets.prompts.types import Prompt
from samwidgets.prompts.volume import box3d_from_mask, middle_slice, middle_slice_prompt

__all__ = [
    "BOX_JITTER_PX", "MAX_COMPONENTS", "Prompt", "box3d_from_mask", "box_from_mask", "centre_point",
    "components", "distance_map", "error_click", "first_click", "grid_points", "jitter_box",
    "mazurowski_prompts", "microsam_correction", "middle_slice", "middle_slice_prompt",
    "next_iterative_prompt", "next_microsam_prompt", "random_point",
]
