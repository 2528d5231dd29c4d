"""Which embedding cache a sweep encodes through, as a picklable spec each process builds its own cache from.

* ``None``: memory only, bounded by MEMORY_CACHE_BYTES (one case's slices fit);
* a directory: the signed on-disk store there, with the default memory tier (1 GiB); processes sharing the
  folder share the store (atomic signed writes make concurrent writers safe);
* an :class:`~samwidgets.models.cache.EmbeddingCache`: used as is in this process; a Dask worker builds one
  with its folder (unless it is memory only), memory bound and fp16 setting.

Each process (the sweep's own, or each worker) holds ONE cache for all models, so its memory tier is
bounded by ``memory_bytes`` whatever the number of models and tasks.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

#: memory bound of the in-memory embedding cache made when ``cache=None`` (one case's slices fit)
MEMORY_CACHE_BYTES = 2 << 30


@dataclass(frozen=True)
class CacheSpec:
    """How to build an embedding cache: ``directory`` (None: memory only), memory bound, fp16 on disk."""

    directory: str | None
    memory_bytes: int | None = None
    fp16_on_disk: bool = False

    @classmethod
    def of(cls, cache) -> "CacheSpec":
        """The spec for a sweep's ``cache`` argument (see the module docstring)."""
        if cache is None:
            return cls(None, MEMORY_CACHE_BYTES)
        if isinstance(cache, (str, os.PathLike)):
            return cls(str(cache))
        directory = str(cache.directory) if getattr(cache, "disk", True) else None
        return cls(directory, int(cache.memory_bytes), bool(getattr(cache, "fp16_on_disk", False)))

    def build(self):
        """A new EmbeddingCache as specified."""
        from samwidgets.models.cache import DEFAULT_MEMORY_BYTES, EmbeddingCache

        memory = DEFAULT_MEMORY_BYTES if self.memory_bytes is None else int(self.memory_bytes)
        if self.directory is None:
            return EmbeddingCache(memory_bytes=memory, disk=False)
        return EmbeddingCache(self.directory, memory_bytes=memory, fp16_on_disk=self.fp16_on_disk)


def make_cache(cache):
    """The cache this process encodes through: ``cache`` itself when it is a cache object, else a new one."""
    if cache is None or isinstance(cache, (str, os.PathLike)):
        return CacheSpec.of(cache).build()
    return cache
