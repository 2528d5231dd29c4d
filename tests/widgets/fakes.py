"""A small deterministic predictor for Session logic tests (no torch).

Masks: a disk of radius 10 px around each positive point, minus a disk of radius 6 px around each
negative point, OR the filled box. With multimask (one point only): three disks of radius 5, 10, 20 with
scores 0.5, 0.9, 0.7.
"""

from __future__ import annotations

import numpy as np

from samwidgets.errors import ModelError
from samwidgets.models.protocol import Embedding, Prediction


def disk(shape, x, y, r):
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return (xx - x) ** 2 + (yy - y) ** 2 <= r * r


class FakePredictor:
    name = "fake"
    device = "cpu"
    supports_points = True

    def __init__(self, *, multimask=False):
        self.supports_multimask = multimask
        self.encoded: list[int] = []
        self.decode_calls = 0
        self.fail_decode = False

    def encode(self, image):
        image = np.asarray(image)
        self.encoded.append(int(image.sum()) % 100003)
        return Embedding(model=self.name, features={"image": image}, original_size=image.shape[:2],
                         input_size=image.shape[:2])

    def decode(self, emb, *, points_xy=None, point_labels=None, box_xyxy=None, mask_logits=None, multimask=False):
        if self.fail_decode:
            raise ModelError("fake decoder failure", where=self.name)
        self.decode_calls += 1
        shape = emb.original_size
        batched = points_xy is not None and np.asarray(points_xy).ndim == 3
        if batched:  # segment-everything: (B, 1, 2)
            preds = [self.decode(emb, points_xy=p, point_labels=l, multimask=multimask)
                     for p, l in zip(points_xy, point_labels)]
            return Prediction(masks=np.stack([p.masks for p in preds]), scores=np.stack([p.scores for p in preds]),
                              logits=np.stack([p.logits for p in preds]))
        if box_xyxy is not None and np.asarray(box_xyxy).ndim == 2:  # batched boxes (B, 4), as 3D chaining
            preds = [self.decode(emb, box_xyxy=b, multimask=False) for b in np.asarray(box_xyxy)]
            return Prediction(masks=np.stack([p.masks for p in preds]), scores=np.stack([p.scores for p in preds]),
                              logits=np.stack([p.logits for p in preds]))
        pts = [] if points_xy is None else np.asarray(points_xy).reshape(-1, 2)
        labs = [] if point_labels is None else np.asarray(point_labels).reshape(-1)
        if multimask and self.supports_multimask and len(pts) == 1 and box_xyxy is None:
            x, y = pts[0]
            masks = np.stack([disk(shape, x, y, r) for r in (5, 10, 20)])
            return Prediction(masks=masks, scores=np.array([0.5, 0.9, 0.7]), logits=np.zeros((3, 256, 256), np.float32))
        m = np.zeros(shape, bool)
        for (x, y), l in zip(pts, labs):
            if l == 1:
                m |= disk(shape, x, y, 10)
        for (x, y), l in zip(pts, labs):
            if l == 0:
                m &= ~disk(shape, x, y, 6)
        if box_xyxy is not None:
            x0, y0, x1, y1 = np.asarray(box_xyxy).astype(int)
            m[y0:y1 + 1, x0:x1 + 1] = True
        return Prediction(masks=m[None], scores=np.array([0.8]), logits=np.zeros((1, 256, 256), np.float32))
