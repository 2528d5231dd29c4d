"""3D box propagation: same masks as the CVPR24 reference chaining (which re-encodes every slice for
every box), with one ``predictor.encode`` per slice; the viewer's mask-to-neighbours propagation.

Real data: CT lesion case 000002 (lesion on slices 3-9), cropped to a non-square (13, 300, 512) volume
so that padding and box rescaling are exercised. The reference re-encodes through a memo of the same
ONNX/torch encoder the predictor uses (re-encoding a slice gives the same tensor), so the comparison
is exact and the test stays fast.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from cvpr24_reference import dice, ref_get_bbox256, reference_3d
from samwidgets.errors import InputError, PromptError
from samwidgets.models.litemedsam import LiteMedSAMPredictor
from samwidgets.models.cache import EmbeddingCache
from samwidgets.models.propagate import box_256_to_pixels, mask_box_256, propagate_box_3d, propagate_from_mask

CASE = "ct_lesion_3d/deeplesion-medsam2/CT_Lesion_000002_03_01_035-047.npz"
CROP_Y = slice(150, 450)


@pytest.fixture(scope="module")
def volume_case(shared_data):
    with np.load(shared_data / CASE) as npz:
        imgs, gts = npz["imgs"][:, CROP_Y], npz["gts"][:, CROP_Y] > 0
    zs = np.nonzero(gts.any(axis=(1, 2)))[0]
    ys, xs = np.nonzero(gts.any(axis=0))
    box3d = np.array([xs.min(), ys.min(), zs.min(), xs.max(), ys.max(), zs.max()])
    return {"imgs": imgs, "gts": gts, "box3d": box3d}


@pytest.fixture(scope="module")
def predictor(litemedsam):
    """Same network and encoder backend as the session predictor, fresh counters, in-memory cache."""
    pred = LiteMedSAMPredictor(litemedsam.net, device="cpu", weights_id=litemedsam.weights_id,
                               cache=EmbeddingCache(disk=False), onnx_directory=litemedsam.onnx_directory)
    return pred


@pytest.fixture(scope="module")
def ref_encode(predictor):
    """The reference's encoder: the predictor's own encoder on the reference's input, memoised."""
    memo = {}

    def encode(x):
        key = hashlib.sha256(x.numpy().tobytes()).hexdigest()
        if key not in memo:
            memo[key] = predictor.encode_input(x.numpy())["image_embed"]
        return memo[key]

    return encode


@pytest.fixture(scope="module")
def single(predictor, volume_case):
    before = dict(predictor.stats)
    out = propagate_box_3d(predictor, volume_case["imgs"], volume_case["box3d"])
    calls = {k: predictor.stats[k] - before[k] for k in before}
    return out, calls


def test_box_chaining_equals_reference(single, predictor, volume_case, ref_encode):
    out, calls = single
    box3d = volume_case["box3d"]
    z_lo, z_hi = int(box3d[2]), int(box3d[5])
    assert out.shape == volume_case["imgs"].shape and out.dtype == bool
    assert calls["encoder_calls"] == z_hi - z_lo + 1 and calls["cache_hits"] == 0  # one encode per slice
    ref = reference_3d(predictor.net, ref_encode, volume_case["imgs"], box3d)
    np.testing.assert_array_equal(out, ref > 0)
    assert not out[:z_lo].any() and not out[z_hi + 1:].any()
    assert all(out[z].any() for z in range(z_lo, z_hi + 1))
    assert dice(out, volume_case["gts"]) > 0.6


def test_several_boxes_encode_each_slice_once(single, predictor, volume_case, ref_encode):
    box_a = volume_case["box3d"]
    box_b = box_a + np.array([-10, -10, 2, 10, 10, 3])  # z 5..12: overlaps a's 3..9
    before = dict(predictor.stats)
    out = propagate_box_3d(predictor, volume_case["imgs"], np.stack([box_a, box_b]))
    used = sum(predictor.stats[k] - before[k] for k in ("encoder_calls", "cache_hits"))
    assert out.shape == (2,) + volume_case["imgs"].shape
    assert used == 12 - 3 + 1  # the union of the z ranges, each slice once
    np.testing.assert_array_equal(out[0], single[0])
    np.testing.assert_array_equal(out[1], reference_3d(predictor.net, ref_encode, volume_case["imgs"], box_b) > 0)


