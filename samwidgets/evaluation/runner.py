"""The dataset x model x protocol sweep: :func:`run_sweep`.

For every case of every manifest (in manifest order, at most ``max_cases`` per manifest) and every model:

* 2D image: the image is encoded once and every label is evaluated with every 2D protocol;
* 3D volume: every slice containing any label is encoded ONCE (the :class:`Embedding` is kept and reused
  by every label, protocol and step on that slice) and each label is evaluated per slice; then the volume
  protocols (``propagate_box_3d``, ``sam2_video_3d``) run per label and are scored on the volume. Their
  slice encodes go through the predictor's embedding cache, so slices already encoded are not re-encoded.

Determinism: every random choice uses a Generator seeded with ``SeedSequence([seed, sha256(case key,
label, protocol, slice)])``, independent of the order of cases, models and protocols, and of resumption;
two runs with the same seed give the same table except the timing columns.

Resumption: the table is appended to ``out`` after complete (case, model) units, atomically (temporary
file + ``os.replace``) and at least every FLUSH_SECONDS; a rerun with the same ``out`` skips every
(manifest, case, model, protocol, seed) that already has rows (rows marked ``error`` count as finished:
delete them to retry). On completion the file is rewritten in the canonical order
(:func:`samwidgets.evaluation.table.sort_table`), so an interrupted-then-resumed sweep ends with the same
table as an uninterrupted one.

Descriptors: every scored row also carries the object and first-prompt descriptors and ``off_label``
(:class:`samwidgets.evaluation.describe.RowDescriber`, one per (case, model) unit).

Bad input: unknown protocol or model names raise EvaluationError / ModelError listing the valid ones
before any work; a case that fails to load, a slice that fails to encode, or a protocol that fails on one
label becomes a row with ``failure_type = "error"`` and its ``error`` text, and the sweep goes on.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from samwidgets.errors import EvaluationError
from samwidgets.evaluation.describe import RowDescriber
from samwidgets.evaluation.failures import failure_type
from samwidgets.evaluation.protocols import Protocol, Step, parse_protocol, run_protocol
from samwidgets.evaluation.table import append_rows, empty_table, read_table, sort_table, write_table
from samwidgets.evaluation.volume import run_volume_protocol
from samwidgets.metrics import score

#: the table is written at least this often (seconds) while a sweep runs, at (case, model) boundaries
FLUSH_SECONDS = 30.0
#: memory bound of the in-memory embedding cache made when ``cache=None`` (one case's slices fit)
MEMORY_CACHE_BYTES = 2 << 30


def case_rng(seed: int, *parts) -> np.random.Generator:
    """A Generator from SeedSequence([seed, 4 words of sha256(parts)]): order-independent, reproducible."""
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).digest()
    words = np.frombuffer(digest[:16], dtype="<u4").tolist()
    return np.random.default_rng(np.random.SeedSequence([int(seed), *words]))


def _load_manifests(manifests) -> list[tuple[str, list]]:
    from samwidgets.manifest import load_manifest

    if isinstance(manifests, (str, Path)) or hasattr(manifests, "cases"):
        manifests = [manifests]
    out = []
    for m in manifests:
        if hasattr(m, "cases"):
            out.append((str(getattr(m, "path", getattr(m, "name", "manifest"))), list(m.cases)))
        else:
            loaded = load_manifest(m)  # absolute path: resumes and reopens from any working directory
            out.append((str(Path(loaded.path).resolve()), list(loaded.cases)))
    return out


def _make_cache(cache):
    from samwidgets.models.cache import EmbeddingCache

    if cache is None:
        return EmbeddingCache(memory_bytes=MEMORY_CACHE_BYTES, disk=False)
    if isinstance(cache, (str, Path)):
        return EmbeddingCache(cache)
    return cache


def _check_model_names(models) -> None:
    """ModelError listing the valid names for the first unknown model name."""
    from samwidgets.models import get_spec

    for m in [models] if isinstance(models, str) else models:
        if isinstance(m, str):
            get_spec(m)


def _load_models(models, *, device: str, cache) -> list[tuple[str, object]]:
    """(name, predictor) pairs; names go through the registry (unknown -> ModelError listing valid ones)."""
    if isinstance(models, str) or hasattr(models, "decode"):
        models = [models]
    out = []
    names = set()
    from samwidgets.models import load

    for m in models:
        if isinstance(m, str):
            pred = load(m, device=device, cache=_make_cache(cache))
            name = m
        else:
            pred, name = m, str(getattr(m, "name", type(m).__name__))
        if name in names:
            continue
        names.add(name)
        out.append((name, pred))
    if not out:
        raise EvaluationError("no model given")
    return out


def _is_sam2(name: str, predictor) -> bool:
    return name.startswith("sam2") or "sam2" in type(predictor).__module__.rsplit(".", 1)[-1]


def _skip_reason(p: Protocol, name: str, predictor, is_3d: bool) -> str:
    if p.volume and not is_3d:
        return f"skipped: {p.name} needs a 3D volume"
    if p.sam2_only and not _is_sam2(name, predictor):
        return f"skipped: {p.name} needs a sam2 model"
    if p.needs_points and not getattr(predictor, "supports_points", True):
        return f"skipped: {name} takes box prompts only"
    return ""


def _prompt_log(protocol: Protocol, slice_: int, step: Step, extra: dict | None = None) -> str:
    log = {"protocol": protocol.name, "slice": int(slice_), "prompts": [p.to_json() for p in step.prompts]}
    log.update(extra or {})
    return json.dumps(log)


def _result_row(base, label, slice_, protocol, step, gt, spacing, prompt_log, encode_seconds) -> dict:
    return {
        **base, "label": label, "slice": int(slice_), "protocol": protocol.name, "step": step.step,
        "n_points": step.n_points, **score(step.mask, gt, spacing=spacing), "seconds": step.seconds,
        "encode_seconds": encode_seconds, "failure_type": failure_type(step.mask, gt),
        "prompt_log": prompt_log, "error": "",
    }


def _note_row(base, protocol_name, *, label="", slice_=-1, error="", kind="error") -> dict:
    return {**base, "label": label, "slice": int(slice_), "protocol": protocol_name, "step": 0, "n_points": 0,
            "failure_type": kind, "prompt_log": "", "error": error}


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def evaluate_case(name, predictor, protocols, base: dict, key: str, image, labels: dict, seed: int,
                  *, videos: dict | None = None) -> list[dict]:
    """All rows of one (case, model) unit; ``labels`` maps names to bool masks of the image's spatial shape."""
    rows: list[dict] = []
    runnable = []
    for p in protocols:
        reason = _skip_reason(p, name, predictor, image.is_3d)
        if reason:
            rows.append(_note_row(base, p.name, error=reason, kind="skipped"))
        else:
            runnable.append(p)
    flat = [p for p in runnable if not p.volume]
    vol = [p for p in runnable if p.volume]
    labels = {k: np.asarray(v, bool) for k, v in labels.items() if np.asarray(v).any()}
    if image.is_3d:
        slices = sorted({int(z) for m in labels.values() for z in np.nonzero(m.any(axis=(1, 2)))[0]})
    else:
        slices = [0]
    spacing2d = tuple(image.spacing[-2:])
    describer = RowDescriber(image, labels, name=name, predictor=predictor)
    for z in slices if flat else []:
        t0 = time.perf_counter()
        calls0 = predictor.stats.get("encoder_calls", 0) if hasattr(predictor, "stats") else 0
        try:
            emb = predictor.encode(image.slice2d(z))
        except Exception as exc:  # one bad slice does not stop the sweep
            for label in labels:
                rows += [_note_row(base, p.name, label=label, slice_=z, error=_describe(exc)) for p in flat]
            continue
        encoded = (predictor.stats.get("encoder_calls", 0) if hasattr(predictor, "stats") else 1) > calls0
        enc_s = time.perf_counter() - t0 if encoded else 0.0
        for label, mask in labels.items():
            gt = mask[z] if image.is_3d else mask
            if not gt.any():
                continue
            for p in flat:
                rng = case_rng(seed, key, label, p.name, z)
                try:
                    steps = [
                        _result_row(base, label, z, p, st, gt, spacing2d, _prompt_log(p, z, st), enc_s)
                        for st in run_protocol(p, predictor, emb, gt, rng=rng)
                    ]
                except Exception as exc:
                    steps = [_note_row(base, p.name, label=label, slice_=z, error=_describe(exc))]
                rows += describer.add(steps, label=label, z=z, protocol=p)
    for label, mask in labels.items():
        for p in vol:
            try:
                st, extra = run_volume_protocol(p, predictor, image.array, mask, videos=videos)
                log = _prompt_log(p, extra["slice"], st, extra)
                row = _result_row(base, label, -1, p, st, mask, tuple(image.spacing), log, float("nan"))
                rows += describer.add([row], label=label, z=-1, protocol=p)
            except Exception as exc:
                rows.append(_note_row(base, p.name, label=label, error=_describe(exc)))
    return rows


