"""Failure galleries: for chosen results rows, the image + ground-truth contour + predicted mask + prompts.

The predicted mask is not stored in the results table. It is **recomputed from the prompt log**: the slice is
encoded through the embedding cache (a disk hit after the sweep, so a gallery costs decoder calls only, about
0.1 s a panel) and every prompt set of the log is decoded; the masks of several prompt sets are OR-ed, as the
sweep does for one-box-per-component protocols (Mazurowski mode 4). This keeps the table small and exactly
tied to the prompts a user can replay with :func:`samwidgets.widgets.open_case`. Two honest limits, written on the
panel when they apply:

* protocols that fed previous low-resolution logits back into the decoder (micro-sam with feedback) are
  replayed with the logged points only, so the mask may differ slightly from the scored one;
* a slice whose mask came from propagation (SAM2 video, LiteMedSAM 3D) has no prompt of its own: the panel
  shows the ground truth and says so instead of inventing a mask.

Finished panels (slice, ground truth, replayed mask) are kept in ``<cache_dir>/panels``
(:mod:`samwidgets.analysis.panel_cache`), so a rerun of a gallery opens no image and loads no model.

Coordinates: prompt logs hold xy pixels of the original slice and xyxy boxes; masks and images are (y, x).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from samwidgets.analysis.panel_cache import load_panel, manifest_digests, panel_path, save_panel
from samwidgets.analysis.results import parse_prompt_log
from samwidgets.evaluation.table import case_for_row
from samwidgets.prompts.volume import box3d_from_mask, middle_slice


@dataclass
class GalleryItem:
    """One panel: the row it shows, its slice z, image (y, x[, 3]) uint8, gt and pred (y, x) bool or None."""

    row: pd.Series
    z: int
    image: np.ndarray | None = None
    gt: np.ndarray | None = None
    pred: np.ndarray | None = None
    prompts: list = field(default_factory=list)
    note: str = ""
    index: int | None = None  # position in the gallery table (shown as [i] on the panel)


def display_slice(row, gt_volume: np.ndarray | None = None) -> int:
    """The z to show for a row: its own slice; for a volume row (-1) the logged prompted slice, else the
    middle of the ground truth's z extent (``int((z_max - z_min) / 2 + z_min)``), else 0."""
    if int(row["slice"]) >= 0:
        return int(row["slice"])
    log = parse_prompt_log(row.get("prompt_log"))
    for key in ("slice", "prompted_slice", "z_mid"):
        if log.get(key) is not None and int(log[key]) >= 0:
            return int(log[key])
    if gt_volume is not None and gt_volume.ndim == 3 and gt_volume.any():
        return middle_slice(box3d_from_mask(gt_volume))
    return 0


def _find_label(labels: dict, label) -> np.ndarray:
    if label in labels:
        return labels[label]
    for key, mask in labels.items():
        if str(key) == str(label):
            return mask
    raise KeyError(f"label {label!r} not in the case (labels: {', '.join(map(str, labels))})")


def replay_mask(predictor, image2d: np.ndarray, prompts: list[dict]) -> np.ndarray | None:
    """Decode every prompt set of a prompt log on one slice and OR the best masks: (y, x) bool, or None
    when the log has no usable prompt. ``prompts`` entries use xy pixels / xyxy boxes (Prompt.to_json)."""
    from samwidgets.prompts.types import Prompt

    usable = [Prompt.from_json(p) for p in prompts if p and (p.get("points_xy") or p.get("box_xyxy"))]
    if not usable:
        return None
    emb = predictor.encode(image2d)
    out = None
    for prompt in usable:
        mask = np.asarray(predictor.decode(emb, **prompt.decode_kwargs()).best(), bool)
        out = mask if out is None else (out | mask)
    return out


