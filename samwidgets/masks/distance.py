"""Distance of each object pixel to the background (numpy/scipy only): the one distance map that the
prompt simulators' centre point and error clicks (:mod:`samwidgets.prompts`) and the click descriptors
(:mod:`samwidgets.masks.descriptors`) all read.

Convention (protocols.md "Prompt simulation", Mazurowski et al. 2023): Euclidean distance in pixels to
the nearest background pixel, the image border counting as background.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from samwidgets.errors import InputError


def distance_map(mask) -> np.ndarray:
    """Euclidean distance of each object pixel to the nearest background pixel, in pixels.

    mask: (y, x) bool. The image border counts as background (the mask is zero-padded by one pixel),
    so an object touching the border has distance 1 on its border pixels. Returns (y, x) float, 0 on the
    background. A mask that is not 2D: InputError.
    """
    m = np.asarray(mask)
    if m.ndim != 2:
        raise InputError(f"expected a 2D (y, x) mask, got shape {m.shape}", where="mask")
    m = m.astype(bool, copy=False)
    out = np.zeros(m.shape, float)
    ys, xs = np.nonzero(m)
    if len(ys) == 0:
        return out
    # the transform on the mask's bounding box padded by one background pixel equals the full one
    sl = (slice(int(ys.min()), int(ys.max()) + 1), slice(int(xs.min()), int(xs.max()) + 1))
    out[sl] = ndi.distance_transform_edt(np.pad(m[sl], 1, constant_values=False))[1:-1, 1:-1]
    return out
