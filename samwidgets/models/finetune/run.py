"""One fine-tuning run: manifests -> split by case -> cached embeddings -> training -> output directory.

The image encoder runs once per training/validation slice through ``predictor.encode`` (so through the
embedding cache when one is given: a second run with the same cache encodes nothing) and an epoch costs
decoder passes only. ``train_encoder=True`` also updates the image encoder, which re-runs it with
gradients on every step; it needs a CUDA GPU (on a CPU one step of the LiteMedSAM TinyViT forward and
backward takes seconds per slice and SAM2's Hiera far more) and raises ModelError without one.

Memory: the encoder features of every training and validation slice stay in memory during training
(LiteMedSAM 4 MiB per slice; SAM2 about 21 MiB with its two high-resolution maps); bound them with
``max_cases`` / ``max_slices``.

Randomness: one ``SeedSequence(seed)`` spawns the split's and the training's Generators, so the split does
not depend on the training configuration.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from samwidgets.errors import ModelError
from samwidgets.models.finetune.data import Sample, collect_samples, data_hash, split_by_case
from samwidgets.models.finetune.heads import head_for
from samwidgets.models.finetune.loop import TrainConfig, TrainResult, train
from samwidgets.models.finetune.output import write_run


@dataclass
class FinetuneRun:
    """What :func:`finetune` returns: output directory, checkpoint path, split and training result."""

    out: Path
    checkpoint: Path
    split: dict
    result: TrainResult
    n_samples: dict


def encode_samples(predictor, samples: list[Sample], *, prepared: bool = False, progress: bool = False) -> None:
    """Fill each sample's ``features`` (one ``predictor.encode`` per distinct (case, slice)); with
    ``prepared`` also keep the model input (for encoder training)."""
    from tqdm.auto import tqdm

    memo: dict = {}
    for s in tqdm(samples, desc="encode", disable=not progress, leave=False):
        slot = (s.key, s.z)
        if slot not in memo:
            memo[slot] = (predictor.prepare(s.image).x if prepared else None, predictor.encode(s.image).features)
        s.prepared, s.features = memo[slot]


def _cases(manifests, max_cases: int | None) -> tuple[list[str], list]:
    from samwidgets.manifest import load_manifest

    paths, cases = [], []
    for m in [manifests] if isinstance(manifests, (str, Path)) or hasattr(manifests, "cases") else manifests:
        loaded = m if hasattr(m, "cases") else load_manifest(m)
        paths.append(str(Path(loaded.path).resolve()))
        cases.extend(loaded.cases[:max_cases] if max_cases else loaded.cases)
    return paths, cases


def finetune(manifests, *, model: str = "litemedsam", out, checkpoint=None, device: str = "auto",
             config: TrainConfig | None = None, seed: int = 0, val_fraction: float = 0.2,
             test_fraction: float = 0.2, max_slices: int = 5, max_cases: int | None = None, cache=None,
             train_encoder: bool = False, progress: bool = True) -> FinetuneRun:
    """Fine-tune ``model`` (LiteMedSAM or a SAM2 registry name) on the cases of ``manifests`` (paths, or
    loaded Manifest objects, e.g. with a subset of their cases; the record keeps their paths).

    Splits the cases by case key (``split_by_case``: test, val, train), trains on train, early-stops on
    val, and writes ``out`` (see :mod:`.output`). ``max_cases`` takes the first N cases of each manifest;
    ``max_slices`` bounds the slices per label of a 3D case. Returns a :class:`FinetuneRun`.
    """
    import torch

    from samwidgets.models import load

    config = config or TrainConfig()
    split_rng, train_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(int(seed)).spawn(2))
    manifest_paths, cases = _cases(manifests, max_cases)
    split = split_by_case([c.key for c in cases], val_fraction=val_fraction, test_fraction=test_fraction,
                          rng=split_rng)
    predictor = load(model, checkpoint=checkpoint, device=device, cache=cache)
    if train_encoder and not str(predictor.device).startswith("cuda"):
        raise ModelError("--train-encoder updates the image encoder and needs a CUDA GPU (device is "
                         f"'{predictor.device}'); on a CPU fine-tune the mask decoder only", where=model)
    head = head_for(predictor, train_encoder=train_encoder)
    by_split = {k: [c for c in cases if c.key in set(v)] for k, v in split.items()}
    samples = {k: collect_samples(by_split[k], max_slices=max_slices) if by_split[k] else []
               for k in ("train", "val")}
    for part in samples.values():
        encode_samples(predictor, part, prepared=train_encoder, progress=progress)
    result = train(head, samples["train"], samples["val"], config=config, rng=train_rng, progress=progress)
    record = {
        "base_model": model, "base_checkpoint": None if checkpoint is None else str(Path(checkpoint).resolve()),
        "base_weights_sha256": predictor.weights_id, "data_sha256": data_hash(cases),
        "manifests": manifest_paths, "seed": int(seed), "config": config.as_dict(),
        "train_encoder": bool(train_encoder), "device": str(predictor.device),
        "split_options": {"by": "case", "val_fraction": val_fraction, "test_fraction": test_fraction,
                          "max_slices": max_slices, "max_cases": max_cases},
        "n_samples": {k: len(v) for k, v in samples.items()},
        "versions": {"torch": torch.__version__, "python": platform.python_version()},
    }
    ckpt = write_run(Path(out), head=head, result=result, record=record, split={"seed": int(seed), **split})
    return FinetuneRun(Path(out), ckpt, split, result, record["n_samples"])
