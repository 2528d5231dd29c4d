"""Descriptor and off_label columns written by the sweep (fake predictor, in-memory cases)."""

from __future__ import annotations

import numpy as np
import pytest

from samwidgets.evaluation import parse_protocol, run_sweep
from samwidgets.evaluation.describe import RowDescriber, is_off_label, protocol_prompt_kinds, trained_prompts
from samwidgets.evaluation.table import DESCRIPTOR_COLUMNS, normalise
from samwidgets.io.image import Image
from samwidgets.masks.descriptors import describe_object

from .fakes import FakePredictor, blob_volume, fake_manifest
from .test_runner import fake_propagation  # noqa: F401  (autouse fixture: no model for 3D chaining)

PROTOCOLS = ["box", "point", "point_iterative:2", "propagate_box_3d"]


def sweep(tmp_path, name="fake"):
    return run_sweep([fake_manifest(tmp_path)], [FakePredictor(name=name)], PROTOCOLS, seed=1, progress=False)


def test_sweep_rows_carry_object_and_prompt_descriptors(tmp_path):
    t = sweep(tmp_path)
    ok = t[t.error == ""]
    assert ok[list(DESCRIPTOR_COLUMNS[:12])].notna().drop(columns="obj_mm").all().all()
    # 2D rectangle "polyp" on a 1.0-spacing PNG-like image: spacing unknown, exact shape values
    img0 = ok[(ok.case == "img0") & (ok.label == "polyp") & (ok.protocol == "box")].iloc[0]
    _, labels = fake_manifest(tmp_path).cases[2].load()
    h = int(labels["polyp"].any(axis=1).sum())
    assert np.isnan(img0.obj_mm) and img0.obj_px == 20 * h and img0.obj_solidity == 1.0
    assert img0.obj_elongation == pytest.approx(max(20, h) / min(20, h))
    assert img0.box_tightness == 1.0 and img0.box_other_fill == 0.0 and np.isnan(img0.click_dist_px)
    # point protocols: the first click is the distance-transform centre -> relative distance 1, every step
    pts = ok[ok.protocol.isin(["point", "point_iterative:2"])]
    assert (pts.click_dist_rel == 1.0).all() and pts.box_tightness.isna().all()
    # a per-slice row of a volume equals describe_object on that slice, with in-plane mm²
    image, labels = blob_volume(0)
    row = ok[(ok.case == "vol0") & (ok.protocol == "box") & (ok.slice == 1)].iloc[0]
    ref = describe_object(image.array[1], labels["lesion"][1], spacing=(0.8, 0.8)).as_dict()
    assert {k: row[k] for k in ref} == pytest.approx(ref)
    # volume rows: voxels and mm³
    vol = ok[(ok.case == "vol0") & (ok.protocol == "propagate_box_3d")].iloc[0]
    assert vol.obj_px == labels["lesion"].sum()
    assert vol.obj_mm == pytest.approx(labels["lesion"].sum() * 3.0 * 0.8 * 0.8)
    assert vol.box_tightness >= 1.0


def test_off_label_marks_points_on_box_only_models(tmp_path):
    t = sweep(tmp_path, name="litemedsam")
    ok = t[t.error == ""]
    assert ok[ok.protocol.isin(["point", "point_iterative:2"])].off_label.all()
    assert not ok[ok.protocol.isin(["box", "propagate_box_3d"])].off_label.any()
    assert not sweep(tmp_path / "b", name="fake").off_label.any()
    assert trained_prompts("litemedsam") == ("box",) and trained_prompts("medsam") == ("box",)
    assert set(trained_prompts("sam_vit_b")) == {"box", "point"} == set(trained_prompts("sam2_t"))
    assert protocol_prompt_kinds(parse_protocol("microsam_box:3")) == {"box", "point"}
    assert protocol_prompt_kinds(parse_protocol("mazurowski:4")) == {"box"}
    assert is_off_label(parse_protocol("mazurowski:1"), ("box",))
    assert not is_off_label(parse_protocol("mazurowski:5"), ("box",))


