"""The session's model: loading it, its input (the image with an intensity preset), what it was trained
for (read from the models registry, ``ModelSpec.prompts``) and the warnings the viewer shows when a
prompt goes beyond that (no widgets).

A predictor may declare ``trained_prompts`` itself (a fine-tuned or third-party model); otherwise its
registry name gives the spec; a model the registry does not know is taken as trained on points and boxes.
"""

from __future__ import annotations

import numpy as np

from samwidgets.errors import InputError
from samwidgets.widgets.state import SliceState


def load_predictor(model, *, device: str = "auto", cache=None) -> tuple[object, bool]:
    """(predictor, owned): a registry name is built here (owned: the session frees it on close); a
    predictor object is used as is (shared: never freed by the session)."""
    if isinstance(model, str):
        from samwidgets.models import load

        return load(model, device=device, cache=cache), True
    if not hasattr(model, "encode") or not hasattr(model, "decode"):
        raise InputError(f"model must be a registry name or a predictor, got {type(model).__name__}", where="model")
    return model, False


def model_input(image, preset: str | None) -> tuple[np.ndarray, str | None]:
    """(array handed to the encoder, preset used): uint8 images as they are when no preset is named;
    otherwise samwidgets.io.apply_preset with ``preset``, by default "rgb" for colour, "ct_soft_tissue" when
    values reach below -200 (HU), else "percentile" (the MedSAM preprocessing of protocols.md)."""
    arr = np.asarray(image.array)
    if arr.dtype == np.uint8 and preset is None:
        return arr, None
    from samwidgets.io import apply_preset

    if preset is None and getattr(image, "is_rgb", False):
        preset = "rgb"
    elif preset is None:
        preset = "ct_soft_tissue" if arr.dtype.kind in "iuf" and float(arr.min()) < -200 else "percentile"
    return apply_preset(arr, preset), preset


def trained_prompts(predictor) -> tuple[str, ...]:
    """Prompt kinds ("box", "point") the model was trained with."""
    declared = getattr(predictor, "trained_prompts", None)
    if declared:
        return tuple(declared)
    from samwidgets.models.registry import MODELS

    spec = MODELS.get(str(getattr(predictor, "name", "")))
    return tuple(spec.prompts) if spec is not None else ("box", "point")


def box_only(predictor) -> bool:
    return "point" not in trained_prompts(predictor)


def point_warning(predictor, state: SliceState) -> str:
    """The status-line warning for a point prompt on a box-trained model ("" when none applies)."""
    if not state.points or not box_only(predictor):
        return ""
    name = getattr(predictor, "name", "this model")
    if state.box is not None:
        return (f"{name} was trained on boxes only; points are unreliable (a point added to a good box can "
                "collapse its mask: undo with Ctrl+Z)")
    return f"{name} was trained on boxes only; points are unreliable"


def everything_note(predictor) -> str:
    """Why segment-everything cannot run on a box-only model ("" for a point-trained one)."""
    if not box_only(predictor):
        return ""
    name = getattr(predictor, "name", "this model")
    return (f"{name} was trained on boxes only: segment everything prompts a grid of points, so it needs a "
            "point-trained model (SAM, SAM 2)")
