"""The canvas view: forwards mouse/keyboard events to a :class:`Session` and draws its state.

    viewer = SliceViewer("data_manifests/sample.yaml", case="ct_lesion_000001")   # or an Image / path
    viewer                                    # display in JupyterLab

Mouse (canvas pixels, converted to image xy pixels through the zoom/pan :class:`~.render.View`):
click = positive point (negative in "− point" mode, or after pressing Shift: ipycanvas mouse events carry
no modifier keys, so Shift arms the next click as negative), drag = box, wheel = next/previous slice (zoom
on 2D images), "window" mode drag = window/level, "pan" mode drag = move. Keys (canvas focused): Ctrl+Z /
Ctrl+Y undo/redo, n / p negative / positive mode, a accept, arrows up/down change slice.

Layers of the MultiCanvas: 0 image, 1 overlays (prediction, ground truth, labels, segment-everything),
2 prompts. Images reach the canvas as lossless PNG (RGBA, never ipycanvas's JPEG path for RGB), redraws
are batched with ``hold_canvas``. The canvas is ``canvas_size`` pixels on its longest side and its CSS
size is fixed to the same pixels, so browser clicks map 1:1 to canvas pixels.
"""

from __future__ import annotations

import functools
import threading
from pathlib import Path

import ipywidgets as W
import numpy as np
from ipycanvas import MultiCanvas

from samwidgets.errors import InputError, SamwidgetsError
from samwidgets.widgets import render
from samwidgets.widgets.autosave import default_autosave_dir, set_aside_autosave
from samwidgets.widgets.controls import build_controls, layout, window_presets
from samwidgets.widgets.drawing import DrawingMixin, escape_html
from samwidgets.widgets.session import Session
from samwidgets.widgets.sources import open_source

DRAG_PX = 4.0          # canvas pixels a press must move to become a box / drag


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


