"""Object and prompt descriptors on synthetic shapes whose values are known."""

import numpy as np
import pytest

from samwidgets.errors import InputError
from samwidgets.masks import descriptors as D


def disc(shape=(128, 128), centre=(64, 64), r=20):
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return (yy - centre[0]) ** 2 + (xx - centre[1]) ** 2 <= r * r


def test_disc_is_round_solid_and_single():
    m = disc(r=30)
    assert D.circularity(m) == pytest.approx(1.0, abs=0.03)
    assert D.solidity(m) == 1.0
    assert D.elongation(m) == pytest.approx(1.0, abs=1e-3)
    assert D.n_components(m) == 1 and D.n_holes(m) == 0
    assert not D.touches_border(m)


def test_square_circularity_is_below_disc_and_rectangle_elongation_is_exact():
    sq = np.zeros((80, 80), bool)
    sq[10:50, 10:50] = True
    assert D.circularity(sq) < D.circularity(disc(r=20)) - 0.05
    assert D.solidity(sq) == 1.0
    rect = np.zeros((80, 80), bool)
    rect[20:30, 10:50] = True  # 10 tall, 40 wide
    assert D.elongation(rect) == pytest.approx(4.0, rel=1e-9)
    line = np.zeros((20, 20), bool)
    line[5, 2:15] = True
    assert D.elongation(line) == pytest.approx(13.0, rel=1e-9)
    assert D.solidity(line) == 1.0


def test_two_discs_are_two_components_with_low_solidity():
    m = disc((100, 200), (50, 40), 15) | disc((100, 200), (50, 160), 15)
    assert D.n_components(m) == 2
    assert D.solidity(m) < 0.6
    # 8-connectivity: two pixels touching at a corner are one object
    d = np.zeros((5, 5), bool)
    d[1, 1] = d[2, 2] = True
    assert D.n_components(d) == 1


def test_ring_has_a_hole_and_solidity_below_one():
    m = disc(r=30) & ~disc(r=15)
    assert D.n_holes(m) == 1
    expected = m.sum() / disc(r=30).sum()  # the hull of a ring is its outer disc
    assert D.solidity(m) == pytest.approx(expected, rel=1e-9)
    assert D.circularity(m) < 0.7


def test_holes_in_3d_are_cavities():
    v = np.zeros((7, 9, 9), bool)
    v[1:6, 1:8, 1:8] = True
    v[3, 4, 4] = False
    assert D.n_holes(v) == 1
    assert D.n_components(v) == 1


def test_size_in_pixels_fraction_and_mm():
    m = np.zeros((10, 20), bool)
    m[2:4, 5:10] = True
    assert D.size(m, spacing=(0.5, 2.0)) == (10.0, 10 / 200, 10.0)
    px, frac, mm = D.size(m)
    assert px == 10 and np.isnan(mm)
    v = np.zeros((4, 5, 5), bool)
    v[1:3, 1:3, 1:3] = True
    assert D.size(v, spacing=(3.0, 1.0, 0.5))[2] == pytest.approx(8 * 1.5)


def step_image(inside=150.0, outside=100.0, noise=10.0, r=20):
    """A disc of mean ``inside`` on ``outside``; a +-noise checkerboard makes every region's std exactly noise."""
    m = disc(r=r)
    yy, xx = np.mgrid[:128, :128]
    img = np.where(m, inside, outside) + noise * np.where((yy + xx) % 2 == 0, 1.0, -1.0)
    return img, m


def test_cnr_of_a_step_edge_of_known_contrast():
    img, m = step_image(150, 100, 10)
    # the checkerboard is not exactly balanced on a disc / ring: compare with the sampled statistics,
    # computed independently over the whole image
    from scipy import ndimage

    ring = (~m) & (ndimage.distance_transform_edt(~m) <= D.RING_WIDTH_PX)
    a, b = img[m], img[ring]
    expected = abs(a.mean() - b.mean()) / np.sqrt((a.var() + b.var()) / 2)
    assert D.boundary_cnr(img, m) == pytest.approx(expected, rel=1e-12)
    assert D.boundary_cnr(img, m) == pytest.approx(5.0, rel=0.01)
    assert D.boundary_cnr(step_image(150, 100, 25)[0], m) == pytest.approx(2.0, rel=0.01)
    flat = np.where(m, 3.0, 1.0)
    assert D.boundary_cnr(flat, m) == np.inf
    assert D.boundary_cnr(np.ones((128, 128)), m) == 0.0
    assert np.isnan(D.boundary_cnr(np.ones((4, 4)), np.ones((4, 4), bool)))


