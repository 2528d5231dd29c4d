"""CVPR24 npz specifics: spacing stored x, y, z while arrays are z, y, x (the known trap); geometry."""

from __future__ import annotations

import numpy as np
import pytest

import io_samples as S
from samwidgets.io import load_image, load_label_array


def test_npz_spacing_is_reordered_to_array_order(shared_data):
    import nibabel as nib

    npz = load_image(shared_data / S.CT_NPZ)
    twin = nib.load(str(shared_data / S.CT_NIFTI))
    zooms_xyz = tuple(float(z) for z in twin.header.get_zooms())
    with np.load(shared_data / S.CT_NPZ) as z:
        stored = tuple(float(s) for s in z["spacing"])
    assert stored == pytest.approx(zooms_xyz)  # the file stores x, y, z
    assert npz.spacing == pytest.approx(zooms_xyz[::-1])  # the Image gives z, y, x like the array
    assert npz.spacing[0] == pytest.approx(5.0) and npz.array.shape[0] == 13


def test_npz_affine_from_direction_and_origin_equals_the_nifti_twin(shared_data):
    npz = load_image(shared_data / S.CT_NPZ)
    raw = load_image(shared_data / S.CT_NIFTI)
    assert npz.affine is not None
    np.testing.assert_allclose(npz.affine, raw.affine, atol=1e-6)


def test_npz_label_and_2d_defaults(tmp_path):
    path, imgs = S.write_npz_2d(tmp_path / "c2d.npz")
    image = load_image(path)
    assert image.spacing == (1.0, 1.0) and image.affine is None and image.is_rgb
    gts = load_label_array(path)
    assert gts.shape == imgs.shape[:2] and gts.sum() == 6


def test_mask_saved_from_an_npz_case_overlays_the_raw_nifti(shared_data, tmp_path):
    from samwidgets.io import save_mask

    npz = load_image(shared_data / S.CT_NPZ)
    gts = load_label_array(shared_data / S.CT_NPZ)
    out = save_mask(gts, tmp_path / "gts.nii.gz", like=npz)
    back = load_image(out)
    raw = load_image(shared_data / S.CT_NIFTI)
    np.testing.assert_array_equal(back.array, gts)
    np.testing.assert_allclose(back.affine, raw.affine, atol=1e-6)
    assert back.array.shape == raw.array.shape
