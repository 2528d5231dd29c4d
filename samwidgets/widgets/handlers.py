"""Mouse, wheel and keyboard input of the SliceViewer (a part the viewer owns as ``viewer.input``).

Canvas events arrive in canvas pixels; image coordinates are xy pixels through the viewer's View. Every
handler is a public method, so tests drive them as the frontend would (or through the canvas's comm).
"""

from __future__ import annotations

import time

import numpy as np

from samwidgets.widgets import viewer as _viewer
from samwidgets.widgets.viewer import _guarded


class Input:
    """Turns canvas events into session calls and view changes for ``viewer``."""

    def __init__(self, viewer):
        self.v = viewer
        self.press = None            # (canvas x, y, mode, start window) while a button is down
        self.negative_once = False
        self.cursor = (viewer.view.cw / 2.0, viewer.view.ch / 2.0)
        self.wheel_acc, self.wheel_t = 0.0, 0.0

    # error reporting for @_guarded
    def show_message(self, text, *, error=False, level=None):
        self.v.show_message(text, error=error, level=level)

    @_guarded
    def on_mouse_down(self, x: float, y: float) -> None:
        self.press = (float(x), float(y), self.v.ui.mode.value, self.v.window.current)

    @_guarded
    def on_mouse_move(self, x: float, y: float) -> None:
        v = self.v
        self.cursor = (float(x), float(y))
        if self.press is None:
            v.ui.hover.value = v.hover(x, y)
            return
        x0, y0, mode, window = self.press
        if mode == "pan":
            s = v.view.scale
            c = v.view.center
            v.view.center = (c[0] - (x - x0) / s, c[1] - (y - y0) / s)
            self.press = (float(x), float(y), mode, window)
            v.redraw()
        elif mode == "window":
            v.window.drag(window, x - x0, y - y0, cw=v.view.cw, ch=v.view.ch)
            v._update_window_text()
            v.redraw("base")
        elif np.hypot(x - x0, y - y0) >= _viewer.DRAG_PX:
            v.redraw("prompts", rubber=(x0, y0, x, y))

    @_guarded
    def on_mouse_up(self, x: float, y: float) -> None:
        if self.press is None:
            return
        v, s = self.v, self.v.session
        x0, y0, mode, _ = self.press
        self.press = None
        if mode in ("pan", "window"):
            return
        if np.hypot(x - x0, y - y0) >= _viewer.DRAG_PX:
            (ax, ay), (bx, by) = v.view.canvas_to_image(x0, y0), v.view.canvas_to_image(x, y)
            ax, bx = np.clip([ax, bx], 0, s.width)
            ay, by = np.clip([ay, by], 0, s.height)
            s.box(ax, ay, bx, by)
            return
        if mode == "box":
            v.show_message("box mode: drag to draw a box")
            return
        positive = (mode == "positive") != self.negative_once
        self.negative_once = False
        self.click_canvas(x, y, positive=positive)

    def click_canvas(self, x: float, y: float, *, positive: bool = True) -> None:
        """A click at canvas pixel (x, y): a point prompt, or a status message when outside the image."""
        s = self.v.session
        xi, yi = self.v.view.canvas_to_image(x, y)
        if not (0 <= xi < s.width and 0 <= yi < s.height):
            self.v.show_message(f"click outside the image ignored ({xi:.0f}, {yi:.0f})")
            return
        s.click(xi, yi, positive=positive)

    @_guarded
    def on_mouse_out(self, x: float, y: float) -> None:
        self.v.ui.hover.value = ""
        if self.press is not None:
            self.press = None
            self.v.redraw("prompts")

    @_guarded
    def on_mouse_wheel(self, dx: float, dy: float) -> None:
        """ipycanvas sends the wheel deltas (x, y) in pixels. Volume: dy scrolls slices (accumulated,
        WHEEL_PX_PER_SLICE each; dy > 0 = next slice), dx (Shift + wheel) zooms at the cursor. 2D: dy zooms."""
        s = self.v.session
        if s.is_3d and dy:
            now = time.monotonic()
            if now - self.wheel_t > _viewer.WHEEL_IDLE_S:
                self.wheel_acc = 0.0
            self.wheel_t = now
            self.wheel_acc += float(dy)
            steps = int(self.wheel_acc / _viewer.WHEEL_PX_PER_SLICE)
            if steps:
                self.wheel_acc -= steps * _viewer.WHEEL_PX_PER_SLICE
                self.v.set_slice(int(np.clip(s.z + steps, 0, s.n_slices - 1)))
            return
        delta = dx if s.is_3d else (dy or dx)
        if delta:
            self.v.zoom(1 / 1.25 if delta > 0 else 1.25, at=self.cursor)

    @_guarded
    def on_key_down(self, key: str, shift: bool = False, ctrl: bool = False, meta: bool = False) -> None:
        """The shortcuts of controls.SHORTCUTS."""
        v, s = self.v, self.v.session
        k = (key or "").lower()
        mod = ctrl or meta
        if k == "shift":
            self.negative_once = True
            v.show_message("next click: negative point")
        elif mod and k == "z":
            v.redo() if shift else v.undo()
        elif mod and k == "y":
            v.redo()
        elif mod:
            return
        elif k in ("arrowup", "arrowdown", "pageup", "pagedown"):
            step = (1 if k.startswith("arrow") else _viewer.PAGE_SLICES) * (-1 if k in ("arrowup", "pageup") else 1)
            v.set_slice(int(np.clip(s.z + step, 0, s.n_slices - 1)))
        elif k in ("n", "p", "b", "w"):
            v.ui.mode.value = {"n": "negative", "p": "positive", "b": "box", "w": "window"}[k]
        elif k == "a":
            v.accept()
        elif k == "r":
            v.reset_window()
        elif k in ("+", "="):
            v.zoom(1.25, at=self.cursor)
        elif k in ("-", "_"):
            v.zoom(1 / 1.25, at=self.cursor)
        elif k == "0":
            v.reset_view()
        elif k in ("h", "?"):
            v.ui.help_button.value = not v.ui.help_button.value