def test_box_fill_by_other_labels_and_error_rows():
    img = np.zeros((30, 30), np.uint8)
    obj = np.zeros((30, 30), bool)
    obj[5:15, 5:15] = True
    other = np.zeros((30, 30), bool)
    other[5:15, 15:20] = True
    d = RowDescriber(Image(img, (0.5, 0.5)), {"a": obj, "b": other}, name="fake")
    log = '{"slice": 0, "prompts": [{"box_xyxy": [5, 5, 19, 14], "points_xy": null, "point_labels": null}]}'
    rows = d.add([{"prompt_log": log}, {"prompt_log": "", "error": "boom"}], label="a", z=0,
                 protocol=parse_protocol("box"))
    assert rows[0]["box_other_fill"] == pytest.approx(50 / 150) and rows[0]["box_tightness"] == 1.5
    assert rows[0]["obj_mm"] == 25.0
    assert "obj_px" not in rows[1] and rows[1]["off_label"] is False
    table = normalise(__import__("pandas").DataFrame(rows))
    assert np.isnan(table.obj_px[1]) and table.off_label.dtype == bool


def _same(a: dict, b: dict) -> bool:
    """Equal values, NaN equal to NaN: exact, not approximate."""
    return a.keys() == b.keys() and all(x == y or (np.isnan(x) and np.isnan(y)) for x, y in zip(a.values(),
                                                                                                   b.values()))


def _labels_of(gt):
    from scipy import ndimage

    ring = ndimage.binary_dilation(gt, iterations=4) & ~gt  # a second object on the same slices
    return {"lesion": gt, "ring": ring}


def _direct(image, labels, spacing):
    """Every object's descriptors from describe_object alone (each computes its own gradient)."""
    out = {}
    for name, mask in labels.items():
        for z in np.nonzero(mask.any(axis=(1, 2)))[0]:
            out[(name, int(z))] = describe_object(image[z], mask[z], spacing=spacing[-2:]).as_dict()
        out[(name, -1)] = describe_object(image, mask, spacing=spacing).as_dict()
    return out


def test_shared_memos_give_the_same_descriptors_on_a_real_ct_volume(ct_lesion_case, monkeypatch):
    from samwidgets.evaluation import describe as describe_module
    from samwidgets.evaluation.describe import object_memo

    imgs, spacing = ct_lesion_case["imgs"], ct_lesion_case["spacing"]
    labels = _labels_of(ct_lesion_case["gt"])
    want = _direct(imgs, labels, spacing)
    grads, objects = [], []
    real_grad, real_obj = describe_module.gradient_magnitude, describe_module.describe_object
    monkeypatch.setattr(describe_module, "gradient_magnitude", lambda g: grads.append(1) or real_grad(g))
    monkeypatch.setattr(describe_module, "describe_object", lambda *a, **k: objects.append(1) or real_obj(*a, **k))
    memo = object_memo()
    for model in ("model_a", "model_b"):  # two models' units of one case share the object memo
        d = RowDescriber(Image(imgs, spacing), labels, name=model, objects=memo, case="ct")
        for (name, z) in want:
            assert _same(d.object_columns(name, z), want[(name, z)]), (model, name, z)
    spanned = {int(z) for m in labels.values() for z in np.nonzero(m.any(axis=(1, 2)))[0]}
    assert len(grads) == len(spanned)  # each slice's gradient once, for every label and the volume rows
    assert len(objects) == len(want)  # the second model computed nothing
    other = RowDescriber(Image(imgs, spacing), labels, name="model_a", objects=memo, case="another case")
    other.object_columns("lesion", -1)
    assert len(objects) == len(want) + 1  # the memo is keyed by case


def test_shared_gradients_give_the_same_descriptors_on_colour_slices():
    rng = np.random.default_rng(5)
    vol = rng.integers(0, 255, size=(4, 40, 48, 3)).astype(np.uint8)
    a = np.zeros((4, 40, 48), bool)
    a[1:3, 10:25, 8:30] = True
    b = np.zeros_like(a)
    b[0:4, 20:35, 25:45] = True
    labels = {"a": a, "b": b}
    want = _direct(vol, labels, (2.0, 1.0, 1.0))
    d = RowDescriber(Image(vol, (2.0, 1.0, 1.0)), labels, name="fake")
    for (name, z), ref in want.items():
        assert _same(d.object_columns(name, z), ref), (name, z)
    flat = RowDescriber(Image(vol[1], (1.0, 1.0)), {"a": a[1]}, name="fake")
    assert _same(flat.object_columns("a", 0), describe_object(vol[1], a[1], spacing=None).as_dict())  # 1.0: unknown
