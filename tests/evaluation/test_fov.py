"""A case's field of view restricts the scoring: predictions outside it do not count (issue 14)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image as PILImage

from .fakes import FakePredictor
from samwidgets.evaluation import parse_protocol
from samwidgets.evaluation.unit import evaluate_case
from samwidgets.models.protocol import Prediction


class EverythingPredictor(FakePredictor):
    """Predicts the whole image whatever the prompt: every pixel outside the field of view is a false positive
    unless the field of view removes it."""

    def decode(self, embedding, **kwargs):
        h, w = embedding.original_size
        return Prediction(masks=np.ones((1, h, w), bool), scores=np.ones(1), logits=np.zeros((1, 256, 256), np.float32))


def _manifest(tmp_path, *, fov: bool):
    img = np.zeros((40, 40), np.uint8)
    img[10:20, 5:15] = 200
    gt = np.zeros((40, 40), np.uint8)
    gt[10:20, 5:15] = 255
    gt[30:32, 30:36] = 255  # a label part outside the field of view: dropped from the ground truth
    field = np.zeros((40, 40), np.uint8)
    field[:, :25] = 255
    for name, arr in (("img.png", img), ("gt.png", gt), ("fov.png", field)):
        PILImage.fromarray(arr).save(tmp_path / name)
    text = ("dataset: toy\nmodality: fundus\nanatomy: x\nlicence: CC0\ncitation: x\nroot: .\npreset: rgb\n"
            "label: {type: threshold, threshold: 127, name: thing}\n"
            f"cases:\n  - {{id: a, image: img.png, label: gt.png{', fov: fov.png' if fov else ''}}}\n")
    (tmp_path / "m.yaml").write_text(text)
    return tmp_path / "m.yaml"


@pytest.mark.parametrize("with_fov", [True, False])
def test_scores_count_only_the_field_of_view(tmp_path, with_fov):
    from samwidgets.manifest import load_manifest

    case = load_manifest(_manifest(tmp_path, fov=with_fov)).case("a")
    image, labels = case.load()
    gt = labels["thing"]
    assert gt.sum() == (100 if with_fov else 112)
    rows = evaluate_case("everything", EverythingPredictor(), [parse_protocol("box")], {"model": "everything"},
                         case.key, image, labels, 0)
    scored = [r for r in rows if r.get("failure_type") not in ("error", "skipped")]
    assert scored, rows
    predicted = 40 * 25 if with_fov else 40 * 40
    expected = 2 * gt.sum() / (gt.sum() + predicted)  # Dice computed by hand
    assert scored[0]["dice"] == pytest.approx(expected)
