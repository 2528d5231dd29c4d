"""NIfTI (.nii, .nii.gz) reading through nibabel, with lazy per-slice access for big volumes.

Array order: nibabel gives voxels as (x, y, z) in the order stored in the file; samwidgets transposes them to
(z, y, x), exactly what SimpleITK's ``GetArrayFromImage`` returns and what the CVPR24 npz files and the MedSAM
tools use (protocols.md "Array order"). No reorientation is done unless ``reorient=True`` (then
``nibabel.as_closest_canonical`` first, i.e. RAS+). Spacing is the header zooms reversed into (z, y, x).
A 4D file with one volume (a trailing singleton axis) is squeezed; more than one volume is an error.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import numpy as np

from samwidgets.errors import ImageReadError
from samwidgets.io._common import check_numeric, check_spacing, check_voxel_count, wrap_read
from samwidgets.io.image import Image


def _load_header(path: Path, *, reorient: bool, lazy: bool = False):
    """nibabel image. ``lazy`` (for Volume): memory-map an uncompressed file, keep a .nii.gz open so that
    reading the slices in order does not restart decompression each time. Otherwise read into memory."""
    import nibabel as nib

    with wrap_read(path, "cannot read NIfTI"):
        if lazy:
            img = nib.load(str(path), keep_file_open=path.name.lower().endswith(".gz"))
        else:
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


class Volume:
    """Lazy view of a volume for the viewer: reads one (y, x) slice at a time.

    For NIfTI the slice is read through nibabel's array proxy (``img.dataobj[:, :, z]``), so the whole volume
    is never held in memory: an uncompressed .nii is memory-mapped; a .nii.gz is kept open so that moving to
    the next slices continues the decompression instead of restarting it (moving backwards restarts it unless
    the optional ``indexed_gzip`` package is installed, which nibabel then uses for random access). The last
    ``cache_slices`` slices read are kept. Other formats are loaded once and sliced in memory.

    shape:   (z, y, x) (a 2D image is presented as one slice, (1, y, x)).
    spacing: (z, y, x) in mm (a 2D image gets z spacing 1.0).
    """

    def __init__(self, path: Path, *, proxy=None, image: Image | None = None, affine=None,
                 shape=None, spacing=None, dtype=None, cache_slices: int = 16):
        self.path = path
        self._proxy = proxy
        self._image = image
        self.affine = affine
        self.shape: tuple[int, int, int] = tuple(int(n) for n in shape)  # type: ignore[assignment]
        self.spacing: tuple[float, float, float] = tuple(float(s) for s in spacing)  # type: ignore[assignment]
        self.dtype = np.dtype(dtype)
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()
        self._cache_slices = max(int(cache_slices), 0)

    @property
    def n_slices(self) -> int:
        return self.shape[0]

    def slice(self, z: int) -> np.ndarray:
        """The plane z as a (y, x) array (or (y, x, 3) for an RGB image), raw values. Do not modify it."""
        z = int(z)
        if not 0 <= z < self.shape[0]:
            raise IndexError(f"slice {z} outside 0..{self.shape[0] - 1} of {self.path}")
        if self._image is not None:
            arr = self._image.array
            return arr[z] if self._image.is_3d else arr
        if z in self._cache:
            self._cache.move_to_end(z)
            return self._cache[z]
        with wrap_read(self.path, f"cannot read slice {z}"):
            if len(self._proxy.shape) == 2:
                plane = np.asarray(self._proxy[:, :])
            else:
                index = (slice(None), slice(None), z) + (0,) * (len(self._proxy.shape) - 3)
                plane = np.asarray(self._proxy[index])
        plane = check_numeric(np.ascontiguousarray(plane.T), self.path)
        if self._cache_slices:
            self._cache[z] = plane
            while len(self._cache) > self._cache_slices:
                self._cache.popitem(last=False)
        return plane

    def close(self) -> None:
        """Release the open file (a .nii.gz stays open between slice reads) and the slice cache. A later
        :meth:`slice` call reopens the file."""
        self._cache.clear()
        opener = getattr(self._proxy, "_opener", None)
        if opener is not None:
            try:
                opener.close_if_mine()
                del self._proxy._opener  # nibabel reopens on the next read
            except Exception:  # noqa: BLE001 - closing must never raise
                pass

    def __enter__(self) -> "Volume":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Volume({str(self.path)!r}, shape={self.shape}, spacing={self.spacing}, dtype={self.dtype})"


def open_nifti_volume(path: Path) -> Volume:
    """A lazy :class:`Volume` over a NIfTI file (no reorientation: file order, (z, y, x))."""
    img = _load_header(path, reorient=False, lazy=True)
    nd = _spatial_ndim(tuple(img.shape), path)
    shape = tuple(int(n) for n in img.shape[:nd])
    zooms = check_spacing(img.header.get_zooms()[:nd], path)
    if nd == 2:
        shape, zooms = shape + (1,), zooms + (1.0,)
    with wrap_read(path, "cannot read NIfTI header"):
        dtype = img.get_data_dtype() if img.dataobj.slope == 1 and img.dataobj.inter == 0 else np.float64
    return Volume(
        path,
        proxy=img.dataobj,
        affine=np.asarray(img.affine, dtype=np.float64).copy(),
        shape=tuple(reversed(shape)),
        spacing=tuple(reversed(zooms)),
        dtype=dtype,
    )
