"""Label decoding: a raw label array + a rule declared by the data manifest -> named bool masks.

Rules (plain dicts, as a manifest YAML gives them):

- ``{"type": "values", "labels": {1: "lesion", 2: "edema"}}``: integer label values (keys may be strings
  in YAML). Float label files (e.g. 0.0/1.0) are rounded to the nearest integer first.
- ``{"type": "threshold", "threshold": 127, "name": "polyp"}``: binary masks, JPEG noise included:
  pixel > threshold; an RGB mask is averaged over its channels first.
- ``{"type": "colours", "labels": {"lv": [255, 0, 0], ...}, "background": [0, 0, 0], "max_distance": 60,
  "blends": true}``: colour-coded classes. Every pixel is snapped to the nearest listed colour (background
  included, Euclidean distance in RGB). A colour is accepted when it lies within ``max_distance`` of a listed
  colour or, with ``blends`` (default true), within ``max_distance`` of a mix of listed colours (the
  anti-aliased edges between two or three classes, e.g. (75, 70, 0) between black, red and green); any
  other colour raises LabelError "label colour (r, g, b) not in the map". ``blends: false`` applies the
  plain nearest-colour distance test.
- ``{"type": "instances", "name": "nucleus"}``: instance labels 0..N; the union (> 0) as one mask
  (see :func:`instance_masks` for the objects).
- ``{"type": "outline_fill", "threshold": 127, "name": "head", "close": 0}``: an outline (e.g. the HC18
  fetal head ellipse) thresholded as above, optionally closed by ``close`` binary-closing iterations, then
  filled with ``scipy.ndimage.binary_fill_holes``.

Masks have the spatial shape of the label ((y, x) or (z, y, x)); labels listed in the rule but absent from
the file are left out of the result; a label where none of the listed labels is present raises LabelError.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from samwidgets.errors import LabelError
from samwidgets.io.image import Image

RULE_TYPES = ("values", "threshold", "colours", "instances", "outline_fill")


def _spatial(raw: np.ndarray, rgb_ok: bool, where) -> np.ndarray:
    """Return a single-channel view: (y, x) / (z, y, x). RGB is accepted only when ``rgb_ok`` or grey."""
    if raw.ndim >= 3 and raw.shape[-1] in (3, 4):
        rgb = raw[..., :3]
        if rgb_ok:
            return rgb.astype(np.float64).mean(axis=-1)
        if np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 0], rgb[..., 2]):
            return rgb[..., 0]
        raise LabelError("this rule needs a single-channel label but the file holds colours; "
                         "use a 'colours' rule", where=where)
    return raw


def _threshold(raw: np.ndarray, rule: dict, where) -> np.ndarray:
    t = float(rule.get("threshold", 127))
    return _spatial(raw, True, where) > t


def _name(rule: dict, where) -> str:
    name = rule.get("name")
    if not name:
        raise LabelError(f"'{rule.get('type')}' rule needs a 'name'", where=where)
    return str(name)


def _decode_values(raw: np.ndarray, rule: dict, where) -> dict[str, np.ndarray]:
    labels = rule.get("labels")
    if not isinstance(labels, dict) or not labels:
        raise LabelError("'values' rule needs 'labels': {value: name}", where=where)
    arr = _spatial(raw, False, where)
    if arr.dtype.kind == "f":
        arr = np.rint(arr)
    out = {}
    for value, name in labels.items():
        try:
            v = int(value)
        except (TypeError, ValueError) as exc:
            raise LabelError(f"label value {value!r} is not an integer", where=where) from exc
        m = arr == v
        if m.any():
            out[str(name)] = m
    return out


def _project_to_simplex(v: np.ndarray) -> np.ndarray:
    """Euclidean projection of each row of ``v`` (n, k) onto the probability simplex (sort-based)."""
    k = v.shape[1]
    u = -np.sort(-v, axis=1)
    css = np.cumsum(u, axis=1) - 1.0
    ind = np.arange(1, k + 1)
    rho = (u - css / ind > 0).sum(axis=1)
    theta = css[np.arange(len(v)), rho - 1] / rho
    return np.maximum(v - theta[:, None], 0.0)


def _hull_distance(colours: np.ndarray, palette: np.ndarray, iterations: int = 400) -> np.ndarray:
    """Distance of each colour (n, 3) to the convex hull of ``palette`` (k, 3), i.e. to the nearest mix of
    listed colours: min over simplex weights w of |w @ palette - c|, solved for all colours at once by
    accelerated projected gradient (error well below one RGB unit for 0-255 colours)."""
    p = palette / 255.0
    c = colours / 255.0
    k = p.shape[0]
    step = 1.0 / max(float(np.linalg.eigvalsh(p @ p.T).max()), 1e-12)
    w = np.full((len(c), k), 1.0 / k)
    y, t = w.copy(), 1.0
    for i in range(iterations):
        grad = (y @ p - c) @ p.T
        w_next = _project_to_simplex(y - step * grad)
        if i % 20 == 19 and np.abs(w_next - w).max() < 1e-9:
            w = w_next
            break
        t_next = (1.0 + np.sqrt(1.0 + 4.0 * t * t)) / 2.0
        y = w_next + ((t - 1.0) / t_next) * (w_next - w)
        w, t = w_next, t_next
    return np.linalg.norm(w @ p - c, axis=1) * 255.0


def _decode_colours(raw: np.ndarray, rule: dict, where) -> dict[str, np.ndarray]:
    labels = rule.get("labels")
    if not isinstance(labels, dict) or not labels:
        raise LabelError("'colours' rule needs 'labels': {name: [r, g, b]}", where=where)
    if raw.ndim < 3 or raw.shape[-1] not in (3, 4):
        raise LabelError(f"'colours' rule needs an RGB label, got shape {raw.shape}", where=where)
    names = [str(n) for n in labels]
    background = rule.get("background", [0, 0, 0])
    try:
        palette = np.array([list(labels[n]) for n in labels] + [list(background)], dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise LabelError(f"colours must be [r, g, b] triples: {exc}", where=where) from exc
    if palette.shape[1] != 3:
        raise LabelError("colours must be [r, g, b] triples", where=where)
    if len({tuple(c) for c in palette.tolist()}) != len(palette):
        raise LabelError("two labels (or a label and the background) share one colour", where=where)
    max_distance = float(rule.get("max_distance", 60))
    rgb = np.asarray(raw[..., :3])
    if rgb.dtype.kind == "f":
        rgb = np.rint(rgb)
    if rgb.min() < 0 or rgb.max() > 255:
        raise LabelError(f"colour labels must hold 8-bit values, got {rgb.min()}..{rgb.max()}", where=where)
    rgb = rgb.astype(np.int64)
    packed = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
    uniq, inverse, counts = np.unique(packed.ravel(), return_inverse=True, return_counts=True)
    colours = np.stack([(uniq >> 16) & 255, (uniq >> 8) & 255, uniq & 255], axis=1).astype(np.float64)
    dist = np.sqrt(((colours[:, None, :] - palette[None, :, :]) ** 2).sum(-1))
    nearest = dist.argmin(axis=1)
    bad = dist.min(axis=1) > max_distance
    if bad.any() and rule.get("blends", True) and len(palette) > 1:
        idx = np.flatnonzero(bad)
        bad[idx] = _hull_distance(colours[idx], palette) > max_distance
    if bad.any():
        worst = np.flatnonzero(bad)[np.argmax(counts[bad])]
        c = tuple(int(v) for v in colours[worst])
        raise LabelError(
            f"label colour {c} not in the map ({int(counts[bad].sum())} pixels in {int(bad.sum())} unlisted "
            f"colours; listed: {dict(zip(names, palette[:-1].astype(int).tolist()))}, background "
            f"{palette[-1].astype(int).tolist()}, max_distance {max_distance:g})",
            where=where,
        )
    cls = nearest[inverse].reshape(packed.shape)
    out = {}
    for i, name in enumerate(names):
        m = cls == i
        if m.any():
            out[name] = m
    return out


def instance_masks(raw) -> dict[int, np.ndarray]:
    """Instance label array (y, x) / (z, y, x) with 0 = background -> {instance id: bool mask}, ids sorted."""
    arr = np.asarray(raw)
    if arr.dtype.kind == "f":
        arr = np.rint(arr).astype(np.int64)
    ids = np.unique(arr)
    return {int(i): arr == i for i in ids if i != 0}


def decode_label(raw, rule: dict, *, where=None) -> dict[str, np.ndarray]:
    """Decode a raw label array with a manifest rule (see the module docstring) into {name: bool mask}.

    raw:   the array from :func:`samwidgets.io.load_label_array`: (y, x), (y, x, 3), (z, y, x) or
           (z, y, x, 3).
    where: the label file or case id, named in errors.
    Returns masks of the spatial shape ((y, x) or (z, y, x)); labels absent from the file are left out.
    Raises LabelError for a malformed rule, an unlisted colour, an unclosed outline or an empty label.
    """
    if not isinstance(rule, dict) or "type" not in rule:
        raise LabelError(f"a label rule is a dict with a 'type' (one of {', '.join(RULE_TYPES)})", where=where)
    arr = np.asarray(raw)
    if arr.dtype.kind not in "biuf" or arr.size == 0:
        raise LabelError(f"label array of dtype {arr.dtype} and shape {arr.shape} cannot be decoded", where=where)
    kind = rule["type"]
    if kind == "values":
        out = _decode_values(arr, rule, where)
    elif kind == "threshold":
        out = {_name(rule, where): _threshold(arr, rule, where)}
    elif kind == "colours":
        out = _decode_colours(arr, rule, where)
    elif kind == "instances":
        out = {_name(rule, where): _spatial(arr, False, where) > 0}
    elif kind == "outline_fill":
        name = _name(rule, where)
        outline = _threshold(arr, rule, where)
        close = int(rule.get("close", 0))
        if close > 0:
            outline = ndi.binary_closing(outline, iterations=close) | outline
        filled = ndi.binary_fill_holes(outline)
        if outline.any() and filled.sum() == outline.sum():
            raise LabelError("outline is not closed: filling it added nothing (try 'close': 2)", where=where)
        out = {name: filled}
    else:
        raise LabelError(f"unknown label rule type '{kind}'; valid: {', '.join(RULE_TYPES)}", where=where)
    out = {k: v for k, v in out.items() if v.any()}
    if not out:
        raise LabelError("empty label: none of the listed labels is present", where=where)
    return out


def check_label_shape(image: Image, mask, *, where=None) -> None:
    """Raise LabelError unless ``mask`` (a raw label or a bool mask) covers ``image`` pixel for pixel.

    The spatial shapes ((y, x) or (z, y, x)) must be equal; a colour label may carry a trailing channel axis.
    """
    m = np.asarray(mask)
    nd = len(image.spacing)
    spatial = tuple(image.array.shape[:nd])
    ok = m.shape[:nd] == spatial and (m.ndim == nd or (m.ndim == nd + 1 and m.shape[-1] in (3, 4)))
    if not ok:
        raise LabelError(f"label shape {m.shape} does not match image shape {image.array.shape} "
                         f"(spatial {spatial})", where=where if where is not None else image.path)
