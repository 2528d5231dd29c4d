"""Shared helpers of the readers: format detection, exception wrapping and value checks.

Every reader funnels the library exceptions it can meet (nibabel, Pillow, tifffile, zlib, gzip EOF,
numpy) through :func:`wrap_read` so the user sees one :class:`~samwidgets.errors.ImageReadError` naming the
file and the reason instead of a traceback.
"""

from __future__ import annotations

import contextlib
import math
import os
import stat
import struct
import zipfile
import zlib
from pathlib import Path
from typing import Iterator

import numpy as np

from samwidgets.errors import ImageReadError, SamwidgetsError

NIFTI_SUFFIXES = (".nii", ".nii.gz")
NPZ_SUFFIXES = (".npz",)
RASTER_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".gif")
DICOM_SUFFIXES = (".dcm", ".dicom")
ITK_SUFFIXES = (".nrrd", ".nhdr", ".mha", ".mhd")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv")
ALL_SUFFIXES = NIFTI_SUFFIXES + NPZ_SUFFIXES + RASTER_SUFFIXES + DICOM_SUFFIXES + ITK_SUFFIXES + VIDEO_SUFFIXES


def is_clip_dir(path: Path) -> bool:
    """A folder read as a video clip: a YouTube-VOS/DAVIS root (has ``JPEGImages/``) or a folder whose
    visible files are all frame images (see :mod:`samwidgets.io.video`); anything else is a DICOM series."""
    if (path / "JPEGImages").is_dir():
        return True
    files = [f for f in path.iterdir() if f.is_file() and not f.name.startswith(".")]
    return bool(files) and all(f.name.lower().endswith(RASTER_SUFFIXES) for f in files)

#: the setting (environment variable) that overrides :data:`DEFAULT_MAX_VOXELS`
MAX_VOXELS_ENV = "SAMWIDGETS_MAX_VOXELS"
#: the most array elements (voxels x channels) one image may hold, checked from the file's header before
#: any decoding: 2**28 = 268,435,456 (a 512 x 512 x 1024 CT volume fits; a 12000 x 12000 RGB PNG, or a
#: 1 MB npz that would expand to 1 GiB, does not). Set ``SAMWIDGETS_MAX_VOXELS`` to change it.
DEFAULT_MAX_VOXELS = 1 << 28
#: the smallest height and width of an image's plane that the models can take
MIN_PLANE_SIZE = 2


def max_voxels() -> int:
    """The voxel limit: ``$SAMWIDGETS_MAX_VOXELS`` when set (a positive integer), else the default."""
    text = os.environ.get(MAX_VOXELS_ENV, "").strip()
    if not text:
        return DEFAULT_MAX_VOXELS
    try:
        value = int(float(text))
    except ValueError:
        raise ImageReadError(f"{MAX_VOXELS_ENV}={text!r} is not a number", where=MAX_VOXELS_ENV) from None
    if value <= 0:
        raise ImageReadError(f"{MAX_VOXELS_ENV} must be positive, got {value}", where=MAX_VOXELS_ENV)
    return value


def check_voxel_count(shape, path: Path) -> None:
    """Raise ImageReadError naming ``path`` when an array of ``shape`` (from a header, before decoding)
    would hold more elements than :func:`max_voxels`."""
    count = math.prod(int(n) for n in shape)
    limit = max_voxels()
    if count > limit:
        raise ImageReadError(
            f"image of shape {tuple(int(n) for n in shape)} holds {count:,} values, more than the limit of "
            f"{limit:,} (set {MAX_VOXELS_ENV} to raise it); refused before decoding", where=path)


def check_spacing(spacing, path: Path) -> tuple[float, ...]:
    """Every spacing value finite and > 0, else ImageReadError naming ``path``; returns floats."""
    try:
        values = tuple(float(s) for s in spacing)
    except (TypeError, ValueError):
        raise ImageReadError(f"spacing {spacing!r} is not a list of numbers", where=path) from None
    if not all(math.isfinite(v) and v > 0 for v in values):
        raise ImageReadError(f"voxel spacing {values} must be finite and > 0 (mm)", where=path)
    return values


def check_plane_size(shape, n_spatial: int, path: Path) -> None:
    """Refuse an image whose (y, x) plane is thinner than :data:`MIN_PLANE_SIZE` (e.g. 1 x N), naming it."""
    yx = tuple(int(n) for n in shape[n_spatial - 2:n_spatial])
    if min(yx) < MIN_PLANE_SIZE:
        raise ImageReadError(f"image plane of {yx[0]} x {yx[1]} pixels (shape {tuple(shape)}) is too small: "
                             f"the models need at least {MIN_PLANE_SIZE} x {MIN_PLANE_SIZE}", where=path)


