"""Prompt geometry: centre points, components, boxes, jitter, grids."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from samwidgets.errors import PromptError
from samwidgets.prompts import (
    box_from_mask,
    centre_point,
    components,
    distance_map,
    grid_points,
    jitter_box,
)
from samwidgets.prompts.geometry import MAX_GRID_SIDE


def rng(seed=0):
    return np.random.default_rng(seed)


def test_centre_point_is_distance_transform_max_not_centroid():
    # an L shape: its centroid lies outside the object
    m = np.zeros((40, 40), bool)
    m[5:35, 5:15] = True
    m[25:35, 5:35] = True
    x, y = centre_point(m, rng=rng())
    dist = ndimage.distance_transform_edt(np.pad(m, 1))[1:-1, 1:-1]
    assert m[int(y), int(x)]
    assert dist[int(y), int(x)] == dist.max()
    cy, cx = ndimage.center_of_mass(m)
    assert dist[int(round(cy)), int(round(cx))] < dist.max()


def test_centre_point_ties_broken_by_rng():
    m = np.zeros((5, 20), bool)
    m[1:4, 1:19] = True  # a bar: many pixels share the maximum distance
    dist = distance_map(m)
    picks = {tuple(centre_point(m, rng=rng(s))) for s in range(20)}
    assert len(picks) > 1
    for x, y in picks:
        assert dist[int(y), int(x)] == dist.max()
    assert tuple(centre_point(m, rng=rng(3))) == tuple(centre_point(m, rng=rng(3)))


def test_border_counts_as_background():
    m = np.ones((5, 5), bool)
    assert distance_map(m)[0, 0] == 1.0
    assert tuple(centre_point(m, rng=rng())) == (2.0, 2.0)


def test_components_8_connectivity_largest_first():
    m = np.zeros((10, 10), bool)
    m[0, 0] = True
    m[1, 1] = True  # diagonal neighbour: same component under 8-connectivity
    m[5:8, 5:8] = True
    comps = components(m)
    assert [int(c.sum()) for c in comps] == [9, 2]
    assert len(components(m, max_components=1)) == 1


def test_box_from_mask_inclusive_xyxy():
    m = np.zeros((10, 12), bool)
    m[5, 3] = True
    assert box_from_mask(m).tolist() == [3, 5, 3, 5]
    m[7, 9] = True
    assert box_from_mask(m).tolist() == [3, 5, 9, 7]
    with pytest.raises(PromptError):
        box_from_mask(np.zeros((3, 3), bool))


def test_box_jitter_bounded_seeded_and_clipped():
    m = np.zeros((50, 50), bool)
    m[20:30, 20:30] = True
    tight = box_from_mask(m)
    boxes = [box_from_mask(m, jitter=5, rng=rng(s)) for s in range(50)]
    for b in boxes:
        assert np.all(np.abs(b - tight) <= 5)
    assert len({tuple(b) for b in boxes}) > 1
    assert np.array_equal(box_from_mask(m, jitter=5, rng=rng(7)), box_from_mask(m, jitter=5, rng=rng(7)))
    edge = jitter_box([0, 0, 2, 2], (3, 3), rng=rng(1))
    assert edge.min() >= 0 and edge.max() <= 2 and edge[0] <= edge[2] and edge[1] <= edge[3]
    with pytest.raises(PromptError):
        box_from_mask(m, jitter=5)


def test_grid_points():
    g = grid_points((100, 200), n_per_side=4)
    assert g.shape == (16, 2)
    assert np.all(g[:, 0] >= 0) and np.all(g[:, 0] < 200) and np.all(g[:, 1] < 100)
    assert np.allclose(g[:4, 1], g[0, 1])  # first row shares y
    assert np.allclose(np.diff(g[:4, 0]), 50)
    assert grid_points((100, 200), n_per_side=MAX_GRID_SIDE).shape == (MAX_GRID_SIDE**2, 2)
    for bad in (0, MAX_GRID_SIDE + 1, 10**6, 2.5, "8", True):  # 10**6 per side was a 7 TiB allocation
        with pytest.raises(PromptError, match="n_per_side"):
            grid_points((100, 200), n_per_side=bad)


def test_distance_map_on_bounding_box_equals_full_transform():
    r = rng(1)
    for _ in range(5):
        m = r.random((30, 40)) > 0.6
        m[:, :3] = False
        full = ndimage.distance_transform_edt(np.pad(m, 1))[1:-1, 1:-1]
        assert np.allclose(distance_map(m), full)
