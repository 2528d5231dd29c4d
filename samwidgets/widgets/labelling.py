"""What writes labels in a session: accept, propagate and segment-everything lists (a part the Session
owns). It computes label planes with the :class:`~.annotation.Annotator` and makes each change through
:meth:`Labelling.commit`, the session's one undoable (the shared History), logged, autosaved label write.
Slices z are 0-based; messages count from 1.

The Session hands in its parts and callables: ``record(op, **event)`` to log, ``flush()`` the autosave,
``publish(**kw)`` the view state.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from samwidgets.errors import PromptError
from samwidgets.widgets.model_setup import everything_note
from samwidgets.widgets.observable import EverythingResult, Message, slice_label
from samwidgets.widgets.state import Change


class Labelling:
    """Label-writing operations of one session (see the module docstring)."""

    def __init__(self, annotator, history, lock, *, n_slices: int, where: str, record, flush, publish):
        self.annotator, self.history, self.lock = annotator, history, lock
        self.n_slices, self.where = int(n_slices), where
        self.record, self.flush, self.publish = record, flush, publish
        self.everything: dict[int, EverythingResult] = {}   # segment-everything results by slice z

    def commit(self, op: str, make_planes, *, at: int, message: str = "", **event) -> None:
        """Write the label planes ``make_planes()`` ({z: (H, W) plane}, called under the lock) as one
        undoable change made on slice ``at``; log it, flush the autosave (on disk when this returns), publish."""
        with self.lock:
            self.history.push(self.annotator.write(op, make_planes(), at=at))
            self.record(op, **event)
        self.flush()
        self.publish(cause="prompt", **({"message": Message(message)} if message else {}))

    def record_restored(self, op: str, z: int, **event) -> None:
        """Record an accept/propagate made on slice z whose labels come from elsewhere (an autosave) as an
        empty undo step, so that later undo/redo events of a replayed log still pair with the right changes."""
        with self.lock:
            self.history.push(Change(op, slice=z))
            self.record(op, **event)

    def _lid(self, label) -> tuple[int, str]:
        lid = self.annotator.label_id(self.annotator.default_label if label is None else label)
        return lid, self.annotator.label_names[lid - 1]

    def accept(self, z: int, mask: np.ndarray, label) -> int:
        """Write ``mask`` (bool (H, W)) of slice z as ``label``; PromptError when it is empty."""
        lid, name = self._lid(label)
        self.commit("accept", lambda: {z: self.annotator.accepted(z, mask, lid)}, at=z, slice=z, label=name,
                    message=f"accepted {int(mask.sum())} px as '{name}' on {slice_label(z, self.n_slices)}")
        return int(mask.sum())

    def propagate(self, z0: int, label, predictor, model_array: np.ndarray, *, z_range=None) -> list[int]:
        """Carry label ``label`` of slice z0 through the volume (Annotator.propagated: a snapshot of the seed
        taken now); returns the slices written."""
        lid, name = self._lid(label)
        zr = None if z_range is None else (int(z_range[0]), int(z_range[1]))
        masks = self.annotator.propagated(predictor, model_array, z0, lid, z_range=zr)
        written: list[int] = []

        def planes():
            out = self.annotator.merged(masks, lid)
            written.extend(sorted(out))
            return out

        self.commit("propagate", planes, at=z0, slice=z0, label=name, z_range=None if zr is None else list(zr))
        return written

    def check_everything(self, predictor) -> None:
        """PromptError when the model was trained on boxes only (segment everything prompts points)."""
        note = everything_note(predictor)
        if note:
            raise PromptError(note, where=getattr(predictor, "name", "model"))

    def segment_everything(self, z: int, predictor, embedding, **params) -> EverythingResult:
        """Masks of a grid of point prompts on slice z's embedding, kept in ``everything[z]``; logged."""
        self.check_everything(predictor)
        result = EverythingResult.compute(predictor, embedding, z, **params)
        with self.lock:
            self.everything[z] = result
            self.record("segment_everything", slice=z, **params)
        self.publish()
        return result

    def clear_everything(self, z: int) -> None:
        """Forget slice z's segment-everything results (accepted labels stay)."""
        if self.everything.pop(z, None) is not None:
            self.publish()

    def accept_everything(self, z: int, index: int, label) -> int:
        """Write mask ``index`` of slice z's segment-everything list as ``label`` (undoable)."""
        res = self.everything.get(z)
        if res is None or not 0 <= index < len(res.scores):
            n = 0 if res is None else len(res.scores)
            raise PromptError(f"segment-everything mask {index + 1} does not exist ({n} masks on "
                              f"{slice_label(z, self.n_slices)})", where=self.where)
        mask = res.mask(index)
        lid, name = self._lid(label)
        self.everything[z] = replace(res, accepted=res.accepted | {index})
        self.commit("accept_everything", lambda: {z: self.annotator.accepted(z, mask, lid)}, at=z, slice=z,
                    index=index, label=name, message=f"accepted mask {index + 1} ({int(mask.sum())} px) as '{name}'")
        return int(mask.sum())