def detect_format(path: Path) -> str:
    """Return 'nifti', 'npz', 'raster', 'dicom', 'itk' or 'video' for ``path``; raise ImageReadError if missing
    or unknown.

    A video file, or a directory of frames / YouTube-VOS root (:func:`is_clip_dir`), is a video clip; any
    other directory is a DICOM series. The test is on the (lower-cased) file name suffix only. Anything that
    is neither a folder nor a regular file (a FIFO, device or socket named like an image) is refused before
    it is opened, so reading never blocks; so is a path the system cannot look up (e.g. a name too long).
    """
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise ImageReadError("file not found", where=path) from None
    except (OSError, ValueError) as exc:
        raise ImageReadError(f"cannot look up the file: {getattr(exc, 'strerror', None) or exc}",
                             where=path) from None
    if stat.S_ISDIR(mode):
        return "video" if is_clip_dir(path) else "dicom"
    if not stat.S_ISREG(mode):
        raise ImageReadError("not a regular file (a FIFO, device or socket); only regular files are read",
                             where=path)
    name = path.name.lower()
    if name.endswith(VIDEO_SUFFIXES):
        return "video"
    if name.endswith(NIFTI_SUFFIXES):
        return "nifti"
    if name.endswith(NPZ_SUFFIXES):
        return "npz"
    if name.endswith(RASTER_SUFFIXES):
        return "raster"
    if name.endswith(DICOM_SUFFIXES):
        return "dicom"
    if name.endswith(ITK_SUFFIXES):
        return "itk"
    raise ImageReadError(
        f"unknown image extension '{''.join(path.suffixes) or path.name}'; supported: "
        + ", ".join(ALL_SUFFIXES)
        + " or a directory of DICOM files",
        where=path,
    )


def _library_errors() -> tuple[type[BaseException], ...]:
    errors: list[type[BaseException]] = [
        OSError,
        EOFError,
        zlib.error,
        zipfile.BadZipFile,
        struct.error,
        ValueError,
        KeyError,
        IndexError,
        TypeError,
        MemoryError,
        RuntimeError,
        NotImplementedError,
    ]
    try:  # nibabel's own error (subclass of Exception)
        from nibabel.filebasedimages import ImageFileError

        from nibabel.spatialimages import HeaderDataError

        errors.extend([ImageFileError, HeaderDataError])
    except ImportError:  # pragma: no cover - nibabel is a core dependency
        pass
    try:
        from PIL import UnidentifiedImageError
        from PIL.Image import DecompressionBombError

        errors.extend([UnidentifiedImageError, DecompressionBombError])
    except ImportError:  # pragma: no cover - pillow is a core dependency
        pass
    return tuple(errors)


@contextlib.contextmanager
def wrap_read(path: Path, what: str = "cannot read") -> Iterator[None]:
    """Turn library exceptions raised inside the block into ImageReadError(where=path).

    Our own SamwidgetsError subclasses pass through unchanged.
    """
    try:
        yield
    except SamwidgetsError:
        raise
    except _library_errors() as exc:
        detail = str(exc).strip() or type(exc).__name__
        if isinstance(exc, (EOFError, zlib.error, zipfile.BadZipFile)) or "compressed file ended" in detail.lower():
            detail = f"file is truncated or corrupt ({detail})"
        raise ImageReadError(f"{what}: {detail}", where=path) from exc


def check_numeric(array: np.ndarray, path: Path) -> np.ndarray:
    """Reject non-numeric, empty and non-finite arrays with ImageReadError naming ``path``."""
    if array.dtype.kind not in "biuf":
        raise ImageReadError(f"unsupported voxel type {array.dtype}", where=path)
    if array.size == 0:
        raise ImageReadError(f"empty image of shape {array.shape}", where=path)
    if array.dtype.kind == "f":
        bad = ~np.isfinite(array)
        n_bad = int(bad.sum())
        if n_bad:
            n_nan = int(np.isnan(array).sum())
            raise ImageReadError(
                f"{n_bad} voxels are not finite ({n_nan} NaN, {n_bad - n_nan} inf); "
                "fix or mask them before loading",
                where=path,
            )
    return array


def as_path(path: object) -> Path:
    """Expand ``~`` and return a Path (no resolution of symlinks)."""
    return Path(str(path)).expanduser()
