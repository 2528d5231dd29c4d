"""Writing masks back next to the images they belong to, atomically.

``save_mask`` writes a (y, x) or (z, y, x) label/bool mask:

- NIfTI (``.nii`` / ``.nii.gz`` path): transposed back to the file's (x, y, z) order, with the source
  affine and header when ``like`` came from NIfTI (so it overlays the image in any viewer), else an affine
  from ``like.affine`` or a diagonal of its spacing. Labels are stored as uint8 (uint16 when a value exceeds
  255), scaling disabled.
- PNG (``.png``, 2D only): the label values as uint8 (uint16 when > 255). A bool mask is written as 0/1.
- TIFF (``.tif`` / ``.tiff``): 2D or 3D, values as for PNG.
- NRRD / MetaImage (``.nrrd``, ``.mha``, ``.mhd``; SimpleITK, extra ``itk``): on the grid of ``like`` (its
  ITK origin and direction when it came from such a file, else its spacing), compressed. A ``.mhd`` header
  and its ``.zraw`` data file are written under temporary names and moved into place data first.

The file is written to a temporary name in the same folder and moved into place with ``os.replace``, so a
crash never leaves a half-written mask under the final name.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

from samwidgets.atomic import atomic_write, fsync_dir
from samwidgets.errors import InputError
from samwidgets.io._common import as_path
from samwidgets.io.image import Image


def _label_dtype(m: np.ndarray) -> np.ndarray:
    if m.dtype == bool:
        return m.astype(np.uint8)
    if m.dtype.kind not in "iuf":
        raise InputError(f"mask dtype {m.dtype} cannot be saved", where="mask")
    if m.dtype.kind == "f":
        if not np.isfinite(m).all() or not np.array_equal(m, np.rint(m)):
            raise InputError("a float mask must hold whole label values", where="mask")
    if m.size and (m.min() < 0 or m.max() > np.iinfo(np.uint16).max):
        raise InputError(f"label values {m.min()}..{m.max()} do not fit uint16", where="mask")
    return m.astype(np.uint8 if not m.size or m.max() <= 255 else np.uint16)


def _nifti_affine(like: Image) -> np.ndarray:
    if like.affine is not None:
        return np.asarray(like.affine, dtype=np.float64)
    spacing_xyz = list(reversed(like.spacing))
    return np.diag(spacing_xyz + [1.0] * (4 - len(spacing_xyz)))


def _write_nifti(m: np.ndarray, path: Path, like: Image) -> None:
    import nibabel as nib

    data = m.transpose(tuple(range(m.ndim - 1, -1, -1)))  # (z, y, x) -> (x, y, z)
    header = like.meta.get("header") if like.meta.get("format") == "nifti" else None
    if header is not None:
        header = header.copy()
        file_shape = like.meta.get("file_shape", data.shape)
        if len(file_shape) > data.ndim:  # the source had trailing singleton axes
            data = data.reshape(data.shape + (1,) * (len(file_shape) - data.ndim))
        klass = nib.Nifti2Image if isinstance(header, nib.Nifti2Header) else nib.Nifti1Image
        img = klass(data, _nifti_affine(like), header=header)
    else:
        img = nib.Nifti1Image(data, _nifti_affine(like))
        zooms = list(reversed(like.spacing))
        img.header.set_zooms(zooms[: data.ndim])
    img.header.set_data_dtype(data.dtype)
    img.header.set_slope_inter(1.0, 0.0)
    atomic_write(path, lambda tmp: nib.save(img, str(tmp)))


def _write_png(m: np.ndarray, path: Path) -> None:
    from PIL import Image as PILImage

    if m.ndim != 2:
        raise InputError(f"PNG holds 2D masks only, got shape {m.shape}; save volumes as .nii.gz", where=path)
    atomic_write(path, lambda tmp: PILImage.fromarray(m).save(str(tmp), format="PNG"))


def _write_tiff(m: np.ndarray, path: Path) -> None:
    import tifffile

    atomic_write(path, lambda tmp: tifffile.imwrite(str(tmp), m, photometric="minisblack"))


def _write_itk(m: np.ndarray, path: Path, like: Image) -> None:
    from samwidgets.io.itk import write_itk

    if not path.name.lower().endswith(".mhd"):
        atomic_write(path, lambda tmp: write_itk(m, tmp, like))
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{path.name}.", dir=str(path.parent)) as tmp:
        header = Path(tmp) / path.name
        write_itk(m, header, like)  # writes <stem>.mhd and <stem>.zraw, the header naming the data file
        for part in sorted(Path(tmp).iterdir(), key=lambda p: p.name == path.name):  # data first, header last
            os.replace(part, path.parent / part.name)
    fsync_dir(path.parent)


def save_mask(mask, path, *, like: Image) -> Path:
    """Save a (y, x) / (z, y, x) mask that covers the image ``like`` to ``path`` (format by extension).

    Returns the written path. Raises InputError for a shape mismatch with ``like``, values that do not fit
    uint16, or an unsupported extension.
    """
    p = as_path(path)
    m = np.asarray(mask)
    nd = len(like.spacing)
    spatial = tuple(like.array.shape[:nd])
    if m.shape != spatial:
        raise InputError(f"mask shape {m.shape} does not match image {spatial}", where=p)
    m = np.ascontiguousarray(_label_dtype(m))
    name = p.name.lower()
    if name.endswith((".nii", ".nii.gz")):
        _write_nifti(m, p, like)
    elif name.endswith(".png"):
        _write_png(m, p)
    elif name.endswith((".tif", ".tiff")):
        _write_tiff(m, p)
    elif name.endswith((".nrrd", ".mha", ".mhd")):
        _write_itk(m, p, like)
    else:
        raise InputError("save masks as .nii.gz, .nii, .png, .tif, .nrrd, .mha or .mhd", where=p)
    return p
