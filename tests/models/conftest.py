"""Session fixtures for the model tests: the real LiteMedSAM predictor (bundled weights) and the four
CVPR24 CT lesion cases, each reduced to its largest-lesion slice and encoded once per session.

``litemedsam``        LiteMedSAMPredictor on the CPU, default backend ("auto": ONNX Runtime encoder,
                      exported once per session into a temporary folder, else torch).
``litemedsam_torch``  the same network with the eager torch encoder (no second weight load).
``ct_lesion_slices``  list of dicts: name, image (512, 512) uint8, gt (512, 512) bool, box (4,) tight GT
                      box xyxy pixels, z, embedding (from ``litemedsam``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

CT_LESION_GLOB = "ct_lesion_3d/**/*.npz"


def tight_box(mask: np.ndarray) -> np.ndarray:
    """Tight xyxy box (pixels, inclusive max) of a (H, W) mask, as the CVPR24 npz boxes."""
    ys, xs = np.nonzero(mask)
    return np.array([xs.min(), ys.min(), xs.max(), ys.max()], dtype=np.float64)


def ct_lesion_files(shared_data: Path) -> list[Path]:
    files = sorted(shared_data.glob(CT_LESION_GLOB))
    assert len(files) == 4, f"expected the 4 CT lesion npz cases, found {[f.name for f in files]}"
    return files


@pytest.fixture(scope="session")
def litemedsam(tmp_path_factory):
    """The real LiteMedSAM predictor (bundled lite_medsam.pth), CPU, default encoder backend."""
    import samwidgets.models as models

    return models.load("litemedsam", device="cpu", onnx_directory=tmp_path_factory.mktemp("onnx"))


@pytest.fixture(scope="session")
def litemedsam_torch(litemedsam):
    """A second predictor over the same network, eager torch encoder."""
    from samwidgets.models.litemedsam import LiteMedSAMPredictor

    return LiteMedSAMPredictor(litemedsam.net, device="cpu", weights_id=litemedsam.weights_id, backend="torch")


@pytest.fixture(scope="session")
def ct_lesion_slices(shared_data, litemedsam):
    """The largest-lesion slice of each CT lesion case, its GT, tight GT box and samwidgets embedding."""
    out = []
    for path in ct_lesion_files(shared_data):
        with np.load(path) as npz:
            imgs, gts = npz["imgs"], npz["gts"] > 0
        z = int(np.argmax(gts.sum(axis=(1, 2))))
        image, gt = imgs[z], gts[z]
        out.append({"name": path.name, "z": z, "image": image, "gt": gt, "box": tight_box(gt),
                    "embedding": litemedsam.encode(image)})
    return out
