"""3D prompts: the label's 3D box and the middle-slice box that starts propagation.

Follows the CVPR24 LiteMedSAM 3D reference (protocols.md "3D handling"): a 3D box is
``[x_min, y_min, z_min, x_max, y_max, z_max]`` (inclusive voxel indices, the npz ``boxes`` (N, 6) layout);
the middle slice is ``z_mid = int((z_max - z_min) / 2 + z_min)`` and is prompted with the box's 2D extent
``[x_min, y_min, x_max, y_max]``. The propagation itself lives in :mod:`samwidgets.models.propagate`
(LiteMedSAM chaining) and :mod:`samwidgets.models.sam2_video` (SAM2 video predictor).
Volumes are (z, y, x) bool.
"""

from __future__ import annotations

import numpy as np

from samwidgets.errors import PromptError
from samwidgets.prompts.types import Prompt


def box3d_from_mask(mask: np.ndarray) -> np.ndarray:
    """Tight 3D box of a (z, y, x) mask: (6,) float [x_min, y_min, z_min, x_max, y_max, z_max]."""
    m = np.asarray(mask, bool)
    if m.ndim != 3:
        raise PromptError(f"expected a (z, y, x) mask, got shape {m.shape}")
    zs, ys, xs = np.nonzero(m)
    if len(zs) == 0:
        raise PromptError("cannot make a 3D box from an empty mask")
    return np.array([xs.min(), ys.min(), zs.min(), xs.max(), ys.max(), zs.max()], dtype=float)


def middle_slice(box3d) -> int:
    """The CVPR24 middle slice of a 3D box: int((z_max - z_min) / 2 + z_min)."""
    b = np.asarray(box3d, float).reshape(6)
    return int((b[5] - b[2]) / 2 + b[2])


def middle_slice_prompt(box3d) -> tuple[int, Prompt]:
    """(z_mid, Prompt with the 3D box's xy extent as an xyxy box) for starting propagation."""
    b = np.asarray(box3d, float).reshape(6)
    return middle_slice(b), Prompt(box_xyxy=b[[0, 1, 3, 4]])