def build_items(rows: pd.DataFrame, *, replay: bool = True, device: str = "cpu", cache_dir=None,
                predictors: dict | None = None, cache_panels: bool = True) -> list[GalleryItem]:
    """Load image, ground truth and (with ``replay``) the re-decoded prediction for each row.

    Cases are opened from the row's ``manifest``, ``dataset`` and ``case`` (each manifest loaded once).
    Predictors are built once per model (``samwidgets.models.load``) with an :class:`EmbeddingCache` in
    ``<cache_dir>/embeddings`` (the sweep's; see :func:`samwidgets.analysis.cached_sweep.cache_root`); pass
    ``predictors`` to reuse loaded ones.
    With ``cache_panels`` each finished panel is stored under ``<cache_dir>/panels`` and read back next time
    (see :mod:`samwidgets.analysis.panel_cache`).
    A row that cannot be shown gets an item with ``note`` saying why; the gallery never fails as a whole.
    """
    predictors = {} if predictors is None else predictors
    cases: dict = {}
    manifests: dict = {}
    digests = manifest_digests()
    items = []
    for i, (_, row) in enumerate(rows.iterrows()):
        item = GalleryItem(row=row, z=max(int(row["slice"]), 0), index=i)
        cached_at = panel_path(cache_dir, row, replay=replay, digests=digests) if cache_panels else None
        panel = load_panel(cached_at) if cached_at is not None else None
        if panel is not None:
            item.z, item.image, item.gt, item.pred = panel["z"], panel["image"], panel["gt"], panel["pred"]
            item.prompts, item.note = panel["prompts"], panel["note"]
            items.append(item)
            continue
        try:
            key = (str(row["manifest"]), str(row["dataset"]), str(row["case"]))
            if key not in cases:  # each manifest read and validated once
                cases[key] = case_for_row(row, manifests=manifests).load()
            _fill_from_case(item, row, *cases[key])
            if replay and item.prompts and not item.note:
                _replay_item(item, row, predictors, device=device, cache_dir=cache_dir)
            if cached_at is not None:
                save_panel(cached_at, z=item.z, image=item.image, gt=item.gt, pred=item.pred,
                           prompts=item.prompts, note=item.note)
        except Exception as exc:  # one bad row must not sink the whole gallery
            item.note = f"cannot show: {exc}"
        items.append(item)
    return items


def _fill_from_case(item: GalleryItem, row, image, labels: dict) -> None:
    """The displayed slice, its image and ground truth, and the prompts of the row's log; a 3D row whose
    prompts were on another slice (propagation) keeps no prompts and says so in ``note``."""
    log = parse_prompt_log(row.get("prompt_log"))
    gt = np.asarray(_find_label(labels, row["label"]), bool)
    item.z = display_slice(row, gt if image.is_3d else None)
    item.image = np.asarray(image.slice2d(item.z))
    item.gt = gt[item.z] if image.is_3d else gt
    log_z = log.get("slice")
    item.prompts = list(log.get("prompts") or [])
    if image.is_3d and log_z is not None and int(log_z) >= 0 and int(log_z) != item.z:
        item.prompts = []
        item.note = f"mask propagated from slice {int(log_z)}: not replayed"


def _replay_item(item: GalleryItem, row, predictors: dict, *, device: str, cache_dir) -> None:
    """Re-decode the item's prompts with the row's model (built once per model into ``predictors``)."""
    from samwidgets.errors import EvaluationError
    from samwidgets.evaluation.protocols import parse_protocol

    model = str(row["model"])
    if model not in predictors:
        predictors[model] = _load_predictor(model, device=device, cache_dir=cache_dir)
    item.pred = replay_mask(predictors[model], item.image, item.prompts)
    try:
        feeds_logits = parse_protocol(str(row["protocol"])).spec.logits_option
    except EvaluationError:
        feeds_logits = False
    if feeds_logits:
        item.note = "replayed without logit feedback"


def _load_predictor(model: str, *, device: str, cache_dir):
    from samwidgets.models import load
    from samwidgets.models.cache import EmbeddingCache
    from samwidgets.paths import cache_root

    return load(model, device=device, cache=EmbeddingCache(cache_root(cache_dir) / "embeddings"))


def group_items(items: list[GalleryItem], group_by) -> list[tuple[str, list[GalleryItem]]]:
    """Split items into (title, items) per value of the ``group_by`` columns, keeping their order."""
    group_by = list(group_by or [])
    groups: dict[str, list[GalleryItem]] = {}
    for item in items:
        title = " / ".join(f"{c}={item.row[c]}" for c in group_by) or "all"
        groups.setdefault(title, []).append(item)
    return list(groups.items())


