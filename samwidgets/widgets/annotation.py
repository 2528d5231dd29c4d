"""The label volume of a session and what writes it: :class:`Annotator` (a part the Session owns).

The label volume ``labels`` is uint16 with the image's spatial shape ((z, y, x) or (y, x)); value i + 1
is ``label_names[i]``, 0 is background. Accepting a mask overwrites the pixels it covers. The Annotator
holds no prompts, history or files of the session: it is handed masks and returns :class:`Change` records
for the session's undo history.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from samwidgets.atomic import write_json_atomic
from samwidgets.errors import InputError, PromptError
from samwidgets.widgets.state import Change

#: the label volume's type; ids 1..LABEL_MAX name labels, 0 is background
LABEL_DTYPE = np.uint16
LABEL_MAX = int(np.iinfo(LABEL_DTYPE).max)


class Annotator:
    """The label volume (uint16, spatial ``shape``), its names and a version that bumps at every change."""

    def __init__(self, shape: tuple[int, ...], label_names: list[str], *, where: str = "image"):
        """label_names: a list (or tuple) of strings; anything else is an InputError (a str is not split)."""
        if not (isinstance(label_names, (list, tuple)) and all(isinstance(n, str) for n in label_names)):
            raise InputError(f"label_names must be a list of strings, got {label_names!r:.80}", where="label_names")
        self.shape = tuple(int(s) for s in shape)
        self.is_3d = len(self.shape) == 3
        self.labels = np.zeros(self.shape, LABEL_DTYPE)
        self.label_names: list[str] = list(label_names)
        self.version = 0
        self.where = where

    @property
    def default_label(self) -> str:
        """The label accept()/propagate() use without a name: the first name, else "foreground"."""
        return self.label_names[0] if self.label_names else "foreground"

    def label_id(self, label) -> int:
        """The integer id of ``label`` (a name, added to label_names when new, or an id >= 1)."""
        if isinstance(label, (int, np.integer)) and not isinstance(label, bool):
            if not 1 <= int(label) <= LABEL_MAX:
                raise InputError(f"label id {label} must be in 1..{LABEL_MAX}", where="labels")
            while len(self.label_names) < int(label):
                self.label_names.append(f"label {len(self.label_names) + 1}")
            return int(label)
        if not isinstance(label, str):
            raise InputError(f"a label is a name or an id, got {type(label).__name__} {label!r:.60}", where="labels")
        name = label.strip()
        if not name:
            raise InputError("a label needs a name", where="labels")
        if name not in self.label_names:
            self.label_names.append(name)
        return self.label_names.index(name) + 1

    def plane(self, z: int) -> np.ndarray:
        """The (H, W) label plane of slice z (a view, not a copy)."""
        return self.labels[z] if self.is_3d else self.labels

    def write(self, op: str, planes: dict[int, np.ndarray], *, at: int) -> Change:
        """Set label planes {z: (H, W) uint16}; returns the undoable Change (made on slice ``at``)."""
        change = Change(op, slice=at)
        for z, new in planes.items():
            before = self.plane(z).copy()
            if self.is_3d:
                self.labels[z] = new
            else:
                self.labels[...] = new
            change.labels[z] = (before, new.copy())
        self.version += 1
        return change

    def apply(self, change: Change, *, after: bool) -> None:
        """Put the label planes of ``change`` back to their state before (after=False) or after it."""
        k = 1 if after else 0
        for z, pair in change.labels.items():
            if self.is_3d:
                self.labels[z] = pair[k]
            else:
                self.labels[...] = pair[k]
        if change.labels:
            self.version += 1

    def accepted(self, z: int, mask: np.ndarray, lid: int) -> np.ndarray:
        """Slice z's label plane with ``mask`` (bool (H, W)) written as ``lid``; PromptError when empty."""
        if not mask.any():
            raise PromptError("nothing to accept: the current mask is empty", where=self.where)
        plane = self.plane(z).copy()
        plane[mask] = lid
        return plane

    def propagated(self, predictor, model_array: np.ndarray, z0: int, lid: int, *, z_range=None) -> dict:
        """Label planes {z: (H, W)} from carrying label ``lid`` of slice z0 through the volume with
        samwidgets.models.propagate.propagate_from_mask (box chaining; z0 itself is left out). The seed
        is read once, at the call: later edits do not change what is propagated."""
        if not self.is_3d:
            raise InputError("propagation needs a 3D image", where=self.where)
        seed = self.plane(z0) == lid
        if not seed.any():
            raise PromptError(f"accept a mask as '{self.label_names[lid - 1]}' on slice {z0 + 1} before "
                              "propagating", where=self.where)
        from samwidgets.models.propagate import propagate_from_mask

        result = propagate_from_mask(predictor, model_array, z0, seed, z_range=z_range)
        return {z: np.asarray(m, bool) for z, m in _iter_slices(result, self.shape[0]) if z != z0}

    def merged(self, masks: dict[int, np.ndarray], lid: int) -> dict[int, np.ndarray]:
        """Label planes with each non-empty mask {z: bool (H, W)} written as ``lid`` on the current planes."""
        planes = {}
        for z, mask in masks.items():
            if mask.any():
                plane = self.plane(z).copy()
                plane[mask] = lid
                planes[z] = plane
        return planes

    def check_shape(self, labels: np.ndarray | None, *, where) -> None:
        """InputError when autosaved ``labels`` do not have the image's spatial shape."""
        if labels is not None and tuple(labels.shape) != self.shape:
            raise InputError(f"autosaved labels have shape {labels.shape}, the image {self.shape}", where=where)

    def restore(self, labels: np.ndarray | None, names: list[str], *, where) -> None:
        """Take over autosaved labels (same shape) and names."""
        self.check_shape(labels, where=where)
        if labels is not None:
            self.labels[...] = labels
            self.version += 1
        for n in names:
            if n not in self.label_names:
                self.label_names.append(n)

    def save(self, path: Path, *, like) -> Path:
        """Save by suffix: .nii/.nii.gz = label volume with the geometry of ``like`` (samwidgets.io.save_mask);
        .png = 2D label map; .npz = labels + label_names. A sidecar ``<path>.labels.json`` maps ids to names."""
        name = path.name.lower()
        if name.endswith(".npz"):
            np.savez_compressed(path, labels=self.labels, label_names=np.array(self.label_names))
        elif name.endswith((".nii", ".nii.gz", ".png")):
            if name.endswith(".png") and self.is_3d:
                raise InputError("a 3D label volume cannot be saved as PNG; use .nii.gz", where=path)
            from samwidgets.io import save_mask

            save_mask(self.labels, path, like=like)
        else:
            raise InputError("unknown format: use .json, .nii.gz, .nii, .png or .npz", where=path)
        write_json_atomic(path.with_name(path.name + ".labels.json"),
                          {str(i + 1): n for i, n in enumerate(self.label_names)})
        return path


def _iter_slices(result, n_slices: int):
    """(z, mask) pairs from what propagate_from_mask returns: a dict {z: mask} or a (Z, H, W) array."""
    if isinstance(result, dict):
        yield from sorted(result.items())
        return
    if isinstance(result, tuple) and len(result) and isinstance(result[0], (dict, np.ndarray)):
        yield from _iter_slices(result[0], n_slices)
        return
    arr = np.asarray(result)
    if arr.ndim == 3 and arr.shape[0] == n_slices:
        for z in range(n_slices):
            yield z, arr[z]
        return
    raise InputError(f"unexpected propagation result of shape {getattr(arr, 'shape', None)}", where="propagate")
