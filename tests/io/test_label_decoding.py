"""Label decoding on real masks of every kind in the shared data, plus the rule errors."""

from __future__ import annotations

import numpy as np
import pytest

import io_samples as S
from samwidgets.errors import LabelError
from samwidgets.io import check_label_shape, decode_label, instance_masks, load_image, load_label_array

CARDIAC_RULE = {"type": "colours", "labels": {"lv": [255, 0, 0], "myocardium": [0, 255, 0], "rv": [0, 0, 255]},
                "background": [0, 0, 0], "max_distance": 60}
HIPPO_RULE = {"type": "colours", "labels": {"anterior": [255, 0, 0], "posterior": [0, 255, 0]},
              "background": [0, 0, 0], "max_distance": 60}


def test_values_rule_on_a_real_nifti_label(shared_data):
    raw = load_label_array(shared_data / S.BRATS_LABEL)
    masks = decode_label(raw, {"type": "values", "labels": {1: "edema", 2: "absent"}})
    assert list(masks) == ["edema"]  # listed but absent labels are left out
    assert masks["edema"].dtype == bool and masks["edema"].shape == raw.shape
    assert masks["edema"].sum() == (raw == 1).sum() > 0


def test_values_rule_takes_yaml_string_keys_and_float_labels():
    raw = np.zeros((3, 4), np.float32)
    raw[1, 1:3] = 1.0
    raw[2, 0] = 2.0000001
    masks = decode_label(raw, {"type": "values", "labels": {"1": "a", "2": "b"}})
    assert masks["a"].sum() == 2 and masks["b"].sum() == 1


def test_threshold_rule_on_a_jpeg_mask(shared_data):
    path = S.first(shared_data / S.POLYP / "masks", "*.jpg")
    raw = load_label_array(path)
    assert raw.ndim == 2 and len(np.unique(raw)) > 2  # JPEG noise: more than two grey values
    masks = decode_label(raw, {"type": "threshold", "threshold": 127, "name": "polyp"}, where=path)
    polyp = masks["polyp"]
    assert polyp.shape == raw.shape and polyp.dtype == bool
    # the noise sits near 0 and near 255: the decoded area is bracketed by strict thresholds either side
    assert (raw > 200).sum() <= polyp.sum() <= (raw > 50).sum()
    assert 0.01 < polyp.mean() < 0.9


def test_threshold_rule_averages_rgb():
    raw = np.zeros((2, 3, 3), np.uint8)
    raw[0, 0] = (255, 255, 255)
    raw[0, 1] = (255, 0, 0)  # mean 85: below 127
    masks = decode_label(raw, {"type": "threshold", "threshold": 127, "name": "m"})
    assert masks["m"].tolist() == [[True, False, False], [False, False, False]]


def test_colour_rule_on_cardiac_mri(shared_data):
    path = shared_data / S.CARDIAC / "masks" / "10005.png"
    raw = load_label_array(path)
    masks = decode_label(raw, CARDIAC_RULE, where=path)
    assert set(masks) == {"lv", "myocardium", "rv"}
    for name, colour in CARDIAC_RULE["labels"].items():
        assert masks[name].sum() == np.all(raw == colour, axis=-1).sum() > 0
    total = sum(m.astype(int) for m in masks.values())
    assert total.max() == 1  # classes never overlap


def test_colour_rule_snaps_anti_aliased_edges(shared_data):
    listed = {"anterior": (255, 0, 0), "posterior": (0, 255, 0)}
    for path in sorted((shared_data / S.HIPPOCAMPUS / "masks").glob("*.png"))[:5]:
        raw = load_label_array(path)
        masks = decode_label(raw, HIPPO_RULE, where=path)
        exact = np.zeros(raw.shape[:2], bool)
        for colour in list(listed.values()) + [(0, 0, 0)]:
            exact |= np.all(raw == colour, axis=-1)
        assert (~exact).any()  # the file really has in-between colours
        assert masks  # at least one class found
        for name, colour in listed.items():
            near = np.linalg.norm(raw.astype(float) - colour, axis=-1) < 60
            if near.any():
                assert masks[name][near].all()  # snapped to the nearest listed colour
            else:
                assert name not in masks
        background = np.linalg.norm(raw.astype(float), axis=-1) < 60
        for m in masks.values():
            assert not m[background].any()


