"""``samwidgets finetune``: fine-tune a model's mask decoder on cached embeddings.

    samwidgets finetune --manifest data_manifests/kvasir_seg.yaml --model litemedsam --out runs/kvasir
    samwidgets evaluate --manifest ... --model runs/kvasir ...      # the run directory is a model name

A thin wrapper over :func:`samwidgets.models.finetune.finetune`.
"""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "finetune",
        help="fine-tune LiteMedSAM's or SAM2's mask decoder on box prompts (cached embeddings)",
        description="Train the mask decoder (prompt encoder frozen) on box prompts with seeded jitter, loss "
                    "Dice + BCE; cases are split by case into train/val/test (recorded); validation Dice per "
                    "epoch with early stopping. DIR gets checkpoint.pth, finetune.json and split.json.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--manifest", action="append", required=True, metavar="M", help="manifest YAML (repeatable)")
    p.add_argument("--model", default="litemedsam", help="litemedsam or a SAM2 name (sam2_t, ...)")
    p.add_argument("--checkpoint", default=None, metavar="PATH", help="base weights (default: the model's own)")
    p.add_argument("--out", required=True, metavar="DIR", help="output directory")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--jitter", type=int, default=5, help="box jitter, pixels per side (default 5)")
    p.add_argument("--patience", type=int, default=3, help="early stopping: epochs without improvement")
    p.add_argument("--max-steps", type=int, default=None, help="stop after N optimiser steps")
    p.add_argument("--val-fraction", type=float, default=0.2)
    p.add_argument("--test-fraction", type=float, default=0.2)
    p.add_argument("--max-cases", type=int, default=None, metavar="N", help="first N cases of each manifest")
    p.add_argument("--max-slices", type=int, default=5, help="slices per label of a 3D case")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="auto (cuda > mps > cpu), cpu, cuda, ...")
    p.add_argument("--cache-dir", default=None, metavar="DIR",
                   help="embedding cache directory (default: the user cache, so reruns encode nothing)")
    p.add_argument("--train-encoder", action="store_true",
                   help="also update the image encoder (needs a CUDA GPU)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    p.set_defaults(func=run)


def run(args) -> int:
    from samwidgets.models.cache import EmbeddingCache
    from samwidgets.models.finetune import TrainConfig, finetune

    config = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, jitter=args.jitter,
                         patience=args.patience, max_steps=args.max_steps)
    res = finetune(args.manifest, model=args.model, out=args.out, checkpoint=args.checkpoint, device=args.device,
                   config=config, seed=args.seed, val_fraction=args.val_fraction, test_fraction=args.test_fraction,
                   max_slices=args.max_slices, max_cases=args.max_cases, cache=EmbeddingCache(args.cache_dir),
                   train_encoder=args.train_encoder, progress=not args.no_progress)
    for h in res.result.history:
        print(f"epoch {h['epoch']}: train loss {h['train_loss']:.4f}  val Dice {h['val_dice']:.4f}")
    print(f"best epoch {res.result.best_epoch}; split {', '.join(f'{k} {len(v)}' for k, v in res.split.items())} "
          f"cases; checkpoint {res.checkpoint}")
    return 0
