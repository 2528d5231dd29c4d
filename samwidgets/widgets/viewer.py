"""The canvas view: forwards mouse/keyboard events to a :class:`Session`, observes its ``view_state`` and
hands the painter what to draw.

    viewer = SliceViewer("data_manifests/sample.yaml", case="ct_lesion_000001")   # or an Image / path
    viewer                                    # display in JupyterLab

Mouse (canvas pixels, converted to image xy pixels through the zoom/pan :class:`~.render.View`):
click = positive point (negative in "− point" mode, or after pressing Shift: ipycanvas mouse events carry
no modifier keys, so Shift arms the next click as negative), drag = box, "window" mode drag =
window/level, "pan" mode drag = move. Wheel: on a volume the vertical wheel changes slice (deltas are
accumulated, WHEEL_PX_PER_SLICE per slice, so a trackpad flick moves several), Shift + wheel (which the
browser sends as a horizontal delta) zooms at the cursor; on a 2D image the wheel zooms at the cursor.
Keys: see controls.SHORTCUTS (the help panel). Hovering shows (x, y, z) and the raw value.

The view never reads the session's private fields: it draws from ``session.view_state`` (the observable
state) and the session's public arrays (display_slice, labels, ground_truth).
"""

from __future__ import annotations

import functools
from pathlib import Path

import ipywidgets as W
import numpy as np
from ipycanvas import MultiCanvas

from samwidgets.errors import InputError, SamwidgetsError
from samwidgets.widgets import render
from samwidgets.widgets.controls import build_controls, layout, legend_html
from samwidgets.widgets.drawing import Painter, escape_html
from samwidgets.widgets.heatmap import HeatMaps, click_robustness, colour_bar_html, heat_object
from samwidgets.widgets.observable import slice_label
from samwidgets.widgets.session import Session
from samwidgets.widgets.sources import open_source
from samwidgets.widgets.tasks import TaskRunner
from samwidgets.widgets.windowing import WindowState, model_input_text

DRAG_PX = 4.0               # canvas pixels a press must move to become a box / drag
WHEEL_PX_PER_SLICE = 100.0  # one mouse-wheel notch in Chromium
WHEEL_IDLE_S = 1.0          # a pause this long starts a new wheel gesture (the remainder is dropped)
PAGE_SLICES = 5
MESSAGE_COLOURS = {"info": "#555", "warning": "#b36b00", "error": "#c00"}


