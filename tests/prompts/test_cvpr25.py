"""CVPR 2025 clicks: hand-built cases with known answers, and agreement with an independent, literal
re-implementation of ``CVPR25_iter_eval.py``'s click code on the shared CT lesion volumes."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from samwidgets.errors import PromptError
from samwidgets.prompts.cvpr25 import cvpr25_click, largest_error_component, padded_edt, tie_break_index


# -- an independent implementation, written from the reference script ---------------------------------
def reference_click(gts: np.ndarray, segs: np.ndarray):
    """The reference loop body for one class: full connectivity, 25 % padded EDT, seed 42 (written for
    (z, y, x) as the reference; the same steps per axis for the 2D extension)."""
    error_mask = (segs != gts).astype(np.uint8)
    if error_mask.sum() == 0:
        return None
    errors, _ = ndimage.label(error_mask, structure=np.ones((3,) * gts.ndim, int))
    sizes = np.bincount(errors.flat)
    sizes[0] = 0
    comp = errors == np.argmax(sizes)
    coords = np.argwhere(comp)
    lo, hi = coords.min(axis=0), coords.max(axis=0) + 1
    crop_shape = hi - lo
    padding = np.maximum((crop_shape * 0.25).astype(int), 1)
    inner = tuple(slice(padding[a], padding[a] + crop_shape[a]) for a in range(gts.ndim))
    box = tuple(slice(lo[a], hi[a]) for a in range(gts.ndim))
    padded = np.zeros(crop_shape + 2 * padding, np.uint8)
    padded[inner] = comp[box]
    edt = ndimage.distance_transform_edt(padded)
    full = np.zeros(comp.shape, edt.dtype)
    full[box] = edt[inner]
    state = np.random.get_state()
    try:
        np.random.seed(42)
        max_coords = np.argwhere(full == full.max())
        center = tuple(int(v) for v in max_coords[np.random.choice(len(max_coords))])
    finally:
        np.random.set_state(state)
    return center, bool(gts[center] != 0)


# -- hand-built cases -----------------------------------------------------------------------------------
def test_missed_square_clicks_its_centre_as_foreground():
    gt = np.zeros((40, 40), bool)
    gt[10:31, 5:26] = True  # 21 x 21: a unique centre at (20, 15)
    click = cvpr25_click(gt, np.zeros_like(gt))
    assert click.index == (20, 15) and click.foreground and click.label == 1
    assert click.xy().tolist() == [15.0, 20.0]


def test_largest_error_wins_and_gives_a_background_click():
    gt = np.zeros((50, 50), bool)
    gt[5:15, 5:15] = True
    pred = gt.copy()
    pred[5:8, 5:15] = False            # small miss: 30 pixels
    pred[30:41, 30:41] = True          # leak: 121 pixels, centre (35, 35)
    click = cvpr25_click(gt, pred)
    assert click.index == (35, 35) and not click.foreground


def test_equal_components_tie_to_the_first_in_scan_order():
    gt = np.zeros((20, 20), bool)
    gt[2:5, 12:15] = True   # first in C order
    gt[12:15, 2:5] = True
    comp = largest_error_component(gt, np.zeros_like(gt))
    assert comp[3, 13] and not comp[13, 3]
    assert cvpr25_click(gt, np.zeros_like(gt)).index == (3, 13)


def test_diagonal_voxels_join_with_26_connectivity():
    gt = np.zeros((3, 6, 6), bool)
    gt[0, 0, 0] = gt[1, 1, 1] = gt[2, 2, 2] = True   # one 26-connected component of 3
    gt[0, 5, 5] = gt[0, 5, 4] = True                # a separate component of 2
    comp = largest_error_component(gt, np.zeros_like(gt))
    assert comp.sum() == 3 and comp[1, 1, 1]


def test_ties_follow_the_reference_seed():
    gt = np.zeros((10, 12), bool)
    gt[3:5, 2:10] = True     # 2 x 8: every pixel at distance 1 -> 16 tied maxima
    ties = np.argwhere(gt)
    click = cvpr25_click(gt, np.zeros_like(gt))
    assert click.index == tuple(ties[np.random.RandomState(42).choice(16)])
    assert tie_break_index(16) == tie_break_index(16)  # no hidden state: the same every call


def test_image_border_counts_as_background_and_perfect_gives_none():
    gt = np.zeros((9, 9), bool)
    gt[:, :5] = True  # touches the border on three sides
    edt = padded_edt(gt)
    assert edt[4, 0] == 1.0 and edt[4, 2] == 3.0
    assert cvpr25_click(gt, gt) is None
    with pytest.raises(PromptError):
        cvpr25_click(gt, gt[:5])


# -- agreement on real data -------------------------------------------------------------------------
def perturbations(gt: np.ndarray, rng: np.random.Generator):
    """Predictions a model could make: empty, eroded, dilated, shifted, with a leak, a noisy copy."""
    yield np.zeros_like(gt)
    yield ndimage.binary_erosion(gt, iterations=2)
    yield ndimage.binary_dilation(gt, iterations=3)
    yield np.roll(gt, (1, 4, -3), axis=(0, 1, 2))
    leak = gt.copy()
    z, y, x = np.argwhere(gt)[0]
    leak[max(z - 1, 0):z + 2, max(y - 20, 0):y - 5, max(x - 15, 0):x + 15] = True
    yield leak
    yield gt ^ (rng.random(gt.shape) < 0.002)


def test_agrees_with_the_reference_on_ct_lesion_volumes(shared_data):
    files = sorted(shared_data.glob("ct_lesion_3d/**/*.npz"))
    assert len(files) == 4
    rng = np.random.default_rng(0)
    n = 0
    for path in files:
        with np.load(path) as npz:
            gt = npz["gts"] > 0
        _, ys, xs = np.nonzero(gt)  # the real volume, cut to a window around the lesion to stay fast
        gt = gt[:, max(ys.min() - 40, 0):ys.max() + 40, max(xs.min() - 40, 0):xs.max() + 40]
        for pred in perturbations(gt, rng):
            ref = reference_click(gt.astype(np.uint8), pred.astype(np.uint8))
            got = cvpr25_click(gt, pred)
            assert (got.index, got.foreground) == ref, path.name
            n += 1
            z = int(np.argmax(gt.sum(axis=(1, 2))))  # the 2D rule on the largest slice
            got2 = cvpr25_click(gt[z], pred[z])
            ref2 = reference_click(gt[z].astype(np.uint8), pred[z].astype(np.uint8))
            assert (None if got2 is None else (got2.index, got2.foreground)) == ref2, path.name
    assert n == 24
