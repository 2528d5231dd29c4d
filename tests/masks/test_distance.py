"""The one distance map: the full Euclidean transform of the zero-padded mask, shared by prompts and
descriptors."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from samwidgets import prompts
from samwidgets.errors import InputError
from samwidgets.masks import descriptors
from samwidgets.masks.distance import distance_map
from samwidgets.prompts import geometry, ritm


def test_equals_the_full_transform_of_the_padded_mask():
    rng = np.random.default_rng(1)
    for _ in range(5):
        m = rng.random((30, 40)) > 0.6
        m[:, :3] = False
        full = ndimage.distance_transform_edt(np.pad(m, 1))[1:-1, 1:-1]
        assert np.array_equal(distance_map(m), full)
    assert distance_map(np.ones((5, 5), bool))[0, 0] == 1.0  # the border counts as background
    assert not distance_map(np.zeros((4, 4), bool)).any()
    with pytest.raises(InputError):
        distance_map(np.ones((2, 3, 3), bool))


def test_one_definition_read_by_prompts_and_descriptors():
    assert prompts.distance_map is geometry.distance_map is ritm.distance_map is distance_map
    assert descriptors.distance_map is distance_map
    rng = np.random.default_rng(2)
    for _ in range(5):  # click_distance inside the object: the full transform (written here) at the click
        m = ndimage.binary_opening(rng.random((40, 50)) > 0.4)
        full = ndimage.distance_transform_edt(np.pad(m, 1))[1:-1, 1:-1]
        ys, xs = np.nonzero(m)
        k = int(rng.integers(len(ys)))
        px, rel = descriptors.click_distance([xs[k], ys[k]], m)
        assert px == full[ys[k], xs[k]] and rel == full[ys[k], xs[k]] / full.max()