class SliceViewer(DrawingMixin, W.VBox):
    """Interactive viewer of one image (2D or 3D) over a :class:`Session` (``viewer.session``).

    source: an Image or array, an image path, a manifest path (``case`` = case id, default the first) or a
    manifest Case; or a ready Session. Other options go to the Session.

    autosave_dir="auto" autosaves cases and files to ``$SAMWIDGETS_CACHE_DIR/autosave/<case>`` (arrays: no
    autosave unless a directory is given); restore=True restores earlier autosaved prompts and labels on
    opening, restore=False sets the earlier autosave aside (renamed, kept) and starts afresh.
    cache="default" gives a model named by string the shared on-disk EmbeddingCache
    (``$SAMWIDGETS_CACHE_DIR``), so reopening an image skips the encoder; None disables it.
    """

    def __init__(self, source, *, model="litemedsam", case=None, device: str = "auto", ground_truth=None,
                 label_names=None, autosave_dir="auto", restore: bool = True, canvas_size: int = 512,
                 background: bool = True, prefetch: int = 1, cache="default"):
        if isinstance(source, Session):
            self.session, self.case_id, self.manifest = source, None, None
        else:
            opened = open_source(source, case=case)
            self.case_id, self.manifest = opened.case_id, opened.manifest
            gt = ground_truth if ground_truth is not None else (opened.ground_truth or None)
            src = getattr(opened.image, "path", None) or opened.description
            if isinstance(autosave_dir, str) and autosave_dir == "auto":
                autosave_dir = default_autosave_dir(opened)
            if autosave_dir is not None and not restore:
                self._set_aside = set_aside_autosave(autosave_dir)
            if isinstance(cache, str) and cache == "default":
                cache = _default_cache() if isinstance(model, str) else None
            make = functools.partial(Session, opened.image, model=model, ground_truth=gt, label_names=label_names,
                                     device=device, cache=cache, background=background, prefetch=prefetch,
                                     autosave_dir=autosave_dir, source=src)
            self.session = make()
            if autosave_dir is not None and restore:
                self._restore(autosave_dir, make)
        s = self.session
        scale = canvas_size / max(s.height, s.width)
        cw, ch = max(int(round(s.width * scale)), 1), max(int(round(s.height * scale)), 1)
        self.view = render.View(s.height, s.width, ch, cw)
        self.canvas = MultiCanvas(3, width=cw, height=ch, layout=W.Layout(width=f"{cw}px", height=f"{ch}px"))
        self.presets = window_presets(s.image.array)
        first = next(iter(self.presets.values()))
        self.level, self.width = (None, None) if s.image.array.dtype == np.uint8 else first
        self.ui = build_controls(n_slices=s.n_slices, z=s.z, presets=self.presets, gt_names=list(s.ground_truth),
                                 label_names=s.label_names, default_label=s.default_label,
                                 save_path=self._default_save_path())
        super().__init__(layout(self.canvas, self.ui, is_3d=s.is_3d))
        self._press = None          # (canvas x, y, mode, start state) while a button is down
        self._negative_once = False
        self.background = bool(background)
        self._task: threading.Thread | None = None
        self._base_cache: dict[tuple, bytes] = {}
        self._base_shown = None     # key of the image layer the canvas shows: unchanged -> nothing resent
        self._overlay_cache: dict[tuple, tuple | None] = {}
        self._wire()
        s.on_change(self._on_session_change)
        self.redraw()
        if getattr(self, "_set_aside", None):
            self.show_message(f"the earlier autosave was kept in {self._set_aside}")
        if getattr(self, "_restore_error", None):
            self.show_message(self._restore_error, error=True)
        if getattr(self, "_restored", False):
            self.show_message(f"restored the autosaved work from {autosave_dir} (restore=False starts afresh)")

    def _restore(self, directory, make) -> None:
        """Restore the autosave; an unusable one is set aside (kept, renamed) and a fresh session made."""
        try:
            self._restored = self.session.restore()
        except SamwidgetsError as exc:
            self.session.close()
            kept = set_aside_autosave(directory)
            self.session = make()
            self._restore_error = f"could not restore the autosave ({exc}); it was kept in {kept}"

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

    # -- wiring ---------------------------------------------------------------------------------
    def _wire(self) -> None:
        c, ui = self.canvas, self.ui
        c.on_mouse_down(self.on_mouse_down)
        c.on_mouse_move(self.on_mouse_move)
        c.on_mouse_up(self.on_mouse_up)
        c.on_mouse_out(self.on_mouse_out)
        c.on_mouse_wheel(self.on_mouse_wheel)
        c.on_key_down(self.on_key_down)
        ui.slider.observe(lambda ch: self.set_slice(ch["new"]), names="value")
        ui.undo.on_click(lambda _: self.undo())
        ui.redo.on_click(lambda _: self.redo())
        ui.clear.on_click(lambda _: self.clear())
        ui.zoom_in.on_click(lambda _: self.zoom(1.5))
        ui.zoom_out.on_click(lambda _: self.zoom(1 / 1.5))
        ui.reset_view.on_click(lambda _: self.reset_view())
        ui.preset.observe(lambda ch: self.set_preset(ch["new"]), names="value")
        ui.show_gt.observe(lambda ch: self.redraw("overlay"), names="value")
        ui.gt_label.observe(lambda ch: self._set_gt_label(ch["new"]), names="value")
        ui.candidates.observe(lambda ch: self._select(ch["new"]), names="value")
        ui.accept.on_click(lambda _: self.accept())
        ui.propagate.on_click(lambda _: self.propagate())
        ui.everything.on_click(lambda _: self.segment_everything())
        ui.save.on_click(lambda _: self.save())

    def _on_session_change(self, what: str) -> None:
        if what in ("slice", "prompts", "labels"):
            if self.ui.slider.value != self.session.z:
                self.ui.slider.value = self.session.z
            self.redraw()
        elif what in ("embedded", "everything"):
            self.redraw("overlay", "prompts")
        elif what == "error":
            self.show_message(self.session.message, error=True)

    # -- mouse and keys (public: tests call them as the frontend would) ---------------------------
    def to_image(self, x: float, y: float) -> tuple[float, float]:
        """Canvas pixels -> image xy pixels."""
        return self.view.canvas_to_image(x, y)

    @_guarded
    def on_mouse_down(self, x: float, y: float) -> None:
        self._press = (float(x), float(y), self.ui.mode.value, (self.view.center, self.level, self.width))

    @_guarded
    def on_mouse_move(self, x: float, y: float) -> None:
        if self._press is None:
            return
        x0, y0, mode, (center, level, width) = self._press
        if mode == "pan":
            s = self.view.scale
            self.view.center = (center[0] - (x - x0) / s, center[1] - (y - y0) / s)
            self.redraw()
        elif mode == "window":
            lv, wd = (level, width) if level is not None else (127.5, 255.0)
            span = max(wd, 1.0)
            self.level = lv + (y - y0) * span / self.view.ch
            self.width = max(wd + (x - x0) * span / self.view.cw, 1.0)
            self.redraw("base")
        elif np.hypot(x - x0, y - y0) >= DRAG_PX:
            self.redraw("prompts", rubber=(x0, y0, x, y))

    @_guarded
    def on_mouse_up(self, x: float, y: float) -> None:
        if self._press is None:
            return
        x0, y0, mode, _ = self._press
        self._press = None
        if mode in ("pan", "window"):
            return
        if np.hypot(x - x0, y - y0) >= DRAG_PX:
            (ax, ay), (bx, by) = self.to_image(x0, y0), self.to_image(x, y)
            ax, bx = np.clip([ax, bx], 0, self.session.width)
            ay, by = np.clip([ay, by], 0, self.session.height)
            self.session.box(ax, ay, bx, by)
            return
        self.click_canvas(x, y, positive=(mode == "positive") != self._negative_once)
        self._negative_once = False

    def click_canvas(self, x: float, y: float, *, positive: bool = True) -> None:
        """A click at canvas pixel (x, y): a point prompt, or a status message when outside the image."""
        xi, yi = self.to_image(x, y)
        if not (0 <= xi < self.session.width and 0 <= yi < self.session.height):
            self.show_message(f"click outside the image ignored ({xi:.0f}, {yi:.0f})")
            return
        self.session.click(xi, yi, positive=positive)

    @_guarded
    def on_mouse_out(self, x: float, y: float) -> None:
        if self._press is not None:
            self._press = None
            self.redraw("prompts")

    @_guarded
    def on_mouse_wheel(self, dx: float, dy: float) -> None:
        """ipycanvas sends the wheel deltas as (x, y): dy > 0 = next slice (3D) or zoom out (2D)."""
        if dy == 0:
            return
        if self.session.is_3d:
            z = int(np.clip(self.session.z + (1 if dy > 0 else -1), 0, self.session.n_slices - 1))
            self.set_slice(z)
        else:
            self.zoom(1 / 1.25 if dy > 0 else 1.25)

    @_guarded
    def on_key_down(self, key: str, shift: bool = False, ctrl: bool = False, meta: bool = False) -> None:
        k = (key or "").lower()
        if key == "Shift" or (shift and k == "shift"):
            self._negative_once = True
            self.show_message("next click: negative point")
        elif (ctrl or meta) and k == "z":
            self.redo() if shift else self.undo()
        elif (ctrl or meta) and k == "y":
            self.redo()
        elif k == "n":
            self.ui.mode.value = "negative"
        elif k == "p":
            self.ui.mode.value = "positive"
        elif k == "a":
            self.accept()
        elif k in ("arrowup", "arrowdown", "pageup", "pagedown"):
            self.on_mouse_wheel(0, -1 if k in ("arrowup", "pageup") else 1)

    # -- actions --------------------------------------------------------------------------------
    @_guarded
    def set_slice(self, z: int) -> None:
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
        """Remove this slice's prompts (undoable) and its segment-everything overlay."""
        had_everything = self.session.everything.pop(self.session.z, None) is not None
        if not self.session.state.empty:
            self.session.clear()
        elif had_everything:
            self.redraw("overlay")

    @_guarded
    def accept(self) -> None:
        label = (self.ui.label.value or "").strip() or self.session.default_label
        n = self.session.accept(label)
        self.ui.label.options = list(self.session.label_names)
        self.show_message(f"accepted {n} px as '{label}' on slice {self.session.z}")

    @_guarded
    def propagate(self) -> None:
        """Propagate this slice's accepted label through the volume (a worker thread in background mode:
        it encodes every slice it reaches)."""
        label = (self.ui.label.value or "").strip() or self.session.default_label

        def work():
            done = self.session.propagate(label)
            return f"propagated '{label}' to {len(done)} slices"

        self._long_task(f"propagating '{label}' from slice {self.session.z}…", work)

    def _long_task(self, start_message: str, work) -> None:
        """Run ``work() -> message`` in one worker thread (background mode) or inline; errors to the info line."""
        if self._task is not None and self._task.is_alive():
            self.show_message("still busy with the previous task")
            return
        self.show_message(start_message)

        def run():
            try:
                self.show_message(work())
            except SamwidgetsError as exc:
                self.show_message(str(exc), error=True)
            except Exception as exc:  # noqa: BLE001
                self.show_message(f"internal error: {type(exc).__name__}: {exc}", error=True)

        if self.background:
            self._task = threading.Thread(target=run, name="samwidgets-task", daemon=True)
            self._task.start()
        else:
            run()

    @_guarded
    def segment_everything(self) -> None:
        """Grid-of-points masks of the current slice (a worker thread in background mode); the overlay
        appears when it is done."""
        z = self.session.z

        def work():
            labels = self.session.segment_everything(z)
            return f"segment everything: {int(labels.max())} masks on slice {z}"

        self._long_task(f"segmenting everything on slice {z}…", work)

    @_guarded
    def save(self, path=None) -> Path:
        out = self.session.save(path or self.ui.save_path.value)
        self.show_message(f"saved {out}")
        return out

    @_guarded
    def replay(self, log) -> None:
        self.session.replay(log)

    def _select(self, index) -> None:
        if index is not None and index != self.session.selected and self.session.candidates:
            self.session.select(int(index))

    def _set_gt_label(self, name) -> None:
        if name in self.session.ground_truth:
            self.session.gt_label = name
            self.redraw("overlay")

    def set_gt_label(self, name: str) -> None:
        """Score against (and outline) ground-truth label ``name``; it also becomes the accept label."""
        if name not in self.session.ground_truth:
            raise InputError(f"no ground-truth label '{name}' (labels: {', '.join(self.session.ground_truth)})",
                             where=self.case_id or "viewer")
        self.ui.gt_label.value = name
        self._set_gt_label(name)
        self.ui.label.value = name

    def zoom(self, factor: float) -> None:
        self.view.zoom = float(np.clip(self.view.zoom * factor, 0.25, 32.0))
        self.redraw()

    def reset_view(self) -> None:
        self.view.zoom, self.view.center = 1.0, (self.session.width / 2.0, self.session.height / 2.0)
        self.redraw()

    def set_preset(self, name: str) -> None:
        self.level, self.width = self.presets[name]
        if self.session.image.array.dtype == np.uint8 and name == next(iter(self.presets)):
            self.level = self.width = None
        self.redraw("base")

    def show_message(self, text: str, *, error: bool = False) -> None:
        colour = "#c00" if error else "#555"
        self.ui.info.value = f'<span style="color:{colour}">{escape_html(text)}</span>' if text else ""



_CACHE = []


def _default_cache():
    """One EmbeddingCache (memory + disk) shared by the viewers of this process."""
    if not _CACHE:
        from samwidgets.models.cache import EmbeddingCache

        _CACHE.append(EmbeddingCache())
    return _CACHE[0]
