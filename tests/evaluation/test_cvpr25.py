"""The cvpr25 / cvpr25_points drivers: structure with the fake predictor; on a shared CT lesion case with
LiteMedSAM, agreement with an independent loop written here from CVPR25_iter_eval.py and get_boxes.py."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate

from samwidgets.evaluation.cvpr25 import run_cvpr25, run_cvpr25_volume
from samwidgets.metrics import dice
from samwidgets.prompts.cvpr25 import cvpr25_box
from tests.prompts.test_cvpr25 import reference_click

from .fakes import FakePredictor


def rect():
    """A rectangle with a notch: the fake's box mask is never perfect on it."""
    gt = np.zeros((60, 60), bool)
    gt[10:40, 12:50] = True
    gt[10:25, 12:20] = False
    return gt


@pytest.mark.parametrize("box", [True, False])
def test_steps_clicks_and_prompts_on_the_fake(box):
    pred, gt = FakePredictor(), rect()
    emb = pred.encode(np.zeros(gt.shape, np.uint8))
    steps = list(run_cvpr25(pred, emb, gt, box=box, rng=np.random.default_rng(0)))
    assert [s.step for s in steps] == list(range(1, 7 if box else 6))
    clicks = steps[1:] if box else steps
    assert [s.n_points for s in clicks] == [1, 2, 3, 4, 5]
    prev = steps[0].mask if box else np.zeros_like(gt)
    for s in clicks:
        p = s.prompts[0]
        assert (p.box_xyxy is not None) == box
        x, y = p.points_xy[-1].astype(int)
        assert (gt != prev)[y, x] and p.point_labels[-1] == int(gt[y, x])
        prev = s.mask
    assert pred.stats["encoder_calls"] == 1


def test_box_follows_get_boxes():
    gt = np.zeros((4, 512, 256), bool)
    gt[1:4, 100:200, 50:80] = True
    gt[2, 90:210, 40:90] = True           # the median voxel's slice is z = 2
    b = cvpr25_box(gt, rng=np.random.default_rng(3))
    shift = int(np.random.default_rng(3).integers(0, 6))
    assert (b.z_min, b.z_max, b.z_mid) == (1, 3, 2)
    assert b.box_xyxy.tolist() == [40 - int(shift * 256 / 256), 90 - int(shift * 512 / 256),
                                   89 + int(shift * 256 / 256), 209 + int(shift * 512 / 256)]


