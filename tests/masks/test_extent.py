"""masks.extent: the half-open bounds of a plane's non-zero pixels and their union, against np.nonzero."""

from __future__ import annotations

import numpy as np

from samwidgets.masks.extent import bounds, union_bounds


def reference(plane):
    ys, xs = np.nonzero(plane)
    return None if len(ys) == 0 else (int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1)


def test_bounds_equal_the_extent_of_nonzero_pixels():
    rng = np.random.default_rng(0)
    for density in (0.0, 0.001, 0.05, 0.5):
        for dtype in (bool, np.uint8, np.uint16):
            plane = (rng.random((37, 53)) < density).astype(dtype) * (3 if dtype is not bool else 1)
            assert bounds(plane) == reference(plane)
    one = np.zeros((5, 7), bool)
    one[4, 0] = True
    assert bounds(one) == (4, 5, 0, 1)


def test_union_skips_none():
    assert union_bounds(None, None) is None
    assert union_bounds((1, 3, 2, 4), None) == (1, 3, 2, 4)
    assert union_bounds((1, 3, 2, 4), (0, 2, 5, 9), None) == (0, 3, 2, 9)
