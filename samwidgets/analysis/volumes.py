"""3D analysis: score per slice against the distance (in slices, along z) from the prompted slice.

The prompted slice of a (case, label) follows the LiteMedSAM 3D reference (protocols.md "3D handling"):
``z_mid = int((z_max - z_min) / 2 + z_min)`` over the slices where the label is present. When a row's
prompt log names it (``"prompted_slice"``, ``"z_mid"`` or ``"middle_slice"``), that value wins; else
z_min / z_max are the extremes of the slice rows of that (case, label) over all protocols, which, for a
sweep that scores every labelled slice, are the label's own z extent.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from samwidgets.analysis.results import final_step, ok_rows, parse_prompt_log
from samwidgets.analysis.stats import bootstrap_ci

_PROMPTED_KEYS = ("prompted_slice", "z_mid", "middle_slice")


def _logged_prompted_slice(value) -> float:
    log = parse_prompt_log(value)
    for key in _PROMPTED_KEYS:
        if log.get(key) is not None:
            return float(log[key])
    return float("nan")


def slice_distance(df: pd.DataFrame, *, protocols=None) -> pd.DataFrame:
    """Slice rows (slice >= 0) of 3D cases with ``prompted_slice`` and ``distance`` = |slice - prompted|.

    ``protocols``: keep only these protocol names (e.g. ``["propagate_box_3d", "box"]``). Only cases with
    more than one slice row are kept (2D images have a single slice 0). Final prompt step only.
    """
    d = final_step(ok_rows(df))
    d = d[d["slice"] >= 0]
    n_slices = d.groupby(["dataset", "case"])["slice"].transform("nunique")
    d = d[n_slices > 1].copy()
    if d.empty:
        return d.assign(prompted_slice=pd.Series(dtype=int), distance=pd.Series(dtype=int))
    extent = d.groupby(["dataset", "case", "label"])["slice"].agg(["min", "max"])
    z_mid = ((extent["max"] - extent["min"]) / 2 + extent["min"]).astype(int).rename("z_mid_extent")
    d = d.join(z_mid, on=["dataset", "case", "label"])
    logged = d["prompt_log"].map(_logged_prompted_slice)
    d["prompted_slice"] = np.where(np.isfinite(logged), logged, d["z_mid_extent"]).astype(int)
    d["distance"] = (d["slice"] - d["prompted_slice"]).abs().astype(int)
    if protocols is not None:
        d = d[d["protocol"].isin(list(protocols))]
    return d.drop(columns=["z_mid_extent"])


def distance_curve(dist: pd.DataFrame, *, metric: str = "dice", by=("model", "protocol"),
                   rng: np.random.Generator, n_boot: int = 500, max_distance: int | None = None) -> pd.DataFrame:
    """Mean ``metric`` per distance from the prompted slice with a bootstrap CI over (case, label) pairs.

    ``dist`` comes from :func:`slice_distance`. Returns the ``by`` columns, ``distance``, ``n``, ``mean``,
    ``ci_low``, ``ci_high``.
    """
    by = list(by)
    cols = [*by, "distance", "n", "mean", "ci_low", "ci_high"]
    if dist.empty:
        return pd.DataFrame(columns=cols)
    d = dist if max_distance is None else dist[dist["distance"] <= max_distance]
    rows = []
    for group, part in d.groupby([*by, "distance"], sort=True):
        est, lo, hi = bootstrap_ci(part[metric], rng=rng, n_boot=n_boot)
        rows.append({**dict(zip([*by, "distance"], group)), "n": len(part), "mean": est, "ci_low": lo, "ci_high": hi})
    return pd.DataFrame(rows, columns=cols)
