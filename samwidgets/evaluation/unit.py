"""The unit of sweep work: one (case, model) pair, with every protocol, label, slice and prompt step of it.

A :class:`Unit` is what one process (the sweep's own, or a Dask worker) evaluates in one go, so that each
slice is encoded once per model however many labels, protocols and steps use it:

* 2D image: the image is encoded once and every label is evaluated with every 2D protocol;
* 3D volume: every slice containing any label is encoded ONCE (the :class:`Embedding` is kept and reused
  by every label, protocol and step on that slice) and each label is evaluated per slice; then the volume
  protocols (``propagate_box_3d``, ``sam2_video_3d``) run per label and are scored on the volume. Their
  slice encodes go through the predictor's embedding cache, so slices already encoded are not re-encoded.

:func:`run_unit` returns the unit's rows and how many encoder calls it made. A case that fails to load, a
slice that fails to encode, or a protocol that fails on one label becomes a row with ``failure_type =
"error"`` and its ``error`` text. Every random choice uses :func:`samwidgets.evaluation.rows.case_rng`.

Descriptors: every scored row also carries the object and first-prompt descriptors and ``off_label``
(:class:`samwidgets.evaluation.describe.RowDescriber`, one per unit; the units of one case run in one
process share one memo of object descriptors, which do not depend on the model).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from samwidgets.evaluation.describe import RowDescriber, object_memo
from samwidgets.evaluation.protocols import Protocol, run_protocol
from samwidgets.evaluation.rows import case_rng, describe, note_row, prompt_log, result_row, within_fov
from samwidgets.evaluation.volume import run_volume_steps


@dataclass(frozen=True)
class Unit:
    """One task: the ``protocols`` still to do for ``model`` (a registry name) on ``case``.

    ``case`` is a manifest Case (anything with ``case_id``, ``dataset``, ``modality``, ``key`` and
    ``load() -> (Image, {label: bool mask})``); ``index`` its position in the manifest at ``manifest``."""

    manifest: str
    index: int
    case: object = field(compare=False)
    model: str
    protocols: tuple[Protocol, ...]
    seed: int

    @property
    def case_id(self) -> str:
        return self.case.case_id

    def base(self) -> dict:
        """The columns every row of this unit shares."""
        c = self.case
        return {"manifest": self.manifest, "case_index": self.index, "dataset": c.dataset, "modality": c.modality,
                "case": c.case_id, "seed": int(self.seed), "model": self.model}

    def error_rows(self, error: str) -> list[dict]:
        """One error row per protocol: the unit could not be evaluated at all (``error`` says why)."""
        base = self.base()
        return [note_row(base, p.name, error=error) for p in self.protocols]


@dataclass
class UnitResult:
    """The rows of one unit, the encoder calls they cost, the seconds it took and where it ran."""

    unit: Unit
    rows: list[dict]
    encoder_calls: int = 0
    seconds: float = 0.0
    worker: str = "local"


def _encoder_calls(predictor) -> int:
    stats = getattr(predictor, "stats", None)
    return int(stats.get("encoder_calls", 0)) if isinstance(stats, dict) else 0


def run_unit(unit: Unit, predictor, *, loaded=None, videos: dict | None = None, worker: str = "local",
             objects=None) -> UnitResult:
    """Evaluate ``unit`` with ``predictor`` (built for ``unit.model``).

    ``loaded``: the case's ``(image, labels)`` when the caller already loaded it, or an exception the
    loading raised; None loads it here. ``videos``: SAM2 video propagators kept across units. ``objects``:
    an :func:`~samwidgets.evaluation.describe.object_memo` shared by the units of this case (None: own)."""
    t0 = time.perf_counter()
    calls0 = _encoder_calls(predictor)
    if loaded is None:
        try:
            loaded = unit.case.load()
        except Exception as exc:  # a broken case becomes rows with its error
            loaded = exc
    if isinstance(loaded, BaseException):
        rows = unit.error_rows(describe(loaded))
    else:
        image, labels = loaded
        rows = evaluate_case(unit.model, predictor, unit.protocols, unit.base(), unit.case.key, image, labels,
                             int(unit.seed), videos=videos, objects=objects)
    return UnitResult(unit, rows, _encoder_calls(predictor) - calls0, time.perf_counter() - t0, worker)


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


def evaluate_case(name, predictor, protocols, base: dict, key: str, image, labels: dict, seed: int,
                  *, videos: dict | None = None, objects=None) -> list[dict]:
    """All rows of one (case, model) unit; ``labels`` maps names to bool masks of the image's spatial shape
    ((z, y, x) or (y, x)); ``key`` is the case key the random generators are seeded with. ``objects``: an
    object-descriptor memo shared with the other models' units of this case, or None."""
    rows: list[dict] = []
    runnable = []
    for p in protocols:
        reason = _skip_reason(p, name, predictor, image.is_3d)
        if reason:
            rows.append(note_row(base, p.name, error=reason, kind="skipped"))
        else:
            runnable.append(p)
    labels = {k: np.asarray(v, bool) for k, v in labels.items() if np.asarray(v).any()}
    describer = RowDescriber(image, labels, name=name, predictor=predictor, objects=objects, case=key)
    flat = [p for p in runnable if not p.on_volume(image.is_3d)]
    if flat:
        rows += _slice_rows(predictor, flat, base, key, image, labels, seed, describer)
    for label, mask in labels.items():
        for p in (p for p in runnable if p.on_volume(image.is_3d)):
            try:
                steps = run_volume_steps(p, predictor, image.array, mask, videos=videos,
                                         rng=case_rng(seed, key, label, p.name, -1))
                vol_rows = [result_row(base, label, -1, p, within_fov(st, image.meta.get("fov")), mask,
                                       tuple(image.spacing),
                                       prompt_log(p, extra["slice"], st, extra), float("nan"))
                            for st, extra in steps]
                rows += describer.add(vol_rows, label=label, z=-1, protocol=p)
            except Exception as exc:
                rows.append(note_row(base, p.name, label=label, error=describe(exc)))
    return rows


