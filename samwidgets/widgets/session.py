"""The headless controller of the slice viewer: all state and logic, no ipywidgets.

    s = Session(image, model="litemedsam", ground_truth=gt)    # image (y, x[, 3]) or (z, y, x[, 3])
    s.set_slice(12); s.click(120, 88); s.click(140, 90, positive=False); s.box(100, 70, 180, 130)
    s.mask            # bool (H, W) of the current slice
    s.metrics         # {"dice": ..., "iou": ...} against the current ground-truth label
    s.accept("lesion"); s.save("labels.nii.gz"); s.save("prompts.json")

Coordinates are xy pixels of the original slice (x = column, y = row); boxes are xyxy. Each slice keeps its
own prompt state (points + at most one box); every change reruns the decoder from the slice's cached
embedding: multimask candidates are asked for when the prompt is one point and nothing else (SAM's advice for
ambiguous prompts), the best-scoring one is selected; previous logits are not fed back (as in Mazurowski et
al.'s protocol, protocols.md). An edit the model rejects is rolled back and re-raised as a typed error, so
the session keeps its state.
"""

from __future__ import annotations

import threading
from typing import Callable

import numpy as np

from samwidgets.errors import InputError, PromptError, SamwidgetsError
from samwidgets.widgets.annotation import AnnotationMixin
from samwidgets.widgets.embedder import Embedder
from samwidgets.widgets.prompt_log import PromptLogMixin
from samwidgets.widgets.sources import as_image, normalise_ground_truth, spatial_shape
from samwidgets.widgets.state import Change, History, SliceState


_PREDICTORS: dict[tuple, object] = {}


def _load_model(model, device: str, cache):
    """A predictor from a registry name (built once per (name, device, cache) in this process, so several
    viewers in one notebook share the weights) or a predictor object as is."""
    if isinstance(model, str):
        from samwidgets.models import load

        key = (model, device, id(cache) if cache is not None else None)
        if key not in _PREDICTORS:
            _PREDICTORS[key] = load(model, device=device, cache=cache)
        return _PREDICTORS[key]
    if not hasattr(model, "encode") or not hasattr(model, "decode"):
        raise InputError(f"model must be a registry name or a predictor, got {type(model).__name__}", where="model")
    return model


