"""Connected components: full connectivity (8 in 2D, 26 in 3D) by default, as protocols.md requires."""

from __future__ import annotations

import numpy as np
import pytest

from samwidgets.errors import InputError
from samwidgets.masks import components_by_size, connected_components


def test_diagonal_pixels_are_one_object_with_8_connectivity_and_two_with_4():
    mask = np.zeros((5, 5), bool)
    mask[1, 1] = mask[2, 2] = True  # touch only at a corner
    mask[4, 0] = True  # a separate pixel
    labels, n = connected_components(mask)
    assert n == 2 and labels[1, 1] == labels[2, 2] != labels[4, 0]
    labels4, n4 = connected_components(mask, connectivity=1)
    assert n4 == 3 and labels4[1, 1] != labels4[2, 2]
    assert labels.dtype == np.int32 and labels.shape == mask.shape
    assert (labels[~mask] == 0).all()


def test_corner_touching_voxels_need_26_connectivity():
    mask = np.zeros((3, 3, 3), bool)
    mask[0, 0, 0] = mask[1, 1, 1] = True  # corner contact only
    assert connected_components(mask)[1] == 1
    assert connected_components(mask, connectivity=2)[1] == 2  # 18: edges, not corners
    assert connected_components(mask, connectivity=1)[1] == 2  # 6: faces only


def test_components_by_size_largest_first():
    mask = np.zeros((10, 10), bool)
    mask[0, 0:2] = True  # 2 pixels
    mask[5:8, 5:8] = True  # 9 pixels
    mask[0, 8:] = True  # 2 pixels, later in scan order
    mask[9, 0:4] = True  # 4 pixels
    parts = components_by_size(mask)
    assert [int(p.sum()) for p in parts] == [9, 4, 2, 2]
    assert parts[2][0, 0] and parts[3][0, 9]  # ties keep scan order
    np.testing.assert_array_equal(np.logical_or.reduce(parts), mask)
    assert components_by_size(np.zeros((4, 4), bool)) == []


def test_bad_masks_are_input_errors():
    with pytest.raises(InputError):
        connected_components(np.zeros(5, bool))
    with pytest.raises(InputError):
        connected_components(np.zeros((4, 4), bool), connectivity=3)
