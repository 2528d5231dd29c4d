"""CVPR 2024 "MedSAM on Laptop" ``.npz`` files.

Layout (protocols.md): 2D ``imgs`` (H, W, 3) uint8 and ``gts`` (H, W); 3D ``imgs`` (D, H, W) uint8 and
``gts`` (D, H, W). The arrays are already in (z, y, x) order, but ``spacing`` is stored in (x, y, z) order:
it is reversed here into array order (the known trap: NSD drops from 0.77 to 0.22 on a real case when it is
not). A 2D file without ``spacing`` gets (1.0, 1.0). When the file keeps SimpleITK's ``direction`` and
``origin`` (3D), ``Image.affine`` is the matching RAS voxel-to-world matrix (equal to the raw NIfTI twin's).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from samwidgets.errors import ImageReadError
from samwidgets.io._common import check_numeric, check_voxel_count, wrap_read
from samwidgets.io.image import Image


def _open(path: Path):
    with wrap_read(path, "cannot read npz"):
        return np.load(str(path), allow_pickle=False)


def _stored_shape(npz, key: str, path: Path) -> tuple[int, ...]:
    """The shape in the ``.npy`` header of member ``key``, read without decompressing the array."""
    from numpy.lib import format as npy

    readers = {(1, 0): npy.read_array_header_1_0, (2, 0): npy.read_array_header_2_0}
    with wrap_read(path, f"cannot read the header of '{key}' in npz"):
        with npz.zip.open(f"{key}.npy") as fh:
            version = npy.read_magic(fh)
            if version not in readers:
                raise ImageReadError(f"npz '{key}' uses .npy format version {version}", where=path)
            shape, _, _ = readers[version](fh)
    return tuple(shape)


def _get(npz, key: str, path: Path) -> np.ndarray:
    if key not in npz.files:
        raise ImageReadError(f"npz has no '{key}' array (keys: {', '.join(npz.files) or 'none'})", where=path)
    check_voxel_count(_stored_shape(npz, key, path), path)  # before decompressing: no zip bomb
    with wrap_read(path, f"cannot read '{key}' from npz"):
        return np.asarray(npz[key])


def _spatial_ndim(imgs: np.ndarray, spacing_xyz: np.ndarray | None, path: Path) -> int:
    if imgs.ndim == 2:
        return 2
    if imgs.ndim == 3:
        if spacing_xyz is not None and spacing_xyz.size == 3:
            return 3
        if imgs.shape[-1] in (3, 4) and (spacing_xyz is None or spacing_xyz.size == 2):
            return 2  # 2D RGB
        return 3
    if imgs.ndim == 4 and imgs.shape[-1] == 3:
        return 3  # (D, H, W, 3)
    raise ImageReadError(f"npz 'imgs' has unsupported shape {imgs.shape}", where=path)


def read_npz(path: Path) -> Image:
    """Read ``imgs`` into an Image: (y, x[, 3]) or (z, y, x); spacing in array order (reversed from x, y, z)."""
    with _open(path) as npz:
        imgs = _get(npz, "imgs", path)
        spacing_xyz = _get(npz, "spacing", path).astype(np.float64).ravel() if "spacing" in npz.files else None
        extras = {k: _get(npz, k, path) for k in ("direction", "origin") if k in npz.files}
    nd = _spatial_ndim(imgs, spacing_xyz, path)
    if nd == 3 and spacing_xyz is None:
        raise ImageReadError("3D npz has no 'spacing' array", where=path)
    if spacing_xyz is None:
        spacing = (1.0,) * nd
    elif spacing_xyz.size != nd:
        raise ImageReadError(
            f"npz 'spacing' has {spacing_xyz.size} values for a {nd}D image of shape {imgs.shape}", where=path
        )
    else:
        spacing = tuple(float(s) for s in spacing_xyz[::-1])
    if nd == 2 and imgs.ndim == 3 and imgs.shape[-1] == 4:
        imgs = imgs[..., :3]
    meta = {"format": "npz", "spacing_xyz": None if spacing_xyz is None else tuple(spacing_xyz.tolist())}
    meta.update({k: v.tolist() for k, v in extras.items()})
    affine = _affine(spacing_xyz, extras) if nd == 3 else None
    return Image(array=check_numeric(imgs, path), spacing=spacing, affine=affine, path=path, meta=meta)


def _affine(spacing_xyz: np.ndarray, extras: dict[str, np.ndarray]) -> np.ndarray | None:
    """RAS voxel-to-world matrix from the SimpleITK geometry the CVPR24 files keep (``direction`` row-major
    3x3 and ``origin`` in LPS), or None when they are absent: affine = diag(-1, -1, 1) @ [D @ diag(s) | o]."""
    if "direction" not in extras or "origin" not in extras:
        return None
    direction = np.asarray(extras["direction"], dtype=np.float64).ravel()
    origin = np.asarray(extras["origin"], dtype=np.float64).ravel()
    if direction.size != 9 or origin.size != 3:
        return None
    lps = np.eye(4)
    lps[:3, :3] = direction.reshape(3, 3) @ np.diag(spacing_xyz)
    lps[:3, 3] = origin
    return np.diag([-1.0, -1.0, 1.0, 1.0]) @ lps


def read_npz_label(path: Path, *, key: str = "gts") -> np.ndarray:
    """The label array ``key`` (default ``gts``) of a CVPR24 npz, already (z, y, x) / (y, x)."""
    with _open(path) as npz:
        return check_numeric(_get(npz, key, path), path)
