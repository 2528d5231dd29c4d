"""One contract for every reader (real shared files and synthetic files of every format).

Contract: load_image returns an Image whose array is (z, y, x[, 3]) / (y, x[, 3]) in file voxel order, spacing
has one positive float per spatial axis in the same order, the stored dtype is kept, ``path`` is set, and
load_label_array of the same file has its spatial shape.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import io_samples as S
from samwidgets.io import Image, load_image, load_label_array


def _nib_zyx(path: Path) -> tuple[np.ndarray, tuple[float, ...]]:
    """Independent expectation for a real NIfTI: nibabel (x, y, z) transposed to (z, y, x), zooms reversed."""
    import nibabel as nib

    img = nib.load(str(path))
    return np.asanyarray(img.dataobj).transpose(2, 1, 0), tuple(float(z) for z in img.header.get_zooms()[::-1])


def _pil(path: Path) -> np.ndarray:
    from PIL import Image as PILImage

    with PILImage.open(path) as im:
        return np.array(im)


# Each case: (tmp_path, shared) -> (path, expected dict: nd, rgb, dtype, array (or None), spacing (or None))
def real_nifti_brats(tmp, shared):
    p = shared / S.BRATS_IMAGE
    arr, sp = _nib_zyx(p)
    return p, dict(nd=3, rgb=False, dtype=np.float32, array=arr, spacing=sp)


def real_nifti_pet(tmp, shared):
    p = shared / S.PET_IMAGE
    arr, sp = _nib_zyx(p)
    return p, dict(nd=3, rgb=False, dtype=np.float32, array=arr, spacing=sp)


def real_npz_ct(tmp, shared):
    p = shared / S.CT_NPZ
    with np.load(p) as z:
        return p, dict(nd=3, rgb=False, dtype=np.uint8, array=z["imgs"], spacing=tuple(z["spacing"][::-1]))


def real_png_cardiac(tmp, shared):
    p = S.first(shared / S.CARDIAC / "images", "*.png")
    return p, dict(nd=2, rgb=True, dtype=np.uint8, array=_pil(p), spacing=(1.0, 1.0))


def real_jpg_polyp(tmp, shared):
    p = S.first(shared / S.POLYP / "images", "*.jpg")
    return p, dict(nd=2, rgb=True, dtype=np.uint8, array=_pil(p), spacing=(1.0, 1.0))


def real_jpg_grey_xray(tmp, shared):
    p = shared / S.XRAY / "1.jpg"
    return p, dict(nd=2, rgb=False, dtype=np.uint8, array=_pil(p), spacing=(1.0, 1.0))


def real_tiff_stardist(tmp, shared):
    import tifffile

    p = shared / S.STARDIST / "img2d.tif"
    return p, dict(nd=2, rgb=False, dtype=np.uint16, array=tifffile.imread(p), spacing=(1.0, 1.0))


def syn_nifti(tmp, shared):
    data = S.volume_xyz((5, 4, 3))
    p = S.write_nifti(tmp / "syn.nii.gz", data, zooms=(0.8, 0.9, 2.5))
    expected = np.empty((3, 4, 5), np.int16)
    for x in range(5):
        for y in range(4):
            for z in range(3):
                expected[z, y, x] = 100 * x + 10 * y + z
    return p, dict(nd=3, rgb=False, dtype=np.int16, array=expected, spacing=(2.5, 0.9, 0.8))


def syn_nifti_uncompressed_float(tmp, shared):
    data = S.volume_xyz((4, 6, 2), dtype=np.float32) / 7
    p = S.write_nifti(tmp / "syn.nii", data, zooms=(1.0, 2.0, 3.0))
    return p, dict(nd=3, rgb=False, dtype=np.float32, array=data.transpose(2, 1, 0), spacing=(3.0, 2.0, 1.0))


def syn_npz_3d(tmp, shared):
    p, imgs = S.write_npz_3d(tmp / "case3d.npz")
    return p, dict(nd=3, rgb=False, dtype=np.uint8, array=imgs, spacing=(3.0, 0.8, 0.7))


def syn_npz_2d(tmp, shared):
    p, imgs = S.write_npz_2d(tmp / "case2d.npz")
    return p, dict(nd=2, rgb=True, dtype=np.uint8, array=imgs, spacing=(1.0, 1.0))


def syn_png_grey16(tmp, shared):
    arr = (np.arange(20 * 30, dtype=np.uint16) * 97).reshape(20, 30)
    p = S.write_pil(tmp / "g16.png", arr)
    return p, dict(nd=2, rgb=False, dtype=np.uint16, array=arr, spacing=(1.0, 1.0))


def syn_png_rgba(tmp, shared):
    rng = np.random.default_rng(0)
    arr = rng.integers(0, 256, (9, 11, 4), dtype=np.uint8)
    p = S.write_pil(tmp / "rgba.png", arr)
    return p, dict(nd=2, rgb=True, dtype=np.uint8, array=arr[..., :3], spacing=(1.0, 1.0))


def syn_png_palette(tmp, shared):
    p, rgb = S.write_palette_png(tmp / "pal.png")
    return p, dict(nd=2, rgb=True, dtype=np.uint8, array=rgb, spacing=(1.0, 1.0))


def syn_bmp(tmp, shared):
    rng = np.random.default_rng(1)
    arr = rng.integers(0, 256, (8, 5, 3), dtype=np.uint8)
    p = S.write_pil(tmp / "img.bmp", arr)
    return p, dict(nd=2, rgb=True, dtype=np.uint8, array=arr, spacing=(1.0, 1.0))


def syn_jpeg_grey(tmp, shared):
    arr = np.tile(np.arange(0, 256, 8, dtype=np.uint8), (16, 1))
    p = S.write_pil(tmp / "g.jpeg", arr, quality=95)
    return p, dict(nd=2, rgb=False, dtype=np.uint8, array=None, spacing=(1.0, 1.0))


def syn_tiff_rgb(tmp, shared):
    import tifffile

    rng = np.random.default_rng(2)
    arr = rng.integers(0, 256, (7, 6, 3), dtype=np.uint8)
    p = tmp / "rgb.tiff"
    tifffile.imwrite(p, arr, photometric="rgb")
    return p, dict(nd=2, rgb=True, dtype=np.uint8, array=arr, spacing=(1.0, 1.0))


def syn_tiff_stack(tmp, shared):
    import tifffile

    arr = (np.arange(4 * 5 * 6, dtype=np.float32) / 3).reshape(4, 5, 6)
    p = tmp / "stack.tif"
    tifffile.imwrite(p, arr, photometric="minisblack")
    return p, dict(nd=3, rgb=False, dtype=np.float32, array=arr, spacing=(1.0, 1.0, 1.0))


def syn_dicom_series(tmp, shared):
    pytest.importorskip("pydicom")
    stored = (np.arange(4 * 6 * 5, dtype=np.uint16) * 11).reshape(4, 6, 5)
    folder = S.write_dicom_series(tmp / "series", stored, spacing=(2.5, 0.7, 0.6))
    hu = stored.astype(np.int32) - 1024
    return folder, dict(nd=3, rgb=False, dtype=np.int16, array=hu, spacing=(2.5, 0.7, 0.6))


def syn_dicom_file(tmp, shared):
    pytest.importorskip("pydicom")
    stored = (np.arange(2 * 6 * 5, dtype=np.uint16) * 13).reshape(2, 6, 5)
    folder = S.write_dicom_series(tmp / "series", stored, spacing=(2.0, 0.5, 0.4), shuffle=False)
    return folder / "slice_000.dcm", dict(nd=2, rgb=False, dtype=np.int16, array=stored[0].astype(np.int32) - 1024,
                                          spacing=(0.5, 0.4))


def syn_dicom_multiframe(tmp, shared):
    pytest.importorskip("pydicom")
    vol = (np.arange(3 * 6 * 5, dtype=np.int16) * 7 - 200).reshape(3, 6, 5)
    path = S.write_dicom_multiframe(tmp / "enhanced.dcm", vol, pixel_spacing=(0.5, 0.4), spacing_between=2.0)
    return path, dict(nd=3, rgb=False, dtype=np.int16, array=vol, spacing=(2.0, 0.5, 0.4))


REAL = [real_nifti_brats, real_nifti_pet, real_npz_ct, real_png_cardiac, real_jpg_polyp, real_jpg_grey_xray,
        real_tiff_stardist]
SYNTHETIC = [syn_nifti, syn_nifti_uncompressed_float, syn_npz_3d, syn_npz_2d, syn_png_grey16, syn_png_rgba,
             syn_png_palette, syn_bmp, syn_jpeg_grey, syn_tiff_rgb, syn_tiff_stack, syn_dicom_series,
             syn_dicom_file, syn_dicom_multiframe]


@pytest.fixture(params=REAL + SYNTHETIC, ids=lambda f: f.__name__)
def case(request, tmp_path):
    shared = request.getfixturevalue("shared_data") if request.param in REAL else None
    return request.param(tmp_path, shared)


def test_reader_contract(case):
    path, exp = case
    image = load_image(path)
    assert isinstance(image, Image)
    assert image.path == Path(path)
    assert len(image.spacing) == exp["nd"] == image.array.ndim - (1 if exp["rgb"] else 0)
    assert all(isinstance(s, float) and s > 0 for s in image.spacing)
    assert image.is_rgb == exp["rgb"] and image.is_3d == (exp["nd"] == 3)
    assert image.array.dtype == np.dtype(exp["dtype"])
    if exp["array"] is not None:
        np.testing.assert_array_equal(image.array, exp["array"])
    if exp["spacing"] is not None:
        np.testing.assert_allclose(image.spacing, exp["spacing"], rtol=1e-6)


def test_label_array_has_image_layout(case):
    path, exp = case
    label = load_label_array(path, key="imgs")
    image = load_image(path)
    assert label.shape == image.array.shape


def test_real_label_files_match_their_images(shared_data):
    from samwidgets.io import check_label_shape

    pairs = [
        (S.BRATS_IMAGE, S.BRATS_LABEL),
        (S.PET_IMAGE, S.PET_MASK),
        (S.CT_NPZ, S.CT_NPZ),
        (f"{S.CARDIAC}/images/10005.png", f"{S.CARDIAC}/masks/10005.png"),
        (f"{S.STARDIST}/img2d.tif", f"{S.STARDIST}/mask2d.tif"),
    ]
    for image_rel, label_rel in pairs:
        image = load_image(shared_data / image_rel)
        label = load_label_array(shared_data / label_rel)
        check_label_shape(image, label, where=label_rel)
        assert label.any(), label_rel


def test_spacing_override(tmp_path):
    from samwidgets.errors import ImageReadError

    png, _ = syn_png_rgba(tmp_path, None)
    assert load_image(png).spacing == (1.0, 1.0)
    assert load_image(png, spacing=(0.5, 0.25)).spacing == (0.5, 0.25)
    nii, _ = syn_nifti(tmp_path, None)
    assert load_image(nii, spacing=(1, 2, 3)).spacing == (1.0, 2.0, 3.0)
    for path in (png, nii):
        with pytest.raises(ImageReadError, match="does not fit"):
            load_image(path, spacing=(1.0,) * 4)


# --- more formats: GIF, compressed TIFF, NRRD / MetaImage (one real volume written in each) -------------

def real_gif_mask(tmp, shared):
    """A real binary mask (X-ray lungs, 0/255) re-encoded as a GIF, the format fundus vessel sets ship."""
    from PIL import Image as PILImage

    grey = _pil(shared / S.XRAY / "1-mask.png")
    grey = grey if grey.ndim == 2 else grey[..., 0]
    p = tmp / "1_manual1.gif"
    PILImage.fromarray(grey).save(p)  # a palette GIF with a grey palette
    return p, dict(nd=2, rgb=True, dtype=np.uint8, array=np.repeat(grey[..., None], 3, axis=-1), spacing=(1.0, 1.0))


def _tiff_of_real(tmp, shared, compression):
    import tifffile

    rgb = _pil(S.first(shared / S.POLYP / "images", "*.jpg"))
    p = tmp / f"polyp_{compression}.tif"
    tifffile.imwrite(p, rgb, photometric="rgb", compression=compression)
    return p, rgb


def real_tiff_lzw(tmp, shared):
    p, rgb = _tiff_of_real(tmp, shared, "lzw")
    return p, dict(nd=2, rgb=True, dtype=np.uint8, array=rgb, spacing=(1.0, 1.0))


def real_tiff_deflate(tmp, shared):
    p, rgb = _tiff_of_real(tmp, shared, "zlib")
    return p, dict(nd=2, rgb=True, dtype=np.uint8, array=rgb, spacing=(1.0, 1.0))


def real_tiff_jpeg(tmp, shared):
    p, rgb = _tiff_of_real(tmp, shared, "jpeg")  # lossy: the array is compared below within a tolerance
    return p, dict(nd=2, rgb=True, dtype=np.uint8, array=None, spacing=(1.0, 1.0), close_to=rgb)


def _itk_of_real(tmp, shared, suffix):
    """The real BraTS FLAIR NIfTI converted by SimpleITK itself (its own NIfTI reader, not samwidgets')."""
    sitk = pytest.importorskip("SimpleITK")
    src = shared / S.BRATS_IMAGE
    p = tmp / f"brats{suffix}"
    sitk.WriteImage(sitk.ReadImage(str(src)), str(p), True)
    arr, sp = _nib_zyx(src)
    return p, dict(nd=3, rgb=False, dtype=np.float32, array=arr, spacing=sp, like_nifti=src)


def real_nrrd(tmp, shared):
    return _itk_of_real(tmp, shared, ".nrrd")


def real_mha(tmp, shared):
    return _itk_of_real(tmp, shared, ".mha")


def real_mhd(tmp, shared):
    return _itk_of_real(tmp, shared, ".mhd")


MORE = [real_gif_mask, real_tiff_lzw, real_tiff_deflate, real_tiff_jpeg, real_nrrd, real_mha, real_mhd]


@pytest.fixture(params=MORE, ids=lambda f: f.__name__)
def more_case(request, tmp_path):
    return request.param(tmp_path, request.getfixturevalue("shared_data"))


def test_more_formats_follow_the_contract(more_case):
    path, exp = more_case
    image = load_image(path)
    assert len(image.spacing) == exp["nd"] and image.is_rgb == exp["rgb"]
    assert image.array.dtype == np.dtype(exp["dtype"])
    if exp["array"] is not None:
        np.testing.assert_array_equal(image.array, exp["array"])
    if "close_to" in exp:
        assert image.array.shape == exp["close_to"].shape
        assert np.abs(image.array.astype(int) - exp["close_to"]).mean() < 3
    np.testing.assert_allclose(image.spacing, exp["spacing"], rtol=1e-6)
    assert load_label_array(path).shape == image.array.shape


@pytest.mark.parametrize("make", [real_nrrd, real_mha, real_mhd], ids=lambda f: f.__name__)
def test_itk_volume_matches_its_nifti_source_and_saves_masks_on_its_grid(make, tmp_path, shared_data):
    """Same (z, y, x) array, spacing and world affine as the NIfTI reader gives for the source volume; a mask
    saved next to it reloads unchanged with the source's ITK geometry (origin, direction, spacing)."""
    import SimpleITK as sitk

    from samwidgets.io import save_mask

    path, exp = make(tmp_path, shared_data)
    image, nifti = load_image(path), load_image(exp["like_nifti"])
    np.testing.assert_array_equal(image.array, nifti.array)
    assert image.spacing == pytest.approx(nifti.spacing)
    np.testing.assert_allclose(image.affine, nifti.affine, atol=1e-4)
    mask = (nifti.array > np.percentile(nifti.array, 95)).astype(np.uint8)
    mask[0, 0, 0] = 2
    out = save_mask(mask, tmp_path / f"mask{path.suffix}", like=image)
    back = load_image(out)
    np.testing.assert_array_equal(back.array, mask)
    assert back.spacing == pytest.approx(image.spacing)
    saved, src = sitk.ReadImage(str(out)), sitk.ReadImage(str(path))
    assert saved.GetSize() == src.GetSize()
    np.testing.assert_allclose(saved.GetOrigin(), src.GetOrigin())
    np.testing.assert_allclose(saved.GetDirection(), src.GetDirection())
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporaries left


def test_itk_formats_without_simpleitk_name_the_extra(tmp_path, monkeypatch, shared_data):
    import sys

    from samwidgets.errors import MissingExtraError

    path, _ = real_nrrd(tmp_path, shared_data)
    monkeypatch.setitem(sys.modules, "SimpleITK", None)  # import now fails like on a machine without it
    with pytest.raises(MissingExtraError, match=r"samwidgets\[itk\]") as info:
        load_image(path)
    assert str(path) in str(info.value)


def test_corrupt_itk_file_is_an_image_read_error(tmp_path):
    pytest.importorskip("SimpleITK")
    from samwidgets.errors import ImageReadError

    bad = tmp_path / "broken.nrrd"
    bad.write_bytes(b"NRRD0004\ntype: float\ndimension: 3\nsizes: 4 4 4\nencoding: raw\n\n" + b"\0" * 10)
    with pytest.raises(ImageReadError) as info:
        load_image(bad)
    assert "broken.nrrd" in str(info.value) and "\n" not in info.value.reason
