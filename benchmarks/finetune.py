"""Decoder-only fine-tuning of LiteMedSAM on ~80 Kvasir-SEG images (cached embeddings), and what it does.

    python benchmarks/finetune.py [--train 80] [--val 5] [--epochs 5] [--second data_manifests/busi.yaml]
                                  [--second-cases 20] [--out DIR] [--cache-dir DIR]

Prints: encode time (once per image, through the embedding cache), seconds per epoch (decoder passes only),
the per-epoch history, and base vs fine-tuned Dice (box prompt, full resolution, the ordinary sweep) with
paired differences and a Wilcoxon test on the held-out Kvasir images and on a second dataset the run never
saw. Whatever the result is, it is printed: gains and losses.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--manifest", default=str(REPO / "data_manifests" / "kvasir_seg.yaml"))
    ap.add_argument("--train", type=int, default=80, help="training cases")
    ap.add_argument("--val", type=int, default=5, help="validation cases (early stopping)")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--second", default=str(REPO / "data_manifests" / "busi.yaml"))
    ap.add_argument("--second-cases", type=int, default=20)
    ap.add_argument("--out", default=None)
    ap.add_argument("--cache-dir", default=None, help="embedding cache (default: a temporary folder)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    from samwidgets.analysis import stats
    from samwidgets.analysis.finetune import base_and_tuned, finetune_sweep
    from samwidgets.manifest import load_manifest
    from samwidgets.models.cache import EmbeddingCache
    from samwidgets.models.finetune import TrainConfig, finetune

    tmp = Path(tempfile.mkdtemp(prefix="samwidgets-ft-bench-"))
    out = Path(args.out) if args.out else tmp / "run"
    cache = EmbeddingCache(args.cache_dir or tmp / "emb")
    n = len(load_manifest(args.manifest).cases)
    n_test = n - args.train - args.val
    if n_test < 1:
        raise SystemExit(f"{n} cases: fewer than --train + --val + 1")
    config = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, patience=args.epochs)
    t0 = time.perf_counter()
    run = finetune([args.manifest], model="litemedsam", out=out, device=args.device, config=config,
                   seed=args.seed, val_fraction=args.val / n, test_fraction=n_test / n, cache=cache)
    wall = time.perf_counter() - t0
    hist = run.result.history
    epoch_s = [h["seconds"] for h in hist if h["epoch"] > 0]
    print(f"cases: train {len(run.split['train'])}, val {len(run.split['val'])}, held-out {len(run.split['test'])}")
    print(f"fine-tuning wall {wall:.1f} s: encode + setup {wall - sum(epoch_s):.1f} s, "
          f"{np.mean(epoch_s):.1f} s per epoch ({run.n_samples['train']} samples, decoder only)")
    for h in hist:
        print(f"  epoch {h['epoch']}: train loss {h['train_loss']:.4f}  val Dice {h['val_dice']:.4f}")
    print(f"best epoch {run.result.best_epoch}; checkpoint {run.checkpoint}")

    t1 = time.perf_counter()
    df = finetune_sweep(out, extra_manifests=[args.second], max_cases=args.second_cases, device=args.device,
                        cache=cache, seed=args.seed)
    print(f"evaluation sweep {time.perf_counter() - t1:.1f} s")
    base, tuned = base_and_tuned(out)
    rng = np.random.default_rng(args.seed)
    for dataset, part in df.groupby("dataset", sort=True):
        pairs, _, _ = stats.compare(part, column="model", a=base, b=tuned, metric="dice")
        t = stats.paired_test(pairs["diff"], rng=rng)
        print(f"{dataset}: n={t.n} Dice base {pairs['dice_a'].mean():.4f} -> fine-tuned {pairs['dice_b'].mean():.4f}"
              f"  diff {t.mean_diff:+.4f} [{t.ci_low:+.4f}, {t.ci_high:+.4f}]  better {int((pairs['diff'] > 0).sum())}"
              f" / worse {int((pairs['diff'] < 0).sum())}  Wilcoxon p={t.pvalue:.3g}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
