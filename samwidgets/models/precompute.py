"""Pre-compute the embedding cache: every 2D slice of every case, encoded once, resumable.

    summary = samwidgets.models.precompute.precompute_manifests(["data_manifests/sample.yaml"], "litemedsam")

``samwidgets cache precompute`` is a thin command over :func:`precompute_manifests`. A slice whose entry is
already on disk is skipped after hashing its preprocessed input and verifying the entry (signature and
sizes; a truncated or corrupt entry is dropped and re-encoded), so an interrupted run resumes.
"""

from __future__ import annotations

from typing import Callable, Iterable

from samwidgets.errors import SamwidgetsError


def precompute_manifests(
    manifests: Iterable,
    model: str,
    *,
    cache_dir=None,
    device: str = "auto",
    max_cases: int | None = None,
    fp16_on_disk: bool = False,
    progress: bool = True,
    echo: Callable[[str], None] = print,
) -> dict:
    """Embed every slice of the first ``max_cases`` cases (None: all, in manifest order) of ``manifests``
    with registry model ``model`` into the on-disk cache at ``cache_dir`` (default
    ``$SAMWIDGETS_CACHE_DIR/embeddings`` or ``~/.cache/samwidgets/embeddings``).

    Every manifest is loaded (and validated) before any work. The cache is disk-only (nothing is re-read
    here); ``fp16_on_disk`` halves its size. Returns :func:`precompute`'s summary plus ``directory``.
    """
    import samwidgets.manifest as manifest
    import samwidgets.models as models
    from samwidgets.models.cache import EmbeddingCache

    loaded = [manifest.load_manifest(path) for path in manifests]  # all valid before any work
    cases = [case for m in loaded for case in m.cases][:max_cases]
    cache = EmbeddingCache(cache_dir, memory_bytes=0, fp16_on_disk=fp16_on_disk)
    predictor = models.load(model, device=device, cache=cache.bound(model))
    summary = precompute(cases, predictor, cache, progress=progress, echo=echo)
    return {**summary, "directory": cache.directory}


def precompute(
    cases: Iterable,
    predictor,
    cache,
    *,
    progress: bool = True,
    echo: Callable[[str], None] = print,
) -> dict:
    """Encode every slice of every case into ``cache`` (the predictor must write to the same cache).

    cases: objects with ``key`` and ``load_image() -> Image`` (uint8 (z, y, x[, 3]) or (y, x[, 3])).
    Slices already in the cache are skipped after ``cache.verify`` (a corrupt entry is re-encoded); a case that cannot be loaded or
    encoded is reported through ``echo`` and skipped. On Ctrl-C, says how far it got and re-raises:
    running again resumes. Returns {"cases", "slices", "encoded", "skipped", "failed": [(case, reason)]}.
    """
    from tqdm.auto import tqdm

    summary = {"cases": 0, "slices": 0, "encoded": 0, "skipped": 0, "failed": []}
    bar = tqdm(total=0, unit="slice", desc=f"embedding ({predictor.name})", disable=not progress)
    try:
        for case in cases:
            name = getattr(case, "key", None) or str(case)
            try:
                image = case.load_image()
                bar.total += image.n_slices
                bar.refresh()
                for z in range(image.n_slices):
                    plane = image.slice2d(z)
                    prepared = predictor.prepare(plane)  # preprocessed and hashed once per slice
                    if cache.verify(prepared.key):
                        summary["skipped"] += 1
                    else:
                        predictor.encode_prepared(prepared)
                        summary["encoded"] += 1
                    summary["slices"] += 1
                    bar.update(1)
                    bar.set_postfix(encoded=summary["encoded"], skipped=summary["skipped"], refresh=False)
            except SamwidgetsError as exc:
                summary["failed"].append((name, str(exc)))
                echo(f"skipped case {name}: {exc}")
            summary["cases"] += 1
    except KeyboardInterrupt:
        bar.close()
        echo(f"interrupted after {summary['encoded']} new embeddings ({summary['skipped']} were cached); "
             "run the same command again to resume")
        raise
    bar.close()
    return summary
