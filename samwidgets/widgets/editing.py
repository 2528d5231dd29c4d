"""What edits a session's prompts: clicks, boxes, clear, a whole Prompt, and undo/redo (a part the Session
owns, like :class:`~.labelling.Labelling`). Coordinates are xy pixels of the slice, boxes xyxy, slices z
0-based. Each edit goes through :class:`~.predictions.Predictions` (which rolls back a state the model
rejects) and becomes one :class:`~.state.Change` in the shared History.

The Session hands in its parts and what it keeps for itself as callables: ``current()`` the slice shown,
``move_to(z)`` to show another, ``record(op, **event)`` to log, ``flush()`` the autosave, ``publish(**kw)``
the view state, ``replaying()`` whether a log is being replayed, ``warning(state)`` a model's note on points.
"""

from __future__ import annotations

import numpy as np

from samwidgets.errors import PromptError, SamwidgetsError
from samwidgets.widgets.observable import Message
from samwidgets.widgets.predictions import as_number, check_xy
from samwidgets.widgets.state import Change, SliceState


class PromptEditor:
    """Prompt edits and undo/redo of one session (see the module docstring)."""

    def __init__(self, predictions, embedder, history, annotator, lock, *, height: int, width: int, where: str,
                 current, move_to, record, flush, publish, replaying, warning):
        self.predictions, self.embedder, self.history, self.annotator = predictions, embedder, history, annotator
        self.lock, self.height, self.width, self.where = lock, int(height), int(width), where
        self.current, self.move_to, self.record, self.flush = current, move_to, record, flush
        self.publish, self.replaying, self.warning = publish, replaying, warning

    def state(self) -> SliceState:
        return self.predictions.state_of(self.current())

    def click(self, x: float, y: float, *, positive: bool = True) -> None:
        """Add a point at xy pixel (x, y); outside the image or not a number -> PromptError."""
        x, y = as_number(x, "x", where=self.where), as_number(y, "y", where=self.where)
        check_xy(x, y, self.width, self.height, where=self.where)
        self.edit("click", self.state().add_point(x, y, 1 if positive else 0), x=x, y=y, positive=bool(positive))

    def box(self, x0: float, y0: float, x1: float, y1: float) -> None:
        """Set the slice's xyxy box from two corners (xy pixels, any order); outside or empty -> PromptError."""
        xa, xb = sorted((as_number(x0, "x0", where=self.where), as_number(x1, "x1", where=self.where)))
        ya, yb = sorted((as_number(y0, "y0", where=self.where), as_number(y1, "y1", where=self.where)))
        check_xy(xa, ya, self.width, self.height, where=self.where)
        check_xy(xb, yb, self.width, self.height, where=self.where)
        if xb - xa < 1 or yb - ya < 1:
            raise PromptError(f"box [{xa:.1f}, {ya:.1f}, {xb:.1f}, {yb:.1f}] is empty", where=self.where)
        self.edit("box", self.state().with_box((xa, ya, xb, yb)), box=[xa, ya, xb, yb])

    def clear(self) -> None:
        """Remove every prompt of the current slice (undoable)."""
        if not self.state().empty:
            self.edit("clear", SliceState())

    def set_prompt(self, prompt) -> None:
        """Replace the current slice's prompts by a Prompt (or its JSON); points xy pixels."""
        from samwidgets.prompts.types import Prompt

        p = prompt if isinstance(prompt, Prompt) else Prompt.from_json(prompt)
        self._check_prompt(p)
        new = SliceState.from_prompt(p)
        for x, y, _ in new.points:
            check_xy(x, y, self.width, self.height, where=self.where)
        self.edit("set_prompt", new, prompt=p.to_json())

    def _check_prompt(self, p) -> None:
        """PromptError unless each point has one label, 0 or 1 (zip would drop points or labels silently),
        and the box holds finite numbers."""
        if p.points_xy is not None and p.point_labels is not None:
            labels = np.asarray(p.point_labels).reshape(-1)
            if len(labels) != p.n_points:
                raise PromptError(f"the prompt has {p.n_points} points but {len(labels)} point labels",
                                  where=self.where)
            if not np.isin(labels, (0, 1)).all():
                raise PromptError(f"point labels must be 1 (positive) or 0 (negative), got {labels.tolist()!r:.80}",
                                  where=self.where)
        if p.box_xyxy is not None and not np.isfinite(np.asarray(p.box_xyxy, float)).all():
            raise PromptError(f"the prompt's box is not 4 finite numbers: {np.asarray(p.box_xyxy).tolist()}",
                              where=self.where)

    def edit(self, op: str, new: SliceState, **event) -> None:
        """Make ``new`` the current slice's prompt state as one undoable, logged change; a state the model
        rejects is rolled back (by Predictions), shown as an error and re-raised."""
        z = self.current()
        with self.lock:
            old = self.predictions.state_of(z)
            try:
                self.predictions.set_state(z, new, self.embedder, decode=not self.replaying())
            except SamwidgetsError as exc:
                self.publish(message=Message(str(exc), "error"))
                raise
            self.history.push(Change(op, prompts={z: (old, new)}, slice=z))
            self.record(op, slice=z, **event)
        warning = self.warning(new) if op in ("click", "set_prompt") else ""
        self.publish(cause="prompt", **({"message": Message(warning, "warning")} if warning else {}))

    def undo_redo(self, *, after: bool) -> bool:
        """Undo (after=False) or redo (after=True) one change of the History: prompts and labels, and show
        the slice it was made on. False when there is nothing to undo/redo."""
        with self.lock:
            change = self.history.pop_redo() if after else self.history.pop_undo()
            if change is None:
                return False
            for z, pair in change.prompts.items():
                self.predictions.restore_state(z, pair[1 if after else 0])
            self.annotator.apply(change, after=after)
            self.move_to(change.slice)
            self.record("redo" if after else "undo")
        if change.labels:
            self.flush()
        self.publish(cause="prompt")
        return True
