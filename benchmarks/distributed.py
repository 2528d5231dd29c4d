"""Benchmark of sweeps on Dask: in process against a local cluster, scheduler overhead, and an estimate
of a large GPU sweep.

Measures on this machine, with LiteMedSAM on the embedded sample (data_manifests/sample.yaml):

1. the sweep in this process, then the same sweep on a LocalCluster of ``--workers`` processes (started as
   ``samwidgets evaluate --workers N`` starts it); each with a fresh in-memory embedding cache, so both pay
   every encode. Prints wall times, the ratio, the cluster's start-up time and whether the two tables are
   equal (timing columns aside);
2. the scheduler's overhead per task on that cluster: the round trip of one empty task submitted after the
   previous one finished (what the sweep's one-task-per-worker submission pays per (case, model) unit),
   and the pipelined cost of many empty tasks;
3. the host-side cost of one prompt step (prompt simulation + metrics + failure typing + descriptors) with
   a predictor that does no work, to add to the GPU figures;
4. an estimate of a 10,000-slice x 4-model sweep on 8 GPUs from the per-slice encoder and decoder costs
   measured on an H100 (benchmarks/results/gpu-*.txt, ``benchmarks/gpu.py``), with its assumptions printed.

Run:  .venv/bin/python benchmarks/distributed.py [--workers 2] [--max-cases N] [--protocol box ...]
Figures are noisy on a loaded machine: the load average is printed at start and end.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# this file's name shadows the `distributed` package: import from the repository root, not from benchmarks/
sys.path[:] = [str(REPO)] + [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import numpy as np  # noqa: E402
SAMPLE = REPO / "data_manifests" / "sample.yaml"
GPU_MODELS = {"litemedsam": "litemedsam", "sam_vit_b": "sam_vit_b", "medsam": "sam_vit_b", "sam2_t": "sam2_t"}


def load_average() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def sample_manifest(max_cases):
    from samwidgets.analysis.cached_sweep import first_cases_per_dataset

    return first_cases_per_dataset([str(SAMPLE)], max_cases)


def sweep(manifests, protocols, *, device, **where):
    from samwidgets.evaluation import run_sweep

    t0 = time.perf_counter()
    table = run_sweep(manifests, ["litemedsam"], protocols, seed=0, device=device, cache=None, progress=False,
                      **where)
    return time.perf_counter() - t0, table


def tables_match(a, b) -> bool:
    cols = [c for c in a.columns if c not in ("seconds", "encode_seconds")]
    return a[cols].equals(b[cols])


def noop(x):
    return x


def scheduler_overhead(client, *, sequential: int = 30, pipelined: int = 300) -> tuple[float, float]:
    """(ms per task submitted after the previous one returned, ms per task of a pipelined batch)."""
    client.submit(noop, -1, pure=False).result()  # warm-up
    t0 = time.perf_counter()
    for i in range(sequential):
        client.submit(noop, i, pure=False).result()
    seq = (time.perf_counter() - t0) / sequential
    t0 = time.perf_counter()
    client.gather(client.map(noop, range(pipelined), pure=False))
    return seq * 1e3, (time.perf_counter() - t0) / pipelined * 1e3


class InstantPredictor:
    """No model: encode returns a stub, decode the box (or a disk at the points), for host-side costs."""

    name = "instant"
    supports_points = True

    def __init__(self):
        self.stats = {"encoder_calls": 0}

    def encode(self, image):
        from samwidgets.models.protocol import Embedding

        self.stats["encoder_calls"] += 1
        h, w = image.shape[:2]
        return Embedding(model=self.name, features={}, original_size=(h, w), input_size=(h, w))

    def decode(self, embedding, *, points_xy=None, point_labels=None, box_xyxy=None, mask_logits=None,
               multimask=False):
        from samwidgets.models.protocol import Prediction

        h, w = embedding.original_size
        mask = np.zeros((h, w), bool)
        if box_xyxy is not None:
            x0, y0, x1, y1 = (int(round(v)) for v in box_xyxy)
            mask[max(y0, 0):y1 + 1, max(x0, 0):x1 + 1] = True
        if points_xy is not None:
            yy, xx = np.ogrid[:h, :w]
            for (x, y), lab in zip(np.asarray(points_xy, float), np.asarray(point_labels)):
                disk = (xx - x) ** 2 + (yy - y) ** 2 <= 64
                mask = mask | disk if lab else mask & ~disk
        return Prediction(masks=mask[None], scores=np.ones(1), logits=np.zeros((1, 256, 256), np.float32))


def host_seconds_per_step(manifests, protocols) -> float:
    """Mean seconds of one scored prompt step with a predictor that does no work (2D protocols only)."""
    from samwidgets.evaluation import run_sweep

    flat = [p for p in protocols if not p.endswith("_3d")]
    t0 = time.perf_counter()
    table = run_sweep(manifests, [InstantPredictor()], flat, seed=0, progress=False)
    steps = int((table.error == "").sum())
    return (time.perf_counter() - t0) / max(steps, 1)


def gpu_costs(path: Path) -> dict[str, tuple[float, float]]:
    """{model: (encoder ms/slice, decoder ms/prompt)} parsed from a benchmarks/gpu.py result file."""
    text = path.read_text()
    out = {}
    m = re.search(r"litemedsam cuda: encoder ([\d.]+) ms", text)
    d = re.search(r"litemedsam cuda: decoder 1 prompt ([\d.]+) ms", text)
    if m and d:
        out["litemedsam"] = (float(m.group(1)), float(d.group(1)))
    for name in ("sam_vit_b", "sam2_t"):
        m = re.search(rf"{name} \(random weights\) cuda: encoder ([\d.]+) ms/slice, decoder \(multimask\) ([\d.]+) ms",
                      text)
        if m:
            out[name] = (float(m.group(1)), float(m.group(2)))
    return out


def estimate(costs: dict, *, host_step_s: float, task_ms: float, slices=10_000, gpus=8, steps_per_slice=10,
             slices_per_case=20, model_load_s=30.0) -> None:
    """Print the estimate of ``slices`` x 4 models on ``gpus`` GPUs and every assumption it rests on."""
    print(f"\n=== estimate: {slices:,} slices x {len(GPU_MODELS)} models on {gpus} GPUs (one worker per GPU)")
    parts = {"encoder": 0.0, "decoder": 0.0, "host": 0.0}
    for model, source in GPU_MODELS.items():
        enc, dec = costs[source]
        per_slice = enc / 1e3 + steps_per_slice * (dec / 1e3 + host_step_s)
        parts["encoder"] += slices * enc / 1e3
        parts["decoder"] += slices * steps_per_slice * dec / 1e3
        parts["host"] += slices * steps_per_slice * host_step_s
        print(f"  {model:<11} encoder {enc:5.1f} ms + {steps_per_slice} x (decoder {dec:4.1f} ms + host "
              f"{host_step_s * 1e3:4.1f} ms) = {per_slice * 1e3:6.1f} ms/slice  -> {slices * per_slice / 3600:5.2f} "
              f"worker-hours")
    total = sum(parts.values())
    tasks = len(GPU_MODELS) * slices // slices_per_case
    overhead = tasks * task_ms / 1e3 + gpus * len(GPU_MODELS) * model_load_s
    wall = (total + overhead) / gpus
    print(f"  work {total / 3600:.2f} worker-hours (" +
          ", ".join(f"{k} {v / total:.0%}" for k, v in parts.items()) +
          f"); {tasks:,} tasks x {task_ms:.1f} ms scheduling + {len(GPU_MODELS)} model loads x "
          f"{model_load_s:.0f} s per worker = {overhead / 60:.1f} worker-minutes")
    print(f"  => about {wall / 60:.0f} minutes wall on {gpus} GPUs (vs {(total + overhead) / 3600:.1f} h on one)")
    print("  assumptions: one labelled object per slice; per slice 1 encode and "
          f"{steps_per_slice} prompt steps (e.g. box + point_iterative:9); H100 figures from benchmarks/results "
          "(MedSAM = SAM ViT-B encoder and decoder); the host cost per step measured here, one CPU core per "
          f"worker, not overlapped with the GPU; {slices_per_case} slices per (case, model) task; a model load "
          f"of {model_load_s:.0f} s (assumed, not measured); data loading overlapped or negligible.")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--max-cases", type=int, default=None, help="first N cases of each sample dataset")
    ap.add_argument("--protocol", action="append", default=None)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--gpu-results", default=str(sorted((REPO / "benchmarks" / "results").glob("gpu-*.txt"))[-1]))
    args = ap.parse_args(argv)
    protocols = args.protocol or ["box", "point_iterative:3", "propagate_box_3d"]
    from distributed import Client

    from samwidgets.evaluation.cluster import local_cluster

    print(f"machine: {os.cpu_count()} cores, load average {load_average()} at start")
    manifests = sample_manifest(args.max_cases)
    print(f"sweep: embedded sample, {sum(len(m.cases) for m in manifests)} cases, litemedsam, {protocols}, "
          f"device {args.device}")
    wall_local, local = sweep(manifests, protocols, device=args.device)
    print(f"in process:            {wall_local:7.1f} s  ({local.attrs['sweep']['encoder_calls']} encoder calls)")
    t0 = time.perf_counter()
    with local_cluster(args.workers) as cluster, Client(cluster) as client:
        start = time.perf_counter() - t0
        wall_cluster, remote = sweep(manifests, protocols, device=args.device, client=client)
        stats = remote.attrs["sweep"]
        print(f"{args.workers}-worker LocalCluster:  {wall_cluster:7.1f} s  (+ {start:.1f} s cluster start; "
              f"{stats['encoder_calls']} encoder calls; units per worker {stats['workers']})")
        print(f"ratio in-process / cluster wall: {wall_local / wall_cluster:.2f}x "
              f"({wall_local / (wall_cluster + start):.2f}x counting the cluster start)")
        print(f"tables equal (timing columns aside): {tables_match(local, remote)}")
        idle = (args.workers * wall_cluster - stats["seconds"]) / max(stats["units"], 1)
        print(f"worker time not in units (model loads, waiting, scheduling) per unit: {idle:.2f} s")
        seq_ms, pipe_ms = scheduler_overhead(client)
        print(f"scheduler overhead per task: {seq_ms:.1f} ms round trip (one at a time), {pipe_ms:.2f} ms pipelined")
    host = host_seconds_per_step(manifests, protocols)
    print(f"host cost per prompt step (simulation, metrics, failure type, descriptors): {host * 1e3:.1f} ms")
    costs = gpu_costs(Path(args.gpu_results))
    print(f"GPU figures from {Path(args.gpu_results).name}: " +
          ", ".join(f"{k} enc {v[0]} ms dec {v[1]} ms" for k, v in costs.items()))
    estimate(costs, host_step_s=host, task_ms=seq_ms)
    print(f"\nload average {load_average()} at end")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
