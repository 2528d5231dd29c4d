"""Benchmark of the per-row descriptors (samwidgets.masks.descriptors) on real shared-data objects.

The sweep computes the object descriptors once per (label, slice) and the prompt descriptors once per
(label, slice, protocol). This script opens the first cases of a few manifests, and for every labelled
object on every slice it times ``describe_object`` and ``describe_prompt`` (box + centre click), and
prints the median / 95th percentile milliseconds per object, per image size, and the ratio of the median
object descriptors to a LiteMedSAM encode measured on the same machine (0.4-0.5 s a slice on an idle
2-core CPU; pass --no-encode to skip the model). No model weights are needed with --no-encode.

Run:  .venv/bin/python benchmarks/descriptors.py [--manifest data_manifests/busi.yaml ...] [--max-cases 3]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

DEFAULT = ["data_manifests/busi.yaml", "data_manifests/kvasir_seg.yaml", "data_manifests/ct_lesion_3d.yaml",
           "data_manifests/glas.yaml"]


def objects(manifests, max_cases):
    from samwidgets.manifest import load_manifest

    for path in manifests:
        for case in load_manifest(path).cases[:max_cases]:
            image, labels = case.load()
            for name, mask in labels.items():
                mask = np.asarray(mask, bool)
                planes = [z for z in np.nonzero(mask.any(axis=(1, 2)))[0]] if image.is_3d else [None]
                for z in planes:
                    yield (image.slice2d(z) if z is not None else image.array,
                           mask[z] if z is not None else mask, image.spacing[-2:])


def main(argv=None) -> None:
    from samwidgets.masks.descriptors import describe_object, describe_prompt
    from samwidgets.prompts import box_from_mask
    from samwidgets.prompts.geometry import centre_point

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--manifest", action="append", default=None)
    ap.add_argument("--max-cases", type=int, default=3)
    ap.add_argument("--no-encode", action="store_true")
    args = ap.parse_args(argv)
    obj_ms, prm_ms, sizes, first = [], [], [], None
    rng = np.random.default_rng(0)
    for image, mask, spacing in objects(args.manifest or DEFAULT, args.max_cases):
        first = image if first is None else first
        t0 = time.perf_counter()
        describe_object(image, mask, spacing=spacing)
        t1 = time.perf_counter()
        describe_prompt(mask, box_xyxy=box_from_mask(mask), point_xy=centre_point(mask, rng=rng))
        t2 = time.perf_counter()
        obj_ms.append((t1 - t0) * 1e3)
        prm_ms.append((t2 - t1) * 1e3)
        sizes.append(mask.size)
    obj, prm = np.asarray(obj_ms), np.asarray(prm_ms)
    print(f"objects: {len(obj)} (median image {int(np.median(sizes))} px)")
    print(f"describe_object: median {np.median(obj):.1f} ms, p95 {np.percentile(obj, 95):.1f} ms")
    print(f"describe_prompt: median {np.median(prm):.1f} ms, p95 {np.percentile(prm, 95):.1f} ms")
    if not args.no_encode and first is not None:
        from samwidgets.models import load

        predictor = load("litemedsam", device="cpu")
        predictor.encode(first)  # warm-up (ONNX session)
        t0 = time.perf_counter()
        for k in range(3):
            predictor.encode(np.ascontiguousarray(first) + np.uint8(k + 1))  # distinct: no cache hit
        enc = (time.perf_counter() - t0) / 3 * 1e3
        print(f"LiteMedSAM encode: {enc:.0f} ms; describe_object / encode = {np.median(obj) / enc:.3f}")


if __name__ == "__main__":
    main()
