"""The prompt state of one slice and the undo/redo history of a session (numpy only, no widgets).

Coordinates are xy pixels of the original 2D slice (x = column, y = row); a box is xyxy
[x_min, y_min, x_max, y_max]. States are immutable, so the history keeps them by reference.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from samwidgets.prompts.types import Prompt


@dataclass(frozen=True)
class SliceState:
    """The prompts placed on one slice: points ((x, y, label), ...) with label 1 positive / 0 negative,
    and at most one box (x_min, y_min, x_max, y_max). Empty state = no prompt (empty mask)."""

    points: tuple[tuple[float, float, int], ...] = ()
    box: tuple[float, float, float, float] | None = None

    @property
    def empty(self) -> bool:
        return not self.points and self.box is None

    @property
    def n_prompts(self) -> int:
        """Number of prompts shown to the user: points plus the box."""
        return len(self.points) + (self.box is not None)

    def add_point(self, x: float, y: float, label: int) -> "SliceState":
        return SliceState(self.points + ((float(x), float(y), int(label)),), self.box)

    def with_box(self, box) -> "SliceState":
        return SliceState(self.points, None if box is None else tuple(float(v) for v in box))

    def to_prompt(self) -> Prompt:
        """The :class:`Prompt` a predictor decodes: points (N, 2) xy, labels (N,), box (4,) xyxy."""
        if self.points:
            pts = np.array([[p[0], p[1]] for p in self.points], dtype=float)
            lab = np.array([p[2] for p in self.points], dtype=int)
        else:
            pts = lab = None
        box = None if self.box is None else np.array(self.box, dtype=float)
        return Prompt(points_xy=pts, point_labels=lab, box_xyxy=box)

    @classmethod
    def from_prompt(cls, prompt: Prompt) -> "SliceState":
        points: tuple = ()
        if prompt.points_xy is not None:
            labels = prompt.point_labels if prompt.point_labels is not None else np.ones(prompt.n_points, int)
            points = tuple(
                (float(x), float(y), int(l)) for (x, y), l in zip(np.asarray(prompt.points_xy), np.asarray(labels))
            )
        box = None if prompt.box_xyxy is None else tuple(float(v) for v in np.asarray(prompt.box_xyxy))
        return cls(points, box)


@dataclass
class Change:
    """One undoable step: prompt states before/after per slice z, and label-volume slices before/after.

    labels maps z -> (before (H, W), after (H, W)) copies of the label plane (z = 0 for a 2D image).
    """

    op: str
    prompts: dict[int, tuple[SliceState, SliceState]] = field(default_factory=dict)
    labels: dict[int, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    slice: int = 0


class History:
    """Linear undo/redo stacks of :class:`Change`; a new change clears the redo stack."""

    def __init__(self, *, limit: int = 500):
        self.limit = int(limit)
        self._undo: list[Change] = []
        self._redo: list[Change] = []

    def push(self, change: Change) -> None:
        self._undo.append(change)
        if len(self._undo) > self.limit:
            del self._undo[0]
        self._redo.clear()

    def pop_undo(self) -> Change | None:
        if not self._undo:
            return None
        change = self._undo.pop()
        self._redo.append(change)
        return change

    def pop_redo(self) -> Change | None:
        if not self._redo:
            return None
        change = self._redo.pop()
        self._undo.append(change)
        return change
