"""The training loop: box prompts with seeded jitter, loss Dice + binary cross-entropy, validation Dice per
epoch, early stopping on it.

As MedSAM / LiteMedSAM and the SAM2-in-medicine study (protocols.md "Transfer learning"): box prompts,
prompt encoder frozen, mask decoder (and with ``train_encoder`` the image encoder) updated, loss =
soft Dice (on sigmoid probabilities, 1 - (2 sum(p g) + 1) / (sum(p) + sum(g) + 1), per sample) + mean
binary cross-entropy with logits, both on the decoder's (256, 256) low-resolution logits against the
target resized to that scale (see :mod:`.heads`). AdamW; one optimiser step per batch of samples (each
sample is its own forward: the samples have different image embeddings).

Each training box is the tight box of the mask with every side moved by an integer in [-jitter, jitter]
original pixels (``prompts.box_from_mask``), drawn from the ``rng``; the sample order of each epoch is an
``rng`` permutation. Validation uses the tight box without jitter; its Dice is that of the thresholded
low-resolution logits (> 0) against the 256-scale target inside the valid (unpadded) region, mean over
samples. Epoch 0 is the validation Dice before any update. Training runs on ``threads`` torch threads
(default 1, restored after): with the same seed, data and thread count the CPU run is deterministic (no
other randomness is used), and on a busy 2-core machine one thread was ~3x faster than two (decoder
forward + backward 0.9 vs 2.7 s per sample under load 8).

Early stopping: after ``patience`` epochs without a validation Dice better than the best by more than
``min_delta`` training stops; the weights of the best epoch are kept (the last epoch's without validation
samples).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import numpy as np

from samwidgets.prompts.geometry import BOX_JITTER_PX, box_from_mask


@dataclass
class TrainConfig:
    """Hyper-parameters (recorded in the output directory)."""

    epochs: int = 10
    batch_size: int = 4
    lr: float = 1e-4
    weight_decay: float = 0.01
    jitter: int = BOX_JITTER_PX
    patience: int = 3
    min_delta: float = 1e-4
    max_steps: int | None = None  # stop after this many optimiser steps in all (tests, smoke runs)

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class TrainResult:
    history: list[dict] = field(default_factory=list)   # per epoch: epoch, train_loss, val_dice, seconds
    step_losses: list[float] = field(default_factory=list)
    best_epoch: int = 0
    best_state: dict | None = None
    stopped_early: bool = False


def dice_bce(logits, target):
    """Soft Dice + BCE with logits for (B, 1, S, S) logits and (B, 1, S, S) 0/1 targets; scalar tensor."""
    import torch.nn.functional as F

    p = logits.sigmoid().flatten(1)
    g = target.flatten(1)
    dice = 1.0 - (2.0 * (p * g).sum(1) + 1.0) / (p.sum(1) + g.sum(1) + 1.0)
    return dice.mean() + F.binary_cross_entropy_with_logits(logits, target)


def _targets(head, samples):
    import torch

    out = []
    for s in samples:
        t, valid = head.target(s.mask)
        out.append((torch.from_numpy(t)[None, None].to(head.predictor.device), valid))
    return out


def validation_dice(head, samples, targets) -> float:
    """Mean Dice of the low-res masks (logits > 0) for the tight, unjittered box, inside the valid region."""
    import torch

    if not samples:
        return float("nan")
    head.train(False)
    scores = []
    with torch.no_grad():
        for s, (t, (h, w)) in zip(samples, targets):
            low = head.logits(head.features(s), box_from_mask(s.mask), s.mask.shape)
            pred = (low[0, 0, :h, :w] > 0).float()
            gt = t[0, 0, :h, :w]
            denom = float(pred.sum() + gt.sum())
            scores.append(1.0 if denom == 0 else 2.0 * float((pred * gt).sum()) / denom)
    return float(np.mean(scores))


def _epoch(head, opt, samples, targets, config, rng, result, bar) -> float:
    head.train(True)
    order = rng.permutation(len(samples))
    losses = []
    for start in range(0, len(order), config.batch_size):
        if config.max_steps is not None and len(result.step_losses) >= config.max_steps:
            break
        batch = order[start:start + config.batch_size]
        opt.zero_grad(set_to_none=True)
        total = 0.0
        for i in batch:
            s = samples[i]
            box = box_from_mask(s.mask, jitter=config.jitter, rng=rng) if config.jitter else box_from_mask(s.mask)
            loss = dice_bce(head.logits(head.features(s), box, s.mask.shape), targets[i][0]) / len(batch)
            loss.backward()
            total += float(loss.detach())
        opt.step()
        result.step_losses.append(total)
        losses.append(total)
        if bar is not None:
            bar.update(len(batch))
            bar.set_postfix(loss=f"{total:.4f}")
    return float(np.mean(losses)) if losses else float("nan")


def train(head, train_samples, val_samples, *, config: TrainConfig, rng: np.random.Generator,
          progress: bool = True, threads: int | None = 1) -> TrainResult:
    """Fine-tune ``head`` (see :mod:`.heads`) on ``train_samples``; returns the history and best weights.

    Samples need ``features`` (from :func:`samwidgets.models.finetune.encode_samples`) unless the head
    trains its encoder (then ``prepared``). ``threads``: torch threads while training (None: unchanged).
    """
    import torch

    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(int(threads))
    try:
        return _train(head, train_samples, val_samples, config=config, rng=rng, progress=progress)
    finally:
        torch.set_num_threads(before)


def _train(head, train_samples, val_samples, *, config, rng, progress) -> TrainResult:
    import torch
    from tqdm.auto import tqdm

    opt = torch.optim.AdamW(head.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    t_train, t_val = _targets(head, train_samples), _targets(head, val_samples)
    result = TrainResult()
    best = validation_dice(head, val_samples, t_val)
    result.history.append({"epoch": 0, "train_loss": float("nan"), "val_dice": best, "seconds": 0.0})
    result.best_state = head.state_dict()
    stale = 0
    for epoch in range(1, config.epochs + 1):
        t0 = time.perf_counter()
        with tqdm(total=len(train_samples), desc=f"epoch {epoch}/{config.epochs}", disable=not progress,
                  leave=False) as bar:
            loss = _epoch(head, opt, train_samples, t_train, config, rng, result, bar)
        dice = validation_dice(head, val_samples, t_val)
        result.history.append({"epoch": epoch, "train_loss": loss, "val_dice": dice,
                               "seconds": time.perf_counter() - t0})
        if not val_samples or dice > best + config.min_delta:
            best, stale = dice, 0
            result.best_epoch, result.best_state = epoch, head.state_dict()
        else:
            stale += 1
        if stale >= config.patience:
            result.stopped_early = True
            break
        if config.max_steps is not None and len(result.step_losses) >= config.max_steps:
            break
    head.train(False)
    return result
