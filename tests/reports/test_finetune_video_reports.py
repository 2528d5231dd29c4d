"""The finetune_comparison and video_propagation reports execute (papermill) on tiny real inputs."""

from __future__ import annotations

import re

import pytest

from samwidgets.reports import run_report

from .conftest import REPO

SAMPLE = REPO / "data_manifests" / "sample.yaml"


def _text(html: str) -> str:
    html = re.sub(r"<(style|script)\b.*?</\1>", "", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def _images(html: str) -> int:
    return len(re.findall(r'<img [^>]*src="data:image/png;base64,', html))


def test_finetune_comparison(session_cache, tmp_path, monkeypatch):
    """A one-step LiteMedSAM run on the first 2D sample cases, then the report on its held-out split."""
    import dataclasses

    from samwidgets.manifest import load_manifest
    from samwidgets.models.cache import EmbeddingCache
    from samwidgets.models.finetune import TrainConfig, finetune

    monkeypatch.setenv("SAMWIDGETS_CACHE_DIR", str(session_cache))
    sample = load_manifest(SAMPLE)
    five = dataclasses.replace(sample, cases=[c for c in sample.cases if c.dims == 2][:5])
    run = finetune([five], out=tmp_path / "run", device="cpu", val_fraction=0.2, test_fraction=0.4,
                   config=TrainConfig(epochs=1, max_steps=1, batch_size=2), progress=False,
                   cache=EmbeddingCache(session_cache / "embeddings"))
    assert len(run.split["test"]) == 2
    report = run_report("finetune_comparison", {"run_dir": str(run.out), "device": "cpu", "cache_dir": str(session_cache),
                                                "n_boot": 50, "k": 2, "replay": False}, out_dir=tmp_path / "reports")
    html = report.html.read_text()
    text = _text(html)
    assert "Wilcoxon signed-rank" in text and "Training curves" in text and "paired units" in text
    assert _images(html) >= 3  # training curves, paired plot, failure types


def test_video_propagation_report(session_cache, tmp_path, shared_data, tmp_path_factory, monkeypatch):
    """The synthetic clip with LiteMedSAM chaining and SAM2-T at random weights side by side."""
    pytest.importorskip("sam2")
    monkeypatch.setenv("SAMWIDGETS_CACHE_DIR", str(session_cache))  # the kernel's ONNX export goes there too
    from tests.models import random_weights as rw

    ckpt = rw.checkpoint_file("sam2_t", tmp_path_factory)
    report = run_report("video_propagation", {"sam2_model": "sam2_t", "sam2_checkpoint": str(ckpt),
                                              "cache_dir": str(session_cache), "device": "cpu",
                                              "synthetic_frames": 5},
                        out_dir=tmp_path / "reports")
    html = report.html.read_text()
    text = _text(html)
    assert "Dice per frame" in text and "Where tracking is lost" in text
    assert "video_chain_box_middle" in text and "video_sam2_box_middle" in text
    assert "distance from the prompted frame" in text
    assert _images(html) == 3  # per-frame Dice, Dice against distance, the frames where tracking is lost
