"""Shared helpers of the readers: format detection, exception wrapping and value checks.

Every reader funnels the library exceptions it can meet (nibabel, Pillow, tifffile, zlib, gzip EOF,
numpy) through :func:`wrap_read` so the user sees one :class:`~samwidgets.errors.ImageReadError` naming the
file and the reason instead of a traceback.
"""

from __future__ import annotations

import contextlib
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


def detect_format(path: Path) -> str:
    """Return 'nifti', 'npz', 'raster', 'dicom', 'itk' or 'video' for ``path``; raise ImageReadError if missing
    or unknown.

    A video file, or a directory of frames / YouTube-VOS root (:func:`is_clip_dir`), is a video clip; any
    other directory is a DICOM series. The test is on the (lower-cased) file name suffix only.
    """
    if not path.exists():
        raise ImageReadError("file not found", where=path)
    name = path.name.lower()
    if name.endswith(VIDEO_SUFFIXES) or (path.is_dir() and is_clip_dir(path)):
        return "video"
    if path.is_dir():
        return "dicom"
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