def run_sweep(
    manifests,
    models,
    protocols,
    *,
    out=None,
    max_cases: int | None = None,
    seed: int = 0,
    device: str = "auto",
    cache=None,
    progress: bool = True,
) -> pd.DataFrame:
    """Evaluate models x protocols on every case of the manifests; returns the results table.

    manifests: paths (or loaded Manifest objects); models: registry names (or predictor objects);
    protocols: names (see :mod:`samwidgets.evaluation.protocols`); out: parquet path to write and resume
    (None keeps the table in memory); max_cases: first N cases of each manifest; cache: an
    EmbeddingCache or a directory for one (None: memory only). Returns the whole table at ``out`` (rows of
    earlier runs included) in canonical order; columns in :mod:`samwidgets.evaluation.table`.
    """
    if int(seed) < 0:
        raise EvaluationError(f"seed must be >= 0, got {seed}")
    if isinstance(protocols, str):
        protocols = [protocols]
    protos = list({p.name: p for p in (parse_protocol(n) for n in protocols)}.values())
    if not protos:
        raise EvaluationError("no protocol given; valid protocols: see `samwidgets evaluate --help`")
    if max_cases is not None and int(max_cases) < 1:
        raise EvaluationError(f"max_cases must be >= 1, got {max_cases}")
    _check_model_names(models)
    mans = _load_manifests(manifests)
    table = read_table(out) if out is not None else empty_table()
    predictors = _load_models(models, device=device, cache=cache)
    done = set(zip(table["manifest"], table["case"], table["model"], table["protocol"], table["seed"]))
    units = [(mpath, i, c) for mpath, cases in mans for i, c in enumerate(cases[:max_cases])]

    from tqdm import tqdm

    bar = tqdm(total=len(units) * len(predictors), disable=not progress, desc="samwidgets evaluate", unit="case")
    pending: list[dict] = []
    videos: dict = {}  # SAM2 video propagators, built once per model
    last_flush = time.monotonic()
    try:
        for mpath, index, case in units:
            todo = {name: [p for p in protos if (mpath, case.case_id, name, p.name, int(seed)) not in done]
                    for name, _ in predictors}
            if not any(todo.values()):
                bar.update(len(predictors))
                continue
            bar.set_postfix_str(case.case_id[:40])
            base0 = {"manifest": mpath, "case_index": index, "dataset": case.dataset, "modality": case.modality,
                     "case": case.case_id, "seed": int(seed)}
            try:
                image, labels = case.load()
                load_error = None
            except Exception as exc:  # a broken case becomes rows with its error
                image, labels, load_error = None, None, _describe(exc)
            for name, pred in predictors:
                base = {**base0, "model": name}
                if not todo[name]:
                    pass
                elif load_error is not None:
                    pending += [_note_row(base, p.name, error=load_error) for p in todo[name]]
                else:
                    pending += evaluate_case(name, pred, todo[name], base, case.key, image, labels, int(seed),
                                             videos=videos)
                bar.update(1)
                if out is not None and time.monotonic() - last_flush > FLUSH_SECONDS:
                    table, pending = append_rows(pending, out, table), []
                    last_flush = time.monotonic()
    finally:
        bar.close()
        table = append_rows(pending, out, table)
    table = sort_table(table)
    if out is not None:
        write_table(table, out)
    return table
