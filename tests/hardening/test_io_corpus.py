"""Bad image and label files through ``load_image`` / ``load_label_array`` / ``decode_label`` (issue 10
§2-§4): FIFOs, over-long names, decompression bombs checked from headers, NaN/inf spacing, 1 x N images,
NaN in a float ground truth. Each case expects a typed error naming the file."""

from __future__ import annotations

import io
import time
import zipfile

import nibabel as nib
import numpy as np
import pytest
from PIL import Image as PILImage

from samwidgets.errors import ImageReadError, LabelError
from samwidgets.io import decode_label, instance_masks, load_image, load_label_array
from samwidgets.io._common import DEFAULT_MAX_VOXELS, MAX_VOXELS_ENV


@pytest.mark.timeout(20)
@pytest.mark.parametrize("name", ["scan.nii.gz", "scan.png", "scan.npz", "scan.tif", "scan.dcm", "scan.nrrd"])
def test_a_fifo_named_like_an_image_is_refused_without_blocking(tmp_path, fifo, name):
    path = fifo(tmp_path / name)
    for read in (load_image, load_label_array):
        with pytest.raises(ImageReadError, match="not a regular file") as info:
            read(path)
        assert info.value.where == str(path)


def test_a_300_character_file_name_is_a_typed_error(tmp_path):
    path = tmp_path / ("x" * 300 + ".png")
    with pytest.raises(ImageReadError) as info:
        load_image(path)
    assert "x" * 300 in str(info.value)


def _npz_bomb(path, shape):
    """A ~1 MB npz whose 'imgs' member is a real deflate stream of ``shape`` uint8 zeros (a zip bomb).

    Built fast: one 16 MiB block of zeros is deflated once with a full flush (no back-references across
    it), and those bytes are repeated; the CRC is computed over the true content."""
    import zlib

    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "|u1", "fortran_order": False, "shape": shape})
    head, chunk = header.getvalue(), 1 << 24
    total = int(np.prod(shape))
    assert total % chunk == 0
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    first = comp.compress(head) + comp.flush(zlib.Z_FULL_FLUSH)
    block_comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = block_comp.compress(bytes(chunk)) + block_comp.flush(zlib.Z_FULL_FLUSH)
    tail = zlib.compressobj(9, zlib.DEFLATED, -15).flush(zlib.Z_FINISH)
    data = first + block * (total // chunk) + tail
    crc = zlib.crc32(head)
    zero_crc = bytes(chunk)
    for _ in range(total // chunk):
        crc = zlib.crc32(zero_crc, crc)
    info = zipfile.ZipInfo("imgs.npy")
    info.compress_type = zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(path, "w") as zf:  # write the member by hand: sizes and CRC of the true content
        info.file_size, info.compress_size, info.CRC = len(head) + total, len(data), crc
        info.header_offset = zf.fp.tell()
        zf.fp.write(info.FileHeader(zip64=True))
        zf.fp.write(data)
        zf.filelist.append(info)
        zf.NameToInfo[info.filename] = info
        zf.start_dir = zf.fp.tell()
        zf._didModify = True


@pytest.mark.timeout(60)
def test_an_npz_that_expands_past_the_limit_is_refused_from_its_header(tmp_path):
    path = tmp_path / "bomb.npz"
    _npz_bomb(path, (288, 1024, 1024))  # 302 MB of zeros in a ~300 KB file (the issue: 1 GiB in 1 MB)
    assert path.stat().st_size < 2_000_000
    with np.load(path) as npz:  # a genuine npz: numpy would decode it (not done here: 302 MB)
        assert npz.files == ["imgs"]
    t0 = time.perf_counter()
    with pytest.raises(ImageReadError, match=r"more than the limit of 268,435,456.*refused before decoding") as info:
        load_image(path)
    assert time.perf_counter() - t0 < 1.0 and info.value.where == str(path)


def test_the_voxel_limit_is_a_setting_checked_before_decoding_png_tiff_nifti(tmp_path, monkeypatch):
    assert DEFAULT_MAX_VOXELS == 1 << 28
    png = tmp_path / "big.png"
    PILImage.new("L", (100, 60)).save(png)
    tif = tmp_path / "big.tif"
    import tifffile

    tifffile.imwrite(tif, np.zeros((60, 100), np.uint8))
    nii = tmp_path / "big.nii.gz"
    nib.save(nib.Nifti1Image(np.zeros((30, 20, 10), np.int16), np.eye(4)), nii)
    for path in (png, tif, nii):
        assert load_image(path).array.size == 6000
    monkeypatch.setenv(MAX_VOXELS_ENV, "5000")
    for path in (png, tif, nii):
        with pytest.raises(ImageReadError, match="more than the limit of 5,000") as info:
            load_image(path)
        assert info.value.where == str(path)
    monkeypatch.setenv(MAX_VOXELS_ENV, "lots")
    with pytest.raises(ImageReadError, match="not a number"):
        load_image(png)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf, 0.0, -1.0])
