"""Issue 12 section 6: a label one pixel wide or tall gives a valid box and a scored row, never an error row.

On the shared PET case STS_002 the tumour's first slice (z = 16) is a single voxel: the tight box is
[16, 13, 16, 13] (inclusive xyxy), which used to be refused as "inverted or empty" and became an error row,
dropping the slice from per-slice means (16 of 782 PET rows)."""

from __future__ import annotations

import numpy as np
import pytest

from samwidgets.prompts.geometry import box_from_mask


def test_a_one_pixel_object_has_a_degenerate_but_valid_box():
    from samwidgets.models.checks import check_boxes

    gt = np.zeros((30, 30), bool)
    gt[13, 16] = True
    box = box_from_mask(gt)
    assert box.tolist() == [16, 13, 16, 13]
    clipped, _ = check_boxes((30, 30), box)
    assert clipped[0].tolist() == [16, 13, 16, 13]
    line = np.zeros((30, 30), bool)
    line[5:20, 7] = True  # one pixel wide, 15 tall
    assert box_from_mask(line).tolist() == [7, 5, 7, 19]
    assert check_boxes((30, 30), box_from_mask(line))[0][0].tolist() == [7, 5, 7, 19]


@pytest.mark.timeout(300)
def test_pet_slice_with_a_single_voxel_label_gives_a_scored_row(shared_data, repo_root, litemedsam_cpu):
    """The real case through the sweep's per-case function, restricted to the degenerate slice (one encode)."""
    from samwidgets.evaluation.protocols import parse_protocol
    from samwidgets.evaluation.unit import evaluate_case
    from samwidgets.manifest import load_manifest

    case = load_manifest(repo_root / "data_manifests" / "pet_sts.yaml").case("STS_002")
    image, labels = case.load()
    only = np.zeros_like(labels["tumor"])
    only[16] = labels["tumor"][16]
    assert only.sum() == 1  # one voxel: the tight box is [16, 13, 16, 13]
    rows = evaluate_case("litemedsam", litemedsam_cpu, [parse_protocol("box")], {"model": "litemedsam"},
                         case.key, image, {"tumor": only}, 0)
    assert len(rows) == 1
    row = rows[0]
    assert row["error"] == "" and row["failure_type"] != "error", row["error"]
    assert row["slice"] == 16 and np.isfinite(row["dice"]) and 0.0 <= row["dice"] <= 1.0
