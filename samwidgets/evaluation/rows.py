"""Rows of the results table as a sweep builds them, and the per-object random generator.

A result row holds one decoded prompt step; a note row records why a protocol produced no result (an error
or a skip) for a case, a label or a slice. Column meanings are in :mod:`samwidgets.evaluation.table`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json

import numpy as np

from samwidgets.evaluation.failures import failure_type
from samwidgets.evaluation.protocols import Protocol, Step
from samwidgets.metrics import score


def case_rng(seed: int, *parts) -> np.random.Generator:
    """A Generator from SeedSequence([seed, 4 words of sha256(parts)]): order-independent, reproducible.

    The sweep calls it with (seed, case key, label, protocol name, slice), so a row's prompts do not depend
    on which worker, process or run computes it, nor on what was computed before."""
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).digest()
    words = np.frombuffer(digest[:16], dtype="<u4").tolist()
    return np.random.default_rng(np.random.SeedSequence([int(seed), *words]))


def prompt_log(protocol: Protocol, slice_: int, step: Step, extra: dict | None = None) -> str:
    """The ``prompt_log`` JSON of a row: protocol, slice and the step's prompts (+ ``extra``, e.g. box3d)."""
    log = {"protocol": protocol.name, "slice": int(slice_), "prompts": [p.to_json() for p in step.prompts]}
    log.update(extra or {})
    return json.dumps(log)


def result_row(base: dict, label: str, slice_: int, protocol: Protocol, step: Step, gt: np.ndarray, spacing,
               log: str, encode_seconds: float) -> dict:
    """One scored step: ``step.mask`` against ``gt`` (same shape, (H, W) or (z, y, x)) at ``spacing`` (mm)."""
    return {
        **base, "label": label, "slice": int(slice_), "protocol": protocol.name, "step": step.step,
        "n_points": step.n_points, **score(step.mask, gt, spacing=spacing), "seconds": step.seconds,
        "encode_seconds": encode_seconds, "failure_type": failure_type(step.mask, gt),
        "prompt_log": log, "error": "",
    }


def within_fov(step: Step, fov: np.ndarray | None) -> Step:
    """``step`` with its mask restricted to the field of view ``fov`` (same shape; None: unchanged), so the
    metrics score only the imaged region (the ground truth is already restricted by Case.load_labels)."""
    if fov is None:
        return step
    return dataclasses.replace(step, mask=np.asarray(step.mask, bool) & np.asarray(fov, bool))


def note_row(base: dict, protocol_name: str, *, label: str = "", slice_: int = -1, error: str = "",
             kind: str = "error") -> dict:
    """A row without scores: ``kind`` is "error" or "skipped" and ``error`` says why."""
    return {**base, "label": label, "slice": int(slice_), "protocol": protocol_name, "step": 0, "n_points": 0,
            "failure_type": kind, "prompt_log": "", "error": error}


def describe(exc: BaseException) -> str:
    """``"TypeName: message"``, the ``error`` text of a row."""
    return f"{type(exc).__name__}: {exc}"
