"""NRRD (.nrrd, .nhdr) and MetaImage (.mha, .mhd) volumes through SimpleITK (optional extra ``itk``).

Array order: SimpleITK's ``GetArrayFromImage`` gives the voxels as (z, y, x) in file order, which is the
samwidgets convention (protocols.md "Array order"), so arrays are used as they come, exactly like
:mod:`samwidgets.io.nifti` after its transpose. Spacing is ``GetSpacing()`` (x, y, z) reversed into array
order. ``Image.affine`` is the RAS voxel-to-world matrix of the file's LPS geometry
(``diag(-1, -1, 1) @ [direction @ diag(spacing) | origin]``), the same matrix nibabel gives for a NIfTI
file of the same grid. A vector image with 3 components is an RGB image (z, y, x, 3) / (y, x, 3); 4
components drop alpha; other component counts are refused. Without SimpleITK every call raises
:class:`~samwidgets.errors.MissingExtraError` naming the ``itk`` extra.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from samwidgets.errors import ImageReadError, MissingExtraError
from samwidgets.io._common import check_numeric, check_voxel_count, wrap_read
from samwidgets.io.image import Image

def _sitk(path: Path):
    try:
        import SimpleITK as sitk
    except ImportError as exc:
        raise MissingExtraError("SimpleITK", "itk", where=path) from exc
    return sitk


def _library_error(sitk) -> tuple[type[BaseException], ...]:
    return (RuntimeError,) if not hasattr(sitk, "ImageReadError") else (RuntimeError, sitk.ImageReadError)


def _read(path: Path):
    sitk = _sitk(path)
    with wrap_read(path, "cannot read ITK image"):
        try:
            reader = sitk.ImageFileReader()
            reader.SetFileName(str(path))
            reader.ReadImageInformation()  # the header only: the voxel limit is checked before decoding
            check_voxel_count(tuple(reader.GetSize()) + (reader.GetNumberOfComponents(),), path)
            return reader.Execute()
        except _library_error(sitk) as exc:  # ITK's messages are long C++ traces: keep the first line
            first = str(exc).strip().splitlines()
            raise ImageReadError(f"cannot read ITK image: {first[-1] if first else type(exc).__name__}",
                                 where=path) from exc


def _affine(spacing_xyz, direction, origin, nd: int) -> np.ndarray:
    """RAS voxel-to-world 4x4 from ITK's LPS geometry (2D: z is the identity axis)."""
    d = np.eye(3)
    d[:nd, :nd] = np.asarray(direction, dtype=np.float64).reshape(nd, nd)
    s = np.ones(3)
    s[:nd] = spacing_xyz
    o = np.zeros(3)
    o[:nd] = origin
    lps = np.eye(4)
    lps[:3, :3] = d @ np.diag(s)
    lps[:3, 3] = o
    return np.diag([-1.0, -1.0, 1.0, 1.0]) @ lps


def read_itk(path: Path) -> Image:
    """Read an NRRD / MetaImage file into an Image: array (z, y, x[, 3]) or (y, x[, 3]), raw values and
    stored dtype; spacing in array order; ``meta`` keeps the ITK geometry for writing masks back."""
    sitk = _sitk(path)
    img = _read(path)
    nd = img.GetDimension()
    if nd not in (2, 3):
        raise ImageReadError(f"{nd}D ITK image of size {img.GetSize()}; samwidgets reads 2D or 3D images",
                             where=path)
    with wrap_read(path, "cannot read ITK voxels"):
        array = sitk.GetArrayFromImage(img)
    comps = img.GetNumberOfComponentsPerPixel()
    if comps == 4:
        array = array[..., :3]
    elif comps not in (1, 3):
        raise ImageReadError(f"ITK image with {comps} components per voxel; samwidgets reads grey or RGB",
                             where=path)
    spacing_xyz = tuple(float(s) for s in img.GetSpacing())
    if not all(np.isfinite(s) and s > 0 for s in spacing_xyz):
        raise ImageReadError(f"spacing {spacing_xyz} is not positive and finite", where=path)
    geometry = {"spacing_xyz": spacing_xyz, "origin": tuple(float(v) for v in img.GetOrigin()),
                "direction": tuple(float(v) for v in img.GetDirection())}
    return Image(
        array=check_numeric(np.ascontiguousarray(array), path),
        spacing=tuple(reversed(spacing_xyz)),
        affine=_affine(spacing_xyz, geometry["direction"], geometry["origin"], nd),
        path=path,
        meta={"format": "itk", **geometry},
    )


def read_itk_label(path: Path) -> np.ndarray:
    """The raw label array of an ITK file in the (z, y, x) / (y, x) order of :func:`read_itk`."""
    return read_itk(path).array


def write_itk(mask: np.ndarray, path: Path, like: Image) -> None:
    """Write a (y, x) / (z, y, x) label array to ``path`` (.nrrd/.mha/.mhd by extension, compressed) on the
    grid of ``like``: its ITK geometry when it came from an ITK file, else its spacing (origin 0, identity
    direction). The caller writes atomically (``path`` is a temporary name with the final suffix)."""
    sitk = _sitk(path)
    img = sitk.GetImageFromArray(np.ascontiguousarray(mask))
    if like.meta.get("format") == "itk" and len(like.meta["spacing_xyz"]) == mask.ndim:
        img.SetSpacing(like.meta["spacing_xyz"])
        img.SetOrigin(like.meta["origin"])
        img.SetDirection(like.meta["direction"])
    else:
        img.SetSpacing(tuple(float(s) for s in reversed(like.spacing)))
    with wrap_read(path, "cannot write ITK image"):
        sitk.WriteImage(img, str(path), True)
