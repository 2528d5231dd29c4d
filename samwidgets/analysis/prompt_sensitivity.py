"""The "prompt sensitivity" report section: click-robustness maps of chosen objects, the safe-click area
per modality, the box-plus-click interaction, and box-sensitivity curves.

The objects are results rows (one object on one slice each; 3D labels on their largest slice); their image
slice and ground truth are opened as the failure gallery does (:func:`samwidgets.analysis.gallery.build_items`,
no replay) and every map decodes against ONE embedding of that slice, through the sweep's embedding cache
(:mod:`samwidgets.evaluation.sensitivity`). Besides the map, each object gets the scores of the tight box
alone and of the tight box plus one positive click at the distance-transform centre, which show the
interaction "adding a positive point to a good box" (on LiteMedSAM, trained with boxes only, it can collapse
the mask): a map made with the box already decoded both (its summary's ``box_score`` and ``centre_score``),
otherwise they are two more decodes. Points are xy pixels, boxes xyxy, maps (H, W).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from samwidgets.analysis.gallery import GalleryItem, build_items, _load_predictor
from samwidgets.analysis.results import UNIT, final_step, ok_rows
from samwidgets.evaluation.sensitivity import SAFE_SCORE, ClickMap, click_map, decode_scores
from samwidgets.prompts import box_from_mask

#: the columns of :func:`sensitivity_table`: the object's identity, then its map summary and box scores
TABLE_COLUMNS = ["modality", *UNIT, "model", "safe_share", "centre_score", "best_score", "worst_score",
                 "box_score", "box_click_score", "n_points"]


@dataclass
class SensitivityItem:
    """One mapped object: the gallery item (row, image, gt), its click map (None if it could not be made),
    the tight box's score alone and with a positive centre click, and a note when something failed."""

    item: GalleryItem
    map: ClickMap | None = None
    box_score: float = float("nan")
    box_click_score: float = float("nan")
    note: str = ""