def wire(v, canvas, ui) -> None:
    """Connect the canvas and the controls of viewer ``v`` (its Input part is made here)."""
    v.input = inp = Input(v)
    canvas.on_mouse_down(inp.on_mouse_down)
    canvas.on_mouse_move(inp.on_mouse_move)
    canvas.on_mouse_up(inp.on_mouse_up)
    canvas.on_mouse_out(inp.on_mouse_out)
    canvas.on_mouse_wheel(inp.on_mouse_wheel)
    canvas.on_key_down(inp.on_key_down)
    ui.slider.observe(lambda ch: v.set_slice(ch["new"] - 1), names="value")
    ui.play.observe(lambda ch: setattr(ui.slider, "value", ch["new"]), names="value")
    ui.undo.on_click(lambda _: v.undo())
    ui.redo.on_click(lambda _: v.redo())
    ui.clear.on_click(lambda _: v.clear())
    ui.zoom_in.on_click(lambda _: v.zoom(1.25))
    ui.zoom_out.on_click(lambda _: v.zoom(1 / 1.25))
    ui.reset_view.on_click(lambda _: v.reset_view())
    ui.preset.observe(lambda ch: ch["new"] and ch["new"] != v.window.name and v.set_preset(ch["new"]), names="value")
    ui.reset_window.on_click(lambda _: v.reset_window())
    ui.show_gt.observe(lambda ch: v.redraw("overlay"), names="value")
    ui.gt_label.observe(lambda ch: ch["new"] in v.session.ground_truth and v.set_gt_label(ch["new"]), names="value")
    ui.candidates.observe(lambda ch: _select(v, ch["new"]), names="value")
    ui.accept.on_click(lambda _: v.accept())
    ui.propagate.on_click(lambda _: v.propagate())
    ui.everything.on_click(lambda _: v.segment_everything())
    ui.everything_accept.on_click(lambda _: v.accept_everything())
    ui.heat.observe(lambda ch: v.toggle_heat(ch["new"]), names="value")
    ui.heat_cancel.on_click(lambda _: v.tasks.cancel())
    ui.save.on_click(lambda _: v.save())
    ui.help_button.observe(lambda ch: setattr(ui.help.layout, "display", "" if ch["new"] else "none"), names="value")


def _select(v, index) -> None:
    s = v.session
    if index is not None and index != s.view_state.selected and len(s.view_state.candidates) > 1:
        s.select(int(index))