def test_colour_rule_without_blends_rejects_three_way_edges(shared_data):
    path = shared_data / S.HIPPOCAMPUS / "masks" / "100001_9.png"
    raw = load_label_array(path)
    with pytest.raises(LabelError, match="not in the map"):
        decode_label(raw, dict(HIPPO_RULE, blends=False), where=path)


def test_colour_not_in_the_map_names_colour_and_file(shared_data):
    path = shared_data / S.CARDIAC / "masks" / "10005.png"
    raw = load_label_array(path)
    rule = dict(CARDIAC_RULE, labels={"lv": [255, 0, 0], "myocardium": [0, 255, 0]})  # rv forgotten
    with pytest.raises(LabelError) as err:
        decode_label(raw, rule, where=path)
    assert "label colour (0, 0, 255) not in the map" in str(err.value)
    assert err.value.where == str(path)


def test_unmixable_colour_is_rejected_even_with_blends():
    raw = np.zeros((4, 4, 3), np.uint8)
    raw[1, 1] = (255, 0, 0)
    raw[2, 2] = (255, 255, 0)  # yellow is no mix of black, red and green
    with pytest.raises(LabelError, match=r"\(255, 255, 0\) not in the map"):
        decode_label(raw, HIPPO_RULE, where="synthetic.png")


def test_instance_rule_on_stardist_mask(shared_data):
    raw = load_label_array(shared_data / S.STARDIST / "mask2d.tif")
    assert raw.dtype == np.uint16
    masks = decode_label(raw, {"type": "instances", "name": "nucleus"})
    np.testing.assert_array_equal(masks["nucleus"], raw > 0)
    objects = instance_masks(raw)
    ids = set(np.unique(raw).tolist()) - {0}
    assert set(objects) == ids and len(objects) > 50
    union = np.zeros(raw.shape, bool)
    for i, m in objects.items():
        assert not (union & m).any()
        union |= m
        assert m.sum() == (raw == i).sum()
    np.testing.assert_array_equal(union, masks["nucleus"])


def test_outline_fill_on_fetal_head(shared_data):
    for path in sorted((shared_data / S.FETAL / "masks").glob("*.jpg"))[:4]:
        raw = load_label_array(path)
        outline = decode_label(raw, {"type": "threshold", "threshold": 127, "name": "outline"})["outline"]
        head = decode_label(raw, {"type": "outline_fill", "threshold": 127, "name": "head"}, where=path)["head"]
        assert head[outline].all()
        assert head.sum() > 10 * outline.sum()


def test_outline_that_is_not_closed_is_reported():
    raw = np.zeros((20, 20), np.uint8)
    raw[5, 5:15] = 255
    raw[5:15, 5] = 255  # two sides of a square: nothing to fill
    with pytest.raises(LabelError, match="not closed"):
        decode_label(raw, {"type": "outline_fill", "name": "head"}, where="open.png")
    raw[14, 5:15] = 255
    raw[5:15, 14] = 255
    head = decode_label(raw, {"type": "outline_fill", "name": "head"})["head"]
    assert head.sum() == 100


def test_empty_label_is_an_error():
    raw = np.zeros((3, 5, 5), np.uint8)
    raw[1, 2, 2] = 3
    with pytest.raises(LabelError, match="empty label") as err:
        decode_label(raw, {"type": "values", "labels": {1: "lesion"}}, where="case_7")
    assert err.value.where == "case_7"
    with pytest.raises(LabelError, match="empty label"):
        decode_label(np.zeros((4, 4), np.uint8), {"type": "threshold", "name": "polyp"})


@pytest.mark.parametrize("rule", [{"labels": {1: "a"}}, {"type": "mystery"}, {"type": "values"},
                                  {"type": "threshold"}, {"type": "colours", "labels": {"a": [1, 2]}},
                                  {"type": "colours", "labels": {"a": [0, 0, 0]}},
                                  {"type": "colours", "labels": {"a": [9, 9, 9], "b": [9, 9, 9]}}])
def test_malformed_rules_are_label_errors(rule):
    with pytest.raises(LabelError):
        decode_label(np.ones((3, 3, 3), np.uint8), rule, where="x")


