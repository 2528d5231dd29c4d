"""Annotation half of :class:`samwidgets.widgets.Session`: the label volume, accept, propagate,
segment-everything, saving and autosave/restore.

The label volume ``labels`` is uint16 with the image's spatial shape ((z, y, x) or (y, x)); value i + 1
is ``label_names[i]``, 0 is background. Accepting a mask overwrites the pixels it covers.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from samwidgets.errors import InputError, PromptError
from samwidgets.atomic import write_json_atomic
from samwidgets.widgets.state import Change


class AnnotationMixin:
    """Methods of Session that write labels and files (see the module docstring)."""

    @property
    def default_label(self) -> str:
        """The label accept()/propagate() use without a name: the first name, else "foreground"."""
        return self.label_names[0] if self.label_names else "foreground"

    def label_id(self, label) -> int:
        """The integer id of ``label`` (a name, added to label_names when new, or an id >= 1)."""
        if isinstance(label, (int, np.integer)) and not isinstance(label, bool):
            if not 1 <= int(label) <= 65535:
                raise InputError(f"label id {label} must be in 1..65535", where="labels")
            while len(self.label_names) < int(label):
                self.label_names.append(f"label {len(self.label_names) + 1}")
            return int(label)
        name = str(label).strip()
        if not name:
            raise InputError("a label needs a name", where="labels")
        if name not in self.label_names:
            self.label_names.append(name)
        return self.label_names.index(name) + 1

    def _label_plane(self, z: int) -> np.ndarray:
        return self.labels[z] if self.is_3d else self.labels

    def _write_planes(self, op: str, planes: dict[int, np.ndarray], *, at: int, **event) -> None:
        """Set label planes {z: (H, W) uint16} as one undoable change made on slice ``at``."""
        change = Change(op, slice=at)
        for z, new in planes.items():
            before = self._label_plane(z).copy()
            if self.is_3d:
                self.labels[z] = new
            else:
                self.labels[...] = new
            change.labels[z] = (before, new.copy())
        self.labels_version += 1
        self._history.push(change)
        self._record(op, **event)
        self._notify("labels")

    def accept(self, label=None) -> int:
        """Write the current mask into the label volume as ``label`` (name or id; default the first name).

        Returns the number of pixels written. Raises PromptError when there is no mask to accept.
        """
        z = self.z  # the slice shown now, even if the mask has to wait for its embedding
        label = self.default_label if label is None else label
        lid = self.label_id(label)
        mask = self.mask_of(z)
        if not mask.any():
            raise PromptError("nothing to accept: the current mask is empty", where=self.source or "image")
        with self._lock:
            plane = self._label_plane(z).copy()
            plane[mask] = lid
            self._write_planes("accept", {z: plane}, at=z, slice=z, label=self.label_names[lid - 1])
        return int(mask.sum())

    def propagate(self, label=None, *, z_range=None) -> list[int]:
        """Propagate the accepted ``label`` of the current slice through the neighbouring slices (3D only).

        Works on a snapshot taken when it is called: the slice z0 shown then, its label plane and the
        label id, whatever the user does while it runs (scrolling, accepting elsewhere). Uses
        samwidgets.models.propagate.propagate_from_mask from z0; z_range = (z_min, z_max) inclusive limits the
        slices. Pixels of the other slices are set to the label where the propagated mask is true, as one
        undoable change recorded against z0. Returns the slices written (0-based z).
        """
        if not self.is_3d:
            raise InputError("propagation needs a 3D image", where=self.source or "image")
        z0 = self.z
        label = self.default_label if label is None else label
        lid = self.label_id(label)
        name = self.label_names[lid - 1]
        seed = self._label_plane(z0) == lid
        if not seed.any():
            raise PromptError(f"accept a mask as '{name}' on slice {z0 + 1} before propagating",
                              where=self.source or "image")
        from samwidgets.models.propagate import propagate_from_mask

        zr = None if z_range is None else (int(z_range[0]), int(z_range[1]))
        result = propagate_from_mask(self.predictor, self.model_array, z0, seed, z_range=zr)
        with self._lock:
            planes = {}
            for z, mask in _iter_slices(result, self.n_slices):
                mask = np.asarray(mask, bool)
                if z == z0 or not mask.any():
                    continue
                plane = self._label_plane(z).copy()
                plane[mask] = lid
                planes[z] = plane
            self._write_planes("propagate", planes, at=z0, slice=z0, label=name,
                               z_range=None if zr is None else list(zr))
        return sorted(planes)

    def segment_everything(self, z: int | None = None, *, n_per_side: int = 8, iou_threshold: float = 0.7,
                           min_score: float = 0.5) -> np.ndarray:
        """Grid-of-points masks of slice z (default the current one) as an int32 (H, W) label map, also kept
        in ``everything[z]`` for the overlay (see samwidgets.models.automatic)."""
        from samwidgets.models.automatic import segment_everything

        z = self.z if z is None else int(z)
        emb = self._embedder.get(z)
        labels, _ = segment_everything(self.predictor, emb, n_per_side=n_per_side,
                                       iou_threshold=iou_threshold, min_score=min_score)
        self.everything[z] = labels
        self._notify("everything")
        return labels

    # -- files ---------------------------------------------------------------------------------
    def save(self, path) -> Path:
        """Save by suffix: .json = prompt log; .nii/.nii.gz = label volume with the source geometry
        (samwidgets.io.save_mask, like=image); .png = 2D label map; .npz = labels + label_names.

        A sidecar ``<path>.labels.json`` maps label ids to names for the mask formats.
        """
        path = Path(path)
        name = path.name.lower()
        if name.endswith(".json"):
            write_json_atomic(path, self.prompt_log)
            return path
        if name.endswith(".npz"):
            np.savez_compressed(path, labels=self.labels, label_names=np.array(self.label_names))
        elif name.endswith((".nii", ".nii.gz", ".png")):
            if name.endswith(".png") and self.is_3d:
                raise InputError("a 3D label volume cannot be saved as PNG; use .nii.gz", where=path)
            from samwidgets.io import save_mask

            save_mask(self.labels, path, like=self.image)
        else:
            raise InputError("unknown format: use .json, .nii.gz, .nii, .png or .npz", where=path)
        write_json_atomic(path.with_name(path.name + ".labels.json"),
                          {str(i + 1): n for i, n in enumerate(self.label_names)})
        return path

    def _autosave(self) -> None:
        if self._autosaver is None or getattr(self, "_restoring", False):
            return
        self._autosaver.save(log=self.prompt_log, labels=self.labels, label_names=self.label_names,
                             labels_version=self.labels_version)

    def restore(self, directory=None) -> bool:
        """Restore labels and prompts from an autosave directory (default: this session's autosave_dir).

        The labels come from the saved file; the prompt log is replayed without re-accepting. Returns False
        when the directory holds no autosave yet.
        """
        from samwidgets.widgets.autosave import Autosaver

        saver = self._autosaver if directory is None else Autosaver(directory)
        if saver is None:
            raise InputError("no autosave directory given", where="autosave")
        loaded = saver.load()
        if loaded is None:
            return False
        log, labels, names = loaded
        if labels is not None and tuple(labels.shape) != tuple(self.shape):
            raise InputError(f"autosaved labels have shape {labels.shape}, the image {self.shape}",
                             where=saver.directory)
        self._restoring = True
        try:
            self.replay(log, accept=False)
        finally:
            self._restoring = False
        if labels is not None:
            self.labels[...] = labels
            self.labels_version += 1
        for n in names:
            if n not in self.label_names:
                self.label_names.append(n)
        self._autosave()
        self._notify("labels")
        return True


def _iter_slices(result, n_slices: int):
    """(z, mask) pairs from what propagate_from_mask returns: a dict {z: mask} or a (Z, H, W) array."""
    if isinstance(result, dict):
        yield from sorted(result.items())
        return
    if isinstance(result, tuple) and len(result) and isinstance(result[0], (dict, np.ndarray)):
        result = result[0]
        yield from _iter_slices(result, n_slices)
        return
    arr = np.asarray(result)
    if arr.ndim == 3 and arr.shape[0] == n_slices:
        for z in range(n_slices):
            yield z, arr[z]
        return
    raise InputError(f"unexpected propagation result of shape {getattr(arr, 'shape', None)}", where="propagate")

