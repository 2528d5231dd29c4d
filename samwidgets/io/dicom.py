"""DICOM through pydicom (the optional ``dicom`` extra): a series directory or a single file.

A directory is read as one series: every ``*.dcm`` file in it (or, when there is none, every file pydicom
can parse), sorted along the slice normal by ImagePositionPatient (InstanceNumber when positions are
missing). A single file is read alone: (y, x) for one frame, (z, y, x) for a multi-frame file.
Values are raw modality values (RescaleSlope / RescaleIntercept applied, e.g. HU), not windowed.
Spacing is (slice step, PixelSpacing row, PixelSpacing column) in (z, y, x) order. The affine maps
(x, y, z) voxel indices to RAS world coordinates (the NIfTI convention), so masks saved as NIfTI line up.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from samwidgets.errors import ImageReadError, MissingExtraError
from samwidgets.io._common import check_numeric, check_voxel_count, wrap_read
from samwidgets.io.image import Image


def _pydicom(path: Path):
    try:
        import pydicom
    except ImportError as exc:
        raise MissingExtraError("pydicom", "dicom", where=path) from exc
    return pydicom


def _series_files(path: Path) -> list[Path]:
    files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in (".dcm", ".dicom"))
    if not files:
        files = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
    if not files:
        raise ImageReadError("directory holds no DICOM files", where=path)
    return files


def _pixels(ds, path: Path) -> np.ndarray:
    with wrap_read(path, "cannot decode DICOM pixel data"):
        arr = ds.pixel_array
    slope = float(getattr(ds, "RescaleSlope", 1) or 1)
    inter = float(getattr(ds, "RescaleIntercept", 0) or 0)
    if slope == 1 and inter == int(inter):
        out = arr.astype(np.int32) + int(inter) if inter else arr
        if out.dtype != arr.dtype and out.min() >= np.iinfo(np.int16).min and out.max() <= np.iinfo(np.int16).max:
            out = out.astype(np.int16)
        return out
    return (arr.astype(np.float32) * np.float32(slope) + np.float32(inter)).astype(np.float32)


def _attr(ds, name: str):
    """A top-level attribute, or the one in the shared functional groups of an enhanced (multi-frame) file."""
    value = getattr(ds, name, None)
    if value is not None:
        return value
    for group in getattr(ds, "SharedFunctionalGroupsSequence", [])[:1]:
        for seq in ("PixelMeasuresSequence", "PlaneOrientationSequence"):
            for item in getattr(group, seq, [])[:1]:
                if getattr(item, name, None) is not None:
                    return getattr(item, name)
    return None


def _geometry(datasets, path: Path):
    first = datasets[0]
    ps = [float(v) for v in (_attr(first, "PixelSpacing") or [1.0, 1.0])]
    iop = _attr(first, "ImageOrientationPatient")
    row = np.array([float(v) for v in iop[:3]]) if iop is not None else np.array([1.0, 0, 0])
    col = np.array([float(v) for v in iop[3:]]) if iop is not None else np.array([0, 1.0, 0])
    normal = np.cross(row, col)
    positions = [getattr(ds, "ImagePositionPatient", None) for ds in datasets]
    have_pos = all(p is not None for p in positions)
    if have_pos:
        pos = np.array([[float(v) for v in p] for p in positions])
        order = np.argsort(pos @ normal, kind="stable")
    else:
        order = np.argsort([int(getattr(ds, "InstanceNumber", i)) for i, ds in enumerate(datasets)], kind="stable")
        pos = None
    if pos is not None and len(datasets) > 1:
        steps = np.diff((pos @ normal)[order])
        if np.any(np.abs(steps) < 1e-6):
            raise ImageReadError("two slices share the same position (duplicate or mixed series)", where=path)
        step_vec = (pos[order[-1]] - pos[order[0]]) / (len(datasets) - 1)
        dz = float(np.linalg.norm(step_vec))
    else:
        dz = float(_attr(first, "SpacingBetweenSlices") or _attr(first, "SliceThickness") or 1.0)
        step_vec = normal * dz
    origin = pos[order[0]] if pos is not None else np.zeros(3)
    lps = np.eye(4)
    lps[:3, 0] = row * ps[1]
    lps[:3, 1] = col * ps[0]
    lps[:3, 2] = step_vec
    lps[:3, 3] = origin
    affine = np.diag([-1.0, -1.0, 1.0, 1.0]) @ lps
    return order, (dz, ps[0], ps[1]), affine


def _check_size(datasets, path: Path) -> None:
    """The voxel limit, from Rows x Columns x SamplesPerPixel x NumberOfFrames before any pixel is decoded."""
    with wrap_read(path, "cannot read DICOM image size"):
        total = sum(int(getattr(ds, "NumberOfFrames", 1) or 1) * int(ds.Rows) * int(ds.Columns)
                    * int(getattr(ds, "SamplesPerPixel", 1) or 1) for ds in datasets)
    check_voxel_count((total,), path)


def read_dicom(path: Path) -> Image:
    """Read a DICOM series directory (z, y, x) or one DICOM file ((y, x) or multi-frame (z, y, x))."""
    pydicom = _pydicom(path)
    files = _series_files(path) if path.is_dir() else [path]
    datasets = []
    for f in files:
        strict = not path.is_dir() or f.suffix.lower() in (".dcm", ".dicom")
        try:
            with wrap_read(f, "cannot read DICOM"):
                ds = pydicom.dcmread(str(f), force=True)
        except ImageReadError:
            if strict:
                raise
            continue  # a stray non-DICOM file in an extension-less series folder
        if "PixelData" not in ds:
            if path.is_dir():
                continue  # DICOMDIR, presentation states, stray files: no image
            raise ImageReadError("DICOM file holds no pixel data", where=f)
        datasets.append(ds)
    if not datasets:
        raise ImageReadError("no DICOM file with pixel data found", where=path)
    series = {str(getattr(ds, "SeriesInstanceUID", "")) for ds in datasets}
    if len(series) > 1:
        raise ImageReadError(f"directory mixes {len(series)} DICOM series; put each series in its own folder",
                             where=path)
    _check_size(datasets, path)
    planes = [_pixels(ds, path) for ds in datasets]
    shapes = {p.shape for p in planes}
    if len(shapes) > 1:
        raise ImageReadError(f"DICOM slices differ in shape: {sorted(shapes)}", where=path)
    order, spacing_zyx, affine = _geometry(datasets, path)
    is_rgb = planes[0].ndim >= 3 and planes[0].shape[-1] == 3
    meta = {"format": "dicom", "n_files": len(datasets),
            "modality": str(getattr(datasets[0], "Modality", "")),
            "series_uid": next(iter(series))}
    if len(planes) == 1:
        arr = planes[0]
        frames = int(getattr(datasets[0], "NumberOfFrames", 1) or 1)
        if frames > 1:  # multi-frame file: already (z, y, x[, 3])
            return Image(array=check_numeric(arr, path), spacing=spacing_zyx, affine=affine, path=path, meta=meta)
        return Image(array=check_numeric(arr, path), spacing=spacing_zyx[1:], affine=affine, path=path,
                     meta=meta)
    arr = np.stack([planes[i] for i in order])
    if is_rgb and arr.ndim != 4:  # pragma: no cover - defensive
        raise ImageReadError(f"unsupported DICOM colour layout {arr.shape}", where=path)
    return Image(array=check_numeric(arr, path), spacing=spacing_zyx, affine=affine, path=path, meta=meta)