def objects_to_map(df: pd.DataFrame, *, per_modality: int = 3, protocol: str = "box") -> pd.DataFrame:
    """Up to ``per_modality`` objects per modality from the final-step rows of ``protocol``, in table order:
    per-slice rows only; a 3D label is represented by its slice with the largest object (``obj_px`` when the
    table has it, else its middle row)."""
    d = final_step(ok_rows(df))
    d = d[(d["protocol"] == protocol) & (d["slice"] >= 0)]
    if d.empty:
        return d
    key = ["dataset", "case", "label", "model"]
    if "obj_px" in d and d["obj_px"].notna().any():
        d = d.loc[d.fillna({"obj_px": -1}).groupby(key, sort=False)["obj_px"].idxmax()]
    else:
        d = d.groupby(key, sort=False, group_keys=False).apply(lambda g: g.iloc[[len(g) // 2]])
    return d.groupby("modality", sort=True).head(int(per_modality)).reset_index(drop=True)


def sensitivity_items(rows: pd.DataFrame, *, n_per_side: int = 12, with_box: bool = False, device: str = "cpu",
                      cache_dir=None, predictors: dict | None = None, rng: np.random.Generator,
                      progress=None) -> list[SensitivityItem]:
    """Click-robustness map (a click alone, or with the tight box when ``with_box``) + the box and
    box+centre-click scores for each row's object (one slice). A row that cannot be mapped (no image,
    box-only model, a decode error) keeps a ``note``."""
    predictors = {} if predictors is None else predictors
    out = []
    for item in build_items(rows, replay=False, device=device, cache_dir=cache_dir, cache_panels=False):
        s = SensitivityItem(item)
        out.append(s)
        if item.image is None or item.gt is None or not item.gt.any():
            s.note = item.note or "no object on this slice"
            continue
        try:
            model = str(item.row["model"])
            if model not in predictors:
                predictors[model] = _load_predictor(model, device=device, cache_dir=cache_dir)
            pred = predictors[model]
            emb = pred.encode(item.image)
            s.map = click_map(pred, emb, item.gt, n_per_side=n_per_side, with_box=with_box, rng=rng)
            s.box_score, s.box_click_score = _box_scores(pred, emb, item.gt, s.map)
        except Exception as exc:  # one object must not sink the section
            s.note = f"cannot map: {exc}"
        if progress is not None:
            progress(len(out), len(rows))
    return out


def _box_scores(pred, emb, gt: np.ndarray, cmap: ClickMap) -> tuple[float, float]:
    """(tight box alone, tight box + positive click at the map's centre) Dice on the (H, W) object ``gt``.
    A map made with the box holds both already (the same decodes: its box_score and centre_score)."""
    if cmap.box_xyxy is not None:
        return float(cmap.summary["box_score"]), float(cmap.summary["centre_score"])
    box = box_from_mask(gt)
    centre = np.asarray(cmap.summary["centre_xy"], float)
    return (float(decode_scores(pred, emb, gt, boxes_xyxy=box[None])[0]),
            float(decode_scores(pred, emb, gt, points_xy=centre[None], box_xyxy=box)[0]))


def sensitivity_table(items: list[SensitivityItem]) -> pd.DataFrame:
    """One row per mapped object: TABLE_COLUMNS (scores are Dice; safe_share in [0, 1])."""
    rows = []
    for s in items:
        if s.map is None:
            continue
        r, m = s.item.row, s.map.summary
        rows.append({"modality": r["modality"], "dataset": r["dataset"], "case": r["case"], "label": r["label"],
                     "slice": int(r["slice"]), "model": r["model"], "safe_share": m["safe_share"],
                     "centre_score": m["centre_score"], "best_score": m.get("best_score", np.nan),
                     "worst_score": m.get("worst_score", np.nan), "box_score": s.box_score,
                     "box_click_score": s.box_click_score, "n_points": m["n_points"]})
    return pd.DataFrame(rows, columns=TABLE_COLUMNS)


def _pct(value) -> str:
    return "–" if value is None or not np.isfinite(value) else f"{value:.0%}"


def plot_click_maps(items: list[SensitivityItem], *, ncols: int = 4, panel_size: float = 3.2) -> Figure:
    """Each object: its slice (grey), the map as a heat overlay (Dice of one click there, with the box when the
    map was made with it; red 0 .. green 1), the ground-truth contour (white), the box (yellow, if any), the
    distance-transform centre (o) and the best click (*), one colour bar."""
    from matplotlib.patches import Rectangle

    shown = [s for s in items if s.map is not None] or items[:1]
    n = max(1, len(shown))
    ncols = max(1, min(ncols, n))
    nrows = -(-n // ncols)
    fig = Figure(figsize=(panel_size * ncols + 0.8, (panel_size + 0.5) * nrows), layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False).ravel())
    heat = None
    for ax in axes:
        ax.set_axis_off()
    for ax, s in zip(axes, shown):
        if s.map is None:
            ax.text(0.5, 0.5, s.note or "nothing to map", ha="center", va="center", fontsize=7, transform=ax.transAxes)
            continue
        img, gt, m = s.item.image, s.item.gt, s.map
        ys, xs = np.nonzero(~np.isnan(m.scores))
        pad = 2 * m.stride
        y0, y1 = max(ys.min() - pad, 0), min(ys.max() + pad + 1, gt.shape[0])
        x0, x1 = max(xs.min() - pad, 0), min(xs.max() + pad + 1, gt.shape[1])
        crop = (slice(y0, y1), slice(x0, x1))
        ext = (x0 - 0.5, x1 - 0.5, y1 - 0.5, y0 - 0.5)
        ax.imshow(img[crop], cmap=None if img.ndim == 3 else "gray", extent=ext, interpolation="nearest")
        heat = ax.imshow(m.filled()[crop], cmap="RdYlGn", vmin=0, vmax=1, alpha=0.55, extent=ext,
                         interpolation="nearest")
        ax.contour(np.arange(x0, x1), np.arange(y0, y1), gt[crop].astype(float), levels=[0.5], colors="white",
                   linewidths=0.9)
        if m.box_xyxy is not None:
            bx0, by0, bx1, by1 = map(float, m.box_xyxy)
            ax.add_patch(Rectangle((bx0, by0), bx1 - bx0, by1 - by0, fill=False, edgecolor="yellow", lw=1.0))
        cx, cy = m.summary["centre_xy"]
        ax.plot(cx, cy, "o", mfc="none", mec="cyan", ms=7, mew=1.5)
        if "best_xy" in m.summary:
            ax.plot(*m.summary["best_xy"], "*", color="yellow", ms=9)
        r = s.item.row
        ax.set_title(f"{str(r['case'])[:28]}\n{r['label']} z={int(r['slice'])} · {r['model']}\n"
                     f"safe {_pct(m.summary['safe_share'])} · centre {m.summary['centre_score']:.2f} · "
                     f"box {s.box_score:.2f} → +click {s.box_click_score:.2f}", fontsize=7)
    if heat is not None:
        label = "Dice of one positive click" + (" + the box" if shown[0].map.box_xyxy is not None else "")
        fig.colorbar(heat, ax=list(axes), shrink=0.6, label=label)
    return fig


def plot_safe_share(table: pd.DataFrame) -> Figure:
    """Safe-click area share (one click there gives Dice >= 0.5) per object, one column per modality."""
    fig = Figure(figsize=(max(5.0, 0.9 * table["modality"].nunique() + 2), 3.8), layout="constrained")
    ax = fig.subplots()
    if table.empty:
        ax.text(0.5, 0.5, "no mapped object", ha="center", va="center", transform=ax.transAxes)
        return fig
    mods = sorted(table["modality"].astype(str).unique())
    rng = np.random.default_rng(0)  # horizontal jitter of the dots only
    for i, mod in enumerate(mods):
        v = table.loc[table["modality"].astype(str) == mod, "safe_share"].to_numpy(float)
        ax.scatter(i + rng.uniform(-0.15, 0.15, len(v)), v, s=18, alpha=0.8)
        ax.hlines(np.nanmedian(v), i - 0.3, i + 0.3, color="black", lw=2)
    ax.set_xticks(range(len(mods)), mods, rotation=30, ha="right")
    ax.set_ylim(-0.03, 1.03)
    ax.set_ylabel(f"share of the object where one click gives Dice ≥ {SAFE_SCORE}")
    ax.set_title("safe click area per object (bar: median)")
    return fig


def plot_box_click(table: pd.DataFrame) -> Figure:
    """Dice of the tight box alone (x) against the same box plus one positive centre click (y), per object."""
    fig = Figure(figsize=(4.6, 4.2), layout="constrained")
    ax = fig.subplots()
    for mod, part in table.groupby("modality"):
        ax.scatter(part["box_score"], part["box_click_score"], s=20, alpha=0.8, label=str(mod))
    ax.plot([0, 1], [0, 1], color="grey", lw=1, ls="--")
    ax.set_xlim(-0.02, 1.02)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("Dice: box alone")
    ax.set_ylabel("Dice: box + one positive centre click")
    if len(table):
        ax.legend(fontsize="small")
    return fig


def box_click_findings(table: pd.DataFrame, *, drop: float = 0.1) -> str:
    """A sentence from the numbers: how many objects lose more than ``drop`` Dice when a positive centre
    click is added to their box, and the largest such loss."""
    t = table.dropna(subset=["box_score", "box_click_score"])
    if t.empty:
        return "No object could be decoded with a box and a click."
    loss = t["box_score"] - t["box_click_score"]
    worse = t[loss > drop]
    text = (f"Adding one positive click at the distance-transform centre to the tight box lowers Dice by more "
            f"than {drop:.1f} on {len(worse)} of {len(t)} objects")
    if len(worse):
        w = worse.loc[(worse["box_score"] - worse["box_click_score"]).idxmax()]
        text += (f"; the largest drop: {w['modality']} {w['case']} ({w['model']}), "
                 f"{w['box_score']:.3f} → {w['box_click_score']:.3f}")
    return text + "."


def plot_box_curves(sides: pd.DataFrame, jitter: pd.DataFrame, *, title: str = "") -> Figure:
    """Left: score as each box side moves (fraction of the object's size, + outwards) from
    :func:`~samwidgets.evaluation.sensitivity.box_side_curves`; right: mean score (band: min..mean) under
    random jitter of every side by up to a px, from :func:`~samwidgets.evaluation.sensitivity.box_jitter_curve`."""
    fig = Figure(figsize=(9, 3.6), layout="constrained")
    ax1, ax2 = fig.subplots(1, 2, sharey=True)
    for side, part in sides.groupby("side", sort=False):
        ax1.plot(100 * part["fraction"], part["score"], marker="o", ms=3, label=str(side))
    ax1.axvline(0, color="grey", lw=1)
    ax1.set_xlabel("side moved (% of object size, + outwards)")
    ax1.set_ylabel("Dice")
    ax1.set_ylim(-0.02, 1.02)
    ax1.legend(fontsize="small")
    ax2.plot(jitter["amplitude"], jitter["mean"], marker="o", color="#377eb8")
    ax2.fill_between(jitter["amplitude"], jitter["min"], jitter["mean"], alpha=0.2, color="#377eb8")
    ax2.set_xlabel("jitter of every side, up to (px)")
    if title:
        fig.suptitle(title, fontsize=9)
    return fig
