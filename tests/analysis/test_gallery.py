import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from samwidgets.analysis.gallery import (
    build_items, display_slice, gallery_table, group_items, render_gallery, replay_mask,
)
from samwidgets.models.protocol import Embedding, Prediction

SAMPLE = Path(__file__).resolve().parents[2] / "data_manifests" / "sample.yaml"


class BoxPredictor:
    """A stand-in model: the mask is the prompt box (or a 3x3 square around each positive point)."""

    name = "fake"

    def __init__(self):
        self.encoded = 0

    def encode(self, image):
        self.encoded += 1
        return Embedding(model="fake", features={}, original_size=image.shape[:2], input_size=image.shape[:2])

    def decode(self, emb, *, points_xy=None, point_labels=None, box_xyxy=None, **_):
        mask = np.zeros(emb.original_size, bool)
        if box_xyxy is not None:
            x0, y0, x1, y1 = np.asarray(box_xyxy, int)
            mask[y0:y1, x0:x1] = True
        for (x, y), lab in zip(np.asarray(points_xy if points_xy is not None else [], int).reshape(-1, 2),
                               point_labels if point_labels is not None else []):
            if lab == 1:
                mask[max(y - 1, 0):y + 2, max(x - 1, 0):x + 2] = True
        return Prediction(masks=mask[None], scores=np.ones(1), logits=np.zeros((1, 256, 256), np.float32))


def test_replay_ors_the_masks_of_every_prompt_set():
    img = np.zeros((20, 30), np.uint8)
    prompts = [{"box_xyxy": [1, 2, 5, 6]}, {"points_xy": [[20, 10]], "point_labels": [1]}, {"box_xyxy": None}]
    pred = BoxPredictor()
    mask = replay_mask(pred, img, prompts)
    assert mask.shape == (20, 30) and mask.sum() == 16 + 9
    assert mask[2, 1] and mask[10, 20] and not mask[0, 0]
    assert pred.encoded == 1
    assert replay_mask(pred, img, [{"points_xy": None, "box_xyxy": None}]) is None


def test_display_slice_rules():
    gt = np.zeros((9, 4, 4), bool)
    gt[2:7, 1, 1] = True
    assert display_slice({"slice": 3, "prompt_log": "{}"}) == 3
    assert display_slice({"slice": -1, "prompt_log": json.dumps({"slice": 5})}) == 5
    assert display_slice({"slice": -1, "prompt_log": "{}"}, gt) == 4  # int((6 - 2) / 2 + 2)


def _sample_rows():
    from samwidgets.manifest import load_manifest

    manifest = load_manifest(SAMPLE)
    case2d = next(c for c in manifest.cases if c.dims == 2)
    case3d = next(c for c in manifest.cases if c.dims == 3)
    _, labels2d = case2d.load()
    label2d, gt2d = next(iter(labels2d.items()))
    ys, xs = np.nonzero(gt2d)
    box = [float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)]
    _, labels3d = case3d.load()
    label3d, gt3d = next(iter(labels3d.items()))
    zs = np.flatnonzero(gt3d.any(axis=(1, 2)))
    base = dict(modality="X", model="fake", step=1, n_points=0, dice=0.5, iou=0.3, nsd=0.4, hd95=2.0,
                seconds=0.1, failure_type="ok", manifest=str(SAMPLE), error="")
    rows = [
        dict(base, dataset=case2d.dataset, case=case2d.case_id, label=label2d, slice=0, protocol="box",
             prompt_log=json.dumps({"slice": 0, "prompts": [{"box_xyxy": box}]})),
        # a propagated slice: its prompt was on another slice, so it is not replayed
        dict(base, dataset=case3d.dataset, case=case3d.case_id, label=label3d, slice=int(zs[0]),
             protocol="propagate_box_3d", prompt_log=json.dumps({"slice": int(zs[len(zs) // 2]), "prompts": [{"box_xyxy": [1, 1, 5, 5]}]})),
        dict(base, dataset="nope", case="missing", label="x", slice=0, protocol="box", prompt_log="{}"),
    ]
    return pd.DataFrame(rows), gt2d, box


def test_build_items_on_the_sample_replays_and_degrades_gracefully(tmp_path):
    rows, gt2d, box = _sample_rows()
    predictors = {"fake": BoxPredictor()}
    items = build_items(rows, predictors=predictors, cache_dir=tmp_path)
    assert [it.index for it in items] == [0, 1, 2]
    first, prop, missing = items
    assert first.gt.shape == first.image.shape[:2] and (first.gt == gt2d).all()
    x0, y0, x1, y1 = map(int, box)
    assert first.pred.sum() == (x1 - x0) * (y1 - y0)  # the replayed box mask
    assert prop.pred is None and "propagated from slice" in prop.note and prop.gt.any()
    assert missing.image is None and missing.note.startswith("cannot show")
    fig = render_gallery(items, metric="dice", ncols=2)
    assert isinstance(fig, Figure) and len(fig.axes) == 4
    titles = [ax.get_title() for ax in fig.axes[:3]]
    assert titles[0].startswith("[0] ") and "dice=0.500" in titles[0] and "ok" in titles[0]
    table = gallery_table(items)
    assert list(table["case"]) == list(rows["case"]) and "prompt_log" in table
    # the replayed mask is cached: a second gallery needs no model at all
    assert predictors["fake"].encoded == 1
    again = build_items(rows.head(1), predictors={}, cache_dir=tmp_path)
    assert (again[0].pred == first.pred).all() and again[0].note == ""
    assert (again[0].image == first.image).all() and (again[0].gt == first.gt).all() and again[0].z == first.z
    for path in (tmp_path / "panels").rglob("*.npz"):
        path.write_bytes(b"damaged")
    redo = build_items(rows.head(1), predictors=predictors, cache_dir=tmp_path)
    assert (redo[0].pred == first.pred).all() and predictors["fake"].encoded == 2
    groups = group_items(items, ["protocol"])
    assert [g for g, _ in groups] == ["protocol=box", "protocol=propagate_box_3d"]
    assert [it.index for it in groups[0][1]] == [0, 2]


def test_render_gallery_of_nothing():
    fig = render_gallery([], metric="dice")
    assert "no rows" in fig.axes[0].texts[0].get_text()


def test_a_gallery_row_reopens_in_the_viewer_with_its_prompts(tmp_path):
    """Item 5 of the reports issue: each gallery row carries case id + prompt log, and open_case replays it."""
    import samwidgets.widgets
    from samwidgets.models.cache import EmbeddingCache

    rows, _, box = _sample_rows()
    log = {"slice": 0, "protocol": "box", "prompts": [{"box_xyxy": box, "points_xy": [[box[0] + 2, box[1] + 2]],
                                                       "point_labels": [1]}]}
    rows.loc[0, ["model", "prompt_log"]] = ["litemedsam", json.dumps(log)]
    row = gallery_table(rows.head(1)).iloc[0]
    viewer = samwidgets.widgets.open_case(row, device="cpu", background=False, autosave_dir=None,
                                  cache=EmbeddingCache(tmp_path, disk=False))
    try:
        state = viewer.session.state
        assert state.box == pytest.approx(tuple(box))
        assert [p[:2] for p in state.points] == [pytest.approx((box[0] + 2, box[1] + 2))]
        assert viewer.session.mask_of(0).any()  # the replayed prompts decode to a mask
    finally:
        viewer.session.close()