class Session(AnnotationMixin, PromptLogMixin):
    """State and logic of one interactive segmentation session on one image.

    image:        an :class:`~samwidgets.io.image.Image` or array (y, x[, 3]) / (z, y, x[, 3]).
    model:        a registry name (``samwidgets.models.load``) or a predictor object.
    ground_truth: None, a bool/int array of the image's spatial shape, or {label name: bool mask}.
    label_names:  names offered for :meth:`accept` (default: the ground-truth names; accept() without a
                  name uses the first, or "foreground" when there is none).
    background:   embed slices in a worker thread (the viewer sets it); off = encode when first needed.
    prefetch:     how many neighbouring slices on each side to pre-embed in background mode.
    autosave_dir: a directory to save the prompt log + labels to after every change (see autosave.py).
    preset:       intensity preset (samwidgets.io.PRESETS) giving the model's input when the image is not
                  uint8 already (a raw file): default "ct_soft_tissue" when values reach below -200 (HU),
                  else "percentile", the MedSAM preprocessing of protocols.md. uint8 images go to the
                  model unchanged (manifest cases arrive with their preset applied).
    """

    def __init__(self, image, *, model="litemedsam", ground_truth=None, label_names=None, device: str = "auto",
                 cache=None, background: bool = False, prefetch: int = 1, autosave_dir=None, source=None,
                 preset: str | None = None):
        self.image = as_image(image)
        self.model_array = self._model_array(preset)
        self.shape = spatial_shape(self.image)
        self.is_3d = len(self.shape) == 3
        self.n_slices = self.shape[0] if self.is_3d else 1
        self.height, self.width = self.shape[-2:]
        self.predictor = _load_model(model, device, cache)
        self.model_name = getattr(self.predictor, "name", type(self.predictor).__name__)
        self.ground_truth = normalise_ground_truth(ground_truth, self.shape)
        self.gt_label: str | None = next(iter(self.ground_truth), None)
        names = list(label_names) if label_names else list(self.ground_truth)
        self.label_names: list[str] = names
        self.labels = np.zeros(self.shape, np.uint16)
        self.labels_version = 0
        self.source = source if source is not None else getattr(self.image, "path", None)
        self.z = self.n_slices // 2 if self.is_3d else 0
        self.message = ""
        self.prefetch = int(prefetch)
        self._states: dict[int, SliceState] = {}
        self._preds: dict[int, tuple[SliceState, object]] = {}
        self._selected: dict[int, int] = {}
        self._history = History()
        self._events: list[dict] = []
        self._listeners: list[Callable[[str], None]] = []
        self._lock = threading.RLock()
        self._replaying = False
        self.everything: dict[int, np.ndarray] = {}
        self._embedder = Embedder(self.predictor, self.model_slice, self.n_slices, background=background,
                                  on_ready=self._embedded)
        self._autosaver = None
        if autosave_dir is not None:
            from samwidgets.widgets.autosave import Autosaver

            self._autosaver = Autosaver(autosave_dir)
        if background:
            self._embedder.request(self.z)
            self._embedder.prefetch(self.z, self.prefetch)

    # -- listeners -----------------------------------------------------------------------------
    def on_change(self, callback: Callable[[str], None]) -> None:
        """Call ``callback(what)`` after every change ("prompts", "slice", "labels", "embedded", "error", ...)."""
        self._listeners.append(callback)

    def _notify(self, what: str) -> None:
        if self._replaying:
            return
        for cb in list(self._listeners):
            try:
                cb(what)
            except Exception as exc:  # noqa: BLE001 - a view's failure must not undo a committed change
                self.message = f"display update failed: {type(exc).__name__}: {exc}"

    def _embedded(self, z: int, error) -> None:
        if error is not None and z == self.z:
            self.message = f"slice {z}: {error}"
            self._notify("error")
        elif z == self.z:
            self._notify("embedded")

    # -- slices and embeddings -----------------------------------------------------------------
    def _model_array(self, preset: str | None) -> np.ndarray:
        arr = np.asarray(self.image.array)
        self.preset = preset
        if arr.dtype == np.uint8 and preset is None:
            return arr
        from samwidgets.io import apply_preset

        if preset is None and getattr(self.image, "is_rgb", False):
            preset = "rgb"
        elif preset is None:
            preset = "ct_soft_tissue" if arr.dtype.kind in "iuf" and float(arr.min()) < -200 else "percentile"
        self.preset = preset
        return apply_preset(arr, preset)

    def model_slice(self, z: int) -> np.ndarray:
        """The plane handed to the encoder: (H, W) or (H, W, 3) uint8 (the image, preset applied if raw)."""
        return self.model_array[z] if self.is_3d else self.model_array

    @property
    def embedding_ready(self) -> bool:
        """True when the current slice's embedding is in memory (decoding will not wait for the encoder)."""
        return self._embedder.ready(self.z)

    @property
    def embedding_status(self) -> str:
        z = self.z
        if self._embedder.ready(z):
            return "ready"
        if self._embedder.pending(z):
            return "embedding"
        if self._embedder.error(z) is not None:
            return "error"
        return "not embedded"

    def wait(self, timeout: float | None = None) -> None:
        """Block until background embeddings queued so far are done."""
        self._embedder.wait(timeout)

    def set_slice(self, z: int) -> None:
        """Show slice z (0 <= z < n_slices); starts its embedding (and the neighbours') in background mode."""
        z = int(z)
        if not 0 <= z < self.n_slices:
            raise InputError(f"slice {z} is outside 0..{self.n_slices - 1}", where=self.source or "image")
        if z == self.z:
            return
        self.z = z
        self._record("set_slice", slice=z)
        if self._embedder.background and not self._replaying:
            self._embedder.request(z)
            self._embedder.prefetch(z, self.prefetch)
        self._notify("slice")

    # -- prompts -------------------------------------------------------------------------------
    @property
    def state(self) -> SliceState:
        """The prompt state of the current slice."""
        return self._states.get(self.z, SliceState())

    def state_of(self, z: int) -> SliceState:
        return self._states.get(int(z), SliceState())

    def _check_xy(self, x: float, y: float) -> None:
        if not (np.isfinite(x) and np.isfinite(y)) or not (0 <= x <= self.width and 0 <= y <= self.height):
            raise PromptError(f"point ({x:.1f}, {y:.1f}) lies outside the {self.width}x{self.height} image",
                              where=self.source or "image")

    def _number(self, value, what: str) -> float:
        """``value`` as a float; PromptError for anything that is not a real number (None, "abc", True)."""
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise PromptError(f"{what} must be a number, got {value!r}", where=self.source or "image")
        return float(value)

    def click(self, x: float, y: float, *, positive: bool = True) -> None:
        """Add a point at xy pixel (x, y): positive (inside the object) or negative. Outside or not a
        number -> PromptError."""
        x, y = self._number(x, "x"), self._number(y, "y")
        self._check_xy(x, y)
        self._edit("click", self.state.add_point(x, y, 1 if positive else 0), x=x, y=y, positive=bool(positive))

    def box(self, x0: float, y0: float, x1: float, y1: float) -> None:
        """Set the slice's box from two corners (xy pixels, any order), clipped to the image."""
        xa, xb = sorted((self._number(x0, "x0"), self._number(x1, "x1")))
        ya, yb = sorted((self._number(y0, "y0"), self._number(y1, "y1")))
        self._check_xy(xa, ya)
        self._check_xy(xb, yb)
        if xb - xa < 1 or yb - ya < 1:
            raise PromptError(f"box [{xa:.1f}, {ya:.1f}, {xb:.1f}, {yb:.1f}] is empty", where=self.source or "image")
        self._edit("box", self.state.with_box((xa, ya, xb, yb)), box=[xa, ya, xb, yb])

    def clear(self) -> None:
        """Remove every prompt of the current slice (undoable)."""
        if not self.state.empty:
            self._edit("clear", SliceState())

    def set_prompt(self, prompt) -> None:
        """Replace the current slice's prompts by a :class:`~samwidgets.prompts.types.Prompt` (or its JSON)."""
        from samwidgets.prompts.types import Prompt

        p = prompt if isinstance(prompt, Prompt) else Prompt.from_json(prompt)
        new = SliceState.from_prompt(p)
        for x, y, _ in new.points:
            self._check_xy(x, y)
        self._edit("set_prompt", new, prompt=p.to_json())

    def _edit(self, op: str, new: SliceState, **event) -> None:
        z = self.z
        with self._lock:
            old, old_pred, old_sel = self.state_of(z), self._preds.get(z), self._selected.get(z)
            self._states[z] = new
            self._selected.pop(z, None)
            try:
                self._predict_if_ready(z)
            except SamwidgetsError as exc:
                self._states[z] = old
                self._preds.pop(z, None)
                if old_pred is not None:
                    self._preds[z] = old_pred
                if old_sel is not None:
                    self._selected[z] = old_sel
                self.message = str(exc)
                raise
            self._history.push(Change(op, prompts={z: (old, new)}, slice=z))
            self._record(op, slice=z, **event)
        self.message = ""
        self._notify("prompts")

    def undo(self) -> bool:
        """Undo the last change (prompts, accept or propagate); False when there is nothing to undo."""
        change = self._history.pop_undo()
        if change is None:
            return False
        self._apply(change, after=False)
        self._record("undo")
        return True

    def redo(self) -> bool:
        """Redo the last undone change; False when there is nothing to redo."""
        change = self._history.pop_redo()
        if change is None:
            return False
        self._apply(change, after=True)
        self._record("redo")
        return True

    def _apply(self, change: Change, *, after: bool) -> None:
        k = 1 if after else 0
        with self._lock:
            for z, pair in change.prompts.items():
                self._states[z] = pair[k]
                self._selected.pop(z, None)
            for z, pair in change.labels.items():
                if self.is_3d:
                    self.labels[z] = pair[k]
                else:
                    self.labels[...] = pair[k]
            if change.labels:
                self.labels_version += 1
            self.z = change.slice
        self._notify("labels" if change.labels else "prompts")

    # -- predictions ---------------------------------------------------------------------------
    def _decode(self, z: int, state: SliceState):
        emb = self._embedder.get(z)
        prompt = state.to_prompt()
        multimask = bool(getattr(self.predictor, "supports_multimask", False)) and state.box is None \
            and len(state.points) == 1
        try:
            return self.predictor.decode(emb, multimask=multimask, **prompt.decode_kwargs())
        except SamwidgetsError:
            raise
        except Exception as exc:
            from samwidgets.errors import ModelError

            raise ModelError(f"decoding failed: {exc}", where=self.model_name) from exc

    def _predict_if_ready(self, z: int) -> None:
        state = self.state_of(z)
        if state.empty or self._replaying:  # a replay decodes lazily, when a mask is asked for
            self._preds.pop(z, None)
        elif not self._embedder.background or self._embedder.ready(z):
            self._preds[z] = (state, self._decode(z, state))
        else:
            self._embedder.request(z)
            self.message = f"embedding slice {z}…"

    def prediction(self, z: int | None = None, *, wait: bool = True):
        """The Prediction for slice z's prompts (masks (K, H, W), scores (K,)), or None without prompts.

        wait=False returns None instead of waiting for a background embedding.
        """
        z = self.z if z is None else int(z)
        state = self.state_of(z)
        if state.empty:
            return None
        with self._lock:
            cached = self._preds.get(z)
            if cached is not None and cached[0] is state:
                return cached[1]
            if not wait and not self._embedder.ready(z):
                self._embedder.request(z)
                return None
            pred = self._decode(z, state)
            self._preds[z] = (state, pred)
            return pred

    @property
    def candidates(self) -> list[float]:
        """Scores of the current slice's candidate masks (several with multimask), [] without prompts."""
        pred = self.prediction(wait=False)
        return [] if pred is None else [float(s) for s in np.ravel(pred.scores)]

    @property
    def selected(self) -> int:
        """Index of the candidate shown as the mask (default: the best score)."""
        pred = self.prediction(wait=False)
        if pred is None:
            return 0
        return self._selected.get(self.z, int(np.argmax(np.ravel(pred.scores))))

    def select(self, index: int) -> None:
        """Choose candidate ``index`` of the current slice's multimask prediction."""
        pred = self.prediction(wait=True)
        n = 0 if pred is None else int(np.size(pred.scores))
        if not 0 <= int(index) < max(n, 1) or n == 0:
            raise PromptError(f"candidate {index} does not exist ({n} candidates)", where=self.source or "image")
        self._selected[self.z] = int(index)
        self._record("select", slice=self.z, index=int(index))
        self._notify("prompts")

    def mask_of(self, z: int, *, wait: bool = True) -> np.ndarray | None:
        """bool (H, W) mask of slice z (all False without prompts); None when wait=False and not ready."""
        pred = self.prediction(z, wait=wait)
        if pred is None:
            if not self.state_of(z).empty:
                return None
            return np.zeros((self.height, self.width), bool)
        masks = np.asarray(pred.masks).reshape(-1, self.height, self.width)
        scores = np.ravel(pred.scores)
        k = self._selected.get(int(z), int(np.argmax(scores)))
        return masks[k].astype(bool)

    @property
    def mask(self) -> np.ndarray:
        """bool (H, W): the selected mask of the current slice (waits for the embedding if needed)."""
        return self.mask_of(self.z)

    @property
    def metrics(self) -> dict[str, float]:
        """{"dice", "iou"} of the current mask against ground-truth label ``gt_label`` on this slice
        (samwidgets.metrics, its empty-mask policy); {} without ground truth."""
        if not self.ground_truth or self.gt_label is None:
            return {}
        from samwidgets.metrics import dice, iou

        gt = self.ground_truth[self.gt_label]
        gt = gt[self.z] if self.is_3d else gt
        mask = self.mask_of(self.z, wait=False)
        if mask is None:
            return {}
        return {"dice": float(dice(mask, gt)), "iou": float(iou(mask, gt))}

    # -- prompt log ----------------------------------------------------------------------------
    def _record(self, op: str, **event) -> None:
        self._events.append({"op": op, **event})
        self._autosave()

    def close(self) -> None:
        """Stop the background embedding thread."""
        self._embedder.close()
