"""save_mask writes masks that line up with their source image and reload unchanged; writes are atomic."""

from __future__ import annotations

import numpy as np
import pytest

import io_samples as S
from samwidgets.errors import InputError
from samwidgets.io import load_image, save_mask


def _leftovers(folder):
    return [p.name for p in folder.iterdir() if ".tmp" in p.name]


def test_nifti_round_trip_keeps_array_affine_and_header(shared_data, tmp_path):
    import nibabel as nib

    like = load_image(shared_data / S.PET_IMAGE)
    mask = np.zeros(like.array.shape, np.uint8)
    mask[10:20, 5:15, 3:9] = 1
    mask[12, 7, 4] = 2
    out = save_mask(mask, tmp_path / "pred.nii.gz", like=like)
    back = load_image(out)
    np.testing.assert_array_equal(back.array, mask)
    assert back.array.dtype == np.uint8
    np.testing.assert_allclose(back.affine, like.affine)
    assert back.spacing == pytest.approx(like.spacing)
    # the file sits on the same voxel grid as the source (x, y, z order on disk)
    src, saved = nib.load(str(shared_data / S.PET_IMAGE)), nib.load(str(out))
    assert saved.shape == src.shape
    assert nib.aff2axcodes(saved.affine) == nib.aff2axcodes(src.affine)
    assert _leftovers(tmp_path) == []


def test_nifti_round_trip_with_a_non_ras_affine(shared_data, tmp_path):
    like = load_image(shared_data / S.CT_NIFTI)  # P-L-I affine
    mask = like.array > 100
    out = save_mask(mask, tmp_path / "bone.nii.gz", like=like)
    back = load_image(out)
    np.testing.assert_array_equal(back.array, mask.astype(np.uint8))
    np.testing.assert_allclose(back.affine, like.affine)


def test_large_label_values_use_uint16(tmp_path):
    like = load_image(S.write_nifti(tmp_path / "img.nii.gz", S.volume_xyz((4, 5, 3))))
    labels = np.zeros(like.array.shape, np.int64)
    labels[0, 0, 0] = 300
    back = load_image(save_mask(labels, tmp_path / "lab.nii", like=like))
    assert back.array.dtype == np.uint16 and back.array[0, 0, 0] == 300


def test_nifti_from_a_non_nifti_source_uses_its_spacing(tmp_path):
    path, _ = S.write_npz_3d(tmp_path / "c.npz")
    like = load_image(path)
    mask = np.ones(like.array.shape, bool)
    back = load_image(save_mask(mask, tmp_path / "m.nii.gz", like=like))
    np.testing.assert_array_equal(back.array, mask.astype(np.uint8))
    assert back.spacing == pytest.approx(like.spacing)


def test_png_round_trip_and_overwrite_is_atomic(shared_data, tmp_path):
    like = load_image(shared_data / S.CARDIAC / "images" / "10005.png")
    mask = np.zeros(like.shape2d, bool)
    mask[100:200, 50:90] = True
    target = tmp_path / "mask.png"
    target.write_bytes(b"old content")
    save_mask(mask, target, like=like)
    back = load_image(target)
    np.testing.assert_array_equal(back.array, mask.astype(np.uint8))
    assert _leftovers(tmp_path) == []


def test_tiff_round_trip_for_instances(shared_data, tmp_path):
    like = load_image(shared_data / S.STARDIST / "img2d.tif")
    from samwidgets.io import load_label_array

    labels = load_label_array(shared_data / S.STARDIST / "mask2d.tif")
    back = load_image(save_mask(labels, tmp_path / "inst.tif", like=like))
    np.testing.assert_array_equal(back.array, labels)


def test_failed_write_leaves_the_old_file_untouched(tmp_path, monkeypatch):
    like = load_image(S.write_nifti(tmp_path / "img.nii.gz", S.volume_xyz((4, 5, 3))))
    target = tmp_path / "mask.nii.gz"
    save_mask(np.ones(like.array.shape, np.uint8), target, like=like)
    before = target.read_bytes()
    import nibabel as nib

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(nib, "save", boom)
    with pytest.raises(OSError):
        save_mask(np.zeros(like.array.shape, np.uint8), target, like=like)
    assert target.read_bytes() == before
    assert _leftovers(tmp_path) == []


def test_save_errors(tmp_path):
    like = load_image(S.write_nifti(tmp_path / "img.nii.gz", S.volume_xyz((4, 5, 3))))
    with pytest.raises(InputError, match="does not match"):
        save_mask(np.zeros((3, 5, 5), np.uint8), tmp_path / "m.nii.gz", like=like)
    with pytest.raises(InputError, match="2D"):
        save_mask(np.zeros(like.array.shape, np.uint8), tmp_path / "m.png", like=like)
    with pytest.raises(InputError, match=".nii.gz"):
        save_mask(np.zeros(like.array.shape, np.uint8), tmp_path / "m.vtk", like=like)
    with pytest.raises(InputError, match="uint16"):
        save_mask(np.full(like.array.shape, -1), tmp_path / "m.nii.gz", like=like)
