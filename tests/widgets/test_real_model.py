"""Session and viewer with the real LiteMedSAM on the embedded sample cases (one shared predictor)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from samwidgets.metrics import dice
from samwidgets.prompts import box_from_mask
from samwidgets.widgets import Session, SliceViewer, open_case
from samwidgets.paths import repo_root

REPO_ROOT = repo_root()

SAMPLE = REPO_ROOT / "data_manifests" / "sample.yaml"
CT_CASE = "CT_Lesion_000001_02_01_008-023"


@pytest.fixture(scope="session")
def litemedsam():
    from samwidgets.models import load

    return load("litemedsam", device="cpu")


@pytest.fixture(scope="session")
def ct_case():
    from samwidgets.manifest import find_case

    image, labels = find_case(SAMPLE, CT_CASE).load()
    return image, labels


def test_box_on_a_ct_lesion_then_replay_gives_the_same_mask(litemedsam, ct_case, tmp_path):
    image, labels = ct_case
    s = Session(image, model=litemedsam, ground_truth=labels)
    gt = labels["lesion"][s.z]
    assert gt.any()
    s.box(*box_from_mask(gt))
    assert s.metrics["dice"] == pytest.approx(dice(s.mask, gt))
    assert s.metrics["dice"] > 0.85  # LiteMedSAM with a tight GT box on a DeepLesion slice
    before = s.mask.copy()
    cx, cy = np.argwhere(gt).mean(axis=0)[::-1]
    s.click(cx, cy, positive=False)  # a negative point in the lesion must remove pixels
    assert s.mask.sum() < before.sum()
    s.undo()
    np.testing.assert_array_equal(s.mask, before)
    s.accept("lesion")
    path = s.save(tmp_path / "session.json")
    r = Session(image, model=litemedsam, ground_truth=labels)
    r.replay(path)
    np.testing.assert_array_equal(r.mask, before)
    np.testing.assert_array_equal(r.labels, s.labels)


def test_accept_and_propagate_to_neighbours(litemedsam, ct_case, tmp_path):
    image, labels = ct_case
    gt = labels["lesion"]
    s = Session(image, model=litemedsam, ground_truth=labels)
    z = s.z
    s.box(*box_from_mask(gt[z]))
    s.accept("lesion")
    done = s.propagate("lesion", z_range=(z - 1, z + 1))
    assert done == [z - 1, z + 1]
    for zz in done:
        assert gt[zz].any() and dice(s.labels[zz] == 1, gt[zz]) > 0.7
    assert not s.labels[: z - 1].any() and not s.labels[z + 2:].any()
    s.undo()
    assert not s.labels[z - 1].any() and s.labels[z].any()
    out = s.save(tmp_path / "labels.nii.gz")
    import nibabel as nib

    saved = np.asarray(nib.load(str(out)).dataobj)
    assert saved.shape == image.array.shape[::-1]  # written back in the file's (x, y, z) order
    np.testing.assert_array_equal(saved.transpose(2, 1, 0), s.labels)


def test_open_case_replays_a_results_row(litemedsam, ct_case):
    image, labels = ct_case
    z = int(np.argmax(labels["lesion"].reshape(len(image.array), -1).sum(axis=1)))
    box = box_from_mask(labels["lesion"][z])
    row = {"manifest": str(SAMPLE), "case": CT_CASE, "slice": z, "model": "litemedsam",
           "prompt_log": json.dumps({"slice": z, "protocol": "box",
                                     "prompts": [{"points_xy": None, "point_labels": None,
                                                  "box_xyxy": box.tolist()}]})}
    v = open_case(row, model=litemedsam, background=False, cache=None, autosave_dir=None)
    assert v.session.z == z and v.ui.slider.value == z + 1
    assert v.session.state.box == tuple(float(b) for b in box)
    assert v.ui.status.value.startswith("prompts: 1 | Dice ")
    assert float(v.ui.status.value.split("Dice ")[1].split(" ")[0]) > 0.85


def test_rgb_case_in_the_viewer(litemedsam, tmp_path):
    from samwidgets.manifest import load_manifest

    case = next(c for c in load_manifest(SAMPLE).cases if c.dataset == "nuinsseg")  # H&E, RGB
    v = SliceViewer(case, model=litemedsam, background=False, cache=None, autosave_dir=tmp_path)
    s = v.session
    assert s.image.is_rgb and not s.is_3d
    from samwidgets.prompts import components

    name = next(iter(s.ground_truth))
    nucleus = components(s.ground_truth[name])[0]  # the largest nucleus
    x0, y0, x1, y1 = box_from_mask(nucleus)
    s.box(x0, y0, x1 + 1, y1 + 1)
    mask = s.mask
    assert dice(mask, nucleus) > 0.6
    assert mask[int(y0):int(y1) + 2, int(x0):int(x1) + 2].sum() >= 0.9 * mask.sum()  # stays in its box
    assert v.ui.status.value == f"prompts: 1 | Dice {s.metrics['dice']:.3f} | IoU {s.metrics['iou']:.3f}"
