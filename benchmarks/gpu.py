"""GPU check and timings: the CUDA paths of every backend, against the CPU path, in one run.

    python benchmarks/gpu.py [--device cuda] [--repeats 20]

Runs LiteMedSAM (real weights) on an embedded-sample CT lesion slice on the GPU and on the CPU: encoder
and decoder times, masks agreement (Dice CUDA vs CPU), autocast bf16 agreement, and a disk round trip of
the embedding cache on the GPU (decoded logits identical). Then SAM ViT-B and SAM2-T at random weights
(real architectures; checkpoint saved to a temporary file and loaded back): GPU encoder and decoder times
and exact logits from the cached embedding. Prints every figure; exits non-zero when a check fails.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from samwidgets import models  # noqa: E402
from samwidgets.metrics import dice  # noqa: E402
from samwidgets.models.cache import EmbeddingCache  # noqa: E402


def timed(fn, *, repeats: int, sync) -> float:
    """Median wall time in ms of fn() after one warm-up call."""
    fn()
    sync()
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        sync()
        out.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(out)


def sample_slice():
    path = sorted((REPO / "data_manifests/sample/deeplesion").glob("*.npz"))[0]
    with np.load(path) as d:
        imgs, gts = d["imgs"], d["gts"]
    z = int(np.argmax(gts.reshape(len(gts), -1).sum(1)))
    ys, xs = np.nonzero(gts[z])
    box = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], np.float32)
    return path.name, imgs[z], gts[z] > 0, box


def sample_volume():
    path = sorted((REPO / "data_manifests/sample/deeplesion").glob("*.npz"))[0]
    with np.load(path) as d:
        return d["imgs"], d["gts"] > 0


def random_checkpoint(name: str, folder: Path) -> Path:
    import torch

    if name.startswith("sam2"):
        from sam2.build_sam import build_sam2

        net = build_sam2("configs/sam2.1/sam2.1_hiera_t.yaml", ckpt_path=None, device="cpu")
        path = folder / "sam2_random.pt"
        torch.save({"model": net.state_dict()}, path)
    else:
        from segment_anything import sam_model_registry

        net = sam_model_registry["vit_b"]()
        path = folder / "sam_random.pth"
        torch.save(net.state_dict(), path)
    return path


def main() -> int:
    import torch

    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--repeats", type=int, default=20)
    args = ap.parse_args()
    dev = args.device
    if dev == "cuda" and not torch.cuda.is_available():
        print("no CUDA device: nothing to check")
        return 1
    sync = torch.cuda.synchronize if dev == "cuda" else (lambda: None)
    print(f"torch {torch.__version__}; device {torch.cuda.get_device_name(0) if dev == 'cuda' else dev}")
    failures = []
    name, img, gt, box = sample_slice()
    boxes16 = np.repeat(box[None], 16, axis=0)
    print(f"slice: {name} {img.shape}, box {box.tolist()}")

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        # --- LiteMedSAM, real weights -----------------------------------------------------------
        gpu = models.load("litemedsam", device=dev)
        cpu = models.load("litemedsam", device="cpu", backend="torch")
        emb_g, emb_c = gpu.encode(img), cpu.encode(img)
        m_g = gpu.decode(emb_g, box_xyxy=box).masks[0]
        m_c = cpu.decode(emb_c, box_xyxy=box).masks[0]
        agree = dice(m_g, m_c)
        print(f"litemedsam {dev}: encoder {timed(lambda: gpu.encode_input(gpu.preprocess(img)[0]), repeats=args.repeats, sync=sync):.1f} ms/slice")
        print(f"litemedsam {dev}: decoder 1 prompt {timed(lambda: gpu.decode(emb_g, box_xyxy=box), repeats=args.repeats, sync=sync):.1f} ms, "
              f"16 prompts {timed(lambda: gpu.decode(emb_g, box_xyxy=boxes16), repeats=args.repeats, sync=sync):.1f} ms")
        print(f"litemedsam: Dice(mask {dev}, mask cpu) = {agree:.4f}; Dice vs ground truth {dev} {dice(m_g, gt):.3f}, cpu {dice(m_c, gt):.3f}")
        if agree < 0.99:
            failures.append("litemedsam CUDA mask differs from CPU")
        bf = models.load("litemedsam", device=dev, precision="bf16") if dev == "cuda" else None
        if bf is not None:
            m_b = bf.decode(bf.encode(img), box_xyxy=box).masks[0]
            print(f"litemedsam bf16 autocast: Dice vs fp32 mask {dice(m_b, m_g):.4f}; encoder "
                  f"{timed(lambda: bf.encode_input(bf.preprocess(img)[0]), repeats=args.repeats, sync=sync):.1f} ms")
        cache = EmbeddingCache(tmp / "cache", memory_bytes=0)
        cached = models.load("litemedsam", device=dev, cache=cache)
        first = cached.decode(cached.encode(img), box_xyxy=box).logits
        cache2 = EmbeddingCache(tmp / "cache", memory_bytes=0)
        again = models.load("litemedsam", device=dev, cache=cache2)
        second = again.decode(again.encode(img), box_xyxy=box).logits
        same = np.array_equal(first, second) and again.stats["encoder_calls"] == 0
        print(f"litemedsam cache disk round trip on {dev}: identical logits {same}; "
              f"hit {timed(lambda: again.encode(img), repeats=args.repeats, sync=sync):.1f} ms")
        if not same:
            failures.append("litemedsam cached logits differ")

        # --- SAM ViT-B and SAM2-T at random weights ------------------------------------------------
        for model in ("sam_vit_b", "sam2_t"):
            ckpt = random_checkpoint(model, tmp)
            p = models.load(model, checkpoint=ckpt, device=dev)
            enc = timed(lambda: p.encode_input(p.preprocess(img)[0]), repeats=max(3, args.repeats // 4), sync=sync)
            emb = p.encode(img)
            dec = timed(lambda: p.decode(emb, box_xyxy=box, multimask=True), repeats=args.repeats, sync=sync)
            c = EmbeddingCache(tmp / f"cache_{model}", memory_bytes=0)
            p1 = models.load(model, checkpoint=ckpt, device=dev, cache=c)
            l1 = p1.decode(p1.encode(img), box_xyxy=box).logits
            p2 = models.load(model, checkpoint=ckpt, device=dev, cache=EmbeddingCache(tmp / f"cache_{model}", memory_bytes=0))
            e2 = p2.encode(img)
            l2 = p2.decode(e2, box_xyxy=box).logits
            same = np.array_equal(l1, l2) and p2.stats["encoder_calls"] == 0
            print(f"{model} (random weights) {dev}: encoder {enc:.1f} ms/slice, decoder (multimask) {dec:.1f} ms, "
                  f"cached logits identical {same}, features {sorted(e2.features)}")
            if not same:
                failures.append(f"{model} cached logits differ")
        # --- 3D: LiteMedSAM box chaining and SAM2 video propagation on the sample CT volume ---------
        from samwidgets.models.propagate import propagate_box_3d
        from samwidgets.models.sam2_video import build_video

        vol, gt3 = sample_volume()
        zs = np.nonzero(gt3.any(axis=(1, 2)))[0]
        ys, xs = np.nonzero(gt3.any(axis=0))
        box3d = np.array([xs.min(), ys.min(), zs.min(), xs.max(), ys.max(), zs.max()], np.float32)
        chain = models.load("litemedsam", device=dev)
        t0 = time.perf_counter()
        m3 = propagate_box_3d(chain, vol, box3d)
        sync()
        print(f"litemedsam 3D box chaining on {dev}: {len(zs)} slices in {(time.perf_counter() - t0) * 1e3:.0f} ms, "
              f"encoder calls {chain.stats['encoder_calls']}, Dice 3D {dice(m3, gt3):.3f}")
        video = build_video("sam2_t", checkpoint=tmp / "sam2_random.pt", device=dev)
        zmid = int(zs[len(zs) // 2])
        yy, xx = np.nonzero(gt3[zmid])
        t0 = time.perf_counter()
        mv = video.propagate(vol, z=zmid, box_xyxy=np.array([xx.min(), yy.min(), xx.max() + 1, yy.max() + 1], np.float32))
        sync()
        print(f"sam2_t (random weights) video propagation on {dev}: {vol.shape[0]} slices both ways in "
              f"{(time.perf_counter() - t0) * 1e3:.0f} ms, mask shape {mv.shape} {mv.dtype}")
    print("FAILED: " + "; ".join(failures) if failures else "all GPU checks passed")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
