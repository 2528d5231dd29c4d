"""What a session or viewer can be opened on: an Image, an array, an image path, a manifest case.

Arrays are (y, x), (y, x, 3) [2D; a last axis of 3 is read as RGB], (z, y, x) or (z, y, x, 3) [3D].
Ground truths become {name: bool mask} with the image's spatial shape ((z, y, x) or (y, x)).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from samwidgets.errors import InputError, LabelError
from samwidgets.io.image import Image


def check_finite(arr: np.ndarray, *, where: str) -> None:
    """InputError when a float array holds NaN or inf (as load_image refuses such files)."""
    if arr.dtype.kind in "fc" and not np.isfinite(arr).all():
        n = int(arr.size - np.count_nonzero(np.isfinite(arr)))
        raise InputError(f"{n} values are NaN or infinite; replace them (e.g. np.nan_to_num) before opening",
                         where=where)


def as_image(obj, *, where: str = "image") -> Image:
    """An :class:`Image` from an Image or a numpy array (spacing 1.0 per axis for arrays). NaN/inf values
    are refused (InputError)."""
    if isinstance(obj, Image) or (hasattr(obj, "array") and hasattr(obj, "spacing")):
        check_finite(np.asarray(obj.array), where=str(getattr(obj, "path", None) or where))
        return obj  # an Image, or an Image-like object from another reader
    arr = np.asarray(obj)
    if arr.dtype == object or arr.dtype.kind not in "biuf":
        raise InputError(f"expected a numeric image array, got dtype {arr.dtype}", where=where)
    check_finite(arr, where=where)
    if arr.ndim == 2 or (arr.ndim == 3 and arr.shape[-1] == 3):
        return Image(array=arr, spacing=(1.0, 1.0))
    if arr.ndim == 3 or (arr.ndim == 4 and arr.shape[-1] == 3):
        return Image(array=arr, spacing=(1.0, 1.0, 1.0))
    raise InputError(f"expected a (y, x[, 3]) or (z, y, x[, 3]) image, got shape {arr.shape}", where="image")


def spatial_shape(image: Image) -> tuple[int, ...]:
    """(z, y, x) for a volume, (y, x) for a 2D image (colour axis dropped)."""
    n = len(image.spacing)
    return tuple(int(s) for s in image.array.shape[:n])


def normalise_ground_truth(gt, shape: tuple[int, ...], *, where: str = "ground truth") -> dict[str, np.ndarray]:
    """{name: bool mask of ``shape``} from None, a bool/integer label array, or a dict of masks.

    An integer array with several values becomes one mask per non-zero value, named "label <v>".
    """
    if gt is None:
        return {}
    if isinstance(gt, dict):
        items = list(gt.items())
    else:
        arr = np.asarray(gt)
        if arr.dtype.kind in "fc" and not np.isfinite(arr).all():
            raise LabelError("the ground truth holds NaN or infinite values", where=where)
        if arr.dtype.kind not in "biuf":
            raise LabelError(f"the ground truth must be a numeric array, got dtype {arr.dtype}", where=where)
        if arr.dtype == bool or set(np.unique(arr).tolist()) <= {0, 1}:
            items = [("foreground", arr.astype(bool))]
        else:
            items = [(f"label {int(v)}", arr == v) for v in np.unique(arr) if v != 0]
    out = {}
    for name, mask in items:
        m = np.asarray(mask)
        if m.dtype.kind in "fc" and not np.isfinite(m).all():
            raise LabelError(f"mask '{name}' holds NaN or infinite values", where=where)
        m = m.astype(bool)
        if m.shape != tuple(shape):
            raise LabelError(f"mask '{name}' has shape {m.shape}, the image {tuple(shape)}", where=where)
        out[str(name)] = m
    return out


@dataclass
class Opened:
    """The result of :func:`open_source`: image, ground truth, case id and a description of the source."""

    image: Image
    ground_truth: dict[str, np.ndarray]
    case_id: str | None
    description: str
    manifest: str | None = None
    case_key: str | None = None
    preset: str | None = None    # the manifest's intensity preset: the model's input (the image stays raw)


def _is_manifest(path: Path) -> bool:
    return path.suffix.lower() in (".yaml", ".yml")


def open_source(source, *, case=None) -> Opened:
    """Open ``source``: an Image or array, a path to an image file, a manifest path (``case`` = case id,
    default the first case) or a manifest Case object (anything with ``load_image``); an Opened as is."""
    if isinstance(source, Opened):
        return source
    if hasattr(source, "load_image"):
        return _load_case(source, manifest=None)
    if isinstance(source, (str, Path)):
        path = Path(source)
        if _is_manifest(path):
            from samwidgets.manifest import find_case, load_manifest

            if case is None:
                cases = load_manifest(path).cases
                if not cases:
                    raise InputError("the manifest has no cases", where=path)
                c = cases[0]
            elif hasattr(case, "load_image"):
                c = case
            else:
                c = find_case(path, str(case))
            return _load_case(c, manifest=str(path))
        from samwidgets.io import load_image

        image = as_image(load_image(path), where=str(path))
        return Opened(image=image, ground_truth={}, case_id=None, description=path.name)
    image = as_image(source)
    desc = Path(image.path).name if getattr(image, "path", None) else f"array {tuple(image.array.shape)}"
    return Opened(image=image, ground_truth={}, case_id=None, description=desc)


def _load_case(case, *, manifest: str | None) -> Opened:
    """A manifest case with its image as stored (raw intensities, e.g. HU) and its preset named."""
    raw = getattr(case, "load_raw_image", None)
    image = as_image(raw() if raw is not None else case.load_image(), where=str(getattr(case, "key", "case")))
    preset = getattr(case, "preset", None) if raw is not None else None
    shape = spatial_shape(image)
    has_labels = hasattr(case, "load_labels") and getattr(case, "label", True) is not None
    labels = case.load_labels(image=image) if has_labels else {}
    case_id = str(getattr(case, "id", getattr(case, "case_id", None)))
    return Opened(
        image=image,
        ground_truth=normalise_ground_truth(labels, shape, where=case_id),
        case_id=case_id,
        description=case_id,
        manifest=manifest,
        case_key=str(getattr(case, "key", case_id)),
        preset=preset,
    )
