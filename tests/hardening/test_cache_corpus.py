"""Bad inputs to the embedding cache (issue 10 §1, §2, §4): planted secrets, FIFOs, files as folders,
stale temporaries, truncated entries skipped by precompute."""

from __future__ import annotations

import os
import stat
import time

import pytest
import torch

from samwidgets.cli import main
from samwidgets.errors import CacheError
from samwidgets.models.cache import SECRET_NAME, EmbeddingCache
from samwidgets.models.cache_format import encode_entry

from .conftest import dead_pid

KEY = "ab" * 32


def _feats():
    return {"image_embed": torch.arange(12, dtype=torch.float32).reshape(1, 12)}


def _entry(cache, key=KEY):
    return cache.directory / key[:2] / f"{key}.swe"


def test_a_planted_world_readable_secret_is_refused_and_a_forged_entry_never_verifies(tmp_path):
    planted = bytes(range(32))
    (tmp_path / SECRET_NAME).write_bytes(planted)
    os.chmod(tmp_path / SECRET_NAME, 0o644)
    forged = _entry(EmbeddingCache(tmp_path))
    forged.parent.mkdir(parents=True)
    forged.write_bytes(encode_entry(KEY, _feats(), "litemedsam", planted))
    with pytest.raises(CacheError, match="mode 0644.*must be 0600") as info:
        EmbeddingCache(tmp_path).get(KEY)
    assert SECRET_NAME in str(info.value)
    with pytest.warns(RuntimeWarning, match="not trusted"):  # put keeps the features in memory, writes nothing
        EmbeddingCache(tmp_path).put("cd" * 32, _feats())
    assert not _entry(EmbeddingCache(tmp_path), "cd" * 32).exists()


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root to chown")
def test_a_secret_owned_by_another_user_is_refused(tmp_path):
    EmbeddingCache(tmp_path).put(KEY, _feats())
    os.chown(tmp_path / SECRET_NAME, 12345, -1)
    with pytest.raises(CacheError, match="owned by uid 12345"):
        EmbeddingCache(tmp_path, memory_bytes=0).get(KEY)


def test_a_symlinked_secret_is_refused(tmp_path):
    real = tmp_path / "elsewhere.key"
    real.write_bytes(os.urandom(32))
    os.chmod(real, 0o600)
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / SECRET_NAME).symlink_to(real)
    with pytest.warns(RuntimeWarning, match="symbolic link; not trusted"):
        EmbeddingCache(tmp_path / "c").put(KEY, _feats())
    assert not _entry(EmbeddingCache(tmp_path / "c")).exists()


def test_entries_and_secret_are_written_0600(tmp_path):
    old = os.umask(0o022)
    try:
        cache = EmbeddingCache(tmp_path)
        cache.put(KEY, _feats())
    finally:
        os.umask(old)
    assert stat.S_IMODE(_entry(cache).stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / SECRET_NAME).stat().st_mode) == 0o600


@pytest.mark.timeout(20)
def test_a_fifo_as_an_entry_is_a_typed_error_for_get_info_and_clear_by_model(tmp_path, fifo):
    cache = EmbeddingCache(tmp_path, memory_bytes=0)
    cache.put("cd" * 32, _feats(), model="m")
    path = fifo(_entry(cache))
    for call in (lambda: cache.get(KEY), cache.info, lambda: cache.clear(model="m"), lambda: cache.verify(KEY)):
        with pytest.raises(CacheError, match="not a regular file") as info:
            call()
        assert str(path) in str(info.value)
    assert cache.clear() == 2  # clearing everything removes it without opening it
    assert not path.exists()


@pytest.mark.timeout(20)
def test_a_fifo_as_the_secret_is_a_typed_error(tmp_path, fifo):
    fifo(tmp_path / SECRET_NAME)
    with pytest.warns(RuntimeWarning, match="not a regular file"):
        EmbeddingCache(tmp_path).put(KEY, _feats())


@pytest.mark.timeout(20)
def test_cli_info_and_clear_with_a_fifo(tmp_path, fifo, capsys):
    cache = EmbeddingCache(tmp_path)
    cache.put("cd" * 32, _feats())
    path = fifo(_entry(cache))
    assert main(["cache", "info", "--cache-dir", str(tmp_path)]) == 2
    assert str(path) in capsys.readouterr().err
    assert main(["cache", "clear", "--yes", "--cache-dir", str(tmp_path)]) == 0
    assert not path.exists()


def test_cache_info_on_a_file_is_an_error(tmp_path, capsys):
    afile = tmp_path / "notes.txt"
    afile.write_text("x")
    assert main(["cache", "info", "--cache-dir", str(afile)]) == 2
    err = capsys.readouterr().err
    assert "is a file, not a folder" in err and str(afile) in err
    with pytest.raises(CacheError):
        EmbeddingCache(afile).clear()


def test_stale_temporaries_of_dead_writers_are_removed_at_the_next_start(tmp_path):
    EmbeddingCache(tmp_path).put(KEY, _feats())
    sub = _entry(EmbeddingCache(tmp_path)).parent
    dead, alive = dead_pid(), os.getpid()
    old = time.time() - 3600
    paths = {"dead_old": sub / f".{'ef' * 32}.{dead}.1.part", "alive_old": sub / f".{'ef' * 32}.{alive}.7.part",
             "dead_new": sub / f".{'ee' * 32}.{dead}.2.part",
             "secret_dead": tmp_path / f".{SECRET_NAME}.{dead}.3.part"}
    for name, path in paths.items():
        path.write_bytes(b"x" * 100)
        if name != "dead_new":
            os.utime(path, (old, old))
    cache = EmbeddingCache(tmp_path)
    assert cache.info()["stale_tmp_files"] == 3  # info alone does not delete
    assert cache.get(KEY) is not None  # first disk use cleans up
    assert not paths["dead_old"].exists() and not paths["secret_dead"].exists()
    assert paths["alive_old"].exists() and paths["dead_new"].exists()  # a live writer, a fresh file: kept


def test_verify_rejects_a_truncated_entry(tmp_path):
    cache = EmbeddingCache(tmp_path, memory_bytes=0)
    cache.put(KEY, _feats())
    data = _entry(cache).read_bytes()
    _entry(cache).write_bytes(data[: len(data) // 2])
    assert cache.contains(KEY)  # existence only ...
    assert not cache.verify(KEY)  # ... but verification fails and drops it
    assert not _entry(cache).exists() and cache.stats["corrupt_dropped"] == 1
