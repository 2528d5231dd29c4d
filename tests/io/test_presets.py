"""Intensity presets: the exact MedSAM CVPR24 formulas (protocols.md), checked on real data and by hand."""

from __future__ import annotations

import numpy as np
import pytest

import io_samples as S
from samwidgets.errors import InputError
from samwidgets.io import PRESETS, apply_preset, load_image, window


def test_ct_lesion_window_reproduces_the_cvpr24_npz_for_every_voxel(shared_data):
    raw = load_image(shared_data / S.CT_NIFTI)
    npz = load_image(shared_data / S.CT_NPZ)
    assert raw.array.dtype == np.int16 and raw.array.min() < -185 and raw.array.max() > 265
    out = apply_preset(raw.array, "ct_lesion")
    assert out.dtype == np.uint8 and out.shape == npz.array.shape
    mismatched = int((out != npz.array).sum())
    assert mismatched == 0, f"{mismatched} of {out.size} voxels differ"
    # and the soft-tissue window (W400) would not: the preset choice matters
    assert (apply_preset(raw.array, "ct_soft_tissue") != npz.array).mean() > 0.05


def test_window_formula_by_hand():
    hu = np.array([-3000, -185, -184, 0, 40, 264, 265, 3000], dtype=np.int16)
    out = window(hu, level=40, width=450)
    expected = [0, 0, 0, int(np.floor(185 * 255 / 450)), int(np.floor(225 * 255 / 450)),
                int(np.floor(449 * 255 / 450)), 255, 255]
    assert out.tolist() == expected
    assert out.dtype == np.uint8


@pytest.mark.parametrize("name,lo,hi", [("ct_soft_tissue", -160, 240), ("ct_lung", -1350, 150),
                                        ("ct_brain", 0, 80), ("ct_bone", -500, 1300)])
def test_window_presets_clip_at_their_edges(name, lo, hi):
    hu = np.array([lo - 1, lo, hi - 1e-6, hi, hi + 1], dtype=np.float64)
    out = apply_preset(hu, name)
    assert out.tolist()[:2] == [0, 0]
    assert out[2] == 254 and out[3] == 255 and out[4] == 255
    p = PRESETS[name]
    assert p.level - p.width / 2 == lo and p.level + p.width / 2 == hi


def _medsam_percentile_reference(image):
    """The MedSAM pre-processing as published (clip to percentiles of > 0, min-max of the clipped array,
    zeros back to zero, np.uint8): written out independently of samwidgets."""
    lower, upper = np.percentile(image[image > 0], 0.5), np.percentile(image[image > 0], 99.5)
    pre = np.clip(image, lower, upper)
    pre = (pre - np.min(pre)) / (np.max(pre) - np.min(pre)) * 255.0
    pre[image == 0] = 0
    return np.uint8(pre)


def test_percentile_matches_the_medsam_reference_on_real_mri(shared_data):
    mri = load_image(shared_data / S.BRATS_IMAGE).array
    assert (mri == 0).any()
    out = apply_preset(mri, "percentile")
    np.testing.assert_array_equal(out, _medsam_percentile_reference(mri.astype(np.float64)))
    assert (out[mri == 0] == 0).all()
    assert out.max() == 255 and out[mri > 0].min() == 0


def test_percentile_edge_cases():
    assert apply_preset(np.zeros((4, 4)), "percentile").max() == 0
    const = np.zeros((4, 4))
    const[1:3, 1:3] = 7.0
    out = apply_preset(const, "percentile")
    assert out[1, 1] == 255 and out[0, 0] == 0


def test_rgb_keeps_uint8_and_minmaxes_otherwise():
    rng = np.random.default_rng(3)
    rgb = rng.integers(0, 256, (5, 6, 3), dtype=np.uint8)
    np.testing.assert_array_equal(apply_preset(rgb, "rgb"), rgb)
    wide = rgb.astype(np.float32) * 4
    out = apply_preset(wide, "rgb")
    assert out.dtype == np.uint8 and out.max() == 255 and out.min() == 0


def test_none_and_minmax():
    arr = np.array([[0, 100], [200, 255]], dtype=np.int32)
    np.testing.assert_array_equal(apply_preset(arr, "none"), arr.astype(np.uint8))
    with pytest.raises(InputError):
        apply_preset(arr * 2, "none")
    np.testing.assert_array_equal(apply_preset(arr * 2, "minmax"), [[0, 100], [200, 255]])


def test_unknown_preset_lists_the_valid_names():
    with pytest.raises(InputError) as err:
        apply_preset(np.zeros((2, 2)), "ct_liver")
    message = str(err.value)
    assert "ct_liver" in message
    for name in PRESETS:
        assert name in message

