"""EmbeddingCache: LRU by bytes, signed disk entries, corruption handling, atomic writes, sharing."""

from __future__ import annotations

import os
import stat
import threading

import numpy as np
import pytest
import torch

from samwidgets.errors import CacheError
from samwidgets.models.cache import SECRET_NAME, EmbeddingCache
from samwidgets.models.base_predictor import BasePredictor

ENTRY = 4 * 256  # bytes of one (1, 256) float32 tensor


def key(i: int) -> str:
    return f"{i:064x}"


def feats(seed: int, n: int = 256) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {"image_embed": torch.randn(1, n, generator=g)}


def entry_path(cache: EmbeddingCache, k: str):
    return cache.directory / k[:2] / f"{k}.swe"


class CountingPredictor(BasePredictor):
    """A cheap stand-in model: 'encodes' a slice into its mean-pooled rows (deterministic)."""

    def __init__(self, cache):
        super().__init__(name="fake", device="cpu", weights_id="w0", cache=cache)

    def preprocess(self, image):
        return image.astype(np.float32) / 255.0, image.shape[:2]

    def encode_input(self, x):
        return {"image_embed": torch.from_numpy(x.reshape(x.shape[0], -1).mean(axis=1)).reshape(1, -1)}


# -- memory tier -------------------------------------------------------------------------------
def test_lru_evicts_least_recently_used_by_bytes():
    cache = EmbeddingCache(memory_bytes=3 * ENTRY, disk=False)
    for i in range(3):
        cache.put(key(i), feats(i))
    assert cache.stats["bytes_in_memory"] == 3 * ENTRY
    assert cache.get(key(0)) is not None  # 0 becomes most recent; 1 is now least recent
    cache.put(key(3), feats(3))
    assert not cache.contains(key(1))
    assert all(cache.contains(key(i)) for i in (0, 2, 3))
    assert cache.stats["bytes_in_memory"] == 3 * ENTRY
    # one entry of twice the size pushes out the two least recently used (2 then 0)
    cache.put(key(9), feats(9, n=512))
    assert [cache.contains(key(i)) for i in (0, 2, 3, 9)] == [False, False, True, True]
    assert cache.stats["bytes_in_memory"] == 3 * ENTRY


def test_oversize_entry_not_kept_in_memory_but_on_disk(tmp_path):
    cache = EmbeddingCache(tmp_path, memory_bytes=ENTRY - 1)
    cache.put(key(1), feats(1))
    assert cache.stats["bytes_in_memory"] == 0
    got = cache.get(key(1))
    assert torch.equal(got["image_embed"], feats(1)["image_embed"])
    assert cache.stats["hits_disk"] == 1 and cache.stats["hits_memory"] == 0

    mem_only = EmbeddingCache(memory_bytes=ENTRY - 1, disk=False)
    mem_only.put(key(1), feats(1))
    assert mem_only.get(key(1)) is None and mem_only.stats["misses"] == 1


def test_memory_hit_returns_the_same_device_tensors():
    cache = EmbeddingCache(disk=False)
    f = feats(0)
    cache.put(key(0), f)
    got = cache.get(key(0), device="cpu")
    assert got["image_embed"].data_ptr() == f["image_embed"].data_ptr()
    assert cache.stats["hits_memory"] == 1


# -- disk tier ---------------------------------------------------------------------------------
def test_disk_round_trip_is_bit_exact_across_cache_objects(tmp_path):
    rng = np.random.default_rng(0)
    f = {
        "image_embed": torch.from_numpy(rng.standard_normal((1, 256, 8, 8)).astype(np.float32)),
        "high_res_feats_0": torch.from_numpy(rng.standard_normal((1, 32, 4, 4))).to(torch.bfloat16),
        "ints": torch.arange(7, dtype=torch.int64),
    }
    EmbeddingCache(tmp_path).put(key(5), f, model="fake")
    other = EmbeddingCache(tmp_path)  # a second object (another process) on the same directory
    got = other.get(key(5), device="cpu")
    assert set(got) == set(f)
    for name in f:
        assert got[name].dtype == f[name].dtype and got[name].shape == f[name].shape
        assert torch.equal(got[name].view(torch.uint8) if got[name].dim() else got[name],
                           f[name].view(torch.uint8) if f[name].dim() else f[name])
    assert other.stats["hits_disk"] == 1
    assert other.get(key(5)) is not None and other.stats["hits_memory"] == 1


def test_fp16_on_disk_is_close_restores_dtype_and_halves_size(tmp_path):
    f = feats(3, n=4096)
    f["big"] = torch.tensor([1e6, -3.5], dtype=torch.float32)  # beyond float16: kept exact
    half = EmbeddingCache(tmp_path / "half", fp16_on_disk=True, memory_bytes=0)
    full = EmbeddingCache(tmp_path / "full", memory_bytes=0)
    half.put(key(1), f)
    full.put(key(1), f)
    got = half.get(key(1))
    assert got["image_embed"].dtype == torch.float32
    assert torch.allclose(got["image_embed"], f["image_embed"], rtol=1e-3, atol=1e-4)
    assert not torch.equal(got["image_embed"], f["image_embed"])  # values do change slightly
    assert torch.equal(got["big"], f["big"])
    assert entry_path(half, key(1)).stat().st_size < 0.6 * entry_path(full, key(1)).stat().st_size


