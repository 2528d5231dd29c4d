"""LiteMedSAM speed on this machine's CPU, next to the targets.

Run: ``.venv/bin/python benchmarks/models.py [--repeats N] [--slice PATH.npz]``
     ``.venv/bin/python benchmarks/models.py --precision-check --device cuda [--data FOLDER]``

Prints, for the real LiteMedSAM (bundled weights) on a real CT lesion slice (512 x 512):
  * this machine's float32 matmul throughput (GFLOP/s, best of a few 2048^3 products), measured in the
    same run, and the encoder time as a multiple of its FLOP floor (~75 GFLOP / that throughput);
  * image encoder ms/slice: eager torch and the ONNX Runtime fast path (both incl. preprocessing);
  * decoder ms (wall and process CPU time) for 1 prompt and for 16 prompts in one decode() call (incl.
    upsampling to 512 x 512; one prompt set per forward on the CPU), for the default fast path (ONNX
    Runtime decoder) and the eager torch decoder, interleaved in the same run so the ratio is fair; and
    the fast path's first decode on an embedding (it prepares the prompt-independent image side once);
  * embedding-cache hit ms through ``predictor.encode`` (preprocess + key hash + lookup), memory tier
    and disk tier of the real EmbeddingCache (a temporary folder).
Figures are best / median of ``--repeats`` runs after one warm-up; the load average is printed because
other processes on a shared machine inflate the medians. Targets: encoder <= 1100 ms/slice, decoder
<= 60 ms (1 prompt), cache hit <= 20 ms.

``--precision-check`` instead compares, on the four CVPR24 CT lesion cases (largest-lesion slice, tight
GT box), the float32 masks with those under autocast bf16 and fp16 (CUDA only): Dice between masks,
flipped pixels, Dice vs GT, and encoder/decoder ms per precision. This is the measurement behind
LiteMedSAM's default ``precision=None``.
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SLICE = REPO.parent / "shared" / "data" / "ct_lesion_3d" / "deeplesion-medsam2" / "CT_Lesion_000001_02_01_008-023.npz"
ENCODER_GFLOP = 75.0  # LiteMedSAM TinyViT encoder at 256 x 256 (protocols.md)
TARGETS = {"encoder": 1100.0, "decoder": 60.0, "cache": 20.0}


def timed(fn, repeats: int) -> tuple[float, float]:
    """(best, median) wall milliseconds of ``fn()`` over ``repeats`` runs after one warm-up."""
    fn()
    runs = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        runs.append((time.perf_counter() - t0) * 1e3)
    return min(runs), statistics.median(runs)


def timed_ab(fns: dict, repeats: int) -> dict:
    """Interleaved A/B timing: {label: (best wall ms, median wall ms, CPU ms of the best-wall run)} of each
    ``fns[label]()`` over ``repeats`` rounds after one warm-up round; interleaving keeps the ratios fair
    on a machine whose load drifts. CPU = this process's user + system time (all threads)."""
    for fn in fns.values():
        fn()
    runs = {label: [] for label in fns}
    for _ in range(repeats):
        for label, fn in fns.items():
            c0, t0 = time.process_time(), time.perf_counter()
            fn()
            runs[label].append(((time.perf_counter() - t0) * 1e3, (time.process_time() - c0) * 1e3))
    out = {}
    for label, r in runs.items():
        best = min(r)
        out[label] = (best[0], statistics.median(w for w, _ in r), best[1])
    return out


def matmul_gflops(n: int = 2048, repeats: int = 5) -> float:
    import torch

    a, b = torch.randn(n, n), torch.randn(n, n)
    best, _ = timed(lambda: a @ b, repeats)
    return 2 * n**3 / (best / 1e3) / 1e9


def load_slice(path: Path) -> tuple[np.ndarray, np.ndarray]:
    with np.load(path) as npz:
        imgs, gts = npz["imgs"], npz["gts"] > 0
    z = int(np.argmax(gts.sum(axis=(1, 2))))
    ys, xs = np.nonzero(gts[z])
    return imgs[z], np.array([xs.min(), ys.min(), xs.max(), ys.max()], dtype=np.float64)


def row(label: str, best: float, median: float, target: float | None = None, extra: str = "") -> None:
    mark = "" if target is None else f"  target <= {target:.0f} ms: {'OK' if best <= target else 'MISSED'}"
    print(f"  {label:<38} best {best:9.1f} ms   median {median:9.1f} ms{mark}{extra}")