def test_cnr_and_gradient_of_a_volume_stay_in_plane_and_rgb_is_grey():
    img, m = step_image(150, 100, 10)
    vol, mv = np.stack([img] * 5), np.stack([m] * 5)
    assert D.boundary_cnr(vol, mv) == pytest.approx(D.boundary_cnr(img, m), rel=1e-9)
    assert D.edge_gradient(vol, mv) == pytest.approx(D.edge_gradient(img, m), rel=1e-5)
    rgb = np.stack([img, img, img], axis=-1)
    assert D.boundary_cnr(rgb, m) == pytest.approx(D.boundary_cnr(img, m), rel=1e-12)


def test_edge_gradient_against_an_independent_computation():
    from scipy import ndimage

    rng = np.random.default_rng(0)
    img, m = step_image(150, 100, 0)
    img = img + rng.normal(0, 5, img.shape)
    grad = ndimage.gaussian_gradient_magnitude(img, 1.0, mode="nearest")
    boundary = m & ~ndimage.binary_erosion(m)
    expected = grad[boundary].mean() / np.median(grad)
    assert D.edge_gradient(img, m) == pytest.approx(expected, rel=1e-4)
    assert D.edge_gradient(img * 7 + 3, m) == pytest.approx(D.edge_gradient(img, m), rel=1e-4)
    weak = step_image(110, 100, 0)[0] + rng.normal(0, 5, img.shape)
    assert D.edge_gradient(weak, m) < D.edge_gradient(img, m)
    assert np.isnan(D.edge_gradient(np.zeros((128, 128)), m))


def test_heterogeneity_and_border():
    img, m = step_image(150, 100, 10)
    span = img.max() - img.min()  # 160 - 90
    assert D.heterogeneity(img, m) == pytest.approx(img[m].std() / span)
    assert D.heterogeneity(np.zeros((128, 128)), m) == 0.0
    edge = np.zeros((10, 10), bool)
    edge[3:6, 9] = True
    assert D.touches_border(edge)


def test_box_tightness_and_fill_by_other_structures():
    m = np.zeros((50, 50), bool)
    m[10:20, 10:30] = True  # 10 x 20
    assert D.box_tightness([10, 10, 29, 19], m) == 1.0
    assert D.box_tightness([5, 10, 34, 19], m) == pytest.approx(30 * 10 / 200)
    others = np.zeros_like(m)
    others[10:20, 30:35] = True  # 50 px inside the wide box
    assert D.box_other_fill([5, 10, 34, 19], m, others) == pytest.approx(50 / 300)
    assert D.box_other_fill([10, 10, 29, 19], m, others) == 0.0
    assert D.box_other_fill([10, 10, 29, 19], m, None) == 0.0
    assert D.box_tightness([10, 10, 10, 10], disc(r=20)) == pytest.approx(1 / disc(r=20).sum())


def test_click_distance_absolute_and_relative():
    m = disc(r=20)
    px, rel = D.click_distance([64, 64], m)
    assert rel == 1.0 and px == pytest.approx(np.sqrt(401))  # nearest background pixel: (dy, dx) = (20, 1)
    px, rel = D.click_distance([64, 44], m)  # on the boundary (top row of the disc)
    assert px == 1.0 and rel == pytest.approx(1 / np.sqrt(401))
    px, _ = D.click_distance([64, 40], m)  # 4 rows above the disc's top pixel at y=44
    assert px == -4.0
    assert np.isnan(D.click_distance([500, 5], m)[0])


def test_describe_object_and_prompt_fill_every_field():
    img, m = step_image()
    d = D.describe_object(img, m, spacing=(0.5, 0.5)).as_dict()
    assert list(d) == list(D.OBJECT_DESCRIPTORS)
    assert d["obj_mm"] == pytest.approx(m.sum() * 0.25)
    assert d["obj_components"] == 1 and d["obj_touches_border"] == 0.0
    vol = D.describe_object(np.stack([img] * 6), np.stack([m] * 3 + [np.zeros_like(m)] * 3), spacing=(2, 1, 1))
    assert vol.obj_px == 3 * m.sum() and vol.obj_mm == 6 * m.sum()
    assert vol.obj_circularity == pytest.approx(D.circularity(m))
    p = D.describe_prompt(m, box_xyxy=[44, 44, 84, 84], point_xy=None)
    assert np.isnan(p.click_dist_px) and p.box_tightness == pytest.approx(41 * 41 / m.sum())
    assert list(p.as_dict()) == list(D.PROMPT_DESCRIPTORS)
    with pytest.raises(InputError):
        D.describe_object(img, np.zeros_like(m))
    with pytest.raises(InputError):
        D.describe_object(np.zeros((3, 3)), np.ones((4, 4), bool))
