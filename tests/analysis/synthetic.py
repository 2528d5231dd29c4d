"""A synthetic results table with the exact schema of ``run_sweep``, for the analysis tests (no model is
run). Scores are drawn from Beta distributions whose means depend on the model, the
prompt kind and the number of clicks, so that summaries, click curves and paired tests have something to
find. Nothing here is a real measurement.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from samwidgets.evaluation.table import normalise

_DATASETS = (("ct_demo", "CT", True), ("mr_demo", "MR", False), ("us_demo", "US", False))


def _failure(dice: float, rng: np.random.Generator) -> str:
    if dice >= 0.7:
        return "ok"
    return str(rng.choice(["under_segmentation", "leak", "wrong_object", "fragmented"]))


def synthetic_results(*, rng: np.random.Generator, n_cases: int = 6, models=("litemedsam", "sam_vit_b"),
                      protocols=("box", "point_iterative:3", "propagate_box_3d"), n_slices: int = 7,
                      size: int = 64, manifest: str = "synthetic.yaml") -> pd.DataFrame:
    """A results DataFrame: 3 datasets (one 3D), ``n_cases`` cases each, 1-2 labels per case.

    2D cases get one row (slice 0) per step; 3D cases get one row per slice (0..n_slices-1) plus a volume
    row (slice -1). ``point_iterative:N`` gives steps 0..N-1 with 1..N clicks; ``propagate_box_3d`` only
    applies to the 3D dataset and its score falls with the distance from the middle slice.
    Prompt logs hold in-image boxes/points of a ``size`` x ``size`` slice.
    """
    rows = []
    model_bonus = {m: 0.08 * i for i, m in enumerate(models)}
    for dataset, modality, is_3d in _DATASETS:
        for c in range(n_cases):
            case = f"{dataset}_{c:03d}"
            n_labels = 1 + int(rng.random() < 0.4)
            for label in [f"label{k + 1}" for k in range(n_labels)]:
                difficulty = rng.uniform(-0.25, 0.15)
                slices = list(range(n_slices)) if is_3d else [0]
                mid = (n_slices - 1) // 2
                for model in models:
                    for protocol in protocols:
                        fam, _, arg = protocol.partition(":")
                        if fam in ("propagate_box_3d", "sam2_video_3d") and not is_3d:
                            continue
                        n_steps = int(arg) if fam in ("point_iterative", "microsam_point", "microsam_box") and arg else 1
                        for step in range(n_steps):
                            n_points = step + 1 if "point" in fam else 0
                            base = 0.72 + difficulty + model_bonus[model] - (0.12 if n_points else 0) + 0.05 * step
                            slice_scores = []
                            for z in slices:
                                drop = 0.06 * abs(z - mid) if fam == "propagate_box_3d" else 0.0
                                mean = float(np.clip(base - drop, 0.05, 0.95))
                                dice = float(rng.beta(mean * 12, (1 - mean) * 12))
                                slice_scores.append(dice)
                                rows.append(_row(dataset, modality, case, label, z, model, protocol, step,
                                                 n_points, dice, rng, size, manifest, mid if is_3d else None))
                            if is_3d:
                                rows.append(_row(dataset, modality, case, label, -1, model, protocol, step,
                                                 n_points, float(np.mean(slice_scores)), rng, size, manifest, mid))
    return normalise(pd.DataFrame(rows))


def _row(dataset, modality, case, label, z, model, protocol, step, n_points, dice, rng, size, manifest, mid):
    iou = dice / (2 - dice)
    x0, y0 = rng.integers(2, size // 3, size=2)
    x1, y1 = rng.integers(size // 2, size - 2, size=2)
    prompt = {"points_xy": None, "point_labels": None, "box_xyxy": None}
    if n_points:
        pts = rng.uniform([x0, y0], [x1, y1], size=(n_points, 2)).round(1)
        prompt["points_xy"] = pts.tolist()
        prompt["point_labels"] = [1] + [int(v) for v in rng.integers(0, 2, size=n_points - 1)]
    else:
        prompt["box_xyxy"] = [float(x0), float(y0), float(x1), float(y1)]
    log = {"slice": int(mid if (z == -1 or protocol == "propagate_box_3d") and mid is not None else z),
           "prompts": [prompt], "protocol": protocol}
    return {
        "dataset": dataset, "modality": modality, "case": case, "label": label, "slice": int(z),
        "model": model, "protocol": protocol, "step": int(step), "n_points": int(n_points),
        "dice": dice, "iou": iou, "nsd": float(np.clip(dice + rng.normal(0, 0.05), 0, 1)) if dice > 0.2 else 0.0,
        "hd95": float(rng.gamma(2.0, 4.0 * (1.2 - dice))), "seconds": float(rng.uniform(0.05, 0.3)),
        "failure_type": _failure(dice, rng), "prompt_log": json.dumps(log), "manifest": manifest, "error": None,
    }


def synthetic_factor_results(*, rng: np.random.Generator, n_cases: int = 30, per_case: int = 6) -> pd.DataFrame:
    """A results table with a planted failure factor, for tests and for trying the failure-factors report.

    Two modalities, ``n_cases`` cases of ``per_case`` one-step box rows each (LiteMedSAM). Every descriptor
    column is standard-normal noise, except ``obj_cnr`` ~ U(0, 4) and ``obj_components`` in {1, 2}; in US
    Dice = 0.2 + 0.18 × obj_cnr + N(0, 0.05) (clipped to [0, 1]), in CT Dice ~ U(0, 1), unrelated to anything.
    """
    from samwidgets.evaluation.table import DESCRIPTOR_COLUMNS, normalise

    rows = []
    for modality in ("US", "CT"):
        for c in range(n_cases):
            for s in range(per_case):
                d = {n: float(rng.normal()) for n in DESCRIPTOR_COLUMNS}
                d["obj_components"] = float(rng.integers(1, 3))
                d["obj_cnr"] = float(rng.uniform(0, 4))
                dice = 0.2 + 0.18 * d["obj_cnr"] + rng.normal(0, 0.05) if modality == "US" else rng.uniform(0, 1)
                rows.append({**d, "modality": modality, "dataset": modality.lower(), "case": f"c{c}",
                             "label": "x", "slice": s, "model": "litemedsam", "protocol": "box", "step": 1,
                             "n_points": 0, "dice": float(np.clip(dice, 0, 1)), "failure_type": "ok",
                             "error": "", "off_label": False, "manifest": "synthetic.yaml"})
    return normalise(pd.DataFrame(rows))
