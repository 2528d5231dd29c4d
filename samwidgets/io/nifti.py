"""NIfTI (.nii, .nii.gz) reading through nibabel.

Array order: nibabel gives voxels as (x, y, z) in the order stored in the file; samwidgets transposes them to
(z, y, x), exactly what SimpleITK's ``GetArrayFromImage`` returns and what the CVPR24 npz files and the MedSAM
tools use (protocols.md "Array order"). No reorientation is done unless ``reorient=True`` (then
``nibabel.as_closest_canonical`` first, i.e. RAS+). Spacing is the header zooms reversed into (z, y, x).
A 4D file with one volume (a trailing singleton axis) is squeezed; more than one volume is an error.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from samwidgets.errors import ImageReadError
from samwidgets.io._common import check_numeric, check_spacing, check_voxel_count, wrap_read
from samwidgets.io.image import Image


def _load_header(path: Path, *, reorient: bool):
    """nibabel image, read into memory (no memory map)."""
    import nibabel as nib

    with wrap_read(path, "cannot read NIfTI"):
        img = nib.load(str(path), mmap=False)
        if reorient:
            img = nib.as_closest_canonical(img)
    return img


def _spatial_ndim(shape: tuple[int, ...], path: Path) -> int:
    """Number of spatial axes (2 or 3) after dropping trailing singleton axes beyond the third."""
    if len(shape) < 2:
        raise ImageReadError(f"NIfTI has {len(shape)} dimension(s); need a 2D or 3D image", where=path)
    extra = shape[3:]
    if any(n != 1 for n in extra):
        raise ImageReadError(
            f"{len(shape)}D volume of shape {tuple(shape)} holds {int(np.prod(extra))} volumes; "
            "samwidgets reads one 3D volume per file (split it first)",
            where=path,
        )
    return min(len(shape), 3)


def _to_array_order(data: np.ndarray, nd: int) -> np.ndarray:
    """(x, y[, z], 1, ...) -> (y, x) or (z, y, x)."""
    data = data.reshape(data.shape[:nd])
    return np.ascontiguousarray(data.transpose(tuple(range(nd - 1, -1, -1))))


def read_nifti(path: Path, *, reorient: bool = False) -> Image:
    """Read a NIfTI file into an Image with array (z, y, x) (or (y, x) for a 2D file), raw values.

    The values are those nibabel returns (scl_slope / scl_inter applied; dtype kept when they are identity).
    ``meta`` holds the header (for writing masks back), the on-disk shape and whether it was reoriented.
    """
    img = _load_header(path, reorient=reorient)
    nd = _spatial_ndim(tuple(img.shape), path)
    check_voxel_count(img.shape, path)  # from the header, before the voxels are read
    with wrap_read(path, "cannot read NIfTI voxels"):
        data = np.asanyarray(img.dataobj)
    array = check_numeric(_to_array_order(np.asarray(data), nd), path)
    zooms = tuple(float(z) for z in img.header.get_zooms()[:nd])
    return Image(
        array=array,
        spacing=tuple(reversed(zooms)),
        affine=np.asarray(img.affine, dtype=np.float64).copy(),
        path=path,
        meta={
            "format": "nifti",
            "header": img.header.copy(),
            "file_shape": tuple(int(n) for n in img.shape),
            "reoriented": bool(reorient),
        },
    )


def read_nifti_label(path: Path, *, reorient: bool = False) -> np.ndarray:
    """The raw label array of a NIfTI file in the same (z, y, x) / (y, x) order as :func:`read_nifti`."""
    return read_nifti(path, reorient=reorient).array
