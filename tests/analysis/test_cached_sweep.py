from pathlib import Path

import numpy as np
import pytest

import samwidgets.evaluation as evaluation
from samwidgets.evaluation.table import COLUMNS
from samwidgets.analysis.cached_sweep import first_cases_per_dataset, load_or_run, sweep_key
from .synthetic import synthetic_results
from samwidgets.errors import EvaluationError

SAMPLE = Path(__file__).resolve().parents[2] / "data_manifests" / "sample.yaml"


@pytest.fixture()
def fake_sweep(monkeypatch):
    calls = []

    def run_sweep(manifests, models, protocols, *, out=None, max_cases=None, seed=0, device="auto", cache=None,
                  progress=True, workers=None, scheduler=None, client=None):
        calls.append({"manifests": manifests, "models": models, "max_cases": max_cases, "cache": cache,
                      "workers": workers, "scheduler": scheduler, "client": client})
        df = synthetic_results(rng=np.random.default_rng(seed), n_cases=2)
        df.to_parquet(out)
        return df

    monkeypatch.setattr(evaluation, "run_sweep", run_sweep)
    return calls


def test_where_the_sweep_runs_is_passed_on_and_not_part_of_the_key(fake_sweep, tmp_path):
    args = ([str(SAMPLE)], ["litemedsam"], ["box"])
    first = load_or_run(*args, max_cases=1, seed=0, cache_dir=tmp_path, workers=2)
    assert fake_sweep[0]["workers"] == 2 and fake_sweep[0]["scheduler"] is None
    # the same table wherever it was computed: an in-process report reuses the cluster's table
    again = load_or_run(*args, max_cases=1, seed=0, cache_dir=tmp_path, scheduler="tcp://127.0.0.1:8786")
    assert again.reused and again.key == first.key and len(fake_sweep) == 1


def test_same_parameters_reuse_the_table(fake_sweep, tmp_path):
    args = ([str(SAMPLE)], ["litemedsam"], ["box"])
    first = load_or_run(*args, max_cases=1, seed=0, cache_dir=tmp_path)
    second = load_or_run(*args, max_cases=1, seed=0, cache_dir=tmp_path)
    assert not first.reused and second.reused and len(fake_sweep) == 1
    assert first.path == second.path == tmp_path / "results" / f"{first.key}.parquet"
    assert list(second.results.columns) == list(COLUMNS)
    assert len(second.results) == len(first.results)
    assert "reused" in second.describe() and "new sweep" in first.describe()
    # the sweep got the per-dataset selection and the embedding cache under the same root
    (manifest,) = fake_sweep[0]["manifests"]
    assert fake_sweep[0]["max_cases"] is None
    assert len({c.dataset for c in manifest.cases}) == len(manifest.cases)
    assert Path(fake_sweep[0]["cache"].directory) == tmp_path / "embeddings"
    load_or_run(*args, max_cases=1, seed=1, cache_dir=tmp_path)  # another seed is another sweep
    assert len(fake_sweep) == 2


def test_existing_results_file_is_used_as_is(fake_sweep, tmp_path):
    path = tmp_path / "mine.parquet"
    synthetic_results(rng=np.random.default_rng(0), n_cases=1).to_parquet(path)
    out = load_or_run(None, None, None, results=str(path))
    assert out.reused and out.path == path and not fake_sweep


def test_nothing_to_do_is_a_typed_error(tmp_path):
    with pytest.raises(EvaluationError, match="at least one manifest"):
        load_or_run([], ["litemedsam"], ["box"], cache_dir=tmp_path)


def test_sweep_key_follows_manifest_content(tmp_path):
    m = tmp_path / "m.yaml"
    m.write_text("a: 1\n")
    k1 = sweep_key([str(m)], ["x"], ["box"], max_cases=1, seed=0)
    assert k1 == sweep_key([str(m)], ["x"], ["box"], max_cases=1, seed=0)
    assert k1 != sweep_key([str(m)], ["x"], ["box"], max_cases=2, seed=0)
    m.write_text("a: 2\n")
    assert k1 != sweep_key([str(m)], ["x"], ["box"], max_cases=1, seed=0)


def test_first_cases_per_dataset_on_the_sample():
    (everything,) = first_cases_per_dataset([str(SAMPLE)], None)
    (one,) = first_cases_per_dataset([str(SAMPLE)], 1)
    (two,) = first_cases_per_dataset([str(SAMPLE)], 2)
    datasets = {c.dataset for c in everything.cases}
    assert len(one.cases) == len(datasets) >= 5
    assert len(two.cases) == sum(min(2, sum(c.dataset == d for c in everything.cases)) for d in datasets)
    firsts = {}
    for c in everything.cases:
        firsts.setdefault(c.dataset, c.key)
    assert [c.key for c in one.cases] == list(firsts.values())


def test_only_3d_keeps_volumes():
    (vols,) = first_cases_per_dataset([str(SAMPLE)], None, only_3d=True)
    assert vols.cases and all(c.dims == 3 for c in vols.cases)
    assert sweep_key([str(SAMPLE)], ["m"], ["box"], max_cases=1, seed=0, only_3d=True) != \
        sweep_key([str(SAMPLE)], ["m"], ["box"], max_cases=1, seed=0)
