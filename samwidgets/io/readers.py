"""One entry point for every image format: dispatch by extension to the format readers.

All readers return the same :class:`~samwidgets.io.image.Image` contract: arrays in (z, y, x[, 3]) or
(y, x[, 3]) order (voxels in file order, transposed as SimpleITK's ``GetArrayFromImage`` gives them,
protocols.md "Array order"), spacing with one value per spatial axis in the same order, raw values (HU,
SUV, ...; not windowed), dtype as stored, ``path`` set. Every failure is an ImageReadError naming the file.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from samwidgets.errors import ImageReadError
from samwidgets.io._common import as_path, check_plane_size, check_spacing, detect_format
from samwidgets.io.image import Image


def load_image(path: str | os.PathLike, *, reorient: bool = False,
               spacing: tuple[float, ...] | None = None) -> Image:
    """Read an image file (or DICOM series directory) into an :class:`Image`.

    Formats: NIfTI (.nii, .nii.gz) via nibabel; CVPR24 ``.npz`` (``imgs``); PNG/JPEG/BMP/GIF via Pillow
    and TIFF (uncompressed, LZW, Deflate, JPEG, ... through imagecodecs) via tifffile; NRRD (.nrrd,
    .nhdr) and MetaImage (.mha, .mhd) via SimpleITK (optional extra ``itk``); DICOM (a directory of .dcm
    files, or one .dcm file) via pydicom (optional extra ``dicom``); a video clip (a folder of frames, a
    YouTube-VOS/DAVIS root, or .mp4/.avi/.mov/.mkv via PyAV, extra ``video``) as (t, y, x[, 3]) with
    ``is_video`` (:mod:`samwidgets.io.video`). A missing extra raises MissingExtraError naming it.

    reorient: NIfTI only: reorient to the closest canonical (RAS+) orientation first. Off by default, so
              arrays match the CVPR24 npz files and MedSAM tools voxel for voxel.
    spacing:  override the spacing (array order, mm), e.g. for 2D rasters that carry none (default 1.0).

    Refused with ImageReadError naming the file: anything but a regular file or folder (a FIFO never
    blocks), images with more values than ``samwidgets.io._common.max_voxels()`` (2**28 by default, setting
    ``SAMWIDGETS_MAX_VOXELS``; checked from the header before decoding for npz, PNG/JPEG/GIF/BMP, TIFF and
    NIfTI), spacing that is NaN, infinite or <= 0 (from the file or ``spacing``), and a plane thinner than
    2 pixels (e.g. 1 x N).
    """
    p = as_path(path)
    if spacing is not None:
        spacing = check_spacing(spacing, p)
    image = _read(p, detect_format(p), reorient=reorient, spacing=spacing)
    check_plane_size(image.array.shape, len(image.spacing), p)
    check_spacing(image.spacing, p)
    return image


def _read(p, kind: str, *, reorient: bool, spacing) -> Image:
    if kind == "raster":
        from samwidgets.io.raster import read_raster

        return read_raster(p, spacing=spacing)
    if kind == "nifti":
        from samwidgets.io.nifti import read_nifti

        image = read_nifti(p, reorient=reorient)
    elif kind == "npz":
        from samwidgets.io.npz import read_npz

        image = read_npz(p)
    elif kind == "itk":
        from samwidgets.io.itk import read_itk

        image = read_itk(p)
    elif kind == "video":
        from samwidgets.io.video import load_clip

        image = load_clip(p).image
    else:
        from samwidgets.io.dicom import read_dicom

        image = read_dicom(p)
    if spacing is not None:
        if len(spacing) != len(image.spacing):
            raise ImageReadError(f"spacing {tuple(spacing)} does not fit a {len(image.spacing)}D image of shape "
                                 f"{image.array.shape}", where=p)
        image = dataclasses.replace(image, spacing=tuple(float(s) for s in spacing))
    return image


def load_label_array(path: str | os.PathLike, *, key: str = "gts", reorient: bool = False) -> np.ndarray:
    """The raw label array of a label file, in the axis order :func:`load_image` gives for that format.

    npz: the array ``key`` (default ``gts``) of the file; NIfTI: (z, y, x) like the image (``reorient`` as
    for :func:`load_image`); NRRD/MetaImage: (z, y, x) as SimpleITK gives it; PNG/JPEG/GIF/TIFF: as read ((y, x), or (y, x, 3) for colour masks, palette expanded
    to RGB); DICOM: the pixel array; a clip: (t, y, x) masks of every frame (:func:`~samwidgets.io.video.read_clip_labels`). Decode it with :func:`samwidgets.io.labels.decode_label`.
    """
    p = as_path(path)
    kind = detect_format(p)
    if kind == "npz":
        from samwidgets.io.npz import read_npz_label

        return read_npz_label(p, key=key)
    if kind == "nifti":
        from samwidgets.io.nifti import read_nifti_label

        return read_nifti_label(p, reorient=reorient)
    if kind == "raster":
        from samwidgets.io.raster import read_raster_array

        return read_raster_array(p)
    if kind == "itk":
        from samwidgets.io.itk import read_itk_label

        return read_itk_label(p)
    if kind == "video":
        from samwidgets.io.video import read_clip_labels

        return read_clip_labels(p)
    return load_image(p).array  # DICOM: read_dicom has already checked the values
