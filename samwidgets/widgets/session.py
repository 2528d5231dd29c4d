"""The headless controller of the slice viewer: all state and logic, no ipywidgets.

    s = Session(image_or_case, model="litemedsam", ground_truth=gt)   # (y, x[, 3]) or (z, y, x[, 3])
    s.set_slice(12); s.click(120, 88); s.box(100, 70, 180, 130); s.mask; s.metrics
    s.accept("lesion"); s.propagate(); s.save("labels.nii.gz"); s.save("prompts.json")
    s.view_state.observe(lambda changed: ...)    # what a view mirrors (observable.py)

Coordinates are xy pixels of the slice, boxes xyxy, slices z 0-based (people see z + 1). Each slice keeps
its own prompts; every change reruns the decoder on the slice's cached embedding (multimask for a lone
point, best score selected; no logits fed back, as Mazurowski et al.'s protocol in protocols.md). An edit
the model rejects is rolled back and re-raised as a typed error. Parts the Session owns: Embedder,
Predictions, Annotator + Labelling, PromptEditor, Persistence (+ PromptLog, Autosaver), History, and the
Publisher of the one Observable ViewState.
"""

from __future__ import annotations

import threading

import numpy as np

from samwidgets.errors import InputError
from samwidgets.widgets.annotation import Annotator
from samwidgets.widgets.editing import PromptEditor
from samwidgets.widgets.labelling import Labelling
from samwidgets.widgets.model_setup import load_predictor, model_input, point_warning
from samwidgets.widgets.embedder import Embedder
from samwidgets.widgets.observable import Observable, ViewState
from samwidgets.widgets.predictions import Predictions
from samwidgets.widgets.persistence import Persistence
from samwidgets.widgets.publishing import Publisher
from samwidgets.widgets.prompt_log import PromptLog, replay_events
from samwidgets.widgets.sources import open_source, normalise_ground_truth, spatial_shape
from samwidgets.widgets.state import History, SliceState


