"""render.py: view mapping, resampling, windowing, overlay composition and cropping (numpy only)."""

from __future__ import annotations

import numpy as np
import pytest

from samwidgets.widgets import render


def test_view_maps_canvas_and_image_both_ways():
    v = render.View(h=100, w=200, ch=256, cw=512)  # fit: scale 2.56, letterboxed vertically
    assert v.scale == pytest.approx(2.56)
    for x, y in [(0, 0), (199.5, 99.5), (37.2, 80.1)]:
        assert v.canvas_to_image(*v.image_to_canvas(x, y)) == pytest.approx((x, y))
    v.zoom, v.center = 4.0, (50.0, 50.0)
    assert v.canvas_to_image(256, 128) == pytest.approx((50.0, 50.0))
    assert v.canvas_to_image(256 + 10.24, 128) == pytest.approx((51.0, 50.0))


def test_resample_nearest_and_outside_fill():
    plane = np.arange(12, dtype=np.uint8).reshape(3, 4)
    v = render.View(h=3, w=4, ch=6, cw=8)
    assert not v.identity
    np.testing.assert_array_equal(v.resample(plane), np.repeat(np.repeat(plane, 2, axis=0), 2, axis=1))
    assert render.View(h=3, w=4, ch=3, cw=4).resample(plane) is plane
    v.zoom = 0.5  # image in the middle half of the canvas
    out = v.resample(plane, fill=255)
    assert out[0, 0] == 255 and out[3, 4] == plane[2, 2]  # canvas (4.5, 3.5) -> image (2.5, 2.0)


def test_window_lut_matches_the_protocol_formula():
    from samwidgets.io import window

    values = np.arange(256, dtype=np.float64)
    np.testing.assert_array_equal(render.window_lut(100, 60), window(values, level=100, width=60))
    hu = np.array([-1000, -185, 40, 265, 3000], np.int16)
    np.testing.assert_array_equal(render.window_values(hu, level=40, width=450), window(hu, level=40, width=450))


def test_base_rgba_gray_and_rgb_are_exact_at_zoom_one():
    rng = np.random.default_rng(0)
    gray = rng.integers(0, 255, (30, 40), dtype=np.uint8)
    v = render.View(h=30, w=40, ch=30, cw=40)
    out = render.base_rgba(gray, v)
    assert out.shape == (30, 40, 4) and (out[..., 3] == 255).all()
    np.testing.assert_array_equal(out[..., 1], gray)
    rgb = rng.integers(0, 255, (30, 40, 3), dtype=np.uint8)
    np.testing.assert_array_equal(render.base_rgba(rgb, v)[..., :3], rgb)


def test_overlay_layers_and_crop():
    v = render.View(h=20, w=30, ch=20, cw=30)
    mask = np.zeros((20, 30), bool)
    mask[5:8, 10:14] = True
    gt = np.zeros((20, 30), bool)
    gt[4:10, 9:16] = True
    labels = np.zeros((20, 30), np.uint16)
    labels[12:15, 2:5] = 2
    layer = render.overlay_rgba(v, mask=mask, ground_truth=gt, labels=labels)
    assert tuple(layer[6, 11, :3]) == render.PREDICTION_RGB
    assert tuple(layer[4, 9, :3]) == render.GROUND_TRUTH_RGB and layer[4, 9, 3] == 255  # outline pixel
    assert layer[6, 11, 3] == round(render.PREDICTION_ALPHA * 255)
    assert tuple(layer[13, 3, :3]) == render.palette_color(2)
    assert layer[0, 0, 3] == 0
    crop, x0, y0 = render.crop_transparent(layer)
    assert (x0, y0) == (2, 4) and crop.shape == (11, 14, 4)
    assert render.crop_transparent(np.zeros((5, 5, 4), np.uint8)) is None


def test_paint_over_existing_colour_composites():
    layer = np.zeros((1, 2, 4), np.uint8)
    where = np.array([[True, False]])
    render._paint(layer, where, (255, 0, 0), 0.5)
    render._paint(layer, where, (0, 0, 255), 0.5)
    # "over" with the first alpha stored as 128/255: alpha 0.5 + 0.502 * 0.5 = 0.751 -> 192;
    # colour (0.5 * blue + 0.251 * red) / 0.751
    assert tuple(layer[0, 0]) == (85, 0, 170, 192)
    assert tuple(layer[0, 1]) == (0, 0, 0, 0)


def test_outline_is_the_inner_boundary():
    m = np.zeros((7, 7), bool)
    m[1:6, 1:6] = True
    o = render.outline(m)
    assert o.sum() == 16 and not o[3, 3] and o[1, 1]


def test_outline_width_two_is_a_two_pixel_band():
    m = np.zeros((9, 9), bool)
    m[1:8, 1:8] = True                          # 7 x 7 square: band of width 2 = 49 - 3 x 3 inner
    o = render.outline(m, width=2)
    assert o.sum() == 49 - 9 and o[2, 2] and not o[4, 4] and not o[0, 0]
    edge = np.ones((4, 4), bool)                # touching the image edge: the edge counts as outside
    assert render.outline(edge, width=2).sum() == 16


def test_accepted_label_outline_shows_over_the_prediction():
    v = render.View(h=20, w=20, ch=20, cw=20)
    labels = np.zeros((20, 20), np.uint16)
    labels[5:15, 5:15] = 1
    mask = labels > 0                           # the prediction that was just accepted: same region
    layer = render.overlay_rgba(v, mask=mask, labels=labels)
    for y, x in ((5, 5), (6, 6), (5, 10)):      # the 2-pixel band is solid label colour
        assert tuple(layer[y, x]) == (*render.palette_color(1), 255)
    assert tuple(layer[10, 10, :3]) != render.palette_color(1)   # inside: prediction over the label fill


def _blob(rng, shape, n=3):
    m = np.zeros(shape, bool)
    for _ in range(n):
        y, x = rng.integers(0, shape[0]), rng.integers(0, shape[1])
        r = rng.integers(1, 12)
        yy, xx = np.ogrid[:shape[0], :shape[1]]
        m |= (yy - y) ** 2 + (xx - x) ** 2 <= r * r
    return m


def test_overlay_crop_equals_the_cropped_full_composition():
    rng = np.random.default_rng(3)
    for trial in range(40):
        h, w = 40, 56
        view = render.View(h=h, w=w, ch=int(rng.integers(30, 80)), cw=int(rng.integers(30, 80)),
                           zoom=float(rng.choice([1.0, 1.7, 0.6])),
                           center=(float(rng.uniform(0, w)), float(rng.uniform(0, h))))
        inputs = {"mask": _blob(rng, (h, w)) if trial % 5 else np.zeros((h, w), bool),
                  "ground_truth": _blob(rng, (h, w)) if trial % 3 else None}
        if trial % 2:
            labels = np.zeros((h, w), np.uint16)
            labels[_blob(rng, (h, w))] = 1
            labels[_blob(rng, (h, w), 1)] = 4
            inputs["labels"] = labels
        if trial % 4 == 1:
            inputs["everything"] = (_blob(rng, (h, w)) * 2).astype(np.int32)
        if trial % 7 == 2:
            heat = np.zeros((h, w, 4), np.uint8)
            heat[_blob(rng, (h, w))] = (200, 30, 30, 128)
            inputs["heat"] = heat
        full = render.crop_transparent(render.overlay_rgba(view, **inputs))
        fast = render.overlay_crop(view, **inputs)
        if full is None:
            assert fast is None
            continue
        assert fast is not None and fast[1:] == full[1:]
        np.testing.assert_array_equal(fast[0], full[0])
