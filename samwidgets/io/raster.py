"""2D raster images: PNG, JPEG, BMP, GIF through Pillow; TIFF through tifffile.

TIFF compression (LZW, Deflate, JPEG, PackBits, Zstd, ...) is decoded by ``imagecodecs``, a dependency.
A GIF is a palette image: its first frame is read and expanded to RGB like any palette image (a grey
palette gives three equal channels, which every label rule accepts as grey).

Arrays are (y, x) for grey and (y, x, 3) for colour, as stored (no EXIF rotation). RGBA drops alpha,
palette images are expanded to RGB, 1-bit images become 0/255 uint8, 16-bit grey stays uint16.
A multi-page TIFF stack (z, y, x) is read as a volume. Spacing is (1.0, 1.0) (or (1.0, 1.0, 1.0) for a
stack) unless the caller gives one.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from samwidgets.errors import ImageReadError
from samwidgets.io._common import check_numeric, check_voxel_count, wrap_read
from samwidgets.io.image import Image

_PIL_TO_RGB = ("P", "PA", "CMYK", "YCbCr", "LAB", "HSV", "RGBX", "RGBa")


def _read_pil(path: Path) -> np.ndarray:
    from PIL import Image as PILImage

    with wrap_read(path, "cannot read image"):
        with PILImage.open(str(path)) as im:  # lazy: only the header is read here
            check_voxel_count((im.height, im.width, len(im.getbands())), path)
            im.load()
            mode = im.mode
            if mode in _PIL_TO_RGB:
                im = im.convert("RGBA" if "A" in mode or "transparency" in im.info else "RGB")
                mode = im.mode
            elif mode == "1":
                im = im.convert("L")
                mode = "L"
            elif mode == "LA":
                im = im.getchannel("L")
                mode = "L"
            arr = np.array(im)
    if arr.ndim == 3 and arr.shape[-1] == 4:
        arr = arr[..., :3]
    return arr


def _read_tiff(path: Path) -> np.ndarray:
    import tifffile

    with wrap_read(path, "cannot read TIFF"):
        with tifffile.TiffFile(str(path)) as tif:
            series = tif.series[0]
            check_voxel_count(series.shape, path)  # from the IFD tags, before decoding
            axes = series.axes.upper()
            arr = np.asarray(series.asarray())
    # drop singleton axes (but never y or x), keeping the axes string in step
    keep = [i for i, (a, n) in enumerate(zip(axes, arr.shape)) if n != 1 or a in "YX"]
    arr = arr.reshape([arr.shape[i] for i in keep])
    axes = "".join(axes[i] for i in keep)
    if "S" in axes and axes.index("S") != len(axes) - 1:
        # planar (..., samples, y, x) colour: move samples last
        arr = np.moveaxis(arr, axes.index("S"), -1)
    if arr.ndim >= 3 and arr.shape[-1] == 4 and "S" in axes:
        arr = arr[..., :3]
    if arr.ndim >= 3 and arr.shape[-1] == 2 and "S" in axes:
        arr = arr[..., 0]  # grey + alpha
    return arr


def read_raster_array(path: Path) -> np.ndarray:
    """The pixel array as read: (y, x), (y, x, 3) or a TIFF stack (z, y, x[, 3]); dtype kept."""
    name = path.name.lower()
    arr = _read_tiff(path) if name.endswith((".tif", ".tiff")) else _read_pil(path)
    if arr.ndim < 2 or arr.ndim > 4:
        raise ImageReadError(f"unsupported image shape {arr.shape}", where=path)
    return check_numeric(np.ascontiguousarray(arr), path)


def read_raster(path: Path, *, spacing: tuple[float, ...] | None = None) -> Image:
    """Read a 2D raster image (or TIFF stack) into an Image; spacing defaults to 1.0 per spatial axis."""
    arr = read_raster_array(path)
    is_rgb = arr.ndim >= 3 and arr.shape[-1] == 3
    nd = arr.ndim - 1 if is_rgb else arr.ndim
    if arr.ndim == 4 and not is_rgb:
        raise ImageReadError(f"unsupported image shape {arr.shape}", where=path)
    if spacing is None:
        spacing = (1.0,) * nd
    elif len(spacing) != nd:
        raise ImageReadError(f"spacing {tuple(spacing)} does not fit a {nd}D image of shape {arr.shape}", where=path)
    return Image(array=arr, spacing=tuple(float(s) for s in spacing), affine=None, path=path,
                 meta={"format": "raster"})
