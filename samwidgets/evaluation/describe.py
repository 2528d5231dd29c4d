"""Descriptor columns of the results table, computed while the sweep runs.

For each scored row the sweep asks a :class:`RowDescriber` (one per case and model) for:

* the object descriptors of the ground-truth object on the image the model saw
  (:func:`samwidgets.masks.descriptors.describe_object`): the 2D slice for a per-slice row, the volume
  for a volume row (shape descriptors then from the prompted middle slice). They are computed once per
  (case, label, slice) and shared by every protocol and step, and by every model's unit of the case when
  the caller passes one :func:`object_memo` to their describers (the sweep does, per loaded case); the
  gradient magnitude of each slice is computed once per describer and shared by the labels on it;
* the prompt descriptors of the protocol's first prompt set (step 1, read from the row's prompt log):
  its box (tightness, share filled by the case's other labels) and its first positive click (distance to
  the boundary), :func:`samwidgets.masks.descriptors.describe_prompt`; every step of the protocol carries
  the same values;
* ``off_label``: the protocol sends a prompt kind the model was not trained with (the registry's
  ``ModelSpec.prompts``; e.g. points on LiteMedSAM). Such rows still run: that is a finding.

A descriptor that fails to compute leaves NaN in its columns and never turns the row into an error.
The column names come from the descriptor dataclasses; the table declares them
(:data:`samwidgets.evaluation.table.DESCRIPTOR_COLUMNS`).
"""

from __future__ import annotations

import json

import numpy as np

from samwidgets.lru import LRU
from samwidgets.masks.descriptors import (
    OBJECT_DESCRIPTORS, PROMPT_DESCRIPTORS, describe_object, describe_prompt, gradient_magnitude, grey,
)
from samwidgets.prompts.types import PROMPT_KINDS

#: the prompt kinds a model is assumed to be trained with when the registry does not know it: all of them
ALL_PROMPT_KINDS = PROMPT_KINDS
#: object-descriptor entries an :func:`object_memo` keeps: one per (label, slice) of a case, ~1 kB each
OBJECT_MEMO_SIZE = 65_536
#: bytes of float32 slice gradient magnitudes one describer keeps (at least one slice)
GRADIENT_MEMO_BYTES = 256 << 20


def object_memo() -> LRU:
    """A bounded memo of object descriptors to share between the describers of one case's units (one per
    model): entries are keyed by case, label, slice and shape slice, so it never mixes cases up."""
    return LRU(OBJECT_MEMO_SIZE)


def protocol_prompt_kinds(protocol) -> frozenset[str]:
    """The prompt kinds a parsed protocol sends over all its steps: subsets of {"box", "point"} (from the
    protocol registry, :data:`samwidgets.evaluation.protocols.PROTOCOLS`)."""
    return protocol.prompt_kinds


def trained_prompts(name: str, predictor=None) -> tuple[str, ...]:
    """The prompt kinds model ``name`` was trained with: the registry's, else the predictor's
    ``trained_prompts`` attribute, else both kinds."""
    from samwidgets.models.registry import MODELS

    if name in MODELS:
        return tuple(MODELS[name].prompts)
    return tuple(getattr(predictor, "trained_prompts", ALL_PROMPT_KINDS))


def is_off_label(protocol, trained) -> bool:
    """True when ``protocol`` sends a prompt kind outside ``trained``."""
    return not protocol_prompt_kinds(protocol) <= set(trained)


def spacing_known(image) -> bool:
    """Whether the image's spacing comes from the file or the manifest: it has an affine, an npz
    ``spacing``, or a spacing other than the readers' 1.0 default. (A manifest override of exactly 1.0
    on a raster image reads as unknown.)"""
    if getattr(image, "affine", None) is not None:
        return True
    if (getattr(image, "meta", None) or {}).get("spacing_xyz") is not None:
        return True
    return any(float(s) != 1.0 for s in image.spacing)


def _nan_columns(names) -> dict[str, float]:
    return {n: float("nan") for n in names}


def _first_prompts(prompt_log: str) -> tuple[list | None, list | None]:
    """(first box xyxy, first positive click xy) of the log's first prompt sets, None where absent."""
    try:
        prompts = json.loads(prompt_log).get("prompts") or []
    except (TypeError, ValueError, AttributeError):
        return None, None
    box = point = None
    for p in prompts:
        if box is None and p.get("box_xyxy") is not None:
            box = p["box_xyxy"]
        pts, labels = p.get("points_xy") or [], p.get("point_labels") or []
        for xy, lab in zip(pts, labels):
            if point is None and int(lab) == 1:
                point = xy
    return box, point


