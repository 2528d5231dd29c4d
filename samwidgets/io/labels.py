"""Label decoding: a raw label array + a rule declared by the data manifest -> named bool masks.

Rules (plain dicts, as a manifest YAML gives them):

- ``{"type": "values", "labels": {1: "lesion", 2: "edema"}}``: integer label values (keys may be strings
  in YAML). Float label files (e.g. 0.0/1.0) are rounded to the nearest integer first. A label is the
  union of the values naming it: ``{1: disc, 2: [disc, cup]}`` gives disc = 1 or 2, cup = 2.
- ``{"type": "threshold", "threshold": 127, "name": "polyp"}``: binary masks, JPEG noise included:
  pixel > threshold; an RGB mask is averaged over its channels first.
- ``{"type": "colours", "labels": {"lv": [255, 0, 0], ...}, "background": [0, 0, 0], "max_distance": 60,
  "blends": true}``: colour-coded classes. A label lists one colour or several (``[[255, 255, 0],
  [255, 0, 0]]``: their union), and a colour may belong to several labels (overlapping labels such as the
  whole optic disc and the cup inside it). Every pixel is snapped to the nearest listed colour (background
  included, Euclidean distance in RGB). A colour is accepted when it lies within ``max_distance`` of a listed
  colour or, with ``blends`` (default true), within ``max_distance`` of a mix of listed colours (the
  anti-aliased edges between two or three classes, e.g. (75, 70, 0) between black, red and green); any
  other colour raises LabelError listing every unlisted colour, its distance and the ``max_distance``
  that would accept it ("label colour (r, g, b) not in the map ... raise max_distance to >= d or add the
  colour"). ``blends: false`` applies the
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


def _names(name, where) -> list[str]:
    """A label name or a list of them (a value that belongs to several, overlapping labels)."""
    names = name if isinstance(name, (list, tuple)) else [name]
    if not names or not all(isinstance(n, (str, int)) and str(n) for n in names):
        raise LabelError(f"label name(s) {name!r} must be a name or a list of names", where=where)
    return [str(n) for n in names]


def _decode_values(raw: np.ndarray, rule: dict, where) -> dict[str, np.ndarray]:
    labels = rule.get("labels")
    if not isinstance(labels, dict) or not labels:
        raise LabelError("'values' rule needs 'labels': {value: name}", where=where)
    arr = _spatial(raw, False, where)
    if arr.dtype.kind == "f":
        arr = np.rint(arr)
    out: dict[str, np.ndarray] = {}
    for value, name in labels.items():
        try:
            v = int(value)
        except (TypeError, ValueError) as exc:
            raise LabelError(f"label value {value!r} is not an integer", where=where) from exc
        m = arr == v
        for n in _names(name, where):  # a name given to several values is their union
            out[n] = out[n] | m if n in out else m
    return {n: m for n, m in out.items() if m.any()}


def _project_to_simplex(v: np.ndarray) -> np.ndarray:
    """Euclidean projection of each row of ``v`` (n, k) onto the probability simplex (sort-based)."""
    k = v.shape[1]
    u = -np.sort(-v, axis=1)
    css = np.cumsum(u, axis=1) - 1.0
    ind = np.arange(1, k + 1)
    rho = (u - css / ind > 0).sum(axis=1)
    theta = css[np.arange(len(v)), rho - 1] / rho
    return np.maximum(v - theta[:, None], 0.0)


def hull_distance(colours: np.ndarray, palette: np.ndarray, iterations: int = 400) -> np.ndarray:
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


def _colour_sets(labels: dict, background, where) -> tuple[np.ndarray, list[tuple[str, list[int]]]]:
    """(palette (k, 3) of distinct colours with the background last, [(name, palette rows)]): a label
    lists one colour or several (their union); a colour may belong to several labels (overlapping labels,
    e.g. the optic disc including the cup)."""
    colours: list[tuple[float, ...]] = []
    members: list[tuple[str, list[int]]] = []
    for name, value in labels.items():
        several = isinstance(value, (list, tuple)) and bool(value) and isinstance(value[0], (list, tuple))
        group = value if several else [value]
        rows = []
        for c in group:
            try:
                c = tuple(float(v) for v in c)
            except (TypeError, ValueError) as exc:
                raise LabelError(f"colours must be [r, g, b] triples: label '{name}' has {value!r}",
                                 where=where) from exc
            if len(c) != 3:
                raise LabelError(f"colours must be [r, g, b] triples: label '{name}' has {value!r}", where=where)
            if c not in colours:
                colours.append(c)
            rows.append(colours.index(c))
        members.append((str(name), rows))
    try:
        bg = tuple(float(v) for v in background)
    except (TypeError, ValueError) as exc:
        raise LabelError(f"background must be an [r, g, b] triple, got {background!r}", where=where) from exc
    if len(bg) != 3:
        raise LabelError(f"background must be an [r, g, b] triple, got {background!r}", where=where)
    if bg in colours:
        raise LabelError(f"a label has the background colour {tuple(int(v) for v in bg)}", where=where)
    return np.array(colours + [bg], dtype=np.float64), members


def _unlisted_message(colours, counts, dist, bad, palette, members, max_distance, blends) -> str:
    """Every unlisted colour (the 5 most frequent spelt out) with its distance and what would accept it."""
    names = {}
    for name, rows in members:
        for r in rows:
            names.setdefault(r, name)
    order = np.flatnonzero(bad)[np.argsort(-counts[bad], kind="stable")]
    parts = []
    for i in order[:5]:
        j = int(np.argmin(np.linalg.norm(palette - colours[i], axis=1)))
        target = f"'{names[j]}'" if j in names else "the background"
        c = tuple(int(v) for v in colours[i])
        parts.append(f"label colour {c} not in the map ({int(counts[i])} px): {dist[i]:.0f} from {target} "
                     f"{tuple(int(v) for v in palette[j])}: raise max_distance to >= {int(np.ceil(dist[i]))} or "
                     "add the colour")
    more = f"; and {len(order) - 5} more colour(s)" if len(order) > 5 else ""
    need = int(np.ceil(dist[bad].max()))
    how = "its nearest listed colour or mix of listed colours" if blends else "its nearest listed colour"
    return (f"{int(bad.sum())} unlisted colour(s), {int(counts[bad].sum())} pixels (distance to {how}, "
            f"max_distance {max_distance:g}): " + "; ".join(parts) + more
            + f". max_distance >= {need} accepts them all")


def _decode_colours(raw: np.ndarray, rule: dict, where) -> dict[str, np.ndarray]:
    labels = rule.get("labels")
    if not isinstance(labels, dict) or not labels:
        raise LabelError("'colours' rule needs 'labels': {name: [r, g, b] or [[r, g, b], ...]}", where=where)
    if raw.ndim < 3 or raw.shape[-1] not in (3, 4):
        raise LabelError(f"'colours' rule needs an RGB label, got shape {raw.shape}", where=where)
    palette, members = _colour_sets(labels, rule.get("background", [0, 0, 0]), where)
    max_distance = float(rule.get("max_distance", 60))
    blends = bool(rule.get("blends", True))
    rgb = np.asarray(raw[..., :3])
    if rgb.dtype.kind == "f":
        rgb = np.rint(rgb)
    if rgb.min() < 0 or rgb.max() > 255:
        raise LabelError(f"colour labels must hold 8-bit values, got {rgb.min()}..{rgb.max()}", where=where)
    rgb = rgb.astype(np.int64)
    packed = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
    uniq, inverse, counts = np.unique(packed.ravel(), return_inverse=True, return_counts=True)
    colours = np.stack([(uniq >> 16) & 255, (uniq >> 8) & 255, uniq & 255], axis=1).astype(np.float64)
    dist_all = np.sqrt(((colours[:, None, :] - palette[None, :, :]) ** 2).sum(-1))
    nearest = dist_all.argmin(axis=1)
    dist = dist_all.min(axis=1)
    bad = dist > max_distance
    if bad.any() and blends and len(palette) > 1:
        idx = np.flatnonzero(bad)
        dist[idx] = np.minimum(dist[idx], hull_distance(colours[idx], palette))
        bad = dist > max_distance
    if bad.any():
        raise LabelError(_unlisted_message(colours, counts, dist, bad, palette, members, max_distance, blends),
                         where=where)
    cls = nearest[inverse].reshape(packed.shape)
    out = {}
    for name, rows in members:
        m = np.isin(cls, rows)
        if m.any():
            out[name] = out[name] | m if name in out else m
    return out


def _check_finite(arr: np.ndarray, where) -> None:
    """A float label holding NaN or inf raises LabelError (a NaN would silently become some instance id)."""
    if arr.dtype.kind == "f":
        bad = int(np.count_nonzero(~np.isfinite(arr)))
        if bad:
            raise LabelError(f"label holds {bad} NaN or infinite values; labels must be finite numbers",
                             where=where)


def instance_masks(raw, *, where=None) -> dict[int, np.ndarray]:
    """Instance label array (y, x) / (z, y, x) with 0 = background -> {instance id: bool mask}, ids sorted.
    A float array holding NaN/inf raises LabelError naming ``where``."""
    arr = np.asarray(raw)
    _check_finite(arr, where)
    if arr.dtype.kind == "f":
        arr = np.rint(arr).astype(np.int64)
    ids = np.unique(arr)
    return {int(i): arr == i for i in ids if i != 0}


def decode_label(raw, rule: dict, *, where=None, allow_empty: bool = False) -> dict[str, np.ndarray]:
    """Decode a raw label array with a manifest rule (see the module docstring) into {name: bool mask}.

    raw:   the array from :func:`samwidgets.io.load_label_array`: (y, x), (y, x, 3), (z, y, x) or
           (z, y, x, 3).
    where: the label file or case id, named in errors.
    allow_empty: return {} instead of raising when no listed label is present (one of several label files
           of a case may lack its label).
    Returns masks of the spatial shape ((y, x) or (z, y, x)); labels absent from the file are left out.
    Raises LabelError for a malformed rule, an unlisted colour, an unclosed outline, NaN/inf values or an
    empty label.
    """
    if not isinstance(rule, dict) or "type" not in rule:
        raise LabelError(f"a label rule is a dict with a 'type' (one of {', '.join(RULE_TYPES)})", where=where)
    arr = np.asarray(raw)
    if arr.dtype.kind not in "biuf" or arr.size == 0:
        raise LabelError(f"label array of dtype {arr.dtype} and shape {arr.shape} cannot be decoded", where=where)
    _check_finite(arr, where)
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
    if not out and not allow_empty:
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