# -- an independent loop, written from the reference ---------------------------------------------------
def reference_box(gt, rng):
    """get_boxes.mask3D_to_bbox / mask2D_to_bbox with the shift drawn from ``rng``."""
    z_indices = np.where(gt > 0)[0]
    z_mid = int(z_indices[len(z_indices) // 2]) if gt.ndim == 3 else 0
    plane = gt[z_mid] if gt.ndim == 3 else gt
    y_idx, x_idx = np.where(plane > 0)
    H, W = plane.shape
    shift = int(rng.integers(0, 6))
    sx, sy = int(shift * W / 256), int(shift * H / 256)
    box = [max(0, x_idx.min() - sx), max(0, y_idx.min() - sy), min(W - 1, x_idx.max() + sx),
           min(H - 1, y_idx.max() + sy)]
    return z_mid, np.array(box, float)


def reference_2d(predictor, emb, gt, *, box, seed):
    _, b = reference_box(gt, np.random.default_rng(seed))
    fg, labels, segs, dscs = [], [], np.zeros_like(gt), []
    if box:
        segs = predictor.decode(emb, box_xyxy=b).best()
        dscs.append(dice(segs, gt))
    else:
        dscs.append(0.0)  # the reference's score for a missing box step
    for _ in range(5):
        c = reference_click(gt.astype(np.uint8), segs.astype(np.uint8))
        if c is not None:
            (y, x), is_fg = c
            fg.append([x, y])
            labels.append(int(is_fg))
            segs = predictor.decode(emb, points_xy=np.array(fg, float), point_labels=np.array(labels),
                                    box_xyxy=b if box else None).best()
        dscs.append(dice(segs, gt))
    auc = integrate.cumulative_trapezoid(np.array(dscs[-5:]), np.arange(5))[-1]
    return dscs, auc


@pytest.mark.parametrize("box", [True, False])
def test_2d_agrees_with_the_reference_loop_on_ct(litemedsam_cpu, ct_lesion_case, box):
    from samwidgets.evaluation.click_metrics import click_auc

    gt = ct_lesion_case["gt"][ct_lesion_case["z"]]
    emb = litemedsam_cpu.encode(ct_lesion_case["imgs"][ct_lesion_case["z"]])
    steps = list(run_cvpr25(litemedsam_cpu, emb, gt, box=box, rng=np.random.default_rng(11)))
    ours = [dice(s.mask, gt) for s in steps]
    ref, ref_auc = reference_2d(litemedsam_cpu, emb, gt, box=box, seed=11)
    assert ours == pytest.approx(ref if box else ref[1:], abs=1e-12)
    assert click_auc(ours) == pytest.approx(ref_auc, abs=1e-12)


def test_volume_box_then_clicks_on_ct(litemedsam_cpu, ct_lesion_case):
    """The volume run: 6 volume predictions; the box step equals the chaining from the challenge box; each
    click step changes only the clicked slice, decoded with that slice's clicks and box."""
    from samwidgets.models.propagate import propagate_from_mask

    imgs, gt = ct_lesion_case["imgs"], ct_lesion_case["gt"]
    out = list(run_cvpr25_volume(litemedsam_cpu, imgs, gt, box=True, rng=np.random.default_rng(5)))
    assert [s.step for s, _ in out] == [1, 2, 3, 4, 5, 6]
    assert [s.n_points for s, _ in out] == [0, 1, 2, 3, 4, 5]
    z_mid, b = reference_box(gt, np.random.default_rng(5))
    mid = litemedsam_cpu.decode(litemedsam_cpu.encode(imgs[z_mid]), box_xyxy=b).best()
    zs = np.nonzero(gt.any(axis=(1, 2)))[0]
    expected = propagate_from_mask(litemedsam_cpu, imgs, z_mid, mid, z_range=(zs.min(), zs.max()))
    assert np.array_equal(out[0][0].mask, expected)
    prev = out[0][0].mask
    for step, extra in out[1:]:
        (z, y, x, label) = extra["clicks_zyx"][-1]
        ref = reference_click(gt.astype(np.uint8), prev.astype(np.uint8))
        assert ref == ((z, y, x), bool(label))
        changed = np.nonzero((step.mask != prev).any(axis=(1, 2)))[0]
        assert set(changed.tolist()) <= {z} and extra["slice"] == z
        p = step.prompts[0]
        assert p.box_xyxy is not None and [x, y] in p.points_xy.astype(int).tolist()
        prev = step.mask


def test_sweep_rows_2d_per_image_3d_per_volume(tmp_path, monkeypatch):
    """Through run_sweep: on 2D images one row per step; on volumes one volume row (slice -1) per step; noc:N
    per slice. The chaining is replaced by a stand-in (the fake decodes one box at a time)."""
    import types
    import sys

    from samwidgets.evaluation import run_sweep

    from .fakes import fake_manifest

    def propagate_from_mask(predictor, volume, z, mask2d, *, z_range=None):
        out = np.zeros(volume.shape[:3], bool)
        lo, hi = (0, volume.shape[0] - 1) if z_range is None else z_range
        ys, xs = np.nonzero(mask2d)
        for k in range(lo, hi + 1):
            box = [xs.min() - 1, ys.min() - 1, xs.max() + 1, ys.max() + 1]
            out[k] = predictor.decode(predictor.encode(volume[k]), box_xyxy=box).masks[0]
        out[z] = mask2d
        return out

    mod = types.ModuleType("samwidgets.models.propagate")
    mod.propagate_from_mask = propagate_from_mask
    mod.mask_box_256 = lambda mask, **kw: None  # every click slice falls back to the challenge box
    mod.box_256_to_pixels = None
    monkeypatch.setitem(sys.modules, "samwidgets.models.propagate", mod)
    protocols = ["cvpr25", "cvpr25_points", "noc:4"]
    t = run_sweep([fake_manifest(tmp_path)], [FakePredictor()], protocols, seed=2, progress=False)
    ok = t[t.error == ""]
    assert (t.error == "").all(), t[t.error != ""].error.tolist()
    img = ok[ok.case.str.startswith("img")]
    vol = ok[ok.case.str.startswith("vol")]
    for frame, slice_ok in ((img, lambda s: (s == 0).all()), (vol[vol.protocol != "noc:4"], lambda s: (s == -1).all())):
        assert slice_ok(frame.slice)
    per_object = ok.groupby(["case", "label", "slice", "protocol"]).step.max()
    assert set(per_object.xs("cvpr25", level="protocol")) == {6}
    assert set(per_object.xs("cvpr25_points", level="protocol")) == {5}
    assert set(per_object.xs("noc:4", level="protocol")) == {4}
    assert (vol[vol.protocol == "noc:4"].slice >= 0).all()
    v = vol[vol.protocol == "cvpr25"].sort_values(["case", "step"])
    assert v.groupby("case").n_points.apply(list).tolist() == [[0, 1, 2, 3, 4, 5]] * 2
    again = run_sweep([fake_manifest(tmp_path)], [FakePredictor()], protocols, seed=2, progress=False)
    assert t.dice.tolist() == again.dice.tolist() and t.prompt_log.tolist() == again.prompt_log.tolist()
