"""The output directory of a fine-tuning run, and the registry entry made from it.

``DIR/checkpoint.pth``  the fine-tuned weights in the base model's own checkpoint layout (LiteMedSAM: a
                        state dict; SAM2: ``{"model": state_dict}``), so that
                        ``samwidgets.models.load(base, checkpoint="DIR/checkpoint.pth")`` loads it with the
                        same weights-only loading as the original weights.
``DIR/finetune.json``   base model, configuration, seed, manifests, sha256 of the data / base weights /
                        checkpoint, history (per epoch and per step), best epoch.
``DIR/split.json``      the case keys of train / val / test.

Every file is written atomically (:mod:`samwidgets.atomic`): a killed run never leaves a torn checkpoint.
A directory holding ``finetune.json`` is a model name :func:`samwidgets.models.load` and the sweeps accept
(:func:`spec_from_dir`).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from samwidgets.atomic import atomic_write, write_json_atomic
from samwidgets.errors import CheckpointError

CHECKPOINT = "checkpoint.pth"
RECORD = "finetune.json"
SPLIT = "split.json"
FORMAT = 1


def _clean(obj):
    """JSON-safe: NaN -> None."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    return obj


def write_run(out: Path, *, head, result, record: dict, split: dict) -> Path:
    """Write checkpoint, record and split into ``out``; returns the checkpoint path."""
    import torch

    from samwidgets.models.checkpoints import file_sha256

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    ckpt = atomic_write(out / CHECKPOINT, lambda tmp: torch.save(head.checkpoint_object(result.best_state), tmp))
    record = {"format": FORMAT, **record, "family": head.family, "checkpoint": CHECKPOINT,
              "checkpoint_sha256": file_sha256(ckpt), "best_epoch": result.best_epoch,
              "stopped_early": result.stopped_early, "history": result.history,
              "step_losses": result.step_losses}
    write_json_atomic(out / SPLIT, _clean(split))
    write_json_atomic(out / RECORD, _clean(record))
    return ckpt


def read_record(directory) -> dict:
    """``finetune.json`` of a run directory; CheckpointError when missing or unreadable."""
    path = Path(directory) / RECORD
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"not a fine-tuning output directory ({RECORD}: {exc})", where=directory) from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT or "base_model" not in data:
        raise CheckpointError(f"{RECORD} is not a samwidgets fine-tuning record (format {FORMAT})", where=path)
    return data


def read_split(directory) -> dict[str, list[str]]:
    path = Path(directory) / SPLIT
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"cannot read {SPLIT}: {exc}", where=directory) from exc


def is_run_dir(name) -> bool:
    try:
        return (Path(str(name)).expanduser() / RECORD).is_file()
    except (OSError, ValueError):
        return False


def spec_from_dir(directory, *, name: str | None = None):
    """A registry :class:`ModelSpec` for a run directory: the base model's builder with this run's
    checkpoint as the default checkpoint and its sha256 (checked at load). ``name`` defaults to the
    directory as given."""
    from dataclasses import replace

    from samwidgets.models.registry import get_spec

    directory = Path(str(directory)).expanduser()
    record = read_record(directory)
    base = get_spec(record["base_model"])
    ckpt = directory / record.get("checkpoint", CHECKPOINT)
    return replace(base, name=name or str(directory), filename=None, url=None,
                   sha256=record.get("checkpoint_sha256"), checkpoint=str(ckpt),
                   description=f"{base.name} fine-tuned ({directory.name}, best epoch {record.get('best_epoch')})")