def test_propagate_from_mask_continues_the_chain(single, predictor, volume_case):
    out = single[0]
    box3d = volume_case["box3d"]
    z_lo, z_hi = int(box3d[2]), int(box3d[5])
    z_mid = int((z_hi - z_lo) / 2 + z_lo)
    # Seeded with the chain's own middle mask, the neighbours follow the same boxes (no slice is empty).
    res = propagate_from_mask(predictor, volume_case["imgs"], z_mid, out[z_mid], z_range=(z_lo, z_hi),
                              stop_on_empty=False)
    np.testing.assert_array_equal(res, out)
    # Default: the whole volume, each direction stops at the first empty slice.
    res = propagate_from_mask(predictor, volume_case["imgs"], z_mid, volume_case["gts"][z_mid])
    np.testing.assert_array_equal(res[z_mid], volume_case["gts"][z_mid])
    filled = [z for z in range(res.shape[0]) if res[z].any()]
    assert filled == list(range(filled[0], filled[-1] + 1))  # contiguous around z_mid
    assert dice(res, volume_case["gts"]) > 0.6


def test_box_helpers_match_reference():
    mask = np.zeros((300, 512), dtype=bool)
    mask[120:171, 200:231] = True
    small = mask_box_256(mask)
    ratio = 256 / 512
    import cv2

    resized = cv2.resize(mask.astype(np.uint8), (256, int(300 * ratio + 0.5)), interpolation=cv2.INTER_AREA)
    padded = np.pad(resized, ((0, 256 - resized.shape[0]), (0, 0)))
    np.testing.assert_array_equal(small, ref_get_bbox256(padded))
    px = box_256_to_pixels(small, (300, 512))
    np.testing.assert_array_equal(np.trunc(px * ratio), small)
    assert mask_box_256(np.zeros((300, 512), bool)) is None
    edge = box_256_to_pixels(np.array([0, 0, 256, 256]), (300, 512))
    assert edge.tolist() == [1.0, 1.0, 512.0, 300.0]


def test_bad_input(predictor, volume_case):
    vol = volume_case["imgs"]
    with pytest.raises(InputError, match="volume"):
        propagate_box_3d(predictor, vol[0], volume_case["box3d"])
    with pytest.raises(PromptError, match="3D box"):
        propagate_box_3d(predictor, vol, [1, 2, 3, 4])
    with pytest.raises(PromptError, match="z range"):
        propagate_box_3d(predictor, vol, [10, 10, 9, 50, 50, 3])
    with pytest.raises(PromptError, match="z range"):
        propagate_box_3d(predictor, vol, [10, 10, 20, 50, 50, 30])
    with pytest.raises(PromptError, match="empty"):
        propagate_from_mask(predictor, vol, 5, np.zeros(vol.shape[1:], bool))
    with pytest.raises(InputError, match="does not fit"):
        propagate_from_mask(predictor, vol, 5, np.ones((4, 4), bool))
    with pytest.raises(PromptError, match="slice"):
        propagate_from_mask(predictor, vol, 40, volume_case["gts"][5])


def test_propagate_from_mask_stops_at_an_empty_slice_without_failing():
    """A chain that stops (empty mask, stop_on_empty) leaves the slices beyond it empty: no decode there."""
    from samwidgets.models.protocol import Embedding, Prediction

    class Stub:
        """Fills the box on slices 2..5 of a 9-slice volume, nothing elsewhere."""
        name = "stub"
        calls: list = []

        def encode(self, image):
            return Embedding(model="stub", features={"z": int(image[0, 0])}, original_size=image.shape[:2],
                             input_size=image.shape[:2])

        def decode(self, emb, *, box_xyxy, **kw):
            z = emb.features["z"]
            self.calls.append(z)
            masks = np.zeros((len(box_xyxy), 1, *emb.original_size), bool)
            if 2 <= z <= 5:
                masks[:, 0, 20:40, 20:40] = True
            return Prediction(masks=masks, scores=np.ones((len(box_xyxy), 1)),
                              logits=np.zeros((len(box_xyxy), 1, 256, 256), np.float32))

    volume = np.repeat(np.arange(9, dtype=np.uint8)[:, None, None], 64, axis=1).repeat(64, axis=2)
    seed = np.zeros((64, 64), bool)
    seed[22:38, 22:38] = True
    stub = Stub()
    out = propagate_from_mask(stub, volume, 4, seed)
    assert [z for z in range(9) if out[z].any()] == [2, 3, 4, 5]
    assert sorted(stub.calls) == [1, 2, 3, 5, 6]  # each direction stops at its first empty slice
