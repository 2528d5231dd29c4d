"""Fine-tuning LiteMedSAM's or SAM2's mask decoder on cached image embeddings (box prompts, Dice + BCE).

    from samwidgets.models.finetune import TrainConfig, finetune
    run = finetune(["data_manifests/kvasir_seg.yaml"], model="litemedsam", out="runs/kvasir",
                   config=TrainConfig(epochs=10), seed=0)
    predictor = samwidgets.models.load("litemedsam", checkpoint=run.checkpoint)
    predictor = samwidgets.models.load("runs/kvasir")        # the run directory is a model name too

Modules: :mod:`.data` (samples, split by case, data hash), :mod:`.heads` (per-model forward and
checkpoint layout), :mod:`.loop` (training, validation, early stopping), :mod:`.output` (the run
directory and its registry entry), :mod:`.run` (one run end to end). torch is imported lazily.
"""

from samwidgets.models.finetune.data import Sample, split_by_case
from samwidgets.models.finetune.loop import TrainConfig, TrainResult, dice_bce
from samwidgets.models.finetune.output import read_record, read_split, spec_from_dir
from samwidgets.models.finetune.run import FinetuneRun, encode_samples, finetune

__all__ = ["FinetuneRun", "Sample", "TrainConfig", "TrainResult", "dice_bce", "encode_samples", "finetune",
           "read_record", "read_split", "spec_from_dir", "split_by_case"]
