"""Server-side latency of the slice viewer: click -> overlay drawn, and slice change with cached overlays.

    .venv/bin/python benchmarks/widget.py [--repeats 20] [--device cpu]

Uses LiteMedSAM and the embedded sample CT case (512 x 512 slices, data_manifests/sample.yaml). A
"click" is the viewer's on_mouse_down + on_mouse_up handlers, as the frontend's comm message calls them:
decode from the cached embedding, metrics, overlay composition, PNG encoding and the ipycanvas message
(sent to a dummy comm: no network, no browser paint). A "slice change" moves to a slice whose embedding,
prediction and base image PNG are cached (overlay recomposed and re-encoded).
Targets (issue "Interactive slice viewer"): click <= 100 ms median, slice change <= 30 ms median.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np

CLICK_TARGET_MS = 100.0
SLICE_TARGET_MS = 30.0


def _ms(samples: list[float]) -> str:
    a = np.asarray(samples) * 1000
    return f"median {np.median(a):7.1f} ms   p90 {np.percentile(a, 90):7.1f} ms   (n={len(a)})"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--case", default="CT_Lesion_000001_02_01_008-023")
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    args = ap.parse_args(argv)

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)

    from samwidgets.models import load
    from samwidgets.widgets import SliceViewer, render
    from samwidgets.paths import repo_root
    from samwidgets.widgets.drawing import png_bytes

    predictor = load("litemedsam", device=args.device)
    viewer = SliceViewer(repo_root() / "data_manifests" / "sample.yaml", case=args.case, model=predictor,
                         background=False, cache=None, autosave_dir=None)
    s = viewer.session
    gt = s.ground_truth[s.gt_label]
    z0 = s.z
    print(f"case {args.case}: {s.n_slices} slices of {s.height}x{s.width}, canvas {viewer.view.cw}x{viewer.view.ch}, "
          f"device {predictor.device}, torch threads {torch.get_num_threads()}, "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")

    t = time.perf_counter()
    emb = s._embedder.get(z0)
    print(f"encode current slice (one-off, before clicks): {1000 * (time.perf_counter() - t):.0f} ms")

    ys, xs = np.nonzero(gt[z0])
    rng = np.random.default_rng(0)
    picks = rng.choice(len(xs), size=args.repeats + 3)
    scale = viewer.view.scale
    clicks, decodes, overlays, pngs = [], [], [], []
    click_cpu, decode_cpu = [], []
    for i, k in enumerate(picks):
        s.clear()
        x, y = float(xs[k]), float(ys[k])
        cx, cy = viewer.view.image_to_canvas(x + 0.5, y + 0.5)
        c0, t0 = time.thread_time(), time.perf_counter()
        viewer.on_mouse_down(cx, cy)
        viewer.on_mouse_up(cx, cy)
        t1, c1 = time.perf_counter(), time.thread_time()
        assert s.state.n_prompts == 1 and abs(s.state.points[0][0] - (x + 0.5)) < 1 / scale + 1e-6
        if i < 3:
            continue  # warm-up
        clicks.append(t1 - t0)
        click_cpu.append(c1 - c0)
        c, t = time.thread_time(), time.perf_counter()
        s.predictor.decode(emb, points_xy=np.array([[x, y]]), point_labels=np.array([1]))
        decodes.append(time.perf_counter() - t)
        decode_cpu.append(time.thread_time() - c)
        t = time.perf_counter()
        layer = render.overlay_rgba(viewer.view, mask=s.mask, ground_truth=gt[z0], labels=s.labels[z0])
        overlays.append(time.perf_counter() - t)
        t = time.perf_counter()
        crop = render.crop_transparent(layer)
        if crop is not None:
            png_bytes(crop[0])
        pngs.append(time.perf_counter() - t)

    # slice changes among slices whose embeddings, predictions and base PNGs are cached
    zs = [z for z in range(max(0, z0 - 2), min(s.n_slices, z0 + 3))]
    for z in zs:  # warm: embed, prompt and draw every slice once
        viewer.set_slice(z)
        if gt[z].any():
            yy, xx = np.nonzero(gt[z])
            s.box(xx.min(), yy.min(), xx.max() + 1, yy.max() + 1)
        s.mask_of(z)
    changes = []
    for i in range(args.repeats):
        z = zs[i % len(zs)] if zs[i % len(zs)] != s.z else zs[(i + 1) % len(zs)]
        t = time.perf_counter()
        viewer.set_slice(z)
        changes.append(time.perf_counter() - t)

    med_click = 1000 * statistics.median(clicks)
    med_slice = 1000 * statistics.median(changes)
    print(f"click -> overlay drawn     {_ms(clicks)}   target <= {CLICK_TARGET_MS:.0f} ms median  "
          f"[{'OK' if med_click <= CLICK_TARGET_MS else 'MISSED'}]")
    print(f"  of which decoder alone   {_ms(decodes)}")
    print(f"  overlay composition      {_ms(overlays)}")
    print(f"  overlay crop + PNG       {_ms(pngs)}")
    if torch.get_num_threads() == 1:
        print("CPU time of the calling thread (single-threaded torch: about the wall time on an idle core):")
        print(f"  click -> overlay drawn   {_ms(click_cpu)}")
        print(f"  decoder alone            {_ms(decode_cpu)}")
    print(f"slice change (cached)      {_ms(changes)}   target <= {SLICE_TARGET_MS:.0f} ms median  "
          f"[{'OK' if med_slice <= SLICE_TARGET_MS else 'MISSED'}]")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
