"""The prompt-sensitivity report helpers that need no model: choosing objects, the findings sentence, the
figures (drawn from a hand-made map)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from samwidgets.analysis import prompt_sensitivity as PS
from samwidgets.analysis.gallery import GalleryItem
from samwidgets.evaluation.sensitivity import ClickMap
from samwidgets.evaluation.table import normalise
from samwidgets.models.protocol import Embedding, Prediction


def row(case, label, z, px, modality="CT", protocol="box", dice=0.8):
    return {"manifest": "m.yaml", "dataset": "d", "modality": modality, "case": case, "label": label, "slice": z,
            "model": "litemedsam", "protocol": protocol, "step": 1, "n_points": 0, "dice": dice, "iou": dice,
            "nsd": dice, "hd95": 1.0, "failure_type": "ok", "error": "", "obj_px": px}


def test_objects_to_map_largest_slice_per_label_and_per_modality_cap():
    df = normalise(pd.DataFrame([
        row("v1", "a", 3, 10), row("v1", "a", 4, 50), row("v1", "a", 5, 20),   # largest: z = 4
        row("v1", "a", -1, np.nan, protocol="box"),                             # a volume row is never mapped
        row("v2", "a", 0, 5), row("v3", "a", 0, 5),                             # cap: 2 per modality
        row("i1", "x", 0, 9, modality="US"), row("i1", "x", 0, 9, modality="US", protocol="point"),
    ]))
    chosen = PS.objects_to_map(df, per_modality=2)
    assert chosen[["modality", "case", "slice"]].values.tolist() == [["CT", "v1", 4], ["CT", "v2", 0], ["US", "i1", 0]]


def hand_item(box_score, box_click_score, modality="CT"):
    gt = np.zeros((40, 40), bool)
    gt[10:30, 12:28] = True
    pts = np.array([[x, y] for y in range(6, 35, 4) for x in range(6, 35, 4)], float)
    values = np.linspace(0, 1, len(pts))
    scores = np.full(gt.shape, np.nan)
    scores[pts[:, 1].astype(int), pts[:, 0].astype(int)] = values
    summary = {"n_points": len(pts), "safe_share": 0.4, "centre_xy": [20.0, 20.0], "centre_score": 0.7,
               "best_xy": [30.0, 30.0], "best_score": 1.0, "worst_xy": [6.0, 6.0], "worst_score": 0.0}
    r = pd.Series(row("c", "a", 0, 320, modality=modality))
    item = GalleryItem(row=r, z=0, image=np.zeros((40, 40), np.uint8), gt=gt)
    return PS.SensitivityItem(item, ClickMap(scores, pts, values, 4, None, summary), box_score, box_click_score)


def test_table_findings_and_figures():
    items = [hand_item(0.9, 0.2), hand_item(0.8, 0.85, modality="US"), PS.SensitivityItem(hand_item(0, 0).item,
                                                                                         note="cannot map: x")]
    table = PS.sensitivity_table(items)
    assert list(table.columns) == PS.TABLE_COLUMNS and len(table) == 2
    text = PS.box_click_findings(table)
    assert "on 1 of 2 objects" in text and "0.900 → 0.200" in text
    filled = items[0].map.filled()
    assert filled[17, 19] == items[0].map.scores[18, 18] and np.isnan(filled[0, 0])  # cells of 4 px
    for fig in (PS.plot_click_maps(items), PS.plot_safe_share(table), PS.plot_box_click(table),
                PS.plot_safe_share(table.iloc[:0])):
        assert fig.axes
    sides = pd.DataFrame({"side": ["left", "left"], "fraction": [-0.1, 0.1], "px": [-2, 2], "score": [0.5, 0.7]})
    jitter = pd.DataFrame({"amplitude": [0, 5], "mean": [0.8, 0.7], "std": [0, 0.1], "min": [0.8, 0.5], "n": [1, 16]})
    assert PS.plot_box_curves(sides, jitter, title="t").axes


class CountingPredictor:
    """A batched stand-in model: a box alone gives the box (shrunk by one pixel on the right and bottom); a
    click, with or without the box, a 7x7 square around it (the "collapse"); counts its decode calls."""

    name = "fake"

    def __init__(self):
        self.decodes = 0

    def encode(self, image):
        return Embedding(model="fake", features={}, original_size=image.shape[:2], input_size=image.shape[:2])

    def decode(self, emb, *, points_xy=None, point_labels=None, box_xyxy=None, multimask=False, **_):
        self.decodes += 1
        n = len(points_xy) if points_xy is not None else len(box_xyxy)
        masks = np.zeros((n, 1, *emb.original_size), bool)
        for i in range(n):
            if points_xy is None:
                x0, y0, x1, y1 = np.asarray(box_xyxy[i], int)
                masks[i, 0, y0:y1, x0:x1] = True
            else:
                x, y = np.asarray(points_xy[i][0], int)
                masks[i, 0, max(y - 3, 0):y + 4, max(x - 3, 0):x + 4] = True
        return Prediction(masks=masks, scores=np.ones((n, 1)), logits=np.zeros((n, 1, 256, 256), np.float32))


def test_box_scores_of_a_map_with_the_box_are_its_own_decodes(monkeypatch):
    item = hand_item(0.0, 0.0).item
    item.gt[10:14, 12:16] = False  # a notch, so the box and the box + click score differently
    monkeypatch.setattr(PS, "build_items", lambda rows, **_: [GalleryItem(row=item.row, z=0, image=item.image,
                                                                          gt=item.gt)])
    got = {}
    for with_box in (False, True):
        pred = CountingPredictor()
        [s] = PS.sensitivity_items(pd.DataFrame([item.row]), n_per_side=8, with_box=with_box,
                                   predictors={"litemedsam": pred}, rng=np.random.default_rng(0))
        assert s.note == "" and s.map is not None
        got[with_box] = (s.box_score, s.box_click_score, pred.decodes)
    assert got[True][:2] == got[False][:2]  # identical numbers, read from the map's summary
    assert 0 < got[True][0] < 1 and got[True][0] != got[True][1]
    assert got[False][2] == 4 and got[True][2] == 3  # grid, centre (+ box for the map) [+ box, box + click]