def _slice_rows(predictor, flat: list[Protocol], base: dict, key: str, image, labels: dict, seed: int,
                describer: RowDescriber) -> list[dict]:
    """Rows of the 2D protocols: each labelled slice encoded once, then every label x protocol on it."""
    rows: list[dict] = []
    if image.is_3d:
        slices = sorted({int(z) for m in labels.values() for z in np.nonzero(m.any(axis=(1, 2)))[0]})
    else:
        slices = [0]
    spacing2d = tuple(image.spacing[-2:])
    for z in slices:
        t0 = time.perf_counter()
        calls0 = _encoder_calls(predictor)
        try:
            emb = predictor.encode(image.slice2d(z))
        except Exception as exc:  # one bad slice does not stop the sweep
            for label in labels:
                rows += [note_row(base, p.name, label=label, slice_=z, error=describe(exc)) for p in flat]
            continue
        encoded = _encoder_calls(predictor) > calls0 if hasattr(predictor, "stats") else True
        enc_s = time.perf_counter() - t0 if encoded else 0.0
        for label, mask in labels.items():
            gt = mask[z] if image.is_3d else mask
            fov = image.meta.get("fov")  # a field of view: score predictions inside it only
            fov = fov[z] if fov is not None and image.is_3d else fov
            if not gt.any():
                continue
            for p in flat:
                rng = case_rng(seed, key, label, p.name, z)
                try:
                    steps = [result_row(base, label, z, p, within_fov(st, fov), gt, spacing2d, prompt_log(p, z, st),
                                        enc_s)
                             for st in run_protocol(p, predictor, emb, gt, rng=rng)]
                except Exception as exc:
                    steps = [note_row(base, p.name, label=label, slice_=z, error=describe(exc))]
                rows += describer.add(steps, label=label, z=z, protocol=p)
    return rows


def run_in_process(units, predictors: dict):
    """Yield the :class:`UnitResult` of each unit in order, in this process; ``predictors`` maps model names
    to predictors. Consecutive units of one case share one load of it and one memo of its object
    descriptors."""
    videos: dict = {}  # SAM2 video propagators, built once per model
    current, loaded, objects = None, None, None
    for unit in units:
        if unit.case is not current:
            current, objects = unit.case, object_memo()
            try:
                loaded = current.load()
            except Exception as exc:
                loaded = exc
        yield run_unit(unit, predictors[unit.model], loaded=loaded, videos=videos, objects=objects)
