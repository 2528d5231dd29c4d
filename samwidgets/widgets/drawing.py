"""Drawing half of the SliceViewer: layers to the ipycanvas MultiCanvas, status and side widgets.

Images go to the canvas as lossless PNG (RGBA; ipycanvas's put_image_data would JPEG-encode RGB at
quality 75), encoded here at zlib level 1 and cached: base images per (slice, window, view), overlays per
(slice, prompt state, selection, labels version, ground-truth label, view), cropped to their non-transparent
part. All draws of one redraw are batched with ``hold_canvas``.
"""

from __future__ import annotations

import io
import threading

import numpy as np
from ipycanvas import hold_canvas
from PIL import Image as PILImage

from samwidgets.errors import SamwidgetsError
from samwidgets.widgets import render

POINT_RADIUS = 5.0     # canvas pixels
_DRAW_LOCK = threading.RLock()   # ipycanvas batches through one global manager: one drawer at a time


def png_bytes(rgba: np.ndarray) -> bytes:
    """Lossless PNG of an (h, w, 4) uint8 array (fast zlib level 1)."""
    buf = io.BytesIO()
    PILImage.fromarray(np.ascontiguousarray(rgba), "RGBA").save(buf, "PNG", compress_level=1)
    return buf.getvalue()


def put_rgba(layer, rgba: np.ndarray | None, *, png: bytes | None = None, x: int = 0, y: int = 0) -> None:
    """Draw RGBA (h, w, 4) at canvas pixel (x, y) of an ipycanvas Canvas as PNG (ipycanvas.put_image_data
    does the same for RGBA, at zlib level 6; sending our own bytes is faster and lets us cache them)."""
    data = png if png is not None else png_bytes(rgba)
    try:
        from ipycanvas.canvas import COMMANDS

        layer._canvas_manager.send_draw_command(layer, COMMANDS["putImageData"], [int(x), int(y)], [data])
    except (ImportError, AttributeError, KeyError):  # another ipycanvas layout: the public (slower) path
        if rgba is None:
            rgba = np.asarray(PILImage.open(io.BytesIO(data)))
        layer.put_image_data(rgba, int(x), int(y))


class DrawingMixin:
    """Methods of SliceViewer that draw (they read ``self.session``, ``self.view``, ``self.canvas``, ``self.ui``)."""

    def status_text(self) -> str:
        """"prompts: N | Dice 0.913 | IoU 0.840" (metrics only with a ground truth and a ready mask)."""
        s = self.session
        parts = [f"prompts: {s.state.n_prompts}"]
        m = s.metrics if s.ground_truth else {}
        if m:
            parts += [f"Dice {m['dice']:.3f}", f"IoU {m['iou']:.3f}"]
        return " | ".join(parts)

    def redraw(self, *layers: str, rubber=None) -> None:
        """Redraw layers "base", "overlay", "prompts" (all when none named) in one batch."""
        layers = layers or ("base", "overlay", "prompts")
        with _DRAW_LOCK, hold_canvas():
            if "base" in layers:
                self._draw_base()
            if "overlay" in layers:
                self._draw_overlay()
            if "prompts" in layers:
                self._draw_prompts(rubber)
        self._update_side()

    def _draw_base(self) -> None:
        s = self.session
        key = (s.z, self.level, self.width, self.view.key())
        if key == self._base_shown:  # a prompt changed, not the image: the canvas already shows it
            return
        png = self._base_cache.get(key)
        if png is None:
            rgba = render.base_rgba(s.image.slice2d(s.z) if s.is_3d else s.image.array, self.view,
                                    level=self.level, width=self.width)
            png = png_bytes(rgba)
            if len(self._base_cache) > 64:
                self._base_cache.clear()
            self._base_cache[key] = png
        put_rgba(self.canvas[0], None, png=png)
        self._base_shown = key

    def _draw_overlay(self) -> None:
        s = self.session
        gt = None
        if self.ui.show_gt.value and s.gt_label is not None:
            g = s.ground_truth[s.gt_label]
            gt = g[s.z] if s.is_3d else g
        labels = s.labels[s.z] if s.is_3d else s.labels
        try:
            mask = s.mask_of(s.z, wait=False)
        except SamwidgetsError as exc:
            mask = None
            self.show_message(str(exc), error=True)
        pred = s._preds.get(s.z)
        key = (s.z, s.state, id(pred[1]) if pred else None, s._selected.get(s.z), s.labels_version,
               s.gt_label if gt is not None else None, id(s.everything.get(s.z)), self.view.key(), mask is None)
        cached = self._overlay_cache.get(key)
        if cached is None:
            rgba = render.overlay_rgba(self.view, mask=mask, ground_truth=gt, labels=labels,
                                       everything=s.everything.get(s.z))
            crop = render.crop_transparent(rgba)
            cached = None if crop is None else (png_bytes(crop[0]), crop[1], crop[2])
            if len(self._overlay_cache) > 64:
                self._overlay_cache.clear()
            self._overlay_cache[key] = cached
        layer = self.canvas[1]
        layer.clear()
        if cached is not None:
            put_rgba(layer, None, png=cached[0], x=cached[1], y=cached[2])

    def _draw_prompts(self, rubber=None) -> None:
        layer, st = self.canvas[2], self.session.state
        layer.clear()
        if st.box is not None:
            (x0, y0), (x1, y1) = self.view.image_to_canvas(*st.box[:2]), self.view.image_to_canvas(*st.box[2:])
            layer.stroke_style, layer.line_width = _css(render.BOX_RGB), 2
            layer.stroke_rect(x0, y0, x1 - x0, y1 - y0)
        for x, y, lab in st.points:
            cx, cy = self.view.image_to_canvas(x, y)
            layer.fill_style = _css(render.POSITIVE_RGB if lab == 1 else render.NEGATIVE_RGB)
            layer.fill_circle(cx, cy, POINT_RADIUS)
            layer.stroke_style, layer.line_width = "white", 1
            layer.stroke_circle(cx, cy, POINT_RADIUS)
        if rubber is not None:
            x0, y0, x1, y1 = rubber
            layer.stroke_style, layer.line_width = _css(render.BOX_RGB), 1
            layer.stroke_rect(min(x0, x1), min(y0, y1), abs(x1 - x0), abs(y1 - y0))

    def _update_side(self) -> None:
        s = self.session
        try:
            self.ui.status.value = self.status_text()
        except SamwidgetsError as exc:
            self.show_message(str(exc), error=True)
        try:
            scores = s.candidates
        except SamwidgetsError:  # already shown by the overlay draw
            scores = []
        opts = [(f"{i + 1}: {sc:.2f}", i) for i, sc in enumerate(scores)] if len(scores) > 1 else []
        if list(self.ui.candidates.options) != opts:
            self.ui.candidates.options = opts
            self.ui.candidates.layout.display = "" if opts else "none"
        if opts and self.ui.candidates.value != s.selected:
            self.ui.candidates.value = s.selected
        if tuple(self.ui.label.options) != tuple(s.label_names):
            self.ui.label.options = list(s.label_names)
        where = f"slice {s.z + 1}/{s.n_slices} · " if s.is_3d else ""
        self.ui.embed.value = f'<span style="color:#555">{where}embedding: {s.embedding_status}</span>'


def _css(rgb) -> str:
    return "rgb({},{},{})".format(*rgb)


def escape_html(text: str) -> str:
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
