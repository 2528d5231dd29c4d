"""Real SAM / MedSAM / SAM2 architectures at RANDOM weights, shared by the model tests.

The official checkpoints cannot be downloaded in CI, so the tests build the real networks with random
initial weights, save their state dicts to files (SAM: a plain state dict; SAM2: ``{"model": sd}`` as the
official files) and load them back through ``samwidgets.models.load(name, checkpoint=PATH)``.

Everything here is memoised per process (not per test module), so however many test modules use it,
each checkpoint is written once and each model encodes the test slice once (SAM ViT-B ~35 s, SAM2-T ~5 s
on a CPU). Test modules wrap these helpers in thin session fixtures.

The test slice is a real CT lesion slice (CVPR24 npz, already windowed uint8), cropped to a non-square
(320, 440) so that resizing and coordinate mapping are exercised.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

CT_CASE = "ct_lesion_3d/deeplesion-medsam2/CT_Lesion_000001_02_01_008-023.npz"
CROP = (slice(96, 416), slice(40, 480))  # (y, x) -> (320, 440)
RANDOM_MODELS = ("sam_vit_b", "medsam", "sam2_t")

_MEMO: dict = {}


def _memo(key, make):
    if key not in _MEMO:
        _MEMO[key] = make()
    return _MEMO[key]


def _tmpdir(tmp_path_factory, name: str) -> Path:
    return _memo(("dir", name), lambda: tmp_path_factory.mktemp(name))


def ct_case(shared_data: Path) -> dict:
    """The CT lesion case: imgs (D, H, W) uint8, gts (D, H, W) uint8."""
    def make():
        with np.load(shared_data / CT_CASE) as d:
            return {"imgs": d["imgs"].copy(), "gts": d["gts"].copy()}
    return _memo(("case",), make)


def ct_slice(shared_data: Path) -> tuple[np.ndarray, np.ndarray]:
    """(image (320, 440) uint8, lesion box xyxy pixels of that crop, as float32 (4,))."""
    def make():
        case = ct_case(shared_data)
        z = int(np.nonzero(case["gts"].any(axis=(1, 2)))[0].mean())
        img = np.ascontiguousarray(case["imgs"][z][CROP])
        gt = case["gts"][z][CROP] > 0
        ys, xs = np.nonzero(gt)
        box = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], dtype=np.float32)
        return img, box
    return _memo(("slice",), make)


def checkpoint_file(name: str, tmp_path_factory) -> Path:
    """A random-weight checkpoint for ``name`` (sam_vit_b and medsam share one ViT-B file)."""
    import torch

    arch = {"sam_vit_b": "vit_b", "medsam": "vit_b", "sam2_t": "sam2.1_hiera_t"}[name]

    def make():
        folder = _tmpdir(tmp_path_factory, "random_ckpt")
        if arch.startswith("sam2"):
            from samwidgets.models.sam2 import build_network

            path = folder / "sam2_t_random.pt"
            torch.save({"model": build_network(arch).state_dict()}, path)
        else:
            from samwidgets.models.sam import build_network

            path = folder / f"{arch}_random.pth"
            torch.save(build_network(arch).state_dict(), path)
        return path
    return _memo(("ckpt", arch), make)


@dataclass
class Encoded:
    """A loaded random-weight predictor whose disk cache holds the test slice's embedding."""

    name: str
    predictor: object
    image: np.ndarray
    box: np.ndarray
    embedding: object  # from the encoder itself (the uncached path)
    cache_dir: Path
    checkpoint: Path


def encoded(name: str, tmp_path_factory, shared_data: Path) -> Encoded:
    """Load ``name`` at random weights with a disk EmbeddingCache and encode the CT slice once."""
    def make():
        from samwidgets.models import load
        from samwidgets.models.cache import EmbeddingCache

        ckpt = checkpoint_file(name, tmp_path_factory)
        cache_dir = _tmpdir(tmp_path_factory, f"cache_{name.replace('+', 'p')}")
        cache = EmbeddingCache(cache_dir, memory_bytes=0)  # every hit is a disk round trip
        pred = load(name, checkpoint=ckpt, device="cpu", cache=cache)
        img, box = ct_slice(shared_data)
        emb = pred.encode(img)
        assert pred.stats["encoder_calls"] == 1
        return Encoded(name, pred, img, box, emb, cache_dir, ckpt)
    return _memo(("encoded", name), make)
