"""The embedding cache each process of a sweep builds: bounded memory tier, shared folder."""

from __future__ import annotations

import pickle

from samwidgets.evaluation.cache_spec import MEMORY_CACHE_BYTES, CacheSpec, make_cache
from samwidgets.models.cache import DEFAULT_MEMORY_BYTES, EmbeddingCache


def test_specs_of_the_sweep_cache_argument(tmp_path):
    mem = CacheSpec.of(None).build()
    assert mem.disk is False and mem.memory_bytes == MEMORY_CACHE_BYTES
    folder = CacheSpec.of(tmp_path / "c").build()
    assert folder.disk and folder.directory == tmp_path / "c" and folder.memory_bytes == DEFAULT_MEMORY_BYTES
    given = EmbeddingCache(tmp_path / "d", memory_bytes=123 << 20, fp16_on_disk=True)
    spec = CacheSpec.of(given)
    assert spec == CacheSpec(str(tmp_path / "d"), 123 << 20, True)
    assert pickle.loads(pickle.dumps(spec)) == spec  # travels to workers with each task
    built = spec.build()
    assert built is not given and built.memory_bytes == 123 << 20 and built.fp16_on_disk
    assert CacheSpec.of(EmbeddingCache(memory_bytes=5, disk=False)).directory is None


def test_make_cache_keeps_a_cache_object(tmp_path):
    given = EmbeddingCache(tmp_path)
    assert make_cache(given) is given
    assert isinstance(make_cache(str(tmp_path)), EmbeddingCache)
