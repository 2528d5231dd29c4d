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


def test_each_slice_encoded_once(sample_sweep):
    _, table, pred, _, _ = sample_sweep
    ok = table[table.error == ""]
    slices = {(r.case, int(r.slice)) for r in ok[ok.slice >= 0].itertuples()}
    for r in ok[ok.slice < 0].itertuples():
        box = json.loads(r.prompt_log)["box3d"]
        slices |= {(r.case, z) for z in range(int(box[2]), int(box[5]) + 1)}
    assert pred.stats["encoder_calls"] == len(slices)


def test_rerun_hits_disk_cache_and_is_identical(sample_sweep, tmp_path):
    from samwidgets.models import load
    from samwidgets.models.cache import EmbeddingCache

    subset, table, _, _, cache_dir = sample_sweep
    pred = load("litemedsam", device="cpu", cache=EmbeddingCache(cache_dir))
    again = run_sweep([subset], [pred], ["box"], out=tmp_path / "again.parquet", seed=1, progress=False)
    assert pred.stats["encoder_calls"] == 0 and pred.stats["cache_hits"] > 0
    assert tables_equal(again, table[table.protocol == "box"])
