"""Guess how a set of label files encodes its labels: the label rule ``manifest init`` writes.

Given the label files of one label set (all masks in ``masks/``, all ``*_seg.nii.gz``, ...), read them
through :func:`samwidgets.io.load_label_array` and pick the :mod:`samwidgets.io.labels` rule that decodes
them:

- grey (or RGB with equal channels) with one foreground value 1: ``values {1: name}``; one value v > 1
  (0/255 masks): ``threshold`` at (v - 1) // 2;
- grey with a few clean integer values (at least 30% of the pixels of the other values lie inside regions
  of their value): ``values`` with one name each (up to 8 values); more distinct values per file than 15,
  or values above 255: ``instances``;
- grey where 90% of the foreground lies within 64 of the top value (JPEG noise, anti-aliasing, shaded 0/255
  masks): ``threshold`` at 127 for 8-bit foregrounds, else half the most common bright value;
- a thresholded mask that is a thin closed outline (filling it at least doubles it, mostly through one
  hole, and two erosions leave under a fifth of the line): ``outline_fill``, with the smallest ``close``
  (0-5) that closes every sampled outline;
- colour: the class colours are the colours with "interior" pixels (pixels whose four neighbours have the
  same colour) taken in order of interior count and at least 40 apart (anti-aliased edges have almost no
  interior pixels); for JPEG-noisy masks, whose flat regions are not exactly flat, the mean colour of each
  32-level colour bin with interior pixels, unless it is a mix of colours already found; a palette image
  lists its palette colours; the background is the class colour nearest black; ``max_distance`` is the
  largest distance of any other colour from its nearest class colour or mix of class colours (``blends``),
  rounded up, plus a margin of 5, at least 30;
- a binary set whose every sampled mask covers at least 30% of its image as one solid region is marked
  ``fov_like`` (a field of view when the images have another label set).

Every detection returns the rule, one line saying what was seen, and what the user must confirm.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import ndimage as ndi

from samwidgets.errors import ManifestError, SamwidgetsError
from samwidgets.io import load_label_array
from samwidgets.io._common import detect_format
from samwidgets.io.labels import hull_distance

MAX_FILES = 300          # colour label files read per set (rare classes must be seen)
MAX_GREY_FILES = 40      # grey label files read per set for value statistics
MAX_FILES_3D = 24        # volumes are slower to read
OUTLINE_SAMPLE = 12      # files checked for outlines and fields of view
CENTRE_SEPARATION = 40.0
MIN_INTERIOR = 20        # interior pixels a colour needs to count as a class colour
MIN_MAX_DISTANCE = 30

COLOUR_NAMES = {
    (255, 0, 0): "red", (0, 255, 0): "green", (0, 0, 255): "blue", (255, 255, 0): "yellow",
    (0, 255, 255): "cyan", (255, 0, 255): "magenta", (255, 255, 255): "white", (128, 128, 128): "grey",
    (255, 128, 0): "orange", (128, 0, 128): "purple", (0, 128, 0): "dark_green", (128, 0, 0): "maroon",
    (0, 0, 128): "navy", (128, 128, 0): "olive", (0, 128, 128): "teal", (192, 192, 192): "silver",
}


@dataclass
class Encoding:
    """What :func:`detect_encoding` found: ``rule`` (a label rule), ``summary`` (one line), ``confirm``
    (what the user must check), and facts used by the caller: ``binary`` (one foreground class) and
    ``fov_like`` (every sampled mask covers most of its image as one solid region)."""

    rule: dict
    summary: str
    confirm: list[str] = field(default_factory=list)
    binary: bool = False
    fov_like: bool = False


def _sample(paths: list[Path], n: int) -> list[Path]:
    if len(paths) <= n:
        return list(paths)
    idx = np.linspace(0, len(paths) - 1, n).round().astype(int)
    return [paths[i] for i in sorted(set(idx.tolist()))]


def _is_palette(path: Path) -> bool:
    if not path.name.lower().endswith((".png", ".gif")):
        return False
    from PIL import Image as PILImage

    try:
        with PILImage.open(path) as im:
            return im.mode in ("P", "PA")
    except Exception:  # noqa: BLE001 - unreadable files are reported by the reader later
        return False


def _as_grey(raw: np.ndarray, path: Path) -> np.ndarray | None:
    """(y, x) / (z, y, x) grey array, or None when the file holds real colours."""
    if detect_format(path) == "raster" and raw.ndim >= 3 and raw.shape[-1] in (3, 4):
        rgb = raw[..., :3]
        if np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 0], rgb[..., 2]):
            return rgb[..., 0]
        return None
    return raw


def _interior(packed: np.ndarray) -> np.ndarray:
    """Bool (y, x): the pixel equals its four neighbours (border pixels are never interior)."""
    inner = np.zeros(packed.shape, bool)
    c = packed[1:-1, 1:-1]
    inner[1:-1, 1:-1] = ((c == packed[:-2, 1:-1]) & (c == packed[2:, 1:-1])
                         & (c == packed[1:-1, :-2]) & (c == packed[1:-1, 2:]))
    return inner


def _colour_name(rgb: tuple[int, int, int], taken: set[str]) -> str:
    name = COLOUR_NAMES.get(tuple(rgb), "colour_{}_{}_{}".format(*rgb))
    base, i = name, 2
    while name in taken:
        name, i = f"{base}_{i}", i + 1
    taken.add(name)
    return name


def _snap(c: np.ndarray) -> list[int]:
    """A class colour with channels within 6 of 0 or 255 moved onto them (JPEG shifts pure colours)."""
    out = c.copy()
    out[out <= 6] = 0
    out[out >= 249] = 255
    return [int(v) for v in out]


def _colour_stats(colour_files) -> tuple[dict, dict, dict]:
    """(pixel count per colour, interior count per colour, {32-level bin: [interior count, r, g, b sums]})
    over every plane of every file; colours are packed 0xRRGGBB."""
    counts: dict[int, int] = {}
    interior: dict[int, int] = {}
    bins: dict[int, list] = {}
    for _, rgb in colour_files:
        planes = rgb.reshape((-1,) + rgb.shape[-3:]) if rgb.ndim == 4 else rgb[None]
        for plane in planes:
            p = plane[..., :3].astype(np.int64)
            packed = (p[..., 0] << 16) | (p[..., 1] << 8) | p[..., 2]
            for store, values in ((counts, packed), (interior, packed[_interior(packed)])):
                u, c = np.unique(values, return_counts=True)
                for k, v in zip(u.tolist(), c.tolist()):
                    store[k] = store.get(k, 0) + v
            q = p >> 5  # JPEG noise breaks exact interiors; 32-level bins keep them
            qpacked = (q[..., 0] << 6) | (q[..., 1] << 3) | q[..., 2]
            inner = _interior(qpacked)
            qv = qpacked[inner]
            n = np.bincount(qv, minlength=512)
            sums = [np.bincount(qv, weights=p[..., ch][inner], minlength=512) for ch in range(3)]
            for b in np.flatnonzero(n).tolist():
                entry = bins.setdefault(b, [0, 0.0, 0.0, 0.0])
                entry[0] += int(n[b])
                for ch in range(3):
                    entry[ch + 1] += float(sums[ch][b])
    return counts, interior, bins


def _centres(interior: dict, bins: dict) -> list[np.ndarray]:
    """Class colours: exact colours with interior pixels first, then (for JPEG-noisy masks) the mean colour
    of 32-level bins with interior pixels unless it is a mix of the colours already found."""
    centres: list[np.ndarray] = []
    exact = sorted(((n, k) for k, n in interior.items() if n >= MIN_INTERIOR), reverse=True)
    for _, k in exact:
        c = np.array([(k >> 16) & 255, (k >> 8) & 255, k & 255], dtype=np.float64)
        if all(np.linalg.norm(c - q) >= CENTRE_SEPARATION for q in centres):
            centres.append(c)
    for n, r, g, b in sorted((v for v in bins.values() if v[0] >= MIN_INTERIOR), reverse=True):
        c = np.array([r, g, b], dtype=np.float64) / n
        if all(np.linalg.norm(c - q) >= CENTRE_SEPARATION for q in centres) and (
                len(centres) < 2 or hull_distance(c[None], np.array(centres))[0] > CENTRE_SEPARATION / 2):
            centres.append(np.rint(c))
    return centres


def _colour_rule(colour_files: list[tuple[Path, np.ndarray]], palette: bool) -> Encoding:
    counts, interior, bins = _colour_stats(colour_files)
    keys = np.array(sorted(counts), dtype=np.int64)
    colours = np.stack([(keys >> 16) & 255, (keys >> 8) & 255, keys & 255], axis=1).astype(np.float64)
    centres = list(colours) if palette and len(keys) <= 32 else _centres(interior, bins)
    centres_arr = np.array([_snap(c) for c in centres], dtype=np.float64)
    bg_index = int(np.argmin(np.linalg.norm(centres_arr, axis=1)))
    background = [int(v) for v in centres_arr[bg_index]]
    classes = [c for i, c in enumerate(centres_arr) if i != bg_index]
    taken: set[str] = set()
    labels = {_colour_name(tuple(int(v) for v in c), taken): [int(v) for v in c] for c in classes}
    near = np.sqrt(((colours[:, None, :] - centres_arr[None]) ** 2).sum(-1)).min(axis=1)
    far = near > MIN_MAX_DISTANCE
    residual = near.copy()
    if far.any() and len(centres_arr) > 1:
        residual[far] = np.minimum(near[far], hull_distance(colours[far], centres_arr))
    max_distance = max(MIN_MAX_DISTANCE, int(math.ceil(float(residual.max()) + 5)))
    rule = {"type": "colours", "labels": labels, "background": background, "max_distance": max_distance}
    how = "palette images: colours of the palette" if palette else "RGB colour classes"
    noise = f"{len(keys)} distinct colours" + (" (noisy or anti-aliased edges)" if len(keys) > len(centres) else "")
    summary = f"{how}, {len(labels)} class(es) + background {tuple(background)}; {noise}; " \
              f"max_distance {max_distance}"
    confirm = ["label names (named after their colours)"]
    if max_distance > CENTRE_SEPARATION:
        confirm.append(f"colour tolerance max_distance {max_distance}: colours far from every class were seen")
    return Encoding(rule=rule, summary=summary, confirm=confirm, binary=len(labels) == 1)


def _grey_stats(greys: list[np.ndarray]) -> tuple[dict[int, int], list[int], bool]:
    counts: dict[int, int] = {}
    per_file: list[int] = []
    integral = True
    for g in greys:
        if g.dtype.kind == "f":
            if not np.array_equal(g, np.rint(g)):
                integral = False
            g = np.rint(g)
        u, c = np.unique(g, return_counts=True)
        per_file.append(int((u != 0).sum()))
        for k, v in zip(u.tolist(), c.tolist()):
            counts[int(k) if integral else k] = counts.get(int(k) if integral else k, 0) + v
    return counts, per_file, integral


def _interior_share(greys: list[np.ndarray], values: list[int]) -> float:
    """Share of the pixels holding one of ``values`` that lie inside a region of their value (the pixel
    equals its four neighbours): high for label maps and instances, near 0 for JPEG noise and blurred edges."""
    inside = total = 0
    wanted = np.array(values)
    for g in greys[:OUTLINE_SAMPLE]:
        for plane in (g if g.ndim == 3 else g[None]):
            m = np.isin(plane, wanted)
            total += int(m.sum())
            inside += int((m & _interior(np.asarray(plane))).sum())
    return inside / total if total else 0.0


def _binary_rule(counts: dict, name: str) -> dict:
    nz = sorted(k for k in counts if k != 0)
    if nz == [1]:
        return {"type": "values", "labels": {1: name}}
    if len(nz) == 1:
        return {"type": "threshold", "threshold": (int(nz[0]) - 1) // 2, "name": name}
    top = max(nz)
    if top >= 200:
        return {"type": "threshold", "threshold": 127, "name": name}
    hi = max((k for k in nz if k >= top / 2), key=lambda k: counts[k])
    return {"type": "threshold", "threshold": int(hi) // 2, "name": name}


def _threshold_masks(greys: list[np.ndarray], rule: dict) -> list[np.ndarray]:
    from samwidgets.io.labels import decode_label

    out = []
    for g in greys:
        try:
            out.append(np.any(list(decode_label(g, rule).values()), axis=0))
        except Exception:  # noqa: BLE001 - an empty mask: nothing to learn from it
            continue
    return out


def _holes(m: np.ndarray) -> tuple[np.ndarray, int]:
    """(labelled holes, largest hole area) of a 2D mask: background components not touching the border
    (what ``ndi.binary_fill_holes`` fills, 4-connected background), found with one labelling pass."""
    lab, n = ndi.label(~m)
    if n == 0:
        return np.zeros(m.shape, np.int32), 0
    border = np.unique(np.concatenate([lab[0], lab[-1], lab[:, 0], lab[:, -1]]))
    sizes = np.bincount(lab.ravel(), minlength=n + 1)
    sizes[border] = 0
    sizes[0] = 0
    holes = np.where(sizes[lab] > 0, lab, 0)
    return holes, int(sizes.max())


def _is_outline(m: np.ndarray) -> bool:
    """A drawn outline: filling at least doubles it, mostly through one hole, and the line is thin (two
    erosions leave less than a fifth of it; a thick ring such as a myocardium is a label, not an outline)."""
    holes, biggest = _holes(m)
    area = int((holes > 0).sum())
    if area < m.sum() or biggest < 0.5 * area:
        return False
    return ndi.binary_erosion(m, iterations=2).sum() < 0.2 * m.sum()


def _outline_close(masks: list[np.ndarray]) -> int | None:
    """The ``close`` that makes every mask a filled outline, or None when they are not outlines."""
    votes, needed, seen = 0, 0, 0
    for m in masks:
        if m.ndim != 2 or not m.any():
            continue
        seen += 1
        if _is_outline(m):
            votes += 1
            continue
        if m.mean() > 0.1 or ndi.label(m)[1] > 4:  # thick or scattered: no outline to close
            continue
        for close in range(1, 6):
            if _is_outline(ndi.binary_closing(m, iterations=close) | m):
                votes, needed = votes + 1, max(needed, close)
                break
    return needed if seen and votes >= max(1, 0.8 * seen) else None


def _fov_like(masks: list[np.ndarray]) -> bool:
    if not masks:
        return False
    for m in masks:
        if m.ndim != 2 or m.mean() < 0.3 or ndi.label(m)[1] != 1 or _holes(m)[1] > 0.01 * m.sum():
            return False
    return True


def _grey_rule(greys: list[np.ndarray], name: str) -> Encoding:
    counts, per_file, integral = _grey_stats(greys)
    nz = sorted(k for k in counts if k != 0)
    if not nz:
        return Encoding(rule={"type": "threshold", "threshold": 0, "name": name},
                        summary="every sampled label file is empty", confirm=["the label files hold no label"])
    if not integral:
        lo, hi = min(counts), max(counts)
        rule = {"type": "threshold", "threshold": float((lo + hi) / 2), "name": name}
        return Encoding(rule=rule, summary=f"soft masks {lo:g}..{hi:g}: threshold at the midpoint", binary=True)
    hi = max(nz, key=lambda k: counts[k])
    others = [v for v in nz if v != hi]
    n_fg = sum(counts[v] for v in nz)
    # a bright foreground (JPEG-noisy or shaded 0/255 masks): most foreground pixels near the top value
    bright = max(nz) >= 128 and sum(counts[v] for v in nz if v >= max(nz) - 64) >= 0.9 * n_fg
    regions = not bright and bool(others) and _interior_share(greys, others) >= 0.3  # values form regions
    if regions and (max(nz) > 255 or float(np.median(per_file)) > 15):
        rule = {"type": "instances", "name": name}
        summary = f"instance labels (up to {max(per_file)} objects per file): their union"
        return Encoding(rule=rule, summary=summary, confirm=["instance labels: the union is one label"])
    if regions and len(nz) <= 8:
        rule = {"type": "values", "labels": {int(v): f"label_{v}" for v in nz}}
        return Encoding(rule=rule, summary=f"{len(nz)} integer label values {nz}",
                        confirm=["label names (named after their values)"])
    rule = _binary_rule(counts, name)
    kind = "0/1 mask" if rule["type"] == "values" else (
        f"binary mask 0/{nz[0]}" if len(nz) == 1 else f"binary mask with {len(nz) + 1} grey levels "
        "(JPEG noise or anti-aliasing)")
    masks = _threshold_masks(greys[:OUTLINE_SAMPLE], rule)
    close = _outline_close(masks)
    if close is not None and rule["type"] == "threshold":
        rule = {"type": "outline_fill", "threshold": rule["threshold"], "name": name, "close": close}
        return Encoding(rule=rule, summary=f"{kind} drawing closed outlines: filled",
                        confirm=["outlines are filled (the label is the enclosed region)"], binary=True)
    return Encoding(rule=rule, summary=kind + (f", threshold {rule['threshold']}" if "threshold" in rule else ""),
                    binary=True, fov_like=_fov_like(masks))


def _read(paths: list[Path], key: str) -> tuple[list, list]:
    """(colour files, grey files) as (path, array); files that cannot be read are left out here (``manifest
    validate`` names them with the reader's reason)."""
    colour_files, greys = [], []
    for p in paths:
        try:
            raw = load_label_array(p, key=key)
        except SamwidgetsError:
            continue
        grey = _as_grey(raw, p)
        if grey is None:
            colour_files.append((p, raw))
        else:
            greys.append((p, grey))
    return colour_files, greys


def detect_encoding(paths: list[Path], *, name: str = "foreground", key: str = "gts") -> Encoding:
    """The label rule for the label files ``paths`` (one label set; ``key``: the npz array of labels).

    ``name`` names a single-class label. Colour files are analysed as colours, the others as grey values
    (see the module docstring). Raises the reader's ImageReadError for an unreadable file.
    """
    paths = list(paths)
    if not paths:
        raise ManifestError("no label file to analyse")
    three_d = any(detect_format(p) in ("nifti", "npz", "itk") for p in paths[:1])
    chosen = _sample(paths, MAX_FILES_3D if three_d else MAX_GREY_FILES)
    colour_files, greys = _read(chosen, key)
    if colour_files and len(colour_files) >= len(greys):
        if not three_d and len(paths) > len(chosen):  # every colour must be seen: read more files
            more = [p for p in _sample(paths, MAX_FILES) if p not in set(chosen)]
            extra_colour, extra_grey = _read(more, key)
            colour_files, greys = colour_files + extra_colour, greys + extra_grey
        palette = all(_is_palette(p) for p, _ in colour_files[:5])
        # grey files of a colour set (only black, or only a white class) count with their grey as a colour
        colour_files += [(p, np.repeat(g[..., None], 3, axis=-1)) for p, g in greys if g.ndim == 2]
        return _colour_rule(colour_files, palette)
    if not greys:
        raise ManifestError(f"none of the {len(chosen)} label file(s) read can be decoded", where=chosen[0].parent)
    return _grey_rule([g for _, g in greys], name)
