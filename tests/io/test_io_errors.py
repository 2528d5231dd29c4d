"""Bad input gives a typed error naming the file and the reason, never a raw library traceback."""

from __future__ import annotations

import gzip
import shutil
import sys

import numpy as np
import pytest

import io_samples as S
from samwidgets.errors import ImageReadError, MissingExtraError
from samwidgets.io import load_image, load_label_array


def test_missing_file(tmp_path):
    path = tmp_path / "nowhere.nii.gz"
    with pytest.raises(ImageReadError, match="not found") as err:
        load_image(path)
    assert err.value.where == str(path)
    with pytest.raises(ImageReadError):
        load_label_array(path)


def test_truncated_gzip_nifti(shared_data, tmp_path):
    src = shared_data / S.BRATS_IMAGE
    data = src.read_bytes()
    cut = tmp_path / "cut.nii.gz"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageReadError, match="truncated|corrupt|cannot read") as err:
        load_image(cut)
    assert err.value.where == str(cut)


def test_corrupt_gzip_stream(tmp_path):
    path = tmp_path / "bad.nii.gz"
    path.write_bytes(gzip.compress(b"not a nifti header at all" * 20)[:-8])
    with pytest.raises(ImageReadError):
        load_image(path)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_voxels(tmp_path, bad):
    data = S.volume_xyz((4, 4, 3), dtype=np.float32)
    data[1, 2, 0] = bad
    path = S.write_nifti(tmp_path / "nan.nii.gz", data)
    with pytest.raises(ImageReadError, match="not finite") as err:
        load_image(path)
    assert err.value.where == str(path)


def test_non_finite_tiff(tmp_path):
    import tifffile

    arr = np.ones((5, 5), np.float32)
    arr[2, 2] = np.nan
    tifffile.imwrite(tmp_path / "nan.tif", arr)
    with pytest.raises(ImageReadError, match="1 NaN"):
        load_image(tmp_path / "nan.tif")


def test_4d_volume_is_refused_but_a_trailing_singleton_is_squeezed(tmp_path):
    data4 = np.stack([S.volume_xyz((4, 3, 2))] * 3, axis=-1)
    multi = S.write_nifti(tmp_path / "fmri.nii.gz", data4)
    with pytest.raises(ImageReadError, match="holds 3 volumes") as err:
        load_image(multi)
    assert err.value.where == str(multi)
    single = S.write_nifti(tmp_path / "one.nii.gz", data4[..., :1])
    image = load_image(single)
    assert image.array.shape == (2, 3, 4) and len(image.spacing) == 3
    np.testing.assert_array_equal(image.array, data4[..., 0].transpose(2, 1, 0))


def test_unknown_extension(tmp_path):
    path = tmp_path / "scan.vtk"
    path.write_bytes(b"# vtk DataFile Version 3.0\n")
    with pytest.raises(ImageReadError, match="unknown image extension '.vtk'") as err:
        load_image(path)
    assert ".nii.gz" in str(err.value) and ".mha" in str(err.value) and err.value.where == str(path)


@pytest.mark.parametrize("name", ["broken.png", "broken.jpg", "broken.tif", "broken.npz", "broken.nii",
                                  "broken.gif", "broken.mha", "broken.nrrd"])
def test_garbage_content_in_a_known_format(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(b"\x00\x01garbage" * 40)
    with pytest.raises(ImageReadError) as err:
        load_image(path)
    assert err.value.where == str(path)


def test_npz_without_imgs_or_with_wrong_spacing(tmp_path):
    np.savez(tmp_path / "a.npz", gts=np.zeros((3, 3), np.uint8))
    with pytest.raises(ImageReadError, match="no 'imgs'"):
        load_image(tmp_path / "a.npz")
    np.savez(tmp_path / "b.npz", imgs=np.zeros((3, 4, 5), np.uint8), spacing=np.array([1.0, 2.0, 3.0, 4.0]))
    with pytest.raises(ImageReadError, match="spacing"):
        load_image(tmp_path / "b.npz")
    with pytest.raises(ImageReadError, match="no 'labels'"):
        load_label_array(tmp_path / "b.npz", key="labels")


def test_dicom_without_pydicom_names_the_extra(tmp_path, monkeypatch):
    pytest.importorskip("pydicom")
    folder = S.write_dicom_series(tmp_path / "series", np.zeros((2, 4, 4), np.uint16))
    monkeypatch.setitem(sys.modules, "pydicom", None)  # import pydicom now raises ImportError
    with pytest.raises(MissingExtraError) as err:
        load_image(folder)
    assert err.value.extra == "dicom" and "samwidgets[dicom]" in str(err.value)


def test_dicom_folder_problems(tmp_path):
    pytest.importorskip("pydicom")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ImageReadError, match="no DICOM"):
        load_image(empty)
    a = S.write_dicom_series(tmp_path / "a", np.zeros((2, 4, 4), np.uint16))
    S.write_dicom_series(tmp_path / "b", np.zeros((2, 4, 4), np.uint16))
    for f in (tmp_path / "b").iterdir():
        shutil.copy(f, a / f"other_{f.name}")
    with pytest.raises(ImageReadError, match="mixes 2 DICOM series"):
        load_image(a)
    junk = tmp_path / "junk.dcm"
    junk.write_bytes(b"nothing")
    with pytest.raises(ImageReadError) as err:
        load_image(junk)
    assert err.value.where == str(junk)


def test_dicom_geometry(tmp_path):
    pytest.importorskip("pydicom")
    stored = np.arange(3 * 4 * 5, dtype=np.uint16).reshape(3, 4, 5)
    image = load_image(S.write_dicom_series(tmp_path / "s", stored, spacing=(3.0, 0.5, 0.25), slope=2.0,
                                            intercept=-10.5))
    assert image.array.dtype == np.float32
    np.testing.assert_allclose(image.array, stored * 2.0 - 10.5)
    assert image.spacing == pytest.approx((3.0, 0.5, 0.25))
    # RAS affine: LPS origin (-50, -60, 10) -> (50, 60, 10); x index along -R (L), y along -A (P), z along +S
    np.testing.assert_allclose(image.affine[:3, 3], [50.0, 60.0, 10.0])
    np.testing.assert_allclose(np.diag(image.affine)[:3], [-0.25, -0.5, 3.0])


@pytest.mark.parametrize("rel", [S.CT_NPZ, f"{S.CARDIAC}/images/10005.png", f"{S.STARDIST}/img2d.tif",
                                 f"{S.XRAY}/1.jpg", S.PET_IMAGE])
def test_truncated_files_of_every_format(shared_data, tmp_path, rel):
    src = shared_data / rel
    data = src.read_bytes()
    suffix = ".nii.gz" if rel.endswith(".nii.gz") else src.suffix
    for fraction in (0.02, 0.5, 0.9):
        cut = tmp_path / f"cut{suffix}"
        cut.write_bytes(data[: int(len(data) * fraction)])
        with pytest.raises(ImageReadError) as err:
            load_image(cut)
        assert err.value.where == str(cut)
        with pytest.raises(ImageReadError):
            load_label_array(cut)
