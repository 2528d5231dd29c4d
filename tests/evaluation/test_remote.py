"""Sweeps on a local Dask cluster with the fake predictor: same table as in process, and no lost or
duplicated work when a worker is killed mid-task, when a case kills every worker that runs it, or when
the driver itself is killed and restarted."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd

from samwidgets.evaluation import run_sweep

from .fakes import FakeManifest, FakePredictor, KillerCase, blob_image, fake_manifest, slow_manifest
from .tables import tables_equal

PROTOCOLS = ["box", "box_jitter", "point_iterative:3", "mazurowski:2"]
TESTS = Path(__file__).resolve().parents[1]


def sweep(manifest, **kw):
    return run_sweep([manifest], [FakePredictor()], PROTOCOLS, seed=3, progress=False, **kw)


def test_cluster_table_equals_in_process(dask_client, tmp_path):
    local = sweep(fake_manifest(tmp_path))
    remote = sweep(fake_manifest(tmp_path), client=dask_client, out=tmp_path / "r.parquet")
    assert tables_equal(remote, local)
    assert tables_equal(pd.read_parquet(tmp_path / "r.parquet"), local)
    # encode-once holds across workers: the same encoder calls as in process, one per distinct slice
    slices = local[local.error == ""][["case", "slice"]].drop_duplicates()
    assert remote.attrs["sweep"]["encoder_calls"] == local.attrs["sweep"]["encoder_calls"] == len(slices)
    assert remote.attrs["sweep"]["units"] == 4 and "local" not in remote.attrs["sweep"]["workers"]


def _kill_first_marker(marker_dir: Path, allowed_pids: set, killed: list, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for marker in marker_dir.iterdir():
            pid = int(marker.suffix[1:])
            if pid in allowed_pids:
                os.kill(pid, signal.SIGKILL)
                killed.append((marker.stem, pid))
                return
        time.sleep(0.05)


def test_worker_killed_mid_task_reruns_elsewhere(dask_client, tmp_path):
    reference = sweep(slow_manifest(tmp_path))
    markers = tmp_path / "markers"
    markers.mkdir()
    worker_pids = set(dask_client.run(os.getpid).values())
    killed: list = []
    killer = threading.Thread(target=_kill_first_marker, args=(markers, worker_pids, killed))
    killer.start()
    table = sweep(slow_manifest(tmp_path, marker_dir=str(markers), sleep=1.5), client=dask_client,
                  out=tmp_path / "r.parquet")
    killer.join()
    assert killed, "no worker was evaluating a case"
    case, pid = killed[0]
    # the killed case was started again by another worker process, and every row is there exactly once
    assert {int(m.suffix[1:]) for m in markers.glob(f"{case}.*")} - {pid}
    assert tables_equal(table, reference)
    assert not table.duplicated(["case", "label", "slice", "protocol", "step"]).any()


def test_case_killing_every_worker_becomes_error_rows(dask_client, tmp_path):
    good = fake_manifest(tmp_path)
    reference = sweep(good)
    bad = FakeManifest(good.path, [KillerCase("killer", *blob_image(7))] + good.cases)
    table = sweep(bad, client=dask_client)
    killer = table[table.case == "killer"]
    assert len(killer) == len(PROTOCOLS) and (killer.failure_type == "error").all()
    assert killer.error.str.contains("KilledWorker").all()
    others = table[table.case != "killer"].assign(case_index=lambda t: t.case_index - 1)
    assert tables_equal(others, reference)
    dask_client.wait_for_workers(2, timeout=120)


def test_cluster_restarted_mid_sweep_stops_with_a_typed_error_and_resumes(dask_client, tmp_path, monkeypatch):
    """Cancelled tasks are not the cases' fault: no error rows, the sweep stops, a rerun completes it."""
    import pytest

    from samwidgets.errors import EvaluationError
    from samwidgets.evaluation import runner

    reference = sweep(slow_manifest(tmp_path))
    monkeypatch.setattr(runner, "FLUSH_SECONDS", 0.0)
    out = tmp_path / "r.parquet"

    def restart_after_first_rows():
        deadline = time.monotonic() + 120
        while not out.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        dask_client.restart(wait_for_workers=False)

    restarter = threading.Thread(target=restart_after_first_rows)
    restarter.start()
    with pytest.raises(EvaluationError, match="cancelled the sweep's tasks"):
        sweep(slow_manifest(tmp_path, sleep=1.5), client=dask_client, out=out)
    restarter.join()
    partial = pd.read_parquet(out)
    assert (partial.error == "").all() and 0 < partial.case.nunique() < reference.case.nunique()
    dask_client.wait_for_workers(2, timeout=120)
    assert tables_equal(sweep(slow_manifest(tmp_path), client=dask_client, out=out), reference)


DRIVER = """
import sys
sys.path[:0] = [{repo!r}, {tests!r}]
from pathlib import Path
from evaluation.fakes import FakePredictor, slow_manifest
import samwidgets.evaluation.runner as runner
from samwidgets.evaluation import run_sweep

runner.FLUSH_SECONDS = 0.0
run_sweep([slow_manifest(Path({tmp!r}), sleep=1.5)], [FakePredictor()], {protocols!r}, seed=3, progress=False,
          out={out!r}, scheduler={address!r})
"""


def test_driver_killed_and_restarted_resumes(dask_client, tmp_path):
    reference = sweep(slow_manifest(tmp_path))
    out = tmp_path / "r.parquet"
    script = DRIVER.format(repo=str(TESTS.parent), tests=str(TESTS), tmp=str(tmp_path), protocols=PROTOCOLS,
                           out=str(out), address=dask_client.scheduler.address)
    driver = subprocess.Popen([sys.executable, "-c", script])
    try:
        deadline = time.monotonic() + 120
        while not out.exists() and driver.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        os.kill(driver.pid, signal.SIGKILL)
    finally:
        driver.wait()
    partial = pd.read_parquet(out)
    assert 0 < partial.case.nunique() < reference.case.nunique()
    resumed = sweep(slow_manifest(tmp_path), client=dask_client, out=out)
    assert tables_equal(resumed, reference)
    assert resumed.attrs["sweep"]["units"] == reference.case.nunique() - partial.case.nunique()
