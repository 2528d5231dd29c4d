"""NIfTI orientation: file voxel order by default (matches the CVPR24 npz), RAS only when asked."""

from __future__ import annotations

import mmap

import nibabel as nib
import numpy as np
import pytest

import io_samples as S
from samwidgets.io import load_image, load_label_array


def test_default_keeps_file_order_and_reorient_gives_ras(shared_data):
    path = shared_data / S.CT_NIFTI
    raw = load_image(path)
    assert nib.aff2axcodes(raw.affine) == ("P", "L", "I")
    assert raw.meta["reoriented"] is False
    ras = load_image(path, reorient=True)
    assert nib.aff2axcodes(ras.affine) == ("R", "A", "S")
    assert ras.meta["reoriented"] is True
    # P-L-I -> R-A-S swaps the first two file axes and flips all three: in (z, y, x) order that is
    # (z, y, x) -> flip z, then the in-plane axes swap and flip
    expected = raw.array[::-1].transpose(0, 2, 1)[:, ::-1, ::-1]
    np.testing.assert_array_equal(ras.array, expected)
    assert ras.spacing == (5.0, 0.9375, 0.9375)
    # the same voxel sits at the same world position either way
    z, y, x = 4, 100, 300
    world_raw = raw.affine @ [x, y, z, 1]
    zz, yy, xx = raw.array.shape[0] - 1 - z, raw.array.shape[2] - 1 - x, raw.array.shape[1] - 1 - y
    world_ras = ras.affine @ [xx, yy, zz, 1]
    np.testing.assert_allclose(world_raw, world_ras)
    assert ras.array[zz, yy, xx] == raw.array[z, y, x]


def test_label_reorients_with_its_image(shared_data):
    image = load_image(shared_data / S.PET_IMAGE, reorient=True)
    label = load_label_array(shared_data / S.PET_MASK, reorient=True)
    assert label.shape == image.array.shape
    assert label.any()


def test_load_image_reads_into_memory_not_a_file_map(tmp_path):
    path = S.write_nifti(tmp_path / "v.nii", S.volume_xyz((6, 5, 4)))
    image = load_image(path)
    base = image.array
    while base is not None:
        assert not isinstance(base, (np.memmap, mmap.mmap)), "load_image returned a view of a file map"
        base = getattr(base, "base", None)
    path.unlink()  # the image stays usable once its file is gone (e.g. replaced by a save)
    assert int(image.array.sum()) == int(S.volume_xyz((6, 5, 4)).sum())