class RowDescriber:
    """Adds descriptor columns to the rows of one (case, model) unit.

    image: the :class:`samwidgets.io.Image` the model saw (preset applied); labels: name -> bool mask of
    its spatial shape; name / predictor: the model (for ``off_label``). objects / case: an
    :func:`object_memo` shared with the other models' describers of the same ``case`` (its key), so object
    descriptors do not depend on the model and are computed once; None: a memo of this describer's own.
    """

    def __init__(self, image, labels: dict, *, name: str, predictor=None, objects: LRU | None = None,
                 case: str = ""):
        self.image = image
        self.labels = labels
        self.trained = trained_prompts(name, predictor)
        self.spacing = tuple(image.spacing) if spacing_known(image) else None
        self._objects = object_memo() if objects is None else objects
        self._case = case
        h, w = image.shape2d
        self._gradients = LRU(max(1, GRADIENT_MEMO_BYTES // (4 * h * w)))  # slice z -> (y, x) float32
        self._union: dict = {}

    def _others(self, label, z: int | None) -> np.ndarray | None:
        """The union of the other labels (memoised per label), on slice z of a volume."""
        if label not in self._union:
            rest = [np.asarray(m, bool) for k, m in self.labels.items() if k != label]
            self._union[label] = np.logical_or.reduce(rest) if rest else None
        union = self._union[label]
        return union if union is None or z is None else union[z]

    def object_columns(self, label, z: int, *, shape_slice: int | None = None) -> dict[str, float]:
        """Object descriptors of ``label`` on slice z (z = -1: the whole volume), memoised."""
        key = (self._case, label, z, shape_slice)
        return self._objects.get_or_compute(key, lambda: self._describe(label, z, shape_slice))

    def _describe(self, label, z: int, shape_slice: int | None) -> dict[str, float]:
        mask = np.asarray(self.labels[label], bool)
        try:
            if z >= 0 and self.image.is_3d:
                d = describe_object(self.image.slice2d(z), mask[z], spacing=self._plane_spacing(),
                                    gradient=self._slice_gradient(z))
            elif z >= 0:
                d = describe_object(self.image.array, mask, spacing=self.spacing, gradient=self._slice_gradient(0))
            else:
                d = describe_object(self.image.array, mask, spacing=self.spacing, shape_slice=shape_slice,
                                    gradient=self._object_gradient(mask))
            return d.as_dict()
        except Exception:  # a descriptor never sinks a row
            return _nan_columns(OBJECT_DESCRIPTORS)

    def _slice_gradient(self, z: int) -> np.ndarray:
        """The (y, x) float32 gradient magnitude of plane z (z = 0 for a 2D image), once per slice."""
        return self._gradients.get_or_compute(
            z, lambda: gradient_magnitude(grey(self.image.slice2d(z), self.image.shape2d)))

    def _object_gradient(self, mask: np.ndarray) -> np.ndarray:
        """The gradient magnitude in ``mask``'s shape: for a volume, the slices of the object's z span
        from :meth:`_slice_gradient` (zeros elsewhere: :func:`~samwidgets.masks.descriptors.edge_gradient`
        reads only the span)."""
        if mask.ndim == 2:
            return self._slice_gradient(0)
        out = np.zeros(mask.shape, np.float32)
        zs = np.nonzero(mask.any(axis=(1, 2)))[0]
        for z in range(int(zs.min()), int(zs.max()) + 1) if len(zs) else ():
            out[z] = self._slice_gradient(z)
        return out

    def _plane_spacing(self):
        return None if self.spacing is None else self.spacing[-2:]

    def prompt_columns(self, label, z: int, prompt_log: str) -> dict[str, float]:
        """Prompt descriptors of the first box and first positive click in ``prompt_log`` (slice z)."""
        box, point = _first_prompts(prompt_log)
        mask = np.asarray(self.labels[label], bool)
        plane = mask[z] if mask.ndim == 3 else mask
        others = self._others(label, z if mask.ndim == 3 else None)
        try:
            return describe_prompt(plane, box_xyxy=box, point_xy=point, others=others).as_dict()
        except Exception:
            return _nan_columns(PROMPT_DESCRIPTORS)

    def add(self, rows: list[dict], *, label, z: int, protocol) -> list[dict]:
        """``rows`` (the steps of one protocol on one object; error rows pass through) with descriptor
        columns and ``off_label`` added. z = -1 for a volume row (its prompt log gives the prompted slice)."""
        off = is_off_label(protocol, self.trained)
        first = next((r for r in rows if r.get("prompt_log")), None)
        if first is None:
            return [{**r, "off_label": off} for r in rows]
        prompted = z
        if z < 0:
            try:
                prompted = int(json.loads(first["prompt_log"]).get("slice"))
            except (TypeError, ValueError):
                prompted = None
        cols = dict(self.object_columns(label, z, shape_slice=prompted if z < 0 else None))
        if prompted is not None and (prompted >= 0 or not self.image.is_3d):
            cols.update(self.prompt_columns(label, max(prompted, 0), first["prompt_log"]))
        return [{**r, **cols, "off_label": off} if r.get("prompt_log") else {**r, "off_label": off} for r in rows]
