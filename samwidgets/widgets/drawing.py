"""The painter of the SliceViewer: it is handed arrays and prompts and draws them on the canvas layers.

Layers of the MultiCanvas: 0 image, 1 overlays (segment-everything, accepted labels, prediction, ground
truth, heat map), 2 prompts. Images go to the canvas as lossless PNG (RGBA; ipycanvas's put_image_data
would JPEG-encode RGB at quality 75), encoded here at zlib level 1 and cached by the key the caller gives
(the caller knows what identifies its content); overlays are cropped to their non-transparent part. All
draws of one redraw are batched with ``hold_canvas``. The painter reads no session.
"""

from __future__ import annotations

import io
import threading

import numpy as np
from ipycanvas import hold_canvas
from PIL import Image as PILImage

from samwidgets.widgets import render
from samwidgets.widgets.state import SliceState

POINT_RADIUS = 5.0     # canvas pixels
CACHE_ENTRIES = 64
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


def _css(rgb) -> str:
    return "rgb({},{},{})".format(*rgb)


class Painter:
    """Draws on a 3-layer MultiCanvas through a :class:`render.View` (zoom/pan)."""

    def __init__(self, canvas, view: render.View):
        self.canvas, self.view = canvas, view
        self._base: dict[tuple, bytes] = {}
        self._overlay: dict[tuple, tuple | None] = {}
        self.base_shown = None     # key of the image layer the canvas shows: unchanged -> nothing resent
        self.sent = 0              # PNG payloads sent (tests and benchmarks read it)

    def batch(self):
        """Context manager: draws inside are sent as one batch."""
        return _Batch()

    def base(self, key: tuple, plane_fn, *, level=None, width=None) -> None:
        """Image layer: ``plane_fn()`` -> (H, W) or (H, W, 3) raw plane, windowed with level/width (image
        units; None: uint8 as is). ``key`` identifies the plane (e.g. (z,)); the window and view are added."""
        key = (key, level, width, self.view.key())
        if key == self.base_shown:
            return
        png = self._base.get(key)
        if png is None:
            png = png_bytes(render.base_rgba(plane_fn(), self.view, level=level, width=width))
            if len(self._base) > CACHE_ENTRIES:
                self._base.clear()
            self._base[key] = png
        put_rgba(self.canvas[0], None, png=png)
        self.sent += 1
        self.base_shown = key

    def overlay(self, key: tuple, **layers) -> None:
        """Overlay layer from image-resolution planes (see render.overlay_rgba for the names); ``key``
        identifies their content (identities of the arrays, label version, ...); the view is added."""
        key = (key, self.view.key())
        cached = self._overlay.get(key, False)
        if cached is False:
            crop = render.overlay_crop(self.view, **layers)
            cached = None if crop is None else (png_bytes(crop[0]), crop[1], crop[2])
            if len(self._overlay) > CACHE_ENTRIES:
                self._overlay.clear()
            self._overlay[key] = cached
        layer = self.canvas[1]
        layer.clear()
        if cached is not None:
            put_rgba(layer, None, png=cached[0], x=cached[1], y=cached[2])
            self.sent += 1

    def prompts(self, state: SliceState, *, rubber=None) -> None:
        """Prompt layer: the box (xyxy image pixels), points (green positive, red negative) and a rubber
        band (canvas pixels x0, y0, x1, y1) while dragging."""
        layer, view = self.canvas[2], self.view
        layer.clear()
        if state.box is not None:
            (x0, y0), (x1, y1) = view.image_to_canvas(*state.box[:2]), view.image_to_canvas(*state.box[2:])
            layer.stroke_style, layer.line_width = _css(render.BOX_RGB), 2
            layer.stroke_rect(x0, y0, x1 - x0, y1 - y0)
        for x, y, lab in state.points:
            cx, cy = view.image_to_canvas(x, y)
            layer.fill_style = _css(render.POSITIVE_RGB if lab == 1 else render.NEGATIVE_RGB)
            layer.fill_circle(cx, cy, POINT_RADIUS)
            layer.stroke_style, layer.line_width = "white", 1
            layer.stroke_circle(cx, cy, POINT_RADIUS)
        if rubber is not None:
            x0, y0, x1, y1 = rubber
            layer.stroke_style, layer.line_width = _css(render.BOX_RGB), 1
            layer.stroke_rect(min(x0, x1), min(y0, y1), abs(x1 - x0), abs(y1 - y0))


class _Batch:
    def __enter__(self):
        _DRAW_LOCK.acquire()
        try:
            self._hold = hold_canvas()
            self._hold.__enter__()
        except BaseException:
            _DRAW_LOCK.release()
            raise

    def __exit__(self, *exc):
        try:
            self._hold.__exit__(*exc)
        finally:
            _DRAW_LOCK.release()


def escape_html(text: str) -> str:
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