class Session:
    """State and logic of one interactive segmentation session on one image.

    image:        an :class:`~samwidgets.io.image.Image`, an array (y, x[, 3]) / (z, y, x[, 3]), an image
                  path, or a manifest case (its labels become the ground truth).
    model:        a registry name (built for this session, freed by :meth:`close`) or a predictor object
                  (shared, never freed here). cache: the EmbeddingCache for a model built by name.
    ground_truth: None, a bool/int array of the image's spatial shape, or {label name: bool mask}.
    label_names:  names offered for :meth:`accept` (default: the ground-truth names; accept() without a
                  name uses the first, or "foreground" when there is none).
    background:   embed slices in a worker thread (the viewer sets it); off = encode when first needed.
    prefetch:     pre-embed radius in background mode: z±1..prefetch behind, 2 x prefetch ahead in the scroll
                  direction (both ways at rest); see embedder.prefetch_order.
    autosave_dir: a directory to autosave the prompt log + labels to (see autosave.py); autosave_delay s.
    preset:       intensity preset (samwidgets.io.PRESETS) giving the model's input when the image is not
                  uint8 already (a raw file): default "ct_soft_tissue" when values reach below -200 (HU),
                  else "percentile", the MedSAM preprocessing of protocols.md. uint8 images go to the
                  model unchanged (manifest cases arrive with their preset applied).
    """

    def __init__(self, image, *, model="litemedsam", ground_truth=None, label_names=None, device: str = "auto",
                 cache=None, background: bool = False, prefetch: int = 2, autosave_dir=None, source=None,
                 preset: str | None = None, autosave_delay: float = 0.5):
        opened = open_source(image)
        self.image = opened.image
        self.case_id = opened.case_id
        self.model_array, self.preset = model_input(self.image, preset if preset is not None else opened.preset)
        self.shape = spatial_shape(self.image)
        self.is_3d = len(self.shape) == 3
        self.n_slices = self.shape[0] if self.is_3d else 1
        self.height, self.width = self.shape[-2:]
        self.source = source if source is not None else (getattr(self.image, "path", None) or opened.case_id)
        gt = ground_truth if ground_truth is not None else (opened.ground_truth or None)
        self.ground_truth = normalise_ground_truth(gt, self.shape)
        self.predictor, self._owns_predictor = load_predictor(model, device=device, cache=cache)
        self.model_name = getattr(self.predictor, "name", type(self.predictor).__name__)
        where = str(self.source or "image")
        self.annotator = Annotator(self.shape, label_names if label_names else list(self.ground_truth),
                                   where=where)
        self.log = PromptLog()
        self.history = History()
        self.predictions = Predictions(self.predictor, self.model_name, (self.height, self.width))
        self.z = self.n_slices // 2 if self.is_3d else 0
        self.prefetch = int(prefetch)
        self._lock = threading.RLock()
        self.embedder = Embedder(self.predictor, self.model_slice, self.n_slices, background=background)
        self.publisher = Publisher(
            Observable(ViewState(z=self.z)), self.predictions, self.embedder, self.annotator, self._lock,
            ground_truth=self.ground_truth, is_3d=self.is_3d, n_slices=self.n_slices, where=where,
            current=lambda: self.z, replaying=lambda: self.files.replaying,
            everything=lambda z: self.labelling.everything.get(z))
        self.view_state = self.publisher.view_state
        self.embedder.on_ready = self.publisher.embedded
        self.autosaver = None
        self.files = Persistence(
            self.annotator, self.log, self._lock, image=self.image, shape=self.shape,
            prompt_log=lambda: self.prompt_log, autosaver=lambda: self.autosaver,
            replay_onto=lambda evs, accept: replay_events(self, evs, accept=accept),
            publish=self.publisher.publish, refocus=self._refocus)
        self.labelling = Labelling(self.annotator, self.history, self._lock, n_slices=self.n_slices, where=where,
                                   record=self.files.record, flush=self.files.flush, publish=self.publisher.publish)
        if autosave_dir is not None:
            from samwidgets.widgets.autosave import Autosaver

            self.autosaver = Autosaver(autosave_dir, snapshot=self.files.snapshot, delay=autosave_delay)
        self.editor = PromptEditor(
            self.predictions, self.embedder, self.history, self.annotator, self._lock, height=self.height,
            width=self.width, where=where, current=lambda: self.z, move_to=self._move_to, record=self.files.record,
            flush=self.files.flush, publish=self.publisher.publish, replaying=lambda: self.files.replaying,
            warning=lambda new: point_warning(self.predictor, new))
        if background:
            self.embedder.focus(self.z, self.prefetch)
        self.publisher.publish()

    def _move_to(self, z: int) -> None:
        self.z = z

    # -- parts' data under their old names -----------------------------------------------------
    labels = property(lambda self: self.annotator.labels,
                      doc="uint16 label volume, the image's spatial shape (value i + 1 = label_names[i]).")
    label_names = property(lambda self: self.annotator.label_names, doc="Names of label values 1, 2, ... (list).")
    labels_version = property(lambda self: self.annotator.version, doc="Bumps at every label change (int).")
    default_label = property(lambda self: self.annotator.default_label, doc="What accept() writes unnamed.")
    message = property(lambda self: self.view_state.message.text, doc="The text of the message shown.")
    gt_label = property(lambda self: self.publisher.gt_label,
                        doc="The ground-truth label scored and outlined (None without one); see set_gt_label.")

    def label_id(self, label) -> int:
        return self.annotator.label_id(label)

    @property
    def prompt_log(self) -> dict:
        """The JSON-safe log of every edit so far (see samwidgets.widgets.prompt_log)."""
        with self._lock:
            return self.log.as_dict(image_shape=self.shape, source=self.source, model=self.model_name)

    # -- publishing (the Publisher part) -------------------------------------------------------
    def say(self, text: str, *, level: str = "info", until: str = "prompt") -> None:
        """Show a message (see observable.Message for when it goes stale)."""
        self.publisher.say(text, level=level, until=until)

    def set_busy(self, text: str, progress: float = 0.0) -> None:
        """Report a long task's state to the view ("" when done)."""
        self.publisher.set_busy(text, progress)

    # -- slices and embeddings -----------------------------------------------------------------
    def model_slice(self, z: int) -> np.ndarray:
        """The plane handed to the encoder: (H, W) or (H, W, 3) uint8 (the image, preset applied if raw)."""
        return self.model_array[z] if self.is_3d else self.model_array

    def display_slice(self, z: int) -> np.ndarray:
        """The raw plane of slice z as loaded ((H, W) or (H, W, 3), HU for CT): windowed only for display."""
        return self.image.slice2d(z) if self.is_3d else np.asarray(self.image.array)

    @property
    def embedding_ready(self) -> bool:
        """True when the current slice's embedding is in memory (decoding will not wait for the encoder)."""
        return self.embedder.ready(self.z)

    @property
    def embedding_status(self) -> str:
        return self.embedder.status(self.z)

    def wait(self, timeout: float | None = None) -> None:
        """Block until background embeddings queued so far are done."""
        self.embedder.wait(timeout)

    def set_slice(self, z: int) -> None:
        """Show slice z (0 <= z < n_slices); embeds it first, then its neighbours, in background mode."""
        if isinstance(z, bool) or not isinstance(z, (int, np.integer)):
            raise InputError(f"a slice index must be an integer, got {z!r}", where=self.source or "image")
        z = int(z)
        if not 0 <= z < self.n_slices:
            raise InputError(f"slice {z + 1} is outside 1..{self.n_slices}", where=self.source or "image")
        if z == self.z:
            return
        with self._lock:
            self.z = z
            self.files.record("set_slice", slice=z)
        if not self.files.replaying:
            self.embedder.focus(z, self.prefetch)  # background mode only
        self.files.flush()
        self.publisher.publish(cause="slice")

    # -- prompts -------------------------------------------------------------------------------
    @property
    def state(self) -> SliceState:
        """The prompt state of the current slice."""
        return self.predictions.state_of(self.z)

    def state_of(self, z: int) -> SliceState:
        return self.predictions.state_of(int(z))

    def click(self, x: float, y: float, *, positive: bool = True) -> None:
        """Add a point at xy pixel (x, y): positive (inside the object) or negative. Outside or not a
        number -> PromptError."""
        self.editor.click(x, y, positive=positive)

    def box(self, x0: float, y0: float, x1: float, y1: float) -> None:
        """Set the slice's box (xyxy) from two corners (xy pixels, any order). A corner outside the image or
        an empty box -> PromptError (the viewer clips drags to the image before calling this)."""
        self.editor.box(x0, y0, x1, y1)

    def clear(self) -> None:
        """Remove every prompt of the current slice (undoable)."""
        self.editor.clear()

    def set_prompt(self, prompt) -> None:
        """Replace the current slice's prompts by a :class:`~samwidgets.prompts.types.Prompt` (or its JSON)."""
        self.editor.set_prompt(prompt)

    def undo(self) -> bool:
        """Undo the last change (prompts, accept or propagate); False when there is nothing to undo."""
        return self.editor.undo_redo(after=False)

    def redo(self) -> bool:
        """Redo the last undone change; False when there is nothing to redo."""
        return self.editor.undo_redo(after=True)

    # -- predictions ---------------------------------------------------------------------------
    def prediction(self, z: int | None = None, *, wait: bool = True):
        """The Prediction for slice z's prompts (masks (K, H, W), scores (K,)), or None without prompts.

        wait=False returns None instead of waiting for a background embedding."""
        z = self.z if z is None else int(z)
        self._await_embedding(z, wait)
        with self._lock:
            return self.predictions.prediction(z, self.state_of(z), self.embedder, wait=wait)

    def _await_embedding(self, z: int, wait: bool) -> None:
        """Wait for slice z's background embedding WITHOUT holding the session lock (the embedding thread
        publishes through the session when it finishes)."""
        if wait and self.embedder.background and not self.state_of(z).empty:
            self.embedder.get(z)

    @property
    def candidates(self) -> list[float]:
        """Scores of the current slice's candidate masks (several with multimask), [] without prompts."""
        return list(self.predictions.scores(self.z, self.state))

    @property
    def selected(self) -> int:
        """Index of the candidate shown as the mask (default: the best score)."""
        return self.predictions.selected(self.z)

    def select(self, index: int) -> None:
        """Choose candidate ``index`` of the current slice's multimask prediction."""
        self._await_embedding(self.z, True)
        with self._lock:
            self.predictions.select(self.z, self.state, int(index), self.embedder, where=self.source or "image")
            self.files.record("select", slice=self.z, index=int(index))
        self.publisher.publish()

    def mask_of(self, z: int, *, wait: bool = True) -> np.ndarray | None:
        """bool (H, W) mask of slice z (all False without prompts); None when wait=False and not ready."""
        self._await_embedding(int(z), wait)
        with self._lock:
            return self.predictions.mask(int(z), self.state_of(z), self.embedder, wait=wait)

    @property
    def mask(self) -> np.ndarray:
        """bool (H, W): the selected mask of the current slice (waits for the embedding if needed)."""
        return self.mask_of(self.z)

    @property
    def metrics(self) -> dict[str, float]:
        """{"dice", "iou"} of the current mask against ground-truth label ``gt_label`` on this slice
        (samwidgets.metrics, its empty-mask policy); {} without ground truth or before any prompt."""
        return self.publisher.metrics(self.z, self.state, self.mask_of(self.z, wait=False))

    def set_gt_label(self, name: str) -> None:
        """Score against ground-truth label ``name`` (InputError when there is none of that name)."""
        self.publisher.set_gt_label(name)

    # -- labels (Labelling writes them, the Annotator computes the planes) --------------------------
    def accept(self, label=None) -> int:
        """Write the current mask into the label volume as ``label`` (name or id; default the first name).

        Returns the number of pixels written; the autosave is on disk when it returns. PromptError when
        there is no mask to accept."""
        z = self.z  # the slice shown now, even if the mask has to wait for its embedding
        return self.labelling.accept(z, self.mask_of(z), label)

    def propagate(self, label=None, *, z_range=None) -> list[int]:
        """Propagate the accepted ``label`` of the current slice through the neighbouring slices (3D only).

        Works on a snapshot taken when it is called: the slice z0 shown then, its label plane and the
        label id, whatever the user does while it runs (scrolling, accepting elsewhere). Box chaining of
        samwidgets.models.propagate.propagate_from_mask from z0; z_range = (z_min, z_max) inclusive, 0-based,
        limits the slices. Pixels of the other slices are set to the label where the propagated mask is
        true, as one undoable change recorded against z0. Returns the slices written (0-based z)."""
        return self.labelling.propagate(self.z, label, self.predictor, self.model_array, z_range=z_range)

    def record_restored(self, op: str, **event) -> None:
        """Record an accept/propagate whose labels come from elsewhere (an autosave) as an empty undo step,
        so that later undo/redo events of a replayed log still pair with the right changes."""
        self.labelling.record_restored(op, self.z, **event)

    @property
    def everything(self) -> dict:
        """Segment-everything results (EverythingResult) by slice z."""
        return self.labelling.everything

    def check_everything(self) -> None:
        """PromptError when the model was trained on boxes only (segment everything prompts points)."""
        self.labelling.check_everything(self.predictor)

    def segment_everything(self, z: int | None = None, *, n_per_side: int = 8, iou_threshold: float = 0.7,
                           min_score: float = 0.5) -> np.ndarray:
        """Masks of a grid of single-point prompts on slice z (default the current one) as an int32 (H, W)
        label map (samwidgets.models.automatic); kept in ``everything[z]`` as an EverythingResult, the list
        of masks (area, predicted IoU) to accept one by one. PromptError on a box-only model."""
        self.check_everything()
        z = self.z if z is None else int(z)
        params = {"n_per_side": n_per_side, "iou_threshold": iou_threshold, "min_score": min_score}
        return self.labelling.segment_everything(z, self.predictor, self.embedder.get(z), **params).label_map

    def accept_everything(self, index: int, label=None) -> int:
        """Write mask ``index`` of the current slice's segment-everything list into the labels as ``label``
        (undoable). Returns the number of pixels written."""
        return self.labelling.accept_everything(self.z, int(index), label)

    def clear_everything(self) -> None:
        """Forget the current slice's segment-everything results (accepted labels stay)."""
        self.labelling.clear_everything(self.z)

    # -- prompt log, files, autosave (the Persistence part) ----------------------------------------
    def _refocus(self) -> None:
        self.embedder.focus(self.z, self.prefetch)  # background mode only

    def replay(self, log, *, accept: bool = True) -> None:
        """Re-apply a prompt log (dict, JSON text or .json path; session or results-table format) onto this
        image (same spatial shape, else PromptError); accept=False skips accept/propagate (Persistence.replay)."""
        self.files.replay(log, accept=accept)

    def save(self, path):
        """Save by suffix: .json = prompt log; .nii/.nii.gz = label volume with the source geometry
        (samwidgets.io.save_mask, like=image); .png = 2D label map; .npz = labels + label_names.
        A sidecar ``<path>.labels.json`` maps label ids to names for the mask formats. Flushes the autosave."""
        return self.files.save(path)

    def restore(self, directory=None) -> bool:
        """Restore labels (from the saved file) and prompts (log replayed without re-accepting) from an autosave
        directory (default: this session's autosave_dir). False when it holds no autosave yet."""
        return self.files.restore(directory)

    def close(self) -> None:
        """Flush the autosave, release its folder, stop the embedding thread and free a model built by name."""
        try:
            if self.autosaver is not None:
                self.autosaver.close()
        finally:
            self.embedder.close()
            if self._owns_predictor:
                self.predictor = None
                self.predictions.predictor = None
                self.embedder.predictor = None
