"""The viewer's click-robustness heat overlay (issue 12 §3): the Dice of a single positive click at each
point of a grid over the current object, computed by :func:`samwidgets.evaluation.sensitivity.click_map`
on the slice's cached embedding, drawn as a heat layer with a colour bar (numpy only here; no widgets).

The object is the ground-truth label shown on the slice; without one on this slice, the current mask
(then the map says how robustly one click reproduces the current segmentation). Maps are kept per
(slice z, object) until the prompts or the label change.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: colour stops of the map (Dice 0 -> red, 0.5 -> yellow, 1 -> green), RGB
STOPS = ((0.0, (215, 48, 39)), (0.5, (254, 224, 139)), (1.0, (26, 152, 80)))
ALPHA = 0.6


def colour_table() -> np.ndarray:
    """(256, 3) uint8 RGB for scores 0..1 (linear between STOPS)."""
    x = np.linspace(0.0, 1.0, 256)
    pos = [s for s, _ in STOPS]
    return np.stack([np.interp(x, pos, [c[i] for _, c in STOPS]) for i in range(3)], axis=1).round().astype(np.uint8)


def heat_rgba(values: np.ndarray, *, alpha: float = ALPHA) -> np.ndarray:
    """(H, W, 4) uint8 straight-alpha RGBA of an (H, W) score map in 0..1 (NaN = transparent)."""
    v = np.asarray(values, float)
    out = np.zeros(v.shape + (4,), np.uint8)
    ok = np.isfinite(v)
    idx = np.clip(np.round(v[ok] * 255), 0, 255).astype(int)
    out[ok, :3] = colour_table()[idx]
    out[ok, 3] = int(round(alpha * 255))
    return out


def colour_bar_html(summary: dict | None, *, complete: bool = True) -> str:
    """A horizontal colour bar (Dice 0 .. 1) with the map's summary: safe click area, centre, best, worst."""
    stops = ", ".join(f"rgb{c} {int(s * 100)}%" for s, c in STOPS)
    bar = (f'<div style="width:220px;height:10px;background:linear-gradient(to right, {stops})"></div>'
           '<div style="width:220px;display:flex;justify-content:space-between;font-size:10px">'
           '<span>0</span><span>Dice of one click</span><span>1</span></div>')
    if not summary:
        return bar
    parts = []
    if np.isfinite(summary.get("safe_share", np.nan)):
        parts.append(f"safe click area {100 * summary['safe_share']:.0f} %")
    if summary.get("centre_score") is not None:
        parts.append(f"centre click {summary['centre_score']:.2f}")
    if "best_score" in summary:
        parts.append(f"best {summary['best_score']:.2f}, worst {summary['worst_score']:.2f}")
    if not complete:
        parts.append("cancelled: partial map")
    return bar + f'<div style="font-size:11px;color:#555">{" · ".join(parts)}</div>'


@dataclass
class HeatEntry:
    key: tuple          # (z, what the object is, identity of its array)
    rgba: np.ndarray    # (H, W, 4)
    summary: dict
    complete: bool


def heat_object(session, z: int) -> tuple[tuple, np.ndarray]:
    """(key, bool (H, W) object) whose map is drawn on slice z of ``session``: the shown ground-truth label
    there, else the current mask. PromptError when there is neither."""
    from samwidgets.errors import PromptError
    from samwidgets.widgets.observable import slice_label

    if session.gt_label is not None:
        g = session.ground_truth[session.gt_label]
        g = g[z] if session.is_3d else g
        if g.any():
            return (z, "ground truth", session.gt_label), g
    state = session.state_of(z)
    mask = None if state.empty else session.mask_of(z)
    if mask is None or not mask.any():
        raise PromptError(f"no object on {slice_label(z, session.n_slices)}: a click-robustness map needs its "
                          "ground truth or a mask", where=session.source or "image")
    return (z, "mask", state), mask


def click_robustness(session, z: int, *, rng: np.random.Generator, n_per_side: int = 24, progress=None,
                     cancel=None):
    """The click-robustness map (samwidgets.evaluation.sensitivity.click_map, a ClickMap) of
    :func:`heat_object` on slice z, decoded in batches on the slice's cached embedding."""
    from samwidgets.evaluation.sensitivity import click_map

    _, obj = heat_object(session, z)
    return click_map(session.predictor, session.embedder.get(z), obj, n_per_side=n_per_side, rng=rng,
                     progress=progress, cancel=cancel)


class HeatMaps:
    """Computed maps by slice; :meth:`rgba` gives the overlay of slice z when its object is unchanged."""

    def __init__(self):
        self._maps: dict[int, HeatEntry] = {}

    def store(self, z: int, key: tuple, click_map) -> HeatEntry:
        entry = HeatEntry(key, heat_rgba(click_map.filled()), dict(click_map.summary), bool(click_map.complete))
        self._maps[z] = entry
        return entry

    def get(self, z: int, key: tuple) -> HeatEntry | None:
        entry = self._maps.get(z)
        return entry if entry is not None and entry.key == key else None
