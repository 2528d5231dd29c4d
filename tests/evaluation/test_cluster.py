"""Choosing where a sweep runs: the GPU of each local worker, the local cluster's configuration, and
arguments that cannot work (no cluster is started here)."""

from __future__ import annotations

import pytest

from samwidgets.errors import EvaluationError
from samwidgets.evaluation import cluster
from samwidgets.evaluation.cluster import local_cluster_config, open_client, worker_device


def test_worker_i_uses_gpu_i():
    assert [worker_device("cuda", i, 4) for i in range(4)] == ["cuda:0", "cuda:1", "cuda:2", "cuda:3"]
    assert worker_device("auto", 2, 4) == "cuda:2"
    # more workers than GPUs: round robin
    assert [worker_device("cuda", i, 2) for i in range(5)] == ["cuda:0", "cuda:1", "cuda:0", "cuda:1", "cuda:0"]


def test_device_kept_when_not_pinnable():
    assert worker_device("cpu", 3, 4) == "cpu"
    assert worker_device("cuda:1", 0, 4) == "cuda:1"  # an explicit GPU is honoured
    assert worker_device("mps", 1, 0) == "mps"
    assert worker_device("auto", 1, 0) == "auto"  # no GPU: auto picks as usual
    assert worker_device("cuda", None, 8) == "cuda"  # not a numbered local worker (e.g. a SLURM job)


def test_local_cluster_config_shares_the_cores():
    cfg = local_cluster_config(4, cpu_count=16, allowed_failures=5)
    assert cfg["distributed.nanny.pre-spawn-environ.OMP_NUM_THREADS"] == "4"
    assert cfg["distributed.scheduler.allowed-failures"] == 5
    assert local_cluster_config(8, cpu_count=2)["distributed.nanny.pre-spawn-environ.OMP_NUM_THREADS"] == "1"


def test_in_process_when_nothing_given():
    with open_client() as (client, pin):
        assert client is None and pin is False


@pytest.mark.parametrize("kw, match", [
    ({"workers": 2, "scheduler": "tcp://127.0.0.1:8786"}, "at most one"),
    ({"workers": 0}, "whole number >= 1"),
    ({"workers": "two"}, "whole number >= 1"),
    ({"workers": 1.5}, "whole number >= 1"),
    ({"client": object()}, "distributed.Client"),
])
def test_bad_choices_are_typed_errors(kw, match):
    with pytest.raises(EvaluationError, match=match):
        with open_client(**kw):
            pass


def test_unreachable_scheduler_is_a_typed_error(monkeypatch):
    monkeypatch.setattr(cluster, "CONNECT_TIMEOUT", "1s")
    with pytest.raises(EvaluationError, match="cannot connect to the Dask scheduler"):
        with open_client(scheduler="tcp://127.0.0.1:9"):
            pass
