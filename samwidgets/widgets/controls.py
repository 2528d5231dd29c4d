"""The ipywidgets controls around the viewer's canvas (built here, wired in viewer.py), the legend and the
keyboard help. Slices are shown 1-based everywhere (the slider's value is 1..n)."""

from __future__ import annotations

from dataclasses import dataclass

import ipywidgets as W

from samwidgets.widgets import render

#: (keys, what they do): the one list the help panel shows and the key handler follows
SHORTCUTS = (
    ("↑ / ↓, wheel", "previous / next slice (3D)"),
    ("Page Up / Page Down", "5 slices back / on"),
    ("Shift + wheel", "zoom at the cursor (3D; plain wheel on 2D images)"),
    ("+ / − / 0", "zoom in / out at the cursor, fit the image"),
    ("p / n", "positive / negative point mode"),
    ("Shift, then click", "one negative point"),
    ("b", "box mode (drag = box in every point mode too)"),
    ("w", "window mode (drag: right = wider, down = higher level)"),
    ("r", "reset the window"),
    ("Ctrl+Z / Ctrl+Y (Ctrl+Shift+Z)", "undo / redo"),
    ("a", "accept the mask as the label"),
    ("h or ?", "show / hide this help"),
)


def help_html() -> str:
    rows = "".join(f"<tr><td><b>{k}</b></td><td>{v}</td></tr>" for k, v in SHORTCUTS)
    return f'<table style="font-size:12px">{rows}</table><div style="font-size:11px;color:#555">keys act when the image has the focus (click it once)</div>'


def _swatch(rgb, label: str, *, outline: bool = False) -> str:
    css = "rgb({},{},{})".format(*rgb)
    style = f"border:2px solid {css};background:none" if outline else f"background:{css}"
    return (f'<span style="white-space:nowrap"><span style="display:inline-block;width:10px;height:10px;{style};'
            f'margin:0 3px 0 8px;vertical-align:middle"></span>{label}</span> ')


def legend_html(label_names: list[str]) -> str:
    """Ground truth, prediction, accepted labels (their palette colours) and prompts."""
    parts = [_swatch(render.GROUND_TRUTH_RGB, "ground truth", outline=True),
             _swatch(render.PREDICTION_RGB, "prediction")]
    parts += [_swatch(render.palette_color(i + 1), f"accepted: {n}", outline=True) for i, n in enumerate(label_names)]
    parts += [_swatch(render.POSITIVE_RGB, "+ point"), _swatch(render.NEGATIVE_RGB, "− point"),
              _swatch(render.BOX_RGB, "box", outline=True)]
    return '<div style="font-size:11px;line-height:18px">' + "".join(parts) + "</div>"


def _button(description: str, tooltip: str, icon: str = "", width: str = "auto") -> W.Button:
    return W.Button(description=description, tooltip=tooltip, icon=icon, layout=W.Layout(width=width))


def _html(value: str = "") -> W.HTML:
    return W.HTML(value=value)


@dataclass
class Controls:
    """Every widget of the viewer except the canvas."""

    slider: W.IntSlider
    play: W.Play
    mode: W.ToggleButtons
    undo: W.Button
    redo: W.Button
    clear: W.Button
    zoom_in: W.Button
    zoom_out: W.Button
    reset_view: W.Button
    preset: W.Dropdown
    reset_window: W.Button
    window_text: W.HTML
    model_input: W.HTML
    show_gt: W.Checkbox
    gt_label: W.Dropdown
    candidates: W.ToggleButtons
    label: W.Combobox
    accept: W.Button
    propagate: W.Button
    everything: W.Button
    everything_list: W.Select
    everything_accept: W.Button
    heat: W.ToggleButton
    heat_cancel: W.Button
    heat_bar: W.HTML
    save_path: W.Text
    save: W.Button
    status: W.HTML
    embed: W.HTML
    hover: W.HTML
    info: W.HTML
    legend: W.HTML
    help_button: W.ToggleButton
    help: W.HTML