def _guarded(method):
    """Event handlers never raise into the comm: typed errors go to the info line, state is kept."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except SamwidgetsError as exc:
            self.show_message(str(exc), error=True)
        except Exception as exc:  # noqa: BLE001 - a bug must not kill the widget
            self.show_message(f"internal error: {type(exc).__name__}: {exc}", error=True)

    return wrapper


class SliceViewer(W.VBox):
    """Interactive viewer of one image (2D, 3D or a clip) over a :class:`Session` (``viewer.session``).

    source: an Image or array, an image path, a manifest path (``case`` = case id, default the first) or a
    manifest Case; or a ready Session (then shared: closing the viewer does not close it). Other options go
    to the Session. autosave_dir="auto" autosaves cases and files to ``$SAMWIDGETS_CACHE_DIR/autosave/<case>``
    (see opening.py: restore=True restores and says what; two viewers of one case use two folders).
    cache="default" gives a model named by string its own EmbeddingCache on the shared disk store
    (``$SAMWIDGETS_CACHE_DIR``), so reopening an image skips the encoder; None disables it. A model named by
    string is loaded for this viewer and freed by :meth:`close`; a predictor object is shared.
    """

    def __init__(self, source, *, model="litemedsam", case=None, device: str = "auto", ground_truth=None,
                 label_names=None, autosave_dir="auto", restore: bool = True, canvas_size: int = 512,
                 background: bool = True, prefetch: int = 2, cache="default", preset: str | None = None):
        notes: list[tuple[str, str]] = []
        if isinstance(source, Session):
            self.session, self.case_id, self.manifest, self._owns_session = source, source.case_id, None, False
        else:
            from samwidgets.widgets.opening import open_session, viewer_cache

            opened = open_source(source, case=case)
            self.case_id, self.manifest, self._owns_session = opened.case_id, opened.manifest, True
            opening = open_session(opened, autosave_dir=autosave_dir, restore=restore, model=model,
                                   ground_truth=ground_truth, label_names=label_names, device=device,
                                   cache=viewer_cache(cache, model),
                                   background=background, prefetch=prefetch, preset=preset,
                                   source=getattr(opened.image, "path", None) or opened.description)
            self.session, notes = opening.session, opening.notes
        s = self.session
        scale = canvas_size / max(s.height, s.width)
        cw, ch = max(int(round(s.width * scale)), 1), max(int(round(s.height * scale)), 1)
        self.view = render.View(s.height, s.width, ch, cw)
        self.canvas = MultiCanvas(3, width=cw, height=ch, layout=W.Layout(width=f"{cw}px", height=f"{ch}px"))
        self.painter = Painter(self.canvas, self.view)
        self.window = WindowState.for_image(s.image.array, preset=s.preset)
        self.is_clip = bool(getattr(s.image, "is_video", False))
        self.ui = build_controls(n_slices=s.n_slices, z=s.z, presets=list(self.window.presets),
                                 preset=self.window.name, gt_names=list(s.ground_truth), label_names=s.label_names,
                                 default_label=s.default_label, save_path=self._default_save_path(),
                                 is_clip=self.is_clip)
        super().__init__(layout(self.canvas, self.ui, is_3d=s.is_3d))
        self.background = bool(background)
        self.tasks = TaskRunner(background=self.background, say=self.show_message)
        self.heatmaps = HeatMaps()  # click-robustness maps computed so far (heatmap.py)
        self._wire()
        s.view_state.observe(self._on_state)
        self.redraw()
        self._update_window_text()
        for text, level in notes:
            self.show_message(text, error=level == "error", level=level)

    def describe(self) -> str:
        """One line about what is shown: case, shape, labels, model."""
        s = self.session
        shape = f"{s.n_slices} slices of {s.height}x{s.width}" if s.is_3d else f"{s.height}x{s.width}"
        kind = "RGB" if getattr(s.image, "is_rgb", False) else "gray"
        gt = ", ".join(s.ground_truth) or "none"
        return f"{self.case_id or s.source}: {shape} {kind}; ground truth: {gt}; model: {s.model_name}"

    def _default_save_path(self) -> str:
        stem = (self.case_id or Path(str(self.session.source or "image")).name.split(".")[0]).replace("/", "_")
        return f"{stem}_labels.nii.gz" if self.session.is_3d else f"{stem}_labels.png"

    def close(self) -> None:
        """Stop background work, flush the autosave, free the model if this viewer loaded it, close widgets."""
        self.tasks.cancel()
        self.session.view_state.unobserve(self._on_state)
        if self._owns_session:
            self.session.close()
        super().close()

    # -- wiring ---------------------------------------------------------------------------------
    def _wire(self) -> None:
        from samwidgets.widgets import handlers

        handlers.wire(self, self.canvas, self.ui)   # makes self.input (mouse, wheel, keys)

    def _on_state(self, changed: set[str]) -> None:
        """The session's view_state changed: redraw what depends on the changed fields."""
        st = self.session.view_state
        if "z" in changed:
            if self.ui.slider.value != st.z + 1:
                self.ui.slider.value = st.z + 1
            self.redraw()
        elif changed & {"prompts", "mask", "labels_version", "everything"}:
            self.redraw("overlay", "prompts")
        else:
            self._update_side()
        if "message" in changed:
            m = st.message
            self._show(m.text, m.level)

    # -- drawing --------------------------------------------------------------------------------
    def status_text(self) -> str:
        """"prompts: N | Dice 0.913 | IoU 0.840" ("Dice — | IoU —" before any prompt, with a ground truth)."""
        st = self.session.view_state
        parts = [f"prompts: {st.prompts.n_prompts}"]
        if self.session.ground_truth:
            m = st.metrics
            parts += [f"Dice {m['dice']:.3f}", f"IoU {m['iou']:.3f}"] if m else ["Dice —", "IoU —"]
        return " | ".join(parts)

    def redraw(self, *layers: str, rubber=None) -> None:
        """Redraw layers "base", "overlay", "prompts" (all when none named) in one batch."""
        layers = layers or ("base", "overlay", "prompts")
        s, st = self.session, self.session.view_state
        z = st.z
        with self.painter.batch():
            if "base" in layers:
                win = self.window.current
                self.painter.base((z,), functools.partial(s.display_slice, z),
                                  level=None if win is None else win[0], width=None if win is None else win[1])
            if "overlay" in layers:
                gt = None
                if self.ui.show_gt.value and s.gt_label is not None:
                    g = s.ground_truth[s.gt_label]
                    gt = g[z] if s.is_3d else g
                labels = s.labels[z] if s.is_3d else s.labels
                ev = st.everything
                heat = self.heat_rgba(z)
                key = (z, id(st.mask), st.labels_version, None if gt is None else s.gt_label, id(ev), id(heat))
                self.painter.overlay(key, mask=st.mask, ground_truth=gt, labels=labels, heat=heat,
                                     everything=None if ev is None else ev.label_map)
            if "prompts" in layers:
                self.painter.prompts(st.prompts, rubber=rubber)
        self._update_side()

    def heat_rgba(self, z: int):
        """The click-robustness heat overlay of slice z (RGBA (H, W, 4)) when shown and computed, else None."""
        if not self.ui.heat.value:
            return None
        try:
            key, _ = heat_object(self.session, z)
        except SamwidgetsError:
            return None
        entry = self.heatmaps.get(z, key)
        return None if entry is None else entry.rgba

    @_guarded
    def toggle_heat(self, on: bool) -> None:
        """Show (computing it in the background, with progress, cancellable) or hide the click-robustness
        map of the current object (heatmap.py)."""
        ui, s = self.ui, self.session
        if not on:
            ui.heat_bar.value, ui.heat_cancel.layout.display = "", "none"
            self.redraw("overlay")
            return
        z = s.z
        key, _ = heat_object(s, z)
        entry = self.heatmaps.get(z, key)
        if entry is not None:
            ui.heat_bar.value = colour_bar_html(entry.summary, complete=entry.complete)
            self.redraw("overlay")
            return

        def work(cancelled):
            ui.heat_cancel.layout.display = ""
            try:
                cm = click_robustness(s, z, rng=np.random.default_rng(0), cancel=cancelled,
                                        progress=lambda d, t: s.set_busy(f"click robustness {100 * d // max(t, 1)} %",
                                                                         d / max(t, 1)))
            finally:
                s.set_busy("")
                ui.heat_cancel.layout.display = "none"
            done = self.heatmaps.store(z, key, cm)
            ui.heat_bar.value = colour_bar_html(done.summary, complete=done.complete)
            self.redraw("overlay")
            what = "cancelled: partial map" if not done.complete else "done"
            return f"click-robustness map of the {key[1]} on {slice_label(z, s.n_slices)}: {what}"

        self.tasks.start(f"computing the click-robustness map on {slice_label(z, s.n_slices)}…", work)

    def _update_side(self) -> None:
        s, st, ui = self.session, self.session.view_state, self.ui
        ui.status.value = self.status_text()
        opts = [(f"{i + 1}: {sc:.2f}", i) for i, sc in enumerate(st.candidates)] if len(st.candidates) > 1 else []
        if list(ui.candidates.options) != opts:
            ui.candidates.options = opts
            ui.candidates.layout.display = "" if opts else "none"
        if opts and ui.candidates.value != st.selected:
            ui.candidates.value = st.selected
        if tuple(ui.label.options) != tuple(s.label_names):
            ui.label.options = list(s.label_names)
            ui.legend.value = legend_html(s.label_names)
        where = f"{slice_label(st.z, s.n_slices)} · " if s.is_3d else ""
        busy = f" · {st.busy}" if st.busy else ""
        ui.embed.value = (f'<span style="color:#555">{where}embedding: {st.embedding} · zoom '
                          f'{self.view.zoom * 100:.0f} %{busy}</span>')
        ev = st.everything
        opts = [] if ev is None else [(f"{i + 1}: {a} px, IoU {sc:.2f}" + (" ✓" if i in ev.accepted else ""), i)
                                      for i, (a, sc) in enumerate(zip(ev.areas, ev.scores))]
        if list(ui.everything_list.options) != opts:
            ui.everything_list.options = opts
            shown = "" if opts else "none"
            ui.everything_list.layout.display = ui.everything_accept.layout.display = shown

    def _update_window_text(self) -> None:
        self.ui.window_text.value = f'<span style="color:#555">{escape_html(self.window.readout())}</span>'
        self.ui.model_input.value = f'<span style="color:#555">{escape_html(model_input_text(self.session.preset))}</span>'

    def show_message(self, text: str, *, error: bool = False, level: str | None = None) -> None:
        """A message on the info line; it goes stale (is cleared) with the next prompt change."""
        self.session.say(text, level=level or ("error" if error else "info"))

    def _show(self, text: str, level: str) -> None:
        colour = MESSAGE_COLOURS.get(level, "#555")
        self.ui.info.value = f'<span style="color:{colour}">{escape_html(text)}</span>' if text else ""

    # -- view and window ------------------------------------------------------------------------
    def zoom(self, factor: float, *, at: tuple[float, float] | None = None) -> None:
        """Zoom by ``factor`` keeping the image point under canvas pixel ``at`` (default the centre) fixed."""
        v = self.view
        cx, cy = at if at is not None else (v.cw / 2.0, v.ch / 2.0)
        px, py = v.canvas_to_image(cx, cy)
        v.zoom = float(np.clip(v.zoom * factor, 0.25, 32.0))
        s = v.scale
        v.center = (px - (cx - v.cw / 2.0) / s, py - (cy - v.ch / 2.0) / s)
        self.redraw()

    def reset_view(self) -> None:
        self.view.zoom, self.view.center = 1.0, (self.session.width / 2.0, self.session.height / 2.0)
        self.redraw()

    def set_preset(self, name: str) -> None:
        """Show the image with window ``name`` of the menu (display only: the model input is unchanged)."""
        if name not in self.window.presets:
            raise InputError(f"no window '{name}' (windows: {', '.join(self.window.presets)})", where="viewer")
        self.window.choose(name)
        if self.ui.preset.value != name:
            self.ui.preset.value = name
        self._update_window_text()
        self.redraw("base")

    def reset_window(self) -> None:
        """Back to the initial window (the model's preset for CT, else the first menu entry)."""
        self.window.reset()
        self.ui.preset.value = self.window.name
        self._update_window_text()
        self.redraw("base")

    # -- hover ----------------------------------------------------------------------------------
    def hover(self, x: float, y: float) -> str:
        """Readout of canvas pixel (x, y): "x 120, y 88, z 7/13 · -35 HU" (image pixels; "" outside)."""
        s = self.session
        xi, yi = self.view.canvas_to_image(x, y)
        if not (0 <= xi < s.width and 0 <= yi < s.height):
            return ""
        c, r = int(xi), int(yi)
        value = s.display_slice(s.z)[r, c]
        unit = f" {self.window.units}" if self.window.units else ""
        val = "(" + ", ".join(f"{v:g}" for v in np.ravel(value)) + ")" if np.ndim(value) else f"{value:g}{unit}"
        z = f", z {s.z + 1}/{s.n_slices}" if s.is_3d else ""
        return f"x {c}, y {r}{z} · {val}"

    # -- actions --------------------------------------------------------------------------------
    @_guarded
    def set_slice(self, z: int) -> None:
        """Show slice z (0-based; the slider shows z + 1)."""
        self.session.set_slice(int(z))

    @_guarded
    def undo(self) -> None:
        if not self.session.undo():
            self.show_message("nothing to undo")

    @_guarded
    def redo(self) -> None:
        if not self.session.redo():
            self.show_message("nothing to redo")

    @_guarded
    def clear(self) -> None:
        """Remove this slice's prompts (undoable) and its segment-everything results."""
        if self.session.state.empty:
            self.session.clear_everything()
        else:
            self.session.clear()

    @_guarded
    def accept(self) -> None:
        label = (self.ui.label.value or "").strip() or self.session.default_label
        self.session.accept(label)

    @_guarded
    def propagate(self) -> None:
        """Propagate this slice's accepted label through the volume (a worker thread in background mode)."""
        s = self.session
        label = (self.ui.label.value or "").strip() or s.default_label
        z0 = s.z

        def work(_cancelled):
            done = s.propagate(label)
            span = f" ({done[0] + 1}..{done[-1] + 1})" if done else ""
            return f"propagated '{label}' from {slice_label(z0, s.n_slices)} to {len(done)} slices{span}"

        self.tasks.start(f"propagating '{label}' from {slice_label(z0, s.n_slices)}…", work)

    @_guarded
    def segment_everything(self) -> None:
        """Masks of a grid of point prompts on the current slice, listed to accept one by one."""
        s, z = self.session, self.session.z
        s.check_everything()

        def work(_cancelled):
            res = s.segment_everything(z)
            return f"segment everything: {int(res.max())} masks on {slice_label(z, s.n_slices)}; pick one to accept"

        self.tasks.start(f"segmenting everything on {slice_label(z, s.n_slices)}…", work)

    @_guarded
    def accept_everything(self, index=None) -> None:
        index = self.ui.everything_list.value if index is None else index
        if index is None:
            raise InputError("select a mask in the list first", where="segment everything")
        label = (self.ui.label.value or "").strip() or self.session.default_label
        self.session.accept_everything(int(index), label)

    @_guarded
    def save(self, path=None) -> Path:
        out = self.session.save(path or self.ui.save_path.value)
        self.show_message(f"saved {out}", level="info")
        return out

    @_guarded
    def replay(self, log) -> None:
        self.session.replay(log)

    def set_gt_label(self, name: str) -> None:
        """Score against (and outline) ground-truth label ``name``; it also becomes the accept label."""
        self.session.set_gt_label(name)
        self.ui.gt_label.value = name
        self.ui.label.value = name
        self.redraw("overlay")

