"""Fine-tuning: split by case, the loss, and real runs (LiteMedSAM on real Kvasir images; SAM2-T at random
weights on a real CT slice) in which the loss falls, the checkpoint loads and changes the masks."""

from __future__ import annotations

import json

import numpy as np
import pytest

from samwidgets.errors import InputError, ModelError
from samwidgets.models.finetune import Sample, TrainConfig, dice_bce, encode_samples, read_record, split_by_case
from samwidgets.models.finetune.heads import head_for
from samwidgets.models.finetune.loop import train
from tests.conftest import REPO, need

KVASIR = REPO / "data_manifests" / "kvasir_seg.yaml"
N_CASES = 6  # 4 train, 1 val, 1 test


def test_split_is_by_case_seeded_and_complete():
    keys = [f"ds/case{i}" for i in range(10) for _ in range(3)]  # three slices per volume
    a = split_by_case(keys, val_fraction=0.2, test_fraction=0.3, rng=np.random.default_rng(1))
    b = split_by_case(keys, val_fraction=0.2, test_fraction=0.3, rng=np.random.default_rng(1))
    assert a == b
    assert [len(a[k]) for k in ("train", "val", "test")] == [5, 2, 3]
    assert sorted(a["train"] + a["val"] + a["test"]) == sorted(set(keys))
    assert split_by_case(keys, val_fraction=0.2, test_fraction=0.3, rng=np.random.default_rng(2)) != a
    with pytest.raises(InputError):
        split_by_case(keys[:3], val_fraction=0.5, test_fraction=0.5, rng=np.random.default_rng(0))


def test_dice_bce_matches_an_independent_computation():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(2, 1, 8, 8))
    target = (rng.random((2, 1, 8, 8)) > 0.5).astype(float)
    p = 1 / (1 + np.exp(-logits))
    dice = 1 - (2 * (p * target).sum(axis=(1, 2, 3)) + 1) / (p.sum(axis=(1, 2, 3)) + target.sum(axis=(1, 2, 3)) + 1)
    bce = -(target * np.log(p) + (1 - target) * np.log(1 - p)).mean()
    got = float(dice_bce(torch.tensor(logits), torch.tensor(target)))
    assert got == pytest.approx(dice.mean() + bce, rel=1e-9)
    perfect = torch.tensor(np.where(target > 0, 30.0, -30.0))
    assert float(dice_bce(perfect, torch.tensor(target))) < 0.02  # only the +1 smoothing remains


@pytest.fixture(scope="module")
def kvasir_run(shared_data, tmp_path_factory):
    """`samwidgets finetune` on the first 6 Kvasir images: 4 train, 1 val, 1 test; 4 full-batch steps."""
    from samwidgets.cli import main

    need((shared_data / "endoscopy_polyp" / "kvasir-seg").is_dir(), "Kvasir-SEG missing from shared data")
    tmp = tmp_path_factory.mktemp("ft")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SAMWIDGETS_LITEMEDSAM_BACKEND", "torch")  # no ONNX export in this test
        mp.setenv("SAMWIDGETS_CACHE_DIR", str(tmp / "cache"))
        code = main(["finetune", "--manifest", str(KVASIR), "--model", "litemedsam", "--out", str(tmp / "run"),
                     "--max-cases", str(N_CASES), "--val-fraction", "0.2", "--test-fraction", "0.2",
                     "--epochs", "4", "--batch-size", "4", "--jitter", "0", "--lr", "2e-4", "--device", "cpu",
                     "--cache-dir", str(tmp / "emb"), "--no-progress"])
    assert code == 0
    return tmp


def test_finetune_loss_falls_and_output_is_complete(kvasir_run):
    out = kvasir_run / "run"
    rec = read_record(out)
    split = json.loads((out / "split.json").read_text())
    assert [len(split[k]) for k in ("train", "val", "test")] == [4, 1, 1]
    assert not set(split["train"]) & set(split["test"]) and not set(split["train"]) & set(split["val"])
    losses = rec["step_losses"]
    assert len(losses) == 4 and losses[-1] < losses[0], losses
    assert [h["epoch"] for h in rec["history"]] == [0, 1, 2, 3, 4]
    assert all(0 <= h["val_dice"] <= 1 for h in rec["history"])
    assert len(rec["base_weights_sha256"]) == 64 and len(rec["data_sha256"]) == 64
    assert rec["config"]["jitter"] == 0 and rec["seed"] == 0 and rec["base_model"] == "litemedsam"


def test_checkpoint_loads_and_changes_the_masks(kvasir_run, monkeypatch):
    import torch

    import samwidgets.models as models
    from samwidgets.manifest import load_manifest

    monkeypatch.setenv("SAMWIDGETS_LITEMEDSAM_BACKEND", "torch")
    out = kvasir_run / "run"
    base = models.load("litemedsam", device="cpu")
    tuned = models.load("litemedsam", checkpoint=out / "checkpoint.pth", device="cpu")
    by_dir = models.load(str(out), device="cpu")  # the run directory as a registry name
    assert by_dir.name == str(out) and by_dir.weights_id == tuned.weights_id == read_record(out)["checkpoint_sha256"]
    sb, st = base.net.state_dict(), tuned.net.state_dict()
    assert all(torch.equal(sb[k], st[k]) for k in sb if not k.startswith("mask_decoder."))
    assert any(not torch.equal(sb[k], st[k]) for k in sb if k.startswith("mask_decoder."))
    test_key = json.loads((out / "split.json").read_text())["test"][0]
    case = next(c for c in load_manifest(KVASIR).cases if c.key == test_key)
    image, labels = case.load()
    mask = next(iter(labels.values()))
    ys, xs = np.nonzero(mask)
    box = np.array([xs.min(), ys.min(), xs.max(), ys.max()], dtype=float)
    emb = base.encode(image.array)  # the encoder is unchanged: one encode serves both decoders
    m_base = base.decode(emb, box_xyxy=box).masks[0]
    m_tuned = tuned.decode(emb, box_xyxy=box).masks[0]
    assert (m_base != m_tuned).sum() > 0


