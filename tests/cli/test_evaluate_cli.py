"""``samwidgets evaluate``: bad names list the valid ones; a small real sweep writes and resumes the table."""

from __future__ import annotations

import pandas as pd

from samwidgets.cli import main
from samwidgets.evaluation import COLUMNS

from evaluation.tables import tables_equal



def test_unknown_protocol_lists_valid_ones(capsys, tmp_path):
    code = main(["evaluate", "--manifest", "nowhere.yaml", "--model", "litemedsam",
                 "--protocol", "clicks:3", "--out", str(tmp_path / "r.parquet")])
    err = capsys.readouterr().err
    assert code == 2 and "unknown protocol 'clicks:3'" in err and "point_iterative:N" in err


def test_unknown_model_lists_valid_ones(capsys, tmp_path):
    code = main(["evaluate", "--manifest", "nowhere.yaml", "--model", "sam3",
                 "--protocol", "box", "--out", str(tmp_path / "r.parquet")])
    err = capsys.readouterr().err
    assert code == 2 and "unknown model 'sam3'" in err and "litemedsam" in err


def test_missing_manifest_is_one_line(capsys, tmp_path):
    code = main(["evaluate", "--manifest", str(tmp_path / "nowhere.yaml"), "--model", "litemedsam",
                 "--protocol", "box", "--out", str(tmp_path / "r.parquet")])
    err = capsys.readouterr().err
    assert code == 2 and "nowhere.yaml" in err and "Traceback" not in err


def test_sample_sweep_writes_and_resumes(repo_root, tmp_path, capsys):
    manifest = repo_root / "data_manifests" / "sample.yaml"  # the embedded sample: no shared data needed
    out = tmp_path / "results.parquet"
    args = ["evaluate", "--manifest", str(manifest), "--model", "litemedsam", "--protocol", "box",
            "--protocol", "point_iterative:3", "--max-cases", "1", "--device", "cpu",
            "--cache-dir", str(tmp_path / "cache"), "--out", str(out), "--no-progress"]
    assert main(args) == 0
    first = pd.read_parquet(out)
    assert list(first.columns) == list(COLUMNS)
    assert set(first.protocol) == {"box", "point_iterative:3"}
    assert "mean Dice" in capsys.readouterr().out
    assert main(args) == 0  # resumes: nothing to do, same table
    assert tables_equal(pd.read_parquet(out), first)


def test_workers_2_runs_on_a_local_cluster_and_writes_the_same_table(busi_pair_manifest, tmp_path, capsys):
    """Two 2D cases of the embedded sample: --workers 2 gives the in-process table and prints the dashboard."""
    manifest = busi_pair_manifest
    common = ["evaluate", "--manifest", str(manifest), "--model", "litemedsam", "--protocol", "box",
              "--protocol", "point", "--device", "cpu", "--no-progress"]
    assert main([*common, "--out", str(tmp_path / "local.parquet")]) == 0
    capsys.readouterr()
    assert main([*common, "--workers", "2", "--out", str(tmp_path / "cluster.parquet")]) == 0
    err = capsys.readouterr().err
    assert "Dask cluster: 2 worker(s), scheduler tcp://127.0.0.1:" in err and "dashboard http://127.0.0.1:" in err
    local, cluster = pd.read_parquet(tmp_path / "local.parquet"), pd.read_parquet(tmp_path / "cluster.parquet")
    assert len(local) == 4 and (local.error == "").all()
    assert tables_equal(cluster, local)


def test_workers_and_scheduler_exclude_each_other(capsys, tmp_path):
    code = None
    try:
        code = main(["evaluate", "--manifest", "m.yaml", "--model", "litemedsam", "--protocol", "box",
                     "--out", str(tmp_path / "r.parquet"), "--workers", "2", "--scheduler", "tcp://127.0.0.1:8786"])
    except SystemExit as exc:  # argparse refuses the pair before anything runs
        code = exc.code
    assert code == 2 and "not allowed with argument" in capsys.readouterr().err
