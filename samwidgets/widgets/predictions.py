"""Per-slice prompt states and the predictions decoded from them (a part the Session owns; no widgets).

Slices are 0-based z; prompts are xy pixels of the slice, boxes xyxy. A prediction is cached with the
prompt state it was decoded from (states are immutable, so identity tells whether it is current).
"""

from __future__ import annotations

import numpy as np

from samwidgets.errors import PromptError, SamwidgetsError
from samwidgets.models.protocol import model_errors
from samwidgets.widgets.state import SliceState


def as_number(value, what: str, *, where) -> float:
    """``value`` as a float; PromptError for anything that is not a real number (None, "abc", True)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise PromptError(f"{what} must be a number, got {value!r}", where=where)
    return float(value)


def check_xy(x: float, y: float, width: int, height: int, *, where) -> None:
    """PromptError unless xy pixel (x, y) is finite and inside [0, width] x [0, height]."""
    if not (np.isfinite(x) and np.isfinite(y)) or not (0 <= x <= width and 0 <= y <= height):
        raise PromptError(f"point ({x:.1f}, {y:.1f}) lies outside the {width}x{height} image", where=where)


class Predictions:
    """Prompt state, decoded prediction and chosen candidate of every slice."""

    def __init__(self, predictor, model_name: str, plane_shape: tuple[int, int]):
        self.predictor = predictor
        self.model_name = model_name
        self._empty = np.zeros(plane_shape, bool)
        self._empty.flags.writeable = False
        self._masks: dict[int, tuple[SliceState, int, object, np.ndarray]] = {}  # same mask object while unchanged
        self._states: dict[int, SliceState] = {}
        self._preds: dict[int, tuple[SliceState, object]] = {}
        self._selected: dict[int, int] = {}

    def state_of(self, z: int) -> SliceState:
        return self._states.get(int(z), SliceState())

    def _decode(self, emb, state: SliceState):
        prompt = state.to_prompt()
        multimask = bool(getattr(self.predictor, "supports_multimask", False)) and state.box is None \
            and len(state.points) == 1
        with model_errors("decoding", where=self.model_name):
            return self.predictor.decode(emb, multimask=multimask, **prompt.decode_kwargs())

    def set_state(self, z: int, new: SliceState, embedder, *, decode: bool) -> None:
        """Make ``new`` slice z's prompts; decode now when asked and the embedding is at hand (or the
        embedder is synchronous). A decoder error restores the previous state and prediction, then raises."""
        old, old_pred, old_sel = self.state_of(z), self._preds.get(z), self._selected.get(z)
        self._states[z] = new
        self._selected.pop(z, None)
        try:
            if new.empty or not decode:
                self._preds.pop(z, None)
            elif not embedder.background or embedder.ready(z):
                self._preds[z] = (new, self._decode(embedder.get(z), new))
            else:
                embedder.request(z)
        except SamwidgetsError:
            self._states[z] = old
            self._preds.pop(z, None)
            if old_pred is not None:
                self._preds[z] = old_pred
            if old_sel is not None:
                self._selected[z] = old_sel
            raise

    def restore_state(self, z: int, state: SliceState) -> None:
        """Set slice z's prompts (undo/redo); decoded lazily when a mask is asked for."""
        self._states[z] = state
        self._selected.pop(z, None)

    def prediction(self, z: int, state: SliceState, embedder, *, wait: bool = True):
        """The Prediction of ``state`` on slice z; None without prompts, or with wait=False while a background
        embedding is not ready (a synchronous embedder always encodes)."""
        if state.empty:
            return None
        cached = self._preds.get(z)
        if cached is not None and cached[0] is state:
            return cached[1]
        if not wait and embedder.background and not embedder.ready(z):
            embedder.request(z)
            return None
        pred = self._decode(embedder.get(z), state)
        self._preds[z] = (state, pred)
        return pred

    def cached(self, z: int, state: SliceState):
        """The prediction of ``state`` on slice z if it was decoded already, else None (never decodes)."""
        cached = self._preds.get(z)
        return cached[1] if cached is not None and cached[0] is state else None

    def scores(self, z: int, state: SliceState) -> tuple[float, ...]:
        pred = self.cached(z, state)
        return () if pred is None else tuple(float(s) for s in np.ravel(pred.scores))

    def selected(self, z: int) -> int:
        """Index of the candidate shown (default: the best score)."""
        cached = self._preds.get(z)
        if cached is None:
            return 0
        return self._selected.get(z, int(np.argmax(np.ravel(cached[1].scores))))

    def select(self, z: int, state: SliceState, index: int, embedder, *, where: str) -> None:
        pred = self.prediction(z, state, embedder, wait=True)
        n = 0 if pred is None else int(np.size(pred.scores))
        if n == 0 or not 0 <= index < n:
            raise PromptError(f"candidate {index} does not exist ({n} candidates)", where=where)
        self._selected[z] = index

    def mask(self, z: int, state: SliceState, embedder, *, wait: bool = True) -> np.ndarray | None:
        """bool (H, W) selected mask of slice z (all False without prompts); None when wait=False and the
        embedding is not ready."""
        pred = self.prediction(z, state, embedder, wait=wait)
        if pred is None:
            return self._empty if state.empty else None
        scores = np.ravel(pred.scores)
        k = self._selected.get(int(z), int(np.argmax(scores)))
        memo = self._masks.get(z)
        if memo is not None and memo[0] is state and memo[1] == k and memo[2] is pred:
            return memo[3]
        masks = np.asarray(pred.masks)
        mask = masks.reshape(-1, *masks.shape[-2:])[k].astype(bool)
        self._masks[z] = (state, k, pred, mask)
        return mask
