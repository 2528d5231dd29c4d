"""Benchmark of the evaluation engine with LiteMedSAM on the shared data.

Measures, on the same cases:

1. wall time of the 9-click iterative protocol (``point_iterative:9``) against the 1-click protocol
   (``point``), each with a fresh in-memory embedding cache, so both pay every encode
   (target: ratio <= 1.5, because every slice is encoded once and only decoded 9 times);
2. encoder calls of one sweep running many protocols (box, box_jitter, point, mazurowski:1-5,
   point_iterative:9, microsam_box:8, propagate_box_3d) against the number of distinct slices the sweep
   needs (target: equal).

The ratio in (1) is (encode + 9 decodes) / (encode + 1 decode) per object plus the simulator and metric
overhead (a few ms per step since the distance transforms run on the objects' bounding boxes), so it
meets 1.5 only where one LiteMedSAM decode costs about 1/16 of an encode or less (an idle multi-core CPU);
on a GPU the encoder is nearly free and on a loaded 2-core CPU the decoder is slow, and the ratio is higher
there. The encoder-call target (2) holds on any device.

Run:  SAMWIDGETS_SHARED_DATA=../shared/data .venv/bin/python benchmarks/evaluation.py \\
          [--manifest data_manifests/ct_lesion_3d.yaml] [--max-cases 3] [--device cpu]
Prints the measured figures; exits 1 if a target is missed.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np


def predictor(device: str):
    from samwidgets.models import load
    from samwidgets.models.cache import EmbeddingCache

    pred = load("litemedsam", device=device, cache=EmbeddingCache(memory_bytes=2 << 30, disk=False))
    pred.encode(np.zeros((64, 64), np.uint8))  # warm-up (backend set-up) outside the timings
    pred.stats["encoder_calls"] = 0
    return pred


def timed_sweep(manifests, protocols, *, max_cases, device):
    from samwidgets.evaluation import run_sweep

    pred = predictor(device)
    t0, c0 = time.perf_counter(), time.process_time()
    table = run_sweep(manifests, [pred], protocols, max_cases=max_cases, progress=False)
    pred.cpu_seconds = time.process_time() - c0  # CPU time of all threads: steadier on a shared machine
    return time.perf_counter() - t0, table, pred


def needed_slices(table) -> int:
    """Distinct (case, slice) pairs the sweep had to encode: per-slice rows plus propagation z ranges."""
    ok = table[table.error == ""]
    slices = {(r.manifest, r.case, int(r.slice)) for r in ok[ok.slice >= 0].itertuples()}
    for r in ok[ok.slice < 0].itertuples():
        box = json.loads(r.prompt_log)["box3d"]
        slices |= {(r.manifest, r.case, z) for z in range(int(box[2]), int(box[5]) + 1)}
    return len(slices)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--manifest", action="append", default=None)
    ap.add_argument("--max-cases", type=int, default=3)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args(argv)
    manifests = args.manifest or ["data_manifests/ct_lesion_3d.yaml"]

    t1, tab1, p1 = timed_sweep(manifests, ["point"], max_cases=args.max_cases, device=args.device)
    t9, tab9, p9 = timed_sweep(manifests, ["point_iterative:9"], max_cases=args.max_cases, device=args.device)
    n_obj = int(((tab1.error == "") & (tab1.step == 1)).sum())
    print(f"cases: {tab1.case.nunique()} from {', '.join(manifests)}; slice-objects: {n_obj}; "
          f"device: {args.device}")
    print(f"1-click  (point):             {t1:8.2f} s wall {p1.cpu_seconds:8.2f} s CPU  "
          f"encoder calls {p1.stats['encoder_calls']}")
    print(f"9-click  (point_iterative:9): {t9:8.2f} s wall {p9.cpu_seconds:8.2f} s CPU  "
          f"encoder calls {p9.stats['encoder_calls']}")
    ratio = t9 / t1
    print(f"ratio 9-click / 1-click: {ratio:.2f} wall, {p9.cpu_seconds / p1.cpu_seconds:.2f} CPU  (target <= 1.5)")
    last = tab9[(tab9.error == "")]
    for k in (1, 5, 9):
        print(f"  point_iterative:9 mean Dice at step {k}: {last[last.step == k].dice.mean():.4f}")

    protocols = ["box", "box_jitter", "point", "mazurowski:1", "mazurowski:2", "mazurowski:3",
                 "mazurowski:4", "mazurowski:5", "point_iterative:9", "microsam_box:8", "propagate_box_3d"]
    tm, tabm, pm = timed_sweep(manifests, protocols, max_cases=args.max_cases, device=args.device)
    need = needed_slices(tabm)
    calls = pm.stats["encoder_calls"]
    print(f"{len(protocols)} protocols: {len(tabm)} rows in {tm:.2f} s; encoder calls {calls} "
          f"for {need} distinct slices (target: equal)")
    ok = ratio <= 1.5 and calls == need
    print("targets met" if ok else "TARGET MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