def test_training_is_deterministic_for_a_seed(kvasir_run, monkeypatch):
    import samwidgets.models as models
    from samwidgets.manifest import load_manifest
    from samwidgets.models.cache import EmbeddingCache
    from samwidgets.models.finetune.data import collect_samples

    monkeypatch.setenv("SAMWIDGETS_LITEMEDSAM_BACKEND", "torch")
    pred = models.load("litemedsam", device="cpu", cache=EmbeddingCache(kvasir_run / "emb"))
    samples = collect_samples(load_manifest(KVASIR).cases[:2])
    encode_samples(pred, samples)
    assert pred.stats["encoder_calls"] == 0  # the run's embedding cache serves them
    head = head_for(pred)
    start = head.state_dict()
    cfg = TrainConfig(epochs=1, batch_size=1, jitter=5)
    runs = []
    for _ in range(2):
        head.load_state_dict(start)
        runs.append(train(head, samples, [], config=cfg, rng=np.random.default_rng(7), progress=False))
    assert runs[0].step_losses == runs[1].step_losses and len(runs[0].step_losses) == 2


def test_encoder_training_needs_a_gpu(shared_data, tmp_path, monkeypatch):
    import torch

    from samwidgets.models.finetune import finetune

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    need((shared_data / "endoscopy_polyp" / "kvasir-seg").is_dir(), "Kvasir-SEG missing from shared data")
    monkeypatch.setenv("SAMWIDGETS_LITEMEDSAM_BACKEND", "torch")
    with pytest.raises(ModelError, match="CUDA GPU"):
        finetune([KVASIR], out=tmp_path, max_cases=3, device="cpu", train_encoder=True, progress=False)


def test_sam2_decoder_overfits_a_tiny_set(shared_data, tmp_path_factory):
    """SAM2-T at random weights: the same trainer on SAM2's mask decoder; the loss on two objects falls."""
    pytest.importorskip("sam2")
    import samwidgets.models as models
    from tests.models import random_weights as rw

    enc = rw.encoded("sam2_t", tmp_path_factory, shared_data)
    pred = models.load("sam2_t", checkpoint=rw.checkpoint_file("sam2_t", tmp_path_factory), device="cpu")
    x0, y0, x1, y1 = enc.box.astype(int)
    big = np.zeros(enc.image.shape, bool)
    big[y0:y1, x0:x1] = True
    small = np.zeros(enc.image.shape, bool)
    small[y0 + 2:(y0 + y1) // 2, x0 + 2:(x0 + x1) // 2] = True
    samples = [Sample("ct/0", "ct", "CT", "lesion", 0, enc.image, m, features=enc.embedding.features)
               for m in (big, small)]
    head = head_for(pred)
    res = train(head, samples, [], config=TrainConfig(epochs=6, batch_size=2, jitter=0, lr=1e-3),
                rng=np.random.default_rng(0), progress=False)
    assert len(res.step_losses) == 6 and res.step_losses[-1] < 0.8 * res.step_losses[0], res.step_losses


def test_encoder_training_path_updates_the_encoder(kvasir_run, monkeypatch):
    """What --train-encoder runs on a GPU, run here for one step on the CPU: both encoder and decoder move."""
    import torch

    import samwidgets.models as models
    from samwidgets.manifest import load_manifest
    from samwidgets.models.cache import EmbeddingCache
    from samwidgets.models.finetune.data import collect_samples

    monkeypatch.setenv("SAMWIDGETS_LITEMEDSAM_BACKEND", "torch")
    pred = models.load("litemedsam", device="cpu", cache=EmbeddingCache(kvasir_run / "emb"))
    samples = collect_samples(load_manifest(KVASIR).cases[:1])
    encode_samples(pred, samples, prepared=True)
    assert samples[0].prepared.shape == (1, 3, 256, 256)
    head = head_for(pred, train_encoder=True)
    enc = next(pred.net.image_encoder.parameters()).detach().clone()
    dec = next(pred.net.mask_decoder.parameters()).detach().clone()
    prompt = next(pred.net.prompt_encoder.parameters()).detach().clone()
    train(head, samples, [], config=TrainConfig(epochs=1, batch_size=1, jitter=0, lr=1e-3),
          rng=np.random.default_rng(0), progress=False)
    assert not torch.equal(enc, next(pred.net.image_encoder.parameters()))
    assert not torch.equal(dec, next(pred.net.mask_decoder.parameters()))
    assert torch.equal(prompt, next(pred.net.prompt_encoder.parameters()))  # frozen