def test_values_rule_refuses_colour_labels():
    raw = np.zeros((4, 4, 3), np.uint8)
    raw[0, 0] = (255, 0, 0)
    with pytest.raises(LabelError, match="colours"):
        decode_label(raw, {"type": "values", "labels": {255: "a"}})


def test_shape_mismatch_between_image_and_label(shared_data):
    image = load_image(shared_data / S.BRATS_IMAGE)
    label = load_label_array(shared_data / S.BRATS_LABEL)
    check_label_shape(image, label)
    with pytest.raises(LabelError, match="does not match") as err:
        check_label_shape(image, label[:, :-1], where="BraTS2021_01646")
    assert err.value.where == "BraTS2021_01646"
    with pytest.raises(LabelError):
        check_label_shape(image, label.transpose(2, 1, 0))


def test_colour_rule_refuses_16_bit_colours():
    raw = np.zeros((3, 3, 3), np.uint16)
    raw[0, 0] = (1000, 0, 0)
    with pytest.raises(LabelError, match="8-bit"):
        decode_label(raw, HIPPO_RULE)


SMDG = "fundus_disc_cup/TensorFlow-FlexUNet-Image-Segmentation-SMDG-Glaucoma"


def test_a_label_may_be_a_union_of_colours_overlapping_another(shared_data):
    """SMDG masks paint the rim yellow and the cup red: the whole disc is yellow or red, the cup red."""
    path = sorted((shared_data / SMDG / "masks").glob("*.png"))[0]
    raw = load_label_array(path)
    rule = {"type": "colours", "labels": {"optic_disc": [[255, 255, 0], [255, 0, 0]], "optic_cup": [255, 0, 0]},
            "background": [0, 0, 0], "max_distance": 30}
    masks = decode_label(raw, rule, where=path)
    yellow, red = np.all(raw == (255, 255, 0), axis=-1), np.all(raw == (255, 0, 0), axis=-1)
    assert yellow.any() and red.any()
    np.testing.assert_array_equal(masks["optic_disc"], yellow | red)
    np.testing.assert_array_equal(masks["optic_cup"], red)


def test_a_label_may_be_a_union_of_values():
    raw = np.array([[0, 1, 2], [2, 3, 0]], np.uint8)
    masks = decode_label(raw, {"type": "values", "labels": {1: "disc", 2: ["disc", "cup"], 3: "rim"}})
    np.testing.assert_array_equal(masks["disc"], (raw == 1) | (raw == 2))
    np.testing.assert_array_equal(masks["cup"], raw == 2)
    np.testing.assert_array_equal(masks["rim"], raw == 3)


def test_every_unlisted_colour_is_named_with_the_tolerance_that_accepts_it():
    raw = np.zeros((6, 6, 3), np.uint8)
    raw[0, :] = (0, 255, 0)
    raw[1, 0] = (12, 201, 7)        # 55 from green
    raw[2, :2] = (0, 0, 200)        # 200 from black, far from every mix of black and green
    rule = {"type": "colours", "labels": {"lesion": [0, 255, 0]}, "background": [0, 0, 0], "max_distance": 30,
            "blends": False}
    with pytest.raises(LabelError) as err:
        decode_label(raw, rule, where="case7.png")
    text = str(err.value)
    assert "2 unlisted colour(s)" in text
    d_green = np.linalg.norm(np.array([12, 201, 7]) - (0, 255, 0))
    assert f"label colour (12, 201, 7) not in the map (1 px): {d_green:.0f} from 'lesion' (0, 255, 0): " \
           f"raise max_distance to >= {int(np.ceil(d_green))} or add the colour" in text
    assert "label colour (0, 0, 200) not in the map (2 px): 200 from the background (0, 0, 0)" in text
    assert text.index("(0, 0, 200)") < text.index("(12, 201, 7)")  # most frequent first
    assert "max_distance >= 200 accepts them all" in text
    masks = decode_label(raw, dict(rule, max_distance=200))
    assert masks["lesion"][1, 0]


def test_a_label_with_the_background_colour_is_refused():
    raw = np.zeros((2, 2, 3), np.uint8)
    with pytest.raises(LabelError, match="background colour"):
        decode_label(raw, {"type": "colours", "labels": {"x": [[0, 0, 0], [255, 0, 0]]}})