def build_controls(*, n_slices: int, z: int, presets: list[str], preset: str, gt_names: list[str],
                   label_names: list[str], default_label: str, save_path: str, is_clip: bool = False) -> Controls:
    hide = W.Layout(display="none")
    many = n_slices > 1
    return Controls(
        slider=W.IntSlider(value=z + 1, min=1, max=max(n_slices, 1), description="frame" if is_clip else "slice",
                           continuous_update=False, layout=W.Layout(width="100%", display="" if many else "none")),
        play=W.Play(value=z + 1, min=1, max=max(n_slices, 1), interval=200, description="play",
                    layout=W.Layout(display="" if is_clip and many else "none")),
        mode=W.ToggleButtons(options=[("+ point", "positive"), ("− point", "negative"), ("box", "box"),
                                      ("window", "window"), ("pan", "pan")], value="positive",
                             tooltips=["click = positive point, drag = box (p)", "click = negative point, drag = box (n)",
                                       "drag = box (b)", "drag: right = wider, down = higher level (w)",
                                       "drag to move the image"],
                             style={"button_width": "82px"}),
        undo=_button("undo", "undo the last change (Ctrl+Z)", "undo"),
        redo=_button("redo", "redo (Ctrl+Y)", "repeat"),
        clear=_button("clear", "remove the prompts of this slice", "trash"),
        zoom_in=_button("", "zoom in (+)", "search-plus", "36px"),
        zoom_out=_button("", "zoom out (−)", "search-minus", "36px"),
        reset_view=_button("", "fit the image (0)", "expand", "36px"),
        preset=W.Dropdown(options=presets, value=preset, description="window", layout=W.Layout(width="290px")),
        reset_window=_button("reset", "back to the initial window (r)", "undo"),
        window_text=_html(),
        model_input=_html(),
        show_gt=W.Checkbox(value=bool(gt_names), description="ground truth", disabled=not gt_names, indent=False,
                           layout=W.Layout(width="110px")),
        gt_label=W.Dropdown(options=gt_names or ["(none)"], disabled=not gt_names, layout=W.Layout(width="160px")),
        candidates=W.ToggleButtons(options=[], description="masks", style={"button_width": "80px"}, layout=hide),
        label=W.Combobox(value=default_label, options=label_names, placeholder="label name", description="label",
                         ensure_option=False, layout=W.Layout(width="220px")),
        accept=_button("accept", "write the mask into the label volume (a)", "check"),
        propagate=_button("propagate", "propagate this slice's accepted label through the volume", "arrows-v"),
        everything=_button("segment everything", "prompt a grid of points and list every mask", "th"),
        everything_list=W.Select(options=[], rows=6, description="masks", layout=W.Layout(display="none", width="300px")),
        everything_accept=_button("accept selected", "accept the selected mask as the label", "check"),
        heat=W.ToggleButton(value=False, description="click robustness", icon="fire",
                            tooltip="heat map of the Dice of one positive click at each position (this object)"),
        heat_cancel=_button("cancel", "stop computing the heat map", "stop"),
        heat_bar=_html(),
        save_path=W.Text(value=save_path, description="save to", layout=W.Layout(width="320px")),
        save=_button("save", "save labels (.nii.gz / .png / .npz) or the prompt log (.json)", "save"),
        status=_html("prompts: 0"),
        embed=_html(),
        hover=_html(),
        info=_html(),
        legend=_html(legend_html(label_names)),
        help_button=W.ToggleButton(value=False, description="keys", icon="keyboard-o", tooltip="keyboard shortcuts (h)"),
        help=W.HTML(value=help_html(), layout=hide),
    )


def layout(canvas, c: Controls, *, is_3d: bool) -> list:
    """The viewer's children: toolbar rows, canvas with the side column, annotation rows."""
    row = W.HBox
    c.everything_accept.layout.display = "none"
    c.heat_cancel.layout.display = "none"
    side = W.VBox([c.status, c.embed, c.hover, c.window_text, c.model_input, c.info, c.candidates,
                   row([c.show_gt, c.gt_label]), c.legend, c.heat_bar, c.help],
                  layout=W.Layout(padding="0 0 0 8px", width="330px"))
    annotate = [c.label, c.accept] + ([c.propagate] if is_3d else []) + [c.everything, c.heat, c.heat_cancel]
    return [
        row([c.mode, c.undo, c.redo, c.clear, c.help_button]),
        row([c.preset, c.reset_window, c.zoom_in, c.zoom_out, c.reset_view]),
        row([c.play, c.slider]),
        row([canvas, side]),
        row(annotate),
        row([c.everything_list, c.everything_accept]),
        row([c.save_path, c.save]),
    ]