def test_secret_is_private_and_entries_are_not_pickles(tmp_path):
    cache = EmbeddingCache(tmp_path)
    cache.put(key(1), feats(1))
    mode = stat.S_IMODE((tmp_path / SECRET_NAME).stat().st_mode)
    assert mode == 0o600
    data = entry_path(cache, key(1)).read_bytes()
    assert data.startswith(b"SWEMB") and b"\x80\x04" not in data[:2]


@pytest.mark.parametrize("damage", ["flip_payload", "flip_header", "truncate", "empty", "garbage"])
def test_damaged_entry_is_detected_dropped_counted_and_recomputed(tmp_path, damage):
    cache = EmbeddingCache(tmp_path, memory_bytes=0)
    predictor = CountingPredictor(cache)
    image = np.arange(64 * 64, dtype=np.uint8).reshape(64, 64)
    first = predictor.encode(image)
    path = entry_path(cache, first.key)
    data = bytearray(path.read_bytes())
    if damage == "flip_payload":
        data[-40] ^= 0x01
    elif damage == "flip_header":
        data[20] ^= 0x20
    elif damage == "truncate":
        data = data[: len(data) // 2]
    elif damage == "empty":
        data = bytearray()
    else:
        data = bytearray(os.urandom(len(data)))
    path.write_bytes(bytes(data))

    again = predictor.encode(image)
    assert cache.stats["corrupt_dropped"] == 1 and cache.stats["misses"] == 2
    assert predictor.stats["encoder_calls"] == 2  # recomputed, not served from the damaged file
    assert torch.equal(again.features["image_embed"], first.features["image_embed"])
    assert path.is_file()  # the recomputed entry replaced the dropped one
    assert EmbeddingCache(tmp_path).get(first.key) is not None


def test_foreign_entries_are_rejected(tmp_path):
    ours = EmbeddingCache(tmp_path / "ours", memory_bytes=0)
    theirs = EmbeddingCache(tmp_path / "theirs", memory_bytes=0)
    theirs.put(key(1), feats(1))
    ours.put(key(2), feats(2))
    # a well-formed entry signed with another cache's secret
    dest = entry_path(ours, key(1))
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(entry_path(theirs, key(1)).read_bytes())
    assert ours.contains(key(1))  # existence only ...
    assert ours.get(key(1)) is None  # ... verification says no
    assert not dest.exists()
    # one of our own entries filed under another key
    renamed = entry_path(ours, key(3))
    renamed.parent.mkdir(parents=True, exist_ok=True)
    renamed.write_bytes(entry_path(ours, key(2)).read_bytes())
    assert ours.get(key(3)) is None
    assert ours.stats["corrupt_dropped"] == 2
    assert ours.get(key(2)) is not None


def test_a_crashed_write_is_never_read_and_leaves_nothing(tmp_path, monkeypatch):
    cache = EmbeddingCache(tmp_path, memory_bytes=0)
    k = key(7)
    # what a crash mid-write leaves behind: a partial temporary file next to where the entry would be
    cache.put(key(8), feats(8))
    partial = entry_path(cache, k).parent / f".{k}.999.1.part"
    partial.parent.mkdir(parents=True, exist_ok=True)
    partial.write_bytes(entry_path(cache, key(8)).read_bytes()[:100])
    assert not cache.contains(k) and cache.get(k) is None
    assert cache.stats["corrupt_dropped"] == 0
    assert cache.info()["stale_tmp_files"] == 1

    # a write that fails before the rename: warns, counts, leaves no entry and no temporary file
    def boom(*a, **kw):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.warns(RuntimeWarning, match="No space left"):
        cache.put(k, feats(7))
    monkeypatch.undo()
    assert cache.stats["write_errors"] == 1
    assert not entry_path(cache, k).exists()
    assert sorted(p.name for p in partial.parent.iterdir()) == sorted([partial.name, f"{key(8)}.swe"])
    # Ctrl-C in the middle of writing: the interrupt propagates, no entry and no temporary file remain
    def interrupted(*a, **kw):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        cache.put(k, feats(7))
    monkeypatch.undo()
    assert sorted(p.name for p in partial.parent.iterdir()) == sorted([partial.name, f"{key(8)}.swe"])
    cache.clear()
    assert not partial.exists()


def test_info_and_clear_by_model(tmp_path):
    cache = EmbeddingCache(tmp_path)
    cache.put(key(1), feats(1), model="litemedsam")
    cache.put(key(2), feats(2), model="litemedsam")
    cache.put(key(3), feats(3), model="sam_vit_b")
    cache.put(key(4), feats(4))
    info = cache.info()
    assert info["entries"] == 4
    assert info["models"] == {"litemedsam": 2, "sam_vit_b": 1, "unknown": 1}
    assert info["bytes_on_disk"] == sum(entry_path(cache, key(i)).stat().st_size for i in range(1, 5))
    assert cache.clear(model="litemedsam") == 2
    assert not cache.contains(key(1)) and cache.contains(key(3)) and cache.contains(key(4))
    assert cache.clear() == 2
    assert cache.info()["entries"] == 0 and cache.stats["bytes_in_memory"] == 0
    assert (tmp_path / SECRET_NAME).is_file()


def test_invalid_keys_are_rejected(tmp_path):
    cache = EmbeddingCache(tmp_path)
    for bad in ("../../etc/passwd", "ABCDEF" * 11, "", key(1) + "\n", 12):
        with pytest.raises(CacheError):
            cache.get(bad)
    with pytest.raises(CacheError):
        cache.put(key(1), {"image_embed": np.zeros(3)})


def test_unusable_directory_is_a_typed_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    cache = EmbeddingCache(blocker / "cache")
    with pytest.warns(RuntimeWarning, match="cannot use the embedding cache directory"):
        cache.put(key(1), feats(1))
    assert cache.get(key(1)) is not None  # the memory tier still works


def test_threads_share_one_cache(tmp_path):
    cache = EmbeddingCache(tmp_path, memory_bytes=5 * ENTRY)
    errors = []

    def worker(offset):
        try:
            for i in range(20):
                k = key(offset * 100 + i % 7)
                if cache.get(k) is None:
                    cache.put(k, feats(offset * 100 + i % 7))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(j,)) for j in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    assert cache.stats["bytes_in_memory"] == 5 * ENTRY
    assert cache.info()["entries"] == 28
    for j in range(4):
        for i in range(7):
            assert torch.equal(cache.get(key(j * 100 + i))["image_embed"], feats(j * 100 + i)["image_embed"])


