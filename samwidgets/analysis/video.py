"""Report helpers for video propagation: run the protocols on a clip, per-frame Dice curves, lost frames.

Rows are those of :func:`samwidgets.evaluation.video.propagate_clip` (one per annotated frame).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from samwidgets.io.image import TIME_AXES, Image
from samwidgets.io.video import Clip


def synthetic_clip(*, n: int = 12, size: int = 96, rng: np.random.Generator) -> Clip:
    """A tiny clip for demonstrations and tests: a textured bright disc drifting across a noisy dark
    background, growing then shrinking; labels (value 1) on every frame. Frames (n, size, size, 3) uint8."""
    yy, xx = np.mgrid[:size, :size]
    frames = np.empty((n, size, size, 3), np.uint8)
    labels = {}
    for t in range(n):
        cx, cy = size * (0.3 + 0.4 * t / max(n - 1, 1)), size * (0.45 + 0.1 * np.sin(t / 2))
        r = size * (0.14 + 0.05 * np.sin(np.pi * t / max(n - 1, 1)))
        disc = (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r
        base = rng.normal(40, 12, (size, size))
        base[disc] = rng.normal(190, 20, int(disc.sum()))
        frames[t] = np.clip(base, 0, 255).astype(np.uint8)[..., None]
        labels[t] = disc.astype(np.uint8)
    image = Image(array=frames, spacing=(1.0, 1.0, 1.0), meta={"axes": TIME_AXES})
    return Clip(image, tuple(f"{t:05d}" for t in range(n)), labels, {1: "disc"}, "synthetic_disc")


def run_protocols(clip: Clip, engines: dict, *, rng: np.random.Generator, value: int | None = None,
                  lost_below: float = 0.5) -> tuple[pd.DataFrame, dict]:
    """Run each ``{protocol: engine}`` on the clip; returns (all rows, {protocol: ClipResult})."""
    from samwidgets.evaluation.video import propagate_clip

    results = {p: propagate_clip(clip, p, e, value=value, rng=rng, lost_below=lost_below) for p, e in engines.items()}
    rows = pd.concat([r.rows for r in results.values()], ignore_index=True) if results else pd.DataFrame()
    return rows, results


def plot_frame_dice(rows: pd.DataFrame, *, lost_below: float = 0.5, metric: str = "dice") -> Figure:
    """Per-frame score of every (model, protocol) against the frame index; the prompted frame(s) dashed,
    lost frames (score below ``lost_below``) marked with crosses."""
    fig = Figure(figsize=(9, 3.4))
    ax = fig.subplots()
    for (model, protocol), part in rows.groupby(["model", "protocol"], sort=True):
        part = part.sort_values("frame")
        line, = ax.plot(part["frame"], part[metric], "o-", ms=3, label=f"{model} · {protocol}")
        lost = part[part[metric] < lost_below]
        ax.plot(lost["frame"], lost[metric], "x", ms=8, color=line.get_color())
        ax.axvline(int(part["start"].iloc[0]), color=line.get_color(), ls="--", lw=0.8)
    ax.axhline(lost_below, color="grey", ls=":", lw=0.8)
    ax.set(xlabel="frame (dashed: prompted frame)", ylabel=metric, ylim=(-0.02, 1.02),
           title=f"{metric} per annotated frame (x: below {lost_below}, tracking lost)")
    ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    return fig


def side_by_side(rows: pd.DataFrame, *, metric: str = "dice") -> pd.DataFrame:
    """Frame x (model · protocol) table of the metric, with the distance from the prompted frame."""
    wide = rows.assign(method=rows["model"].astype(str) + " · " + rows["protocol"].astype(str)).pivot_table(
        index="frame", columns="method", values=metric)
    return wide.round(3)


def plot_frames(clip: Clip, results: dict, frames: list[int], *, value: int | None = None) -> Figure:
    """The given frames with the ground truth (green outline) and each protocol's mask (coloured fill)."""
    from scipy import ndimage as ndi

    frames = list(frames)[:8]
    fig = Figure(figsize=(2.4 * max(len(frames), 1), 2.6))
    axes = np.atleast_1d(fig.subplots(1, max(len(frames), 1)))
    colours = [(1.0, 0.3, 0.2), (0.2, 0.5, 1.0), (1.0, 0.8, 0.1), (0.8, 0.2, 0.9)]
    for ax, t in zip(axes, frames):
        img = clip.image.array[t]
        rgb = np.repeat(img[..., None], 3, -1) if img.ndim == 2 else img
        out = rgb.astype(float) / max(float(rgb.max()), 1.0)
        for (name, res), c in zip(results.items(), colours):
            m = res.masks[t]
            out[m] = 0.55 * out[m] + 0.45 * np.array(c)
        if t in clip.labels:
            gt = clip.mask(t, value)
            edge = gt & ~ndi.binary_erosion(gt, iterations=2)
            out[edge] = (0.1, 1.0, 0.1)
        ax.imshow(out)
        ax.set_title(f"frame {t}", fontsize=8)
        ax.axis("off")
    fig.tight_layout()
    return fig
