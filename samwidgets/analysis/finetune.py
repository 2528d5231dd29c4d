"""Base against fine-tuned model: the held-out sweep and the training curves of a fine-tuning run.

A run directory (``samwidgets finetune --out DIR``) records its manifests and its split by case; the
held-out cases are its ``test`` split. :func:`finetune_sweep` evaluates the base model and the run (the
run directory is a registry model name) on the same held-out cases, plus optional other manifests the
run was not trained on, with the ordinary sweep; the comparison itself is the model-comparison machinery
(:func:`samwidgets.analysis.stats.compare` / ``paired_test`` / ``disagreements``).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from samwidgets.errors import ResultsError


def held_out_manifests(run_dir, *, split: str = "test") -> list:
    """The run's manifests restricted to the cases of ``split`` (loaded Manifest objects, in order)."""
    from samwidgets.manifest import load_manifest
    from samwidgets.models.finetune import read_record, read_split

    record, keys = read_record(run_dir), set(read_split(run_dir).get(split, []))
    if not keys:
        raise ResultsError(f"the run has no '{split}' cases", where=run_dir)
    out = []
    for path in record["manifests"]:
        m = load_manifest(path)
        cases = [c for c in m.cases if c.key in keys]
        if cases:
            out.append(dataclasses.replace(m, cases=cases))
    return out


def base_and_tuned(run_dir) -> tuple[str, str]:
    """(base model name, fine-tuned model name = the run directory as given)."""
    from samwidgets.models.finetune import read_record

    return read_record(run_dir)["base_model"], str(run_dir)


def finetune_sweep(run_dir, *, extra_manifests=(), max_cases: int | None = None, protocols=("box",),
                   seed: int = 0, device: str = "auto", cache=None, progress: bool = False) -> pd.DataFrame:
    """Results table of base and fine-tuned models on the held-out cases (all of them) and on the first
    ``max_cases`` cases of each of ``extra_manifests``. ``cache``: an EmbeddingCache or a directory."""
    from samwidgets.evaluation import run_sweep
    from samwidgets.manifest import load_manifest

    base, tuned = base_and_tuned(run_dir)
    extra = []
    for path in extra_manifests:
        m = load_manifest(path)
        extra.append(dataclasses.replace(m, cases=m.cases[:max_cases] if max_cases else m.cases))
    return run_sweep(held_out_manifests(run_dir) + extra, [base, tuned], list(protocols), seed=seed,
                     device=device, cache=cache, progress=progress)


def history_table(run_dir) -> pd.DataFrame:
    """Per-epoch history of the run: epoch, train_loss, val_dice, seconds (epoch 0: before training)."""
    from samwidgets.models.finetune import read_record

    return pd.DataFrame(read_record(run_dir)["history"])


def plot_training(run_dir) -> Figure:
    """Two panels: training loss per optimiser step (and per-epoch mean), validation Dice per epoch."""
    from samwidgets.models.finetune import read_record

    rec = read_record(run_dir)
    hist = pd.DataFrame(rec["history"])
    fig = Figure(figsize=(9, 3.2))
    ax1, ax2 = fig.subplots(1, 2)
    steps = np.asarray(rec.get("step_losses") or [], dtype=float)
    ax1.plot(np.arange(1, len(steps) + 1), steps, lw=0.8, alpha=0.6, label="per step")
    per_epoch = hist[hist["epoch"] > 0]
    if len(per_epoch) and len(steps):
        ends = np.linspace(len(steps) / len(per_epoch), len(steps), len(per_epoch))
        ax1.plot(ends, per_epoch["train_loss"], "o-", label="epoch mean")
    ax1.set(xlabel="optimiser step", ylabel="Dice + BCE loss", title="training loss")
    ax1.legend(fontsize=8)
    ax2.plot(hist["epoch"], hist["val_dice"], "o-")
    ax2.axvline(rec.get("best_epoch", 0), color="grey", ls=":", label=f"best epoch {rec.get('best_epoch')}")
    ax2.set(xlabel="epoch (0 = before training)", ylabel="validation Dice (256 scale)", title="validation")
    ax2.legend(fontsize=8)
    fig.tight_layout()
    return fig


def run_summary(run_dir) -> str:
    """One paragraph: base model, split sizes, samples, best epoch, seconds per epoch."""
    from samwidgets.models.finetune import read_record, read_split

    rec, split = read_record(run_dir), read_split(run_dir)
    secs = [h["seconds"] for h in rec["history"] if h["epoch"] > 0 and h.get("seconds")]
    sizes = ", ".join(f"{k} {len(split.get(k, []))}" for k in ("train", "val", "test"))
    return (f"{rec['base_model']} fine-tuned ({'encoder + ' if rec.get('train_encoder') else ''}mask decoder) on "
            f"{Path(str(run_dir)).name}: cases {sizes}; samples {rec.get('n_samples')}; best epoch "
            f"{rec.get('best_epoch')} of {len(rec['history']) - 1}"
            + (f"; {np.mean(secs):.1f} s per epoch" if secs else "") + f"; seed {rec.get('seed')}.")
