"""Session fixtures for the evaluation tests that need a real model and real data: the LiteMedSAM predictor
(bundled weights, CPU, in-memory embedding cache) and one shared CT lesion volume.

The local Dask cluster (2 worker processes on 127.0.0.1) is shared by every test of tests/evaluation that
needs one: starting it costs seconds. Its scheduler fails a task after 2 worker deaths (allowed failures
1) so the crash test stays short; tests that kill workers wait for both to be back."""

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


@pytest.fixture(scope="package")
def dask_cluster():
    from samwidgets.evaluation.cluster import local_cluster

    with local_cluster(2, allowed_failures=1, dashboard_address=None) as cluster:
        yield cluster


@pytest.fixture
def dask_client(dask_cluster):
    """A Client of the shared cluster with both workers up."""
    from distributed import Client

    client = Client(dask_cluster)
    client.wait_for_workers(2, timeout=120)
    yield client
    client.close()
