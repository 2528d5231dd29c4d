"""Benchmark of the click-robustness map: a 32 x 32 grid (1024 single positive clicks) over a shared CT lesion
and a 25 % margin, on ONE LiteMedSAM embedding, decoded in batches (``samwidgets.evaluation.sensitivity.
decode_scores``, the engine of ``click_map``) against the same clicks decoded one by one (one
``predictor.decode`` call per click). Both paths use the same cached embedding; the encoder runs once, outside
the timings; both include scoring each mask (Dice). The two maps must be identical.

Run:  SAMWIDGETS_SHARED_DATA=../shared/data .venv/bin/python benchmarks/prompt_sensitivity.py \\
          [--n-per-side 32] [--batch-size 64] [--device cpu] [--repeats 1]
Prints the wall times, per-click times and the one-by-one / batched ratio; exits 1 if the maps differ.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # this checkout's samwidgets, not another installed copy


def ct_slice():
    root = Path(os.environ.get("SAMWIDGETS_SHARED_DATA", REPO.parent / "shared" / "data"))
    files = sorted(root.glob("ct_lesion_3d/**/CT_Lesion_*.npz"))
    if not files:
        sys.exit(f"no CT lesion npz under {root} (set SAMWIDGETS_SHARED_DATA)")
    with np.load(files[0]) as npz:
        imgs, gts = npz["imgs"], npz["gts"] > 0
    z = int(np.argmax(gts.sum(axis=(1, 2))))
    return files[0].name, z, imgs[z], gts[z]


def grid_points(gt: np.ndarray, n: int) -> np.ndarray:
    """(n * n, 2) integer xy pixels: n x n evenly spaced over the object's bounding box + 25 % margin."""
    ys, xs = np.nonzero(gt)
    my, mx = 0.25 * (ys.max() - ys.min() + 1), 0.25 * (xs.max() - xs.min() + 1)
    gy = np.round(np.linspace(max(ys.min() - my, 0), min(ys.max() + my, gt.shape[0] - 1), n))
    gx = np.round(np.linspace(max(xs.min() - mx, 0), min(xs.max() + mx, gt.shape[1] - 1), n))
    yy, xx = np.meshgrid(gy, gx, indexing="ij")
    return np.stack([xx.ravel(), yy.ravel()], axis=1)


def one_by_one(pred, emb, gt, points) -> np.ndarray:
    from samwidgets.evaluation.sensitivity import mask_scores

    out = np.empty(len(points))
    for i, p in enumerate(points):
        masks = pred.decode(emb, points_xy=p[None], point_labels=np.ones(1, int)).best()
        out[i] = mask_scores(masks[None], gt)[0]
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n-per-side", type=int, default=32)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--repeats", type=int, default=1, help="best of N for each path")
    args = ap.parse_args()

    from samwidgets.evaluation.sensitivity import decode_scores
    from samwidgets.models import load

    name, z, image, gt = ct_slice()
    pred = load("litemedsam", device=args.device)
    t0 = time.perf_counter()
    emb = pred.encode(image)
    enc = time.perf_counter() - t0
    pred.decode(emb, points_xy=[[10.0, 10.0]], point_labels=[1])  # warm-up: decoder backend set-up
    points = grid_points(gt, args.n_per_side)
    batched, single = [], []
    for _ in range(max(1, args.repeats)):
        t0 = time.perf_counter()
        values = decode_scores(pred, emb, gt, points_xy=points, batch_size=args.batch_size)
        batched.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        ref = one_by_one(pred, emb, gt, points)
        single.append(time.perf_counter() - t0)
    n = len(points)
    tb, ts = min(batched), min(single)
    same = np.array_equal(values, ref)
    inside = gt[points[:, 1].astype(int), points[:, 0].astype(int)]
    print(f"case {name} slice {z}, {image.shape[1]}x{image.shape[0]}, lesion {int(gt.sum())} px; "
          f"device {pred.device}; encoder {enc:.2f} s (once)")
    print(f"grid {args.n_per_side}x{args.n_per_side} over the lesion + 25% margin: {n} clicks, {int(inside.sum())} "
          f"inside; safe-click share {float((values[inside] >= 0.5).mean()):.3f}")
    print(f"batched (batch {args.batch_size}) : {tb:8.2f} s  {1000 * tb / n:7.1f} ms/click (decode + Dice)")
    print(f"one by one          : {ts:8.2f} s  {1000 * ts / n:7.1f} ms/click")
    print(f"ratio one-by-one / batched: {ts / tb:.2f}x; maps identical: {same}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