def test_nan_inf_or_non_positive_spacing_is_refused_at_load(tmp_path, bad):
    path = tmp_path / "vol.npz"  # the npz spacing is stored as given (nibabel fixes 0 and refuses < 0 itself)
    np.savez(path, imgs=np.ones((4, 8, 8), np.uint8), spacing=np.array([2.0, bad, 1.0]))
    with pytest.raises(ImageReadError, match="spacing .* must be finite and > 0") as info:
        load_image(path)
    assert info.value.where == str(path)
    good = tmp_path / "ok.png"
    PILImage.new("L", (8, 8)).save(good)
    with pytest.raises(ImageReadError, match="must be finite"):
        load_image(good, spacing=(1.0, bad))


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_or_inf_spacing_in_a_nifti_header_is_refused(tmp_path, bad):
    path = tmp_path / "vol.nii.gz"
    img = nib.Nifti1Image(np.ones((8, 8, 4), np.int16), np.eye(4))
    img.header.set_zooms((1.0, bad, 2.0))
    nib.save(img, path)
    for read in (load_image,):
        with pytest.raises(ImageReadError, match="spacing .* must be finite and > 0") as info:
            read(path)
        assert info.value.where == str(path)


@pytest.mark.parametrize("shape", [(1, 40), (40, 1), (3, 1, 40)])
def test_a_one_pixel_thin_image_names_the_file(tmp_path, shape):
    path = tmp_path / "thin.npz"
    spacing = {"spacing": np.ones(3)} if len(shape) == 3 else {}
    np.savez(path, imgs=np.zeros(shape, np.uint8), **spacing)
    with pytest.raises(ImageReadError, match="too small") as info:
        load_image(path)
    assert info.value.where == str(path)


@pytest.mark.parametrize("rule", [{"type": "values", "labels": {1: "a"}}, {"type": "threshold", "name": "a"},
                                  {"type": "instances", "name": "a"}], ids=lambda r: r["type"])
def test_a_float_ground_truth_with_nan_is_a_label_error(rule):
    gt = np.zeros((6, 6), np.float32)
    gt[1:3, 1:3] = 1
    gt[4, 4] = np.nan
    with pytest.raises(LabelError, match="1 NaN or infinite") as info:
        decode_label(gt, rule, where="case-7")
    assert info.value.where == "case-7"
    with pytest.raises(LabelError, match="NaN"):
        instance_masks(gt, where="case-7")


def test_the_voxel_limit_is_checked_from_itk_and_dicom_headers(tmp_path, monkeypatch):
    sitk = pytest.importorskip("SimpleITK")
    pytest.importorskip("pydicom")
    from tests.io.io_samples import write_dicom_series

    mha = tmp_path / "vol.mha"
    sitk.WriteImage(sitk.GetImageFromArray(np.zeros((10, 20, 30), np.int16)), str(mha))
    series = tmp_path / "series"
    series.mkdir()
    write_dicom_series(series, np.zeros((4, 20, 30), np.int16))
    assert load_image(mha).array.shape == (10, 20, 30) and load_image(series).array.shape == (4, 20, 30)
    monkeypatch.setenv(MAX_VOXELS_ENV, "1000")
    for path in (mha, series):
        with pytest.raises(ImageReadError, match="more than the limit of 1,000"):
            load_image(path)
