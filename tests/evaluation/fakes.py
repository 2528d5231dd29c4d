"""A small deterministic fake predictor and in-memory cases for runner tests (no torch, no weights).

The fake "segments" by prompt geometry: a box fills its rectangle shrunk by one pixel; each positive
point adds a disk of radius 6, each negative point removes a disk of radius 4. Good enough to exercise
protocols, resumption and failure rows; the real-model sweep runs in test_sweep_sample.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from samwidgets.io.image import Image
from samwidgets.models.protocol import Embedding, Prediction


class FakePredictor:
    name = "fake"
    device = "cpu"
    supports_points = True
    supports_multimask = False

    def __init__(self, *, name: str = "fake", supports_points: bool = True):
        self.name = name
        self.supports_points = supports_points
        self.stats = {"encoder_calls": 0, "decoder_calls": 0}
        self.encoded: list[bytes] = []

    def encode(self, image):
        self.stats["encoder_calls"] += 1
        self.encoded.append(np.ascontiguousarray(image).tobytes()[:64])
        h, w = image.shape[:2]
        return Embedding(model=self.name, features={"n": len(self.encoded)}, original_size=(h, w),
                         input_size=(h, w))

    def decode(self, embedding, *, points_xy=None, point_labels=None, box_xyxy=None, mask_logits=None,
               multimask=False):
        self.stats["decoder_calls"] += 1
        h, w = embedding.original_size
        yy, xx = np.mgrid[:h, :w]
        mask = np.zeros((h, w), bool)
        if box_xyxy is not None:
            x0, y0, x1, y1 = np.asarray(box_xyxy, float)
            mask |= (xx >= x0 + 1) & (xx <= x1 - 1) & (yy >= y0 + 1) & (yy <= y1 - 1)
        if points_xy is not None:
            for (x, y), lab in zip(np.asarray(points_xy, float), np.asarray(point_labels)):
                r = 6 if lab else 4
                disk = (xx - x) ** 2 + (yy - y) ** 2 <= r * r
                mask = mask | disk if lab else mask & ~disk
        return Prediction(masks=mask[None], scores=np.ones(1), logits=np.zeros((1, 256, 256), np.float32))


@dataclass
class FakeCase:
    case_id: str
    image: Image | None
    labels: dict | None
    dataset: str = "fake"
    modality: str = "CT"
    anatomy: str = "abdomen"

    @property
    def key(self) -> str:
        return f"{self.dataset}/{self.case_id}"

    def load(self):
        if self.image is None:
            raise OSError(f"cannot read {self.case_id}.nii.gz")
        return self.image, self.labels


@dataclass
class FakeManifest:
    path: Path
    cases: list = field(default_factory=list)


def blob_volume(seed: int, *, depth=4, size=48):
    rng = np.random.default_rng(seed)
    vol = rng.integers(0, 60, (depth, size, size)).astype(np.uint8)
    lab = np.zeros((depth, size, size), bool)
    for z in range(1, depth - 1):
        r = int(rng.integers(6, 12))
        cy, cx = rng.integers(14, size - 14, 2)
        yy, xx = np.mgrid[:size, :size]
        lab[z] = (yy - cy) ** 2 / r ** 2 + (xx - cx) ** 2 / (r + 3) ** 2 <= 1
    vol[lab] += 150
    return Image(array=vol, spacing=(3.0, 0.8, 0.8)), {"lesion": lab}


def blob_image(seed: int, *, size=40):
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 60, (size, size, 3)).astype(np.uint8)
    lab = np.zeros((size, size), bool)
    lab[8:8 + int(rng.integers(10, 20)), 10:30] = True
    other = np.zeros((size, size), bool)
    other[30:36, 2:8] = True
    return Image(array=img, spacing=(1.0, 1.0)), {"polyp": lab, "tool": other}


def fake_manifest(tmp_path: Path, *, broken: bool = False) -> FakeManifest:
    cases = [FakeCase(f"vol{i}", *blob_volume(i)) for i in range(2)]
    cases += [FakeCase(f"img{i}", *blob_image(i), modality="Endoscopy") for i in range(2)]
    if broken:
        cases.insert(1, FakeCase("broken", None, None))
    return FakeManifest(tmp_path / "fake.yaml", cases)


@dataclass
class SlowCase(FakeCase):
    """A case whose load() writes ``<marker_dir>/<case_id>.<pid>`` and then sleeps ``sleep`` seconds, so a
    test can find the process evaluating it and kill it mid-task."""

    marker_dir: str = ""
    sleep: float = 0.0

    def load(self):
        import os
        import time

        if self.marker_dir:
            Path(self.marker_dir, f"{self.case_id}.{os.getpid()}").touch()
        time.sleep(self.sleep)
        return super().load()


@dataclass
class KillerCase(FakeCase):
    """A case whose load() kills the process loading it (SIGKILL): a worker that dies on every attempt.
    Never load it in the test process."""

    def load(self):
        import os
        import signal

        os.kill(os.getpid(), signal.SIGKILL)


def slow_manifest(tmp_path: Path, *, marker_dir: str = "", sleep: float = 0.0) -> FakeManifest:
    """:func:`fake_manifest`'s cases as :class:`SlowCase` objects (same ids, images and labels)."""
    cases = [SlowCase(c.case_id, c.image, c.labels, modality=c.modality, marker_dir=marker_dir, sleep=sleep)
             for c in fake_manifest(tmp_path).cases]
    return FakeManifest(tmp_path / "fake.yaml", cases)
