"""The ipywidgets controls around the viewer's canvas (built here, wired in viewer.py).

Window presets are display-only (level, width) pairs; for CT in HU they are the protocols.md values.
"""

from __future__ import annotations

from dataclasses import dataclass

import ipywidgets as W
import numpy as np

def window_presets(array: np.ndarray) -> dict[str, tuple[float, float]]:
    """Display presets (level, width) for an image: the full range; when values look like HU (below -200)
    the CT windows of samwidgets.io.PRESETS come first."""
    from samwidgets.io import PRESETS

    lo, hi = float(np.min(array)), float(np.max(array))
    full = {f"full range ({lo:g}..{hi:g})": ((lo + hi) / 2.0, max(hi - lo, 1.0))}
    if array.dtype == np.uint8 or lo >= -200:
        return full
    windows = {f"{p.name} ({p.level:g}/{p.width:g})": (p.level, p.width) for p in PRESETS.values()
               if p.kind == "window"}
    return {**windows, **full}  # HU: the soft-tissue window (the model's default input) first


def _button(description: str, tooltip: str, icon: str = "", width: str = "auto") -> W.Button:
    return W.Button(description=description, tooltip=tooltip, icon=icon, layout=W.Layout(width=width))


@dataclass
class Controls:
    """Every widget of the viewer except the canvas."""

    slider: W.IntSlider
    mode: W.ToggleButtons
    undo: W.Button
    redo: W.Button
    clear: W.Button
    zoom_in: W.Button
    zoom_out: W.Button
    reset_view: W.Button
    preset: W.Dropdown
    show_gt: W.Checkbox
    gt_label: W.Dropdown
    candidates: W.ToggleButtons
    label: W.Combobox
    accept: W.Button
    propagate: W.Button
    everything: W.Button
    save_path: W.Text
    save: W.Button
    status: W.HTML
    embed: W.HTML
    info: W.HTML


def build_controls(*, n_slices: int, z: int, presets: dict, gt_names: list[str], label_names: list[str],
                   default_label: str, save_path: str) -> Controls:
    return Controls(
        slider=W.IntSlider(value=z, min=0, max=max(n_slices - 1, 0), description="slice",
                           continuous_update=False, layout=W.Layout(width="100%", display="" if n_slices > 1 else "none")),
        mode=W.ToggleButtons(options=[("+ point", "positive"), ("− point", "negative"), ("window", "window"),
                                      ("pan", "pan")], value="positive",
                             tooltips=["click = positive point, drag = box (Shift then click = negative)",
                                       "click = negative point, drag = box", "drag: horizontal = width, vertical = level",
                                       "drag to move the image"],
                             style={"button_width": "70px"}),
        undo=_button("undo", "undo the last change (Ctrl+Z)", "undo"),
        redo=_button("redo", "redo (Ctrl+Y)", "repeat"),
        clear=_button("clear", "remove the prompts of this slice", "trash"),
        zoom_in=_button("", "zoom in", "search-plus", "36px"),
        zoom_out=_button("", "zoom out", "search-minus", "36px"),
        reset_view=_button("", "fit the image", "expand", "36px"),
        preset=W.Dropdown(options=list(presets), description="window", layout=W.Layout(width="280px")),
        show_gt=W.Checkbox(value=bool(gt_names), description="ground truth", disabled=not gt_names, indent=False,
                           layout=W.Layout(width="110px")),
        gt_label=W.Dropdown(options=gt_names or ["(none)"], disabled=not gt_names, layout=W.Layout(width="160px")),
        candidates=W.ToggleButtons(options=[], description="masks", style={"button_width": "80px"},
                                   layout=W.Layout(display="none")),
        label=W.Combobox(value=default_label, options=label_names, placeholder="label name", description="label",
                         ensure_option=False, layout=W.Layout(width="220px")),
        accept=_button("accept", "write the mask into the label volume (A)", "check"),
        propagate=_button("propagate", "propagate this slice's accepted label through the volume", "arrows-v"),
        everything=_button("segment everything", "prompt a grid of points and show all masks", "th"),
        save_path=W.Text(value=save_path, description="save to", layout=W.Layout(width="320px")),
        save=_button("save", "save labels (.nii.gz / .png / .npz) or the prompt log (.json)", "save"),
        status=W.HTML(value="prompts: 0"),
        embed=W.HTML(value=""),
        info=W.HTML(value=""),
    )


def layout(canvas, c: Controls, *, is_3d: bool) -> list:
    """The viewer's children: toolbar rows, canvas with the status column, annotation row."""
    row = W.HBox
    side = W.VBox([c.status, c.embed, c.info, c.candidates, row([c.show_gt, c.gt_label])], layout=W.Layout(padding="0 0 0 8px"))
    annotate = [c.label, c.accept] + ([c.propagate] if is_3d else []) + [c.everything]
    return [
        row([c.mode, c.undo, c.redo, c.clear]),
        row([c.preset, c.zoom_in, c.zoom_out, c.reset_view]),
        c.slider,
        row([canvas, side]),
        row(annotate),
        row([c.save_path, c.save]),
    ]
