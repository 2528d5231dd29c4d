"""Session fixtures for the evaluation tests that need a real model and real data: the LiteMedSAM predictor
(bundled weights, CPU, in-memory embedding cache) and one shared CT lesion volume."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="session")
def litemedsam_cpu():
    from samwidgets.models import load
    from samwidgets.models.cache import EmbeddingCache

    return load("litemedsam", device="cpu", cache=EmbeddingCache(memory_bytes=256 << 20, disk=False))


@pytest.fixture(scope="session")
def ct_lesion_case(shared_data):
    """The first CVPR24 CT lesion npz: imgs (z, y, x) uint8, gt (z, y, x) bool, spacing in (z, y, x) mm,
    and z of the slice with the most lesion pixels."""
    files = sorted(shared_data.glob("ct_lesion_3d/**/CT_Lesion_*.npz"))
    assert files, "no CT lesion npz in the shared data"
    with np.load(files[0]) as npz:
        imgs, gt, spacing = npz["imgs"], npz["gts"] > 0, tuple(float(s) for s in npz["spacing"][::-1])
    return {"name": files[0].name, "imgs": imgs, "gt": gt, "spacing": spacing,
            "z": int(np.argmax(gt.sum(axis=(1, 2))))}
