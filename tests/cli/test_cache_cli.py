"""`samwidgets cache precompute | info | clear` through samwidgets.cli.main."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pytest
import torch

import samwidgets.manifest
import samwidgets.models
from samwidgets.cli import main
from samwidgets.errors import ImageReadError
from samwidgets.io.image import Image
from samwidgets.models.cache import EmbeddingCache
from samwidgets.models.base_predictor import BasePredictor


class FakePredictor(BasePredictor):
    """Cheap deterministic 'model'; raises KeyboardInterrupt on encoder call number ``interrupt_at``."""

    def __init__(self, cache, interrupt_at=None):
        super().__init__(name="fake", device="cpu", weights_id="w0", cache=cache)
        self.interrupt_at = interrupt_at

    def preprocess(self, image):
        return image.astype(np.float32) / 255.0, image.shape[:2]

    def encode_input(self, x):
        if self.interrupt_at is not None and self.stats["encoder_calls"] + 1 == self.interrupt_at:
            raise KeyboardInterrupt
        return {"image_embed": torch.from_numpy(x.mean(axis=1)).reshape(1, -1)}


@dataclass
class FakeCase:
    key: str
    array: np.ndarray | None

    def load_image(self):
        if self.array is None:
            raise ImageReadError("truncated file", where=self.key)
        return Image(array=self.array, spacing=(1.0,) * min(self.array.ndim, 3))


@dataclass
class FakeManifest:
    cases: list


@pytest.fixture
def fake_world(monkeypatch, tmp_path):
    """Two 'manifests': a 5-slice volume + a 2D image, and a 3-slice volume; every load() is recorded."""
    rng = np.random.default_rng(0)
    manifests = {
        "a.yaml": FakeManifest([FakeCase("a/vol", (rng.random((5, 16, 20)) * 255).astype(np.uint8)),
                                FakeCase("a/img", (rng.random((12, 10)) * 255).astype(np.uint8))]),
        "b.yaml": FakeManifest([FakeCase("b/vol", (rng.random((3, 8, 8)) * 255).astype(np.uint8))]),
    }
    built = []

    def load(name, *, device="auto", cache=None, **kw):
        assert name == "fake"
        predictor = FakePredictor(cache, interrupt_at=state["interrupt_at"])
        built.append(predictor)
        return predictor

    state = {"interrupt_at": None}
    monkeypatch.setattr(samwidgets.manifest, "load_manifest", lambda path: manifests[str(path)])
    monkeypatch.setattr(samwidgets.models, "load", load)
    return state, built, manifests, tmp_path / "emb"


def run(*argv):
    return main(list(argv))


def test_precompute_interrupt_and_resume(fake_world, capsys):
    state, built, _, cache_dir = fake_world
    args = ["cache", "precompute", "a.yaml", "b.yaml", "--model", "fake", "--cache-dir", str(cache_dir),
            "--no-progress"]
    state["interrupt_at"] = 4  # Ctrl-C during the 4th encode
    assert run(*args) == 130
    assert built[-1].stats["encoder_calls"] == 3
    assert "run the same command again to resume" in capsys.readouterr().out
    assert EmbeddingCache(cache_dir).info()["entries"] == 3

    state["interrupt_at"] = None
    assert run(*args) == 0
    assert built[-1].stats["encoder_calls"] == 9 - 3  # only the remaining slices
    assert "9 slices: 6 embedded, 3 already cached" in capsys.readouterr().out
    assert run(*args) == 0 and built[-1].stats["encoder_calls"] == 0

    info = EmbeddingCache(cache_dir).info()
    assert info["entries"] == 9 and info["models"] == {"fake": 9} and info["stale_tmp_files"] == 0


def test_precompute_reencodes_a_truncated_entry_instead_of_counting_it_cached(fake_world, capsys):
    _, built, _, cache_dir = fake_world
    args = ["cache", "precompute", "b.yaml", "--model", "fake", "--cache-dir", str(cache_dir), "--no-progress"]
    assert run(*args) == 0
    entry = sorted(cache_dir.glob("*/*.swe"))[0]
    entry.write_bytes(entry.read_bytes()[:-40])  # torn after commit (e.g. a disk error)
    capsys.readouterr()
    assert run(*args) == 0
    assert "3 slices: 1 embedded, 2 already cached" in capsys.readouterr().out
    assert built[-1].stats["encoder_calls"] == 1


def test_precompute_max_cases_and_failing_case(fake_world, capsys):
    _, built, manifests, cache_dir = fake_world
    assert run("cache", "precompute", "a.yaml", "b.yaml", "--model", "fake", "--max-cases", "1",
               "--cache-dir", str(cache_dir), "--no-progress") == 0
    assert built[-1].stats["encoder_calls"] == 5
    manifests["a.yaml"].cases[1].array = None  # this case's file turns out to be broken
    assert run("cache", "precompute", "a.yaml", "b.yaml", "--model", "fake", "--cache-dir", str(cache_dir),
               "--no-progress") == 1
    captured = capsys.readouterr()
    assert "skipped case a/img" in captured.out and "truncated file" in captured.out
    assert built[-1].stats["encoder_calls"] == 3  # b/vol still embedded; a/vol was cached


def test_info_and_clear(fake_world, capsys, monkeypatch):
    _, _, _, cache_dir = fake_world
    assert run("cache", "precompute", "b.yaml", "--model", "fake", "--cache-dir", str(cache_dir),
               "--no-progress") == 0
    EmbeddingCache(cache_dir).put("ab" * 32, {"image_embed": torch.zeros(3)}, model="other")
    capsys.readouterr()
    assert run("cache", "info", "--cache-dir", str(cache_dir), "--json") == 0
    info = json.loads(capsys.readouterr().out)
    assert info["entries"] == 4 and info["models"] == {"fake": 3, "other": 1}
    assert run("cache", "info", "--cache-dir", str(cache_dir)) == 0
    assert "fake: 3" in capsys.readouterr().out

    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    assert run("cache", "clear", "--cache-dir", str(cache_dir)) == 1  # no --yes, no terminal: refuses
    assert EmbeddingCache(cache_dir).info()["entries"] == 4
    assert run("cache", "clear", "--model", "fake", "--yes", "--cache-dir", str(cache_dir)) == 0
    assert EmbeddingCache(cache_dir).info()["models"] == {"other": 1}
    assert run("cache", "clear", "--yes", "--cache-dir", str(cache_dir)) == 0
    assert EmbeddingCache(cache_dir).info()["entries"] == 0


def test_bad_manifest_is_one_line_error(tmp_path, capsys):
    missing = tmp_path / "nope.yaml"
    assert run("cache", "precompute", str(missing), "--model", "litemedsam", "--cache-dir",
               str(tmp_path / "emb")) == 2
    err = capsys.readouterr().err
    assert "nope.yaml" in err and "Traceback" not in err


def test_precompute_real_manifest_with_litemedsam(busi_pair_manifest, tmp_path, monkeypatch, capsys):
    # two 2D cases of the embedded sample; --max-cases 1 embeds only the first
    manifest = busi_pair_manifest
    monkeypatch.setenv("SAMWIDGETS_LITEMEDSAM_BACKEND", "torch")
    monkeypatch.setenv("SAMWIDGETS_CACHE_DIR", str(tmp_path))
    real_load, built = samwidgets.models.load, []

    def load(*a, **kw):
        built.append(real_load(*a, **kw))
        return built[-1]

    monkeypatch.setattr(samwidgets.models, "load", load)
    args = ["cache", "precompute", str(manifest), "--model", "litemedsam", "--device", "cpu", "--max-cases", "1",
            "--no-progress"]
    assert run(*args) == 0
    assert built[-1].stats["encoder_calls"] == 1
    assert run(*args) == 0
    assert built[-1].stats["encoder_calls"] == 0
    assert "1 slices: 0 embedded, 1 already cached" in capsys.readouterr().out
    assert EmbeddingCache().info()["models"] == {"litemedsam": 1}
    # the viewer's predictor, on the default cache, finds the pre-computed embedding and decodes from it
    case = samwidgets.manifest.load_manifest(manifest).cases[0]
    viewer = built[-1]
    viewer.cache, viewer.stats["encoder_calls"] = EmbeddingCache(), 0
    emb = viewer.encode(case.load_image().slice2d(0))
    assert viewer.stats["encoder_calls"] == 0 and emb.features["image_embed"].shape == (1, 256, 64, 64)
    assert viewer.decode(emb, box_xyxy=[100, 100, 300, 250]).masks.any()