def precision_check(device: str, data: Path, repeats: int) -> int:
    """Masks and timings of LiteMedSAM at float32 / bf16 / fp16 autocast on ``device``."""
    import torch

    from samwidgets.models import get_spec
    from samwidgets.models.litemedsam import LiteMedSAMPredictor, build

    base = build(get_spec("litemedsam"), device=device, backend="torch")
    print(f"LiteMedSAM precision check on {device} "
          f"({torch.cuda.get_device_name(0) if device.startswith('cuda') else 'cpu'})")

    def sync():
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    def dice(a, b):
        return 2.0 * float((a & b).sum()) / max(1.0, float(a.sum() + b.sum()))

    files = sorted(data.glob("*.npz"))
    if not files:
        print(f"no npz files in {data}")
        return 1
    for precision in (None, "bf16", "fp16"):
        pred = LiteMedSAMPredictor(base.net, device=device, weights_id=base.weights_id, backend="torch",
                                   precision=precision)
        results = []
        for path in files:
            image, box = load_slice(path)
            with np.load(path) as npz:
                gts = npz["gts"] > 0
            gt = gts[int(np.argmax(gts.sum(axis=(1, 2))))]
            emb = pred.encode(image)
            mask = pred.decode(emb, box_xyxy=box).masks[0]
            results.append((path.name.split("_")[2], mask, gt))
        enc, _ = timed(lambda: (pred.encode_input(pred.preprocess(image)[0]), sync()), repeats)
        dec, _ = timed(lambda: (pred.decode(emb, box_xyxy=box), sync()), repeats)
        if precision is None:
            reference = {k: m for k, m, _ in results}
        cells = []
        for key, mask, gt in results:
            ref = reference[key]
            cells.append(f"{key}: dice-vs-fp32 {dice(mask, ref):.4f} flips {int((mask ^ ref).sum())} "
                         f"dice-vs-GT {dice(mask, gt):.3f}")
        print(f"  {str(precision or 'fp32'):>5}: encoder {enc:7.2f} ms, decoder {dec:6.2f} ms | " + " | ".join(cells))
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--slice", type=Path, default=DEFAULT_SLICE)
    parser.add_argument("--precision-check", action="store_true")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--data", type=Path, default=DEFAULT_SLICE.parent)
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore", FutureWarning)
    if args.precision_check:
        return precision_check(args.device, args.data, args.repeats)

    import torch

    from samwidgets.models import get_spec
    from samwidgets.models.cache import EmbeddingCache
    from samwidgets.models.litemedsam import LiteMedSAMPredictor, build

    image, box = load_slice(args.slice)
    print(f"LiteMedSAM on CPU: {os.cpu_count()} cores, torch threads {torch.get_num_threads()}, "
          f"torch {torch.__version__}, load average {os.getloadavg()[0]:.1f}; slice {image.shape} from {args.slice.name}")

    gflops = matmul_gflops()
    floor_ms = ENCODER_GFLOP / gflops * 1e3
    print(f"  float32 matmul throughput            {gflops:9.1f} GFLOP/s -> encoder FLOP floor {floor_ms:.0f} ms")

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        # the backend is chosen when the predictor is made: exports encoder and decoder to ONNX (cached on disk)
        fast = build(get_spec("litemedsam"), device="cpu", backend="auto", onnx_directory=Path(tmp) / "onnx")
        export_s = time.perf_counter() - t0
        emb = fast.encode(image)
        slow = LiteMedSAMPredictor(fast.net, device="cpu", weights_id=fast.weights_id, backend="torch")

        print("encoder (preprocess + image encoder, per slice):")
        best, med = timed(lambda: slow.encode(image), args.repeats)
        row("torch eager (inference_mode)", best, med, TARGETS["encoder"], f"  = {best / floor_ms:.1f}x FLOP floor")
        best, med = timed(lambda: fast.encode(image), args.repeats)
        row(f"fast path ({fast.backend})", best, med, TARGETS["encoder"], f"  = {best / floor_ms:.1f}x FLOP floor")
        print(f"  (fast-path predictor built incl. one-time ONNX export of encoder and decoder: {export_s:.1f} s)")

        print("decoder (prompt encoder + mask decoder + upsample to the slice), both paths interleaved:")
        from dataclasses import replace

        rng = np.random.default_rng(0)
        boxes = box[None] + rng.integers(-8, 9, size=(16, 4))
        slow_emb = emb  # each backend keeps its own one-slot per-embedding state, never in the Embedding
        one = timed_ab({"fast": lambda: fast.decode(emb, box_xyxy=box),
                        "torch": lambda: slow.decode(slow_emb, box_xyxy=box)}, args.repeats * 4)
        sixteen = timed_ab({"fast": lambda: fast.decode(emb, box_xyxy=boxes),
                            "torch": lambda: slow.decode(slow_emb, box_xyxy=boxes)}, args.repeats)
        prev = fast.decode(emb, box_xyxy=box).logits[0]  # iterative protocols feed the last logits back
        with_mask = timed_ab({"fast": lambda: fast.decode(emb, box_xyxy=box, mask_logits=prev),
                              "torch": lambda: slow.decode(slow_emb, box_xyxy=box, mask_logits=prev)}, args.repeats * 2)
        # two copies of the embedding decoded in turn: every decode misses the predictor's one-slot cache
        copies = itertools.cycle([replace(emb, features={"image_embed": emb.features["image_embed"].clone()})
                                  for _ in range(2)])
        fresh = timed_ab({"fast": lambda: fast.decode(next(copies), box_xyxy=box)}, args.repeats * 2)
        for label, pred in (("fast", fast), ("torch", slow)):
            name = f"{label} ({pred.decoder_backend})"
            b, m, c = one[label]
            row(f"{name}: 1 box", b, m, TARGETS["decoder"], f"  cpu {c:6.1f} ms")
            b, m, c = sixteen[label]
            row(f"{name}: 16 boxes, one decode()", b, m, None, f"  cpu {c:6.1f} ms  = {b / 16:.1f} ms per prompt")
            b, m, c = with_mask[label]
            row(f"{name}: 1 box + mask logits", b, m, TARGETS["decoder"], f"  cpu {c:6.1f} ms")
        b, m, c = fresh["fast"]
        row("fast: 1 box, first on an embedding", b, m, TARGETS["decoder"],
            f"  cpu {c:6.1f} ms  (incl. the once-per-embedding prepare)")
        print(f"  speed-up fast vs torch (best wall): 1 box {one['torch'][0] / one['fast'][0]:.2f}x, "
              f"16 boxes {sixteen['torch'][0] / sixteen['fast'][0]:.2f}x, "
              f"box + mask {with_mask['torch'][0] / with_mask['fast'][0]:.2f}x")

        print("embedding cache hit (encode() with the real EmbeddingCache):")
        cache = EmbeddingCache(Path(tmp) / "emb", memory_bytes=1 << 28)
        cached = LiteMedSAMPredictor(fast.net, device="cpu", weights_id=fast.weights_id, cache=cache, backend="torch")
        cached.encode(image)  # the one miss: runs the encoder and fills the cache
        best, med = timed(lambda: cached.encode(image), args.repeats * 4)
        row("memory tier", best, med, TARGETS["cache"])
        disk_only = LiteMedSAMPredictor(fast.net, device="cpu", weights_id=fast.weights_id,
                                        cache=EmbeddingCache(Path(tmp) / "emb", memory_bytes=0), backend="torch")
        best, med = timed(lambda: disk_only.encode(image), args.repeats * 4)
        row("disk tier (memory bound 0)", best, med, TARGETS["cache"])
        assert cached.stats["encoder_calls"] == 1 and disk_only.stats["encoder_calls"] == 0
        if fast.engine.name == "onnx":
            decode_beside_encode(fast, emb, box, args.repeats * 2)
    return 0


