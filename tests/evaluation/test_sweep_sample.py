"""A real sweep with LiteMedSAM over the embedded sample (data_manifests/sample.yaml).

Kept small for CI: the last case of each dataset whose images have at most two labels (one 3D CT volume
and four 2D images; the 15-label spine slices are left out), protocols box, point_iterative:3 and
propagate_box_3d.
"""

from __future__ import annotations

import json

import pytest

from samwidgets.evaluation import COLUMNS, run_sweep

from .fakes import FakeManifest
from .tables import tables_equal

PROTOCOLS = ["box", "point_iterative:3", "propagate_box_3d"]


@pytest.fixture(scope="module")
def sample_sweep(repo_root, tmp_path_factory):
    from samwidgets.manifest import load_manifest
    from samwidgets.models import load
    from samwidgets.models.cache import EmbeddingCache

    manifest = load_manifest(repo_root / "data_manifests" / "sample.yaml")
    chosen = {}
    for case in manifest.cases:
        if case.dataset != "spider":
            chosen[case.dataset] = case
    subset = FakeManifest(manifest.path, list(chosen.values()))
    cache_dir = tmp_path_factory.mktemp("cache")
    pred = load("litemedsam", device="cpu", cache=EmbeddingCache(cache_dir))
    out = tmp_path_factory.mktemp("sweep") / "results.parquet"
    table = run_sweep([subset], [pred], PROTOCOLS, out=out, seed=1, progress=False)
    return subset, table, pred, out, cache_dir


def test_rows_for_every_case(sample_sweep):
    subset, table, _, _, _ = sample_sweep
    assert list(table.columns) == list(COLUMNS)
    assert set(table.case) == {c.case_id for c in subset.cases}
    assert (table.failure_type != "error").all(), table[table.error != ""].error.tolist()
    ok = table[table.error == ""]
    assert set(ok.dataset) == {c.dataset for c in subset.cases}
    it = ok[ok.protocol == "point_iterative:3"]
    assert (it.n_points <= it.step).all() and set(it.step) == {1, 2, 3}
    vol = ok[ok.protocol == "propagate_box_3d"]
    assert len(vol) >= 1 and (vol.slice == -1).all()
    # a LiteMedSAM box on these (mostly single-object) images is a reasonable segmentation
    assert ok[ok.protocol == "box"].dice.mean() > 0.5


def encoded_slices(table) -> set:
    """(case, z) of every slice a sweep had to encode: per-slice rows and the z range of 3D chaining."""
    ok = table[table.error == ""]
    slices = {(r.case, int(r.slice)) for r in ok[ok.slice >= 0].itertuples()}
    for r in ok[ok.slice < 0].itertuples():
        box = json.loads(r.prompt_log)["box3d"]
        slices |= {(r.case, z) for z in range(int(box[2]), int(box[5]) + 1)}
    return slices


def test_each_slice_encoded_once(sample_sweep):
    _, table, pred, _, _ = sample_sweep
    assert pred.stats["encoder_calls"] == len(encoded_slices(table))


def test_rerun_hits_disk_cache_and_is_identical(sample_sweep, tmp_path):
    from samwidgets.models import load
    from samwidgets.models.cache import EmbeddingCache

    subset, table, _, _, cache_dir = sample_sweep
    pred = load("litemedsam", device="cpu", cache=EmbeddingCache(cache_dir))
    again = run_sweep([subset], [pred], ["box"], out=tmp_path / "again.parquet", seed=1, progress=False)
    assert pred.stats["encoder_calls"] == 0 and pred.stats["cache_hits"] > 0
    assert tables_equal(again, table[table.protocol == "box"])


def test_two_worker_cluster_gives_the_in_process_table(sample_sweep, dask_client, tmp_path):
    """Same seed, same table on a 2-worker LocalCluster; each slice encoded once cluster-wide; both
    workers write into one embedding cache folder."""
    subset, table, _, _, _ = sample_sweep
    cache_dir = tmp_path / "shared-cache"
    remote = run_sweep([subset], ["litemedsam"], PROTOCOLS, seed=1, device="cpu", cache=cache_dir,
                       client=dask_client, out=tmp_path / "r.parquet", progress=False)
    assert tables_equal(remote, table)
    stats = remote.attrs["sweep"]
    assert stats["units"] == len(subset.cases) and len(stats["workers"]) == 2, stats
    assert stats["encoder_calls"] == len(encoded_slices(table))
    assert len(list(cache_dir.glob("*/*.swe"))) == len(encoded_slices(table))


def test_task_failing_on_the_workers_becomes_error_rows(sample_sweep, dask_client):
    """The model cannot be loaded on the workers (no GPU there): every unit is an error row saying so."""
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    subset, _, _, _, _ = sample_sweep
    first = FakeManifest(subset.path, subset.cases[:2])
    table = run_sweep([first], ["litemedsam"], ["box", "point"], seed=1, device="cuda", client=dask_client,
                      progress=False)
    assert len(table) == 4 and (table.failure_type == "error").all()
    assert table.error.str.startswith("ModelError").all() and table.error.str.contains("cuda").all()