# -- GPU tensors (run where CUDA is present) -----------------------------------------------------
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@needs_cuda
def test_gpu_tensors_through_memory_and_disk(tmp_path):
    f = {"image_embed": torch.randn(1, 256, 64, 64, device="cuda"),
         "high_res_feats_0": torch.randn(1, 32, 256, 256, device="cuda").to(torch.bfloat16)}
    cache = EmbeddingCache(tmp_path)
    cache.put(key(1), f)
    hit = cache.get(key(1), device="cuda")
    assert all(hit[n].data_ptr() == f[n].data_ptr() for n in f)  # memory hit: the same GPU tensors
    on_cpu = cache.get(key(1), device="cpu")
    assert all(on_cpu[n].device.type == "cpu" and torch.equal(on_cpu[n], f[n].cpu()) for n in f)
    from_disk = EmbeddingCache(tmp_path).get(key(1), device="cuda:0")
    for n in f:
        assert from_disk[n].is_cuda and from_disk[n].dtype == f[n].dtype and torch.equal(from_disk[n], f[n])
    half = EmbeddingCache(tmp_path / "half", fp16_on_disk=True, memory_bytes=0)
    half.put(key(2), f)
    back = half.get(key(2), device="cuda")
    assert back["image_embed"].is_cuda and back["image_embed"].dtype == torch.float32
    assert torch.allclose(back["image_embed"], f["image_embed"], rtol=1e-3, atol=1e-4)


# -- with a real model --------------------------------------------------------------------------
def test_litemedsam_round_trip_through_the_cache(tmp_path, monkeypatch):
    import samwidgets.models

    monkeypatch.setenv("SAMWIDGETS_LITEMEDSAM_BACKEND", "torch")  # no ONNX export in this test

    image = (np.random.default_rng(0).random((96, 128)) * 255).astype(np.uint8)
    box = np.array([20, 30, 90, 80])
    cache = EmbeddingCache(tmp_path, memory_bytes=0)
    predictor = samwidgets.models.load("litemedsam", device="cpu", cache=cache)
    first = predictor.encode(image)
    second = predictor.encode(image)
    assert predictor.stats["encoder_calls"] == 1 and cache.stats["hits_disk"] == 1
    a = predictor.decode(first, box_xyxy=box)
    b = predictor.decode(second, box_xyxy=box)
    assert np.array_equal(a.masks, b.masks) and np.array_equal(a.logits, b.logits)
    # a fresh predictor on the same cache directory never runs its encoder
    fresh = samwidgets.models.load("litemedsam", device="cpu", cache=EmbeddingCache(tmp_path))
    c = fresh.decode(fresh.encode(image), box_xyxy=box)
    assert fresh.stats["encoder_calls"] == 0
    assert np.array_equal(a.masks, c.masks)