def _title(row, metric: str) -> str:
    score = row.get(metric)
    score = "nan" if score is None or pd.isna(score) else f"{float(score):.3f}"
    where = f"z={int(row['slice'])}" if int(row["slice"]) >= 0 else "volume"
    case = str(row["case"])
    case = case if len(case) <= 34 else case[:16] + "…" + case[-16:]
    return (f"{case}\n{row['label']} | {where} | {row['model']} · {row['protocol']}\n"
            f"{metric}={score} · {row['failure_type']}")


def draw_item(ax, item: GalleryItem, *, metric: str = "dice", index: int | None = None) -> None:
    """Draw one panel on ``ax``: grey/colour image, gt contour (green), prediction (red, translucent),
    positive points (green +), negative points (red x), boxes (yellow rectangles)."""
    from matplotlib.patches import Rectangle

    ax.set_axis_off()
    index = item.index if index is None else index
    prefix = f"[{index}] " if index is not None else ""
    ax.set_title(prefix + _title(item.row, metric), fontsize=7)
    if item.image is None:
        ax.text(0.5, 0.5, item.note or "no image", ha="center", va="center", wrap=True, fontsize=7,
                transform=ax.transAxes)
        return
    img = item.image
    ax.imshow(img, cmap=None if img.ndim == 3 else "gray", interpolation="nearest")
    if item.pred is not None and item.pred.any():
        overlay = np.zeros((*item.pred.shape, 4), float)
        overlay[item.pred] = (1.0, 0.1, 0.1, 0.45)
        ax.imshow(overlay, interpolation="nearest")
    if item.gt is not None and item.gt.any():
        ax.contour(item.gt.astype(float), levels=[0.5], colors="lime", linewidths=0.9)
    for prompt in item.prompts:
        box = prompt.get("box_xyxy")
        if box:
            x0, y0, x1, y1 = map(float, box)
            ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, edgecolor="yellow", lw=1.0))
        pts = np.asarray(prompt.get("points_xy") or [], float).reshape(-1, 2)
        labs = np.asarray(prompt.get("point_labels") or [1] * len(pts), int).reshape(-1)
        for (x, y), lab in zip(pts, labs):
            ax.plot(x, y, marker="+" if lab == 1 else "x", color="lime" if lab == 1 else "red", ms=8, mew=2)
    if item.note:
        ax.text(0.02, 0.02, item.note, color="white", fontsize=6, transform=ax.transAxes,
                bbox={"facecolor": "black", "alpha": 0.6, "pad": 1})


def render_gallery(items: list[GalleryItem], *, metric: str = "dice", ncols: int = 4,
                   title: str | None = None, panel_size: float = 3.0) -> Figure:
    """A grid of panels (see :func:`draw_item`), numbered in the order of ``items``."""
    n = max(1, len(items))
    ncols = max(1, min(ncols, n))
    nrows = -(-n // ncols)
    fig = Figure(figsize=(panel_size * ncols, (panel_size + 0.6) * nrows), layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False).ravel())
    for ax in axes:
        ax.set_axis_off()
    if not items:
        axes[0].text(0.5, 0.5, "no rows to show", ha="center", va="center", transform=axes[0].transAxes)
    for i, (ax, item) in enumerate(zip(axes, items)):
        draw_item(ax, item, metric=metric, index=i if item.index is None else item.index)
    if title:
        fig.suptitle(title)
    return fig


def gallery_table(items_or_rows, *, metric: str = "dice") -> pd.DataFrame:
    """The rows behind a gallery with case id, slice, model, protocol, score, failure type and prompt log;
    reopen panel ``i`` in the viewer with ``samwidgets.widgets.open_case(table.iloc[i])``."""
    if isinstance(items_or_rows, pd.DataFrame):
        rows = items_or_rows.reset_index(drop=True)
    else:
        rows = pd.DataFrame([it.row for it in items_or_rows]).reset_index(drop=True)
    cols = ["dataset", "modality", "case", "label", "slice", "model", "protocol", "step", metric,
            "failure_type", "prompt_log", "manifest"]
    return rows[[c for c in cols if c in rows.columns]]