def decode_beside_encode(fast, emb, box, repeats: int) -> None:
    """One box decode while another thread encodes without pause (the viewer's prefetch), with the
    encoder's threads at normal and at background priority (samwidgets.priority), against the decode alone."""
    import threading

    from samwidgets.models.onnx_encoder import cpu_session
    from samwidgets.priority import background_nice, lower_this_thread, made_in_background_thread

    x = np.random.default_rng(0).random((1, 3, 256, 256), dtype=np.float32)
    threads = fast.engine.encoder.session.get_session_options().intra_op_num_threads
    print("one box decode while an encode runs in another thread (the viewer's prefetch):")
    best, med = timed(lambda: fast.decode(emb, box_xyxy=box), repeats)
    row("alone", best, med)
    for label, nice in (("encoder at normal priority", 0), (f"encoder at background priority (nice +{background_nice()})",
                                                            background_nice())):
        session = made_in_background_thread(lambda: cpu_session(fast.engine.encoder.path, threads=threads), nice=nice)
        stop, encodes = threading.Event(), []

        def encode_on(session=session, nice=nice):
            lower_this_thread(nice)
            while not stop.is_set():
                t0 = time.perf_counter()
                session.run(None, {session.get_inputs()[0].name: x})
                encodes.append(time.perf_counter() - t0)

        worker = threading.Thread(target=encode_on, daemon=True)
        worker.start()
        time.sleep(0.5)
        samples = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fast.decode(emb, box_xyxy=box)
            samples.append(time.perf_counter() - t0)
            time.sleep(0.03)
        stop.set()
        worker.join()
        a = np.asarray(samples) * 1000
        row(label, float(a.min()), float(np.median(a)),
            extra=f"  encodes meanwhile {1000 * float(np.median(encodes)):.0f} ms each")


if __name__ == "__main__":
    sys.exit(main())
