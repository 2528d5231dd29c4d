"""The observable state a Session publishes and a view mirrors (numpy only, no widgets).

A small typed observable in the manner of traitlets (which ipywidgets and anywidget use): :class:`ViewState`
holds plain fields; :meth:`Observable.update` sets several at once and calls each observer once with the
set of names whose value changed (compared by identity for arrays, by equality otherwise). Observers
never feed values back, so there is no loop to stop.

Slice numbers in ``z`` are 0-based array indices; everything shown to a person uses ``z + 1`` (see
:func:`slice_label`).
"""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass, field, fields
from typing import Callable

import numpy as np

from samwidgets.widgets.state import SliceState


def slice_label(z: int, n_slices: int) -> str:
    """"slice 7/13": the one 1-based slice numbering used by every message and widget."""
    return f"slice {int(z) + 1}/{int(n_slices)}"


@dataclass
class Message:
    """A line for the user; ``level`` "info", "warning" or "error". ``until`` names what makes it stale:
    "prompt" (cleared by the next prompt change), "slice" (by the next slice change) or "" (kept until
    replaced)."""

    text: str = ""
    level: str = "info"
    until: str = "prompt"


@dataclass
class EverythingResult:
    """Segment-everything results of one slice z: label_map (H, W) int32 (0 = none, i + 1 = mask i, larger
    masks painted first), scores (M,) the model's predicted IoU, areas (M,) pixels of each mask in the map,
    and the indices already accepted."""

    z: int
    label_map: np.ndarray
    scores: np.ndarray
    areas: np.ndarray
    accepted: frozenset = frozenset()

    def mask(self, index: int) -> np.ndarray:
        return self.label_map == index + 1

    @classmethod
    def compute(cls, predictor, embedding, z: int, **params) -> "EverythingResult":
        """Run samwidgets.models.automatic.segment_everything on one slice's embedding (params: n_per_side,
        iou_threshold, min_score)."""
        from samwidgets.models.automatic import segment_everything

        labels, scores = segment_everything(predictor, embedding, **params)
        n = len(scores)
        areas = np.bincount(labels.ravel(), minlength=n + 1)[1:n + 1]
        return cls(z, labels, np.asarray(scores, float), areas)


@dataclass
class ViewState:
    """Everything a view draws or shows, for the current slice ``z`` (0-based).

    mask: bool (H, W) of the current slice, None while its embedding is not ready; candidates: scores of
    the model's masks (several only with multimask); labels_version: bumps at every label change (the
    label volume itself is :attr:`Session.labels`); metrics: {"dice", "iou"} or {} (no ground truth or no
    prompt yet); embedding: "ready" | "embedding" | "not embedded" | "error"; busy: text of a running long
    task ("" when idle) with progress in 0..1; everything: segment-everything results of slice z or None.
    """

    z: int = 0
    prompts: SliceState = field(default_factory=SliceState)
    mask: np.ndarray | None = None
    candidates: tuple[float, ...] = ()
    selected: int = 0
    labels_version: int = 0
    metrics: dict = field(default_factory=dict)
    embedding: str = "not embedded"
    message: Message = field(default_factory=Message)
    busy: str = ""
    progress: float = 0.0
    everything: EverythingResult | None = None


@functools.cache
def field_names(cls) -> frozenset[str]:
    """The field names of dataclass ``cls``, computed once per class (update() checks every key)."""
    return frozenset(f.name for f in fields(cls))


def _same(a, b) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return a is b
    try:
        return bool(a == b)
    except Exception:  # noqa: BLE001 - values that cannot be compared count as changed
        return False


class Observable:
    """Holds a :class:`ViewState`; ``observe(callback)`` registers ``callback(changed: set[str])``."""

    def __init__(self, state: ViewState | None = None):
        self._state = state or ViewState()
        self._observers: list[Callable[[set[str]], None]] = []
        self._lock = threading.RLock()
        self.errors: list[str] = []   # observer failures (a view bug must not undo a committed change)

    @property
    def value(self) -> ViewState:
        return self._state

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._state, name)

    def observe(self, callback: Callable[[set[str]], None]) -> None:
        self._observers.append(callback)

    def unobserve(self, callback) -> None:
        if callback in self._observers:
            self._observers.remove(callback)

    def update(self, **values) -> set[str]:
        """Set fields; notify observers once with the names that changed. Returns those names."""
        names = field_names(type(self._state))
        with self._lock:
            changed = set()
            for k, v in values.items():
                if k not in names:
                    raise AttributeError(f"{type(self._state).__name__} has no field {k!r}")
                if not _same(getattr(self._state, k), v):
                    setattr(self._state, k, v)
                    changed.add(k)
        if changed:
            for cb in list(self._observers):
                try:
                    cb(changed)
                except Exception as exc:  # noqa: BLE001
                    self.errors.append(f"{type(exc).__name__}: {exc}")
        return changed
