"""Where a sweep runs: in this process, on a local Dask cluster it starts, or on an existing Dask cluster.

* ``workers=N``: a :class:`distributed.LocalCluster` of N worker processes (one thread each) on 127.0.0.1,
  started for the sweep and closed after it. Its scheduler marks a task failed (``KilledWorker``) once
  ``ALLOWED_FAILURES + 1`` workers died while running it, so a case that crashes its worker becomes error
  rows instead of stalling the sweep; it hands a worker one task at a time, so a crash only marks the case
  that caused it. Torch in each worker gets ``cpu_count // N`` threads.
* ``scheduler="tcp://host:port"``: connect to a running cluster (``dask scheduler`` + ``dask worker``,
  dask-jobqueue, Kubernetes ...); its own configuration (allowed failures, threads) applies.
* ``client=``: a :class:`distributed.Client` the caller made (e.g. a notebook's); left open after the sweep.
* none of them: in this process, as before.

GPUs: with ``workers=N`` and device ``cuda`` (or ``auto`` on a machine with CUDA), worker i uses
``cuda:{i mod number of GPUs}`` (:func:`worker_device`), i.e. one worker per GPU with ``--workers`` equal to
the GPU count. Workers of an existing cluster keep the device as given: there each job or
``dask worker --nworkers`` process is expected to see its own GPU (SLURM and dask-cuda set
CUDA_VISIBLE_DEVICES per worker), so ``cuda`` means that GPU.
"""

from __future__ import annotations

import logging
import os
from contextlib import contextmanager

from samwidgets.errors import EvaluationError

#: a task is failed (KilledWorker -> error rows) when ALLOWED_FAILURES + 1 workers died running it
ALLOWED_FAILURES = 2
#: where the local cluster's dashboard listens (a free port is chosen when this one is taken)
DASHBOARD_ADDRESS = "127.0.0.1:8787"
#: seconds to wait for an existing scheduler to answer
CONNECT_TIMEOUT = "20s"
#: how long a local cluster waits for a dead worker to come back before dropping it
LOST_WORKER_TIMEOUT = "10 minutes"


def worker_device(device: str, index: int | None, n_gpus: int) -> str:
    """The torch device worker number ``index`` of a local cluster uses: ``cuda:{index % n_gpus}`` when
    ``device`` is "cuda" or "auto" and there are GPUs; otherwise ``device`` unchanged (also an explicit
    "cuda:1", "cpu" or "mps", and when ``index`` is None, i.e. not a numbered local worker)."""
    if index is None or n_gpus <= 0 or device not in ("cuda", "auto"):
        return device
    return f"cuda:{int(index) % int(n_gpus)}"


def local_cluster_config(n_workers: int, *, cpu_count: int | None = None,
                         allowed_failures: int = ALLOWED_FAILURES) -> dict:
    """The Dask configuration a sweep's LocalCluster starts under (see the module docstring)."""
    cpus = int(cpu_count or os.cpu_count() or 1)
    threads = str(max(1, cpus // int(n_workers)))
    return {
        "distributed.scheduler.allowed-failures": int(allowed_failures),
        "distributed.scheduler.worker-saturation": 1.0,
        "distributed.deploy.lost-worker-timeout": LOST_WORKER_TIMEOUT,
        "distributed.nanny.pre-spawn-environ.OMP_NUM_THREADS": threads,
        "distributed.nanny.pre-spawn-environ.MKL_NUM_THREADS": threads,
        "distributed.nanny.pre-spawn-environ.OPENBLAS_NUM_THREADS": threads,
    }


@contextmanager
def local_cluster(n_workers: int, *, allowed_failures: int = ALLOWED_FAILURES,
                  dashboard_address: str | None = DASHBOARD_ADDRESS):
    """A LocalCluster of ``n_workers`` processes x 1 thread on 127.0.0.1 (worker names 0..n-1), closed on
    exit. Its Dask configuration (:func:`local_cluster_config`) holds for its whole life: a dead worker's
    restart is awaited for LOST_WORKER_TIMEOUT (Dask's default, 15 s, drops a worker for good when a busy
    machine restarts it more slowly, and a cluster that lost every worker would stall the sweep)."""
    import dask
    from distributed import LocalCluster

    n = _check_workers(n_workers)
    with dask.config.set(local_cluster_config(n, allowed_failures=allowed_failures)):
        cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, host="127.0.0.1",
                               dashboard_address=dashboard_address, silence_logs=logging.ERROR)
        try:
            yield cluster
        finally:
            cluster.close()


def _check_workers(n_workers) -> int:
    try:
        n = int(n_workers)
    except (TypeError, ValueError):
        n = 0
    if n < 1 or str(n_workers).strip() not in (str(n), f"{n}.0"):
        raise EvaluationError(f"workers must be a whole number >= 1, got {n_workers!r}", where="workers")
    return n


def _connect(address: str):
    from distributed import Client

    try:
        return Client(str(address), timeout=CONNECT_TIMEOUT)
    except (OSError, TimeoutError, ValueError) as exc:
        raise EvaluationError(f"cannot connect to the Dask scheduler: {type(exc).__name__}: {exc}",
                              where=address) from exc


@contextmanager
def open_client(*, workers=None, scheduler=None, client=None):
    """Yield ``(client, pin_gpus)`` for the choice made (module docstring), or ``(None, False)`` for in-process.

    A cluster or client opened here is closed on exit; a ``client`` given is not. ``pin_gpus`` is True for a
    local cluster started here (its worker i uses cuda:i, :func:`worker_device`)."""
    given = [name for name, v in (("workers", workers), ("scheduler", scheduler), ("client", client))
             if v is not None]
    if len(given) > 1:
        raise EvaluationError(f"give at most one of workers, scheduler and client (got {', '.join(given)})")
    if client is not None:
        if not hasattr(client, "submit"):
            raise EvaluationError(f"client must be a distributed.Client, got {type(client).__name__}")
        yield client, False
    elif scheduler is not None:
        own = _connect(scheduler)
        try:
            yield own, False
        finally:
            own.close()
    elif workers is not None:
        from distributed import Client

        with local_cluster(workers) as cluster:
            own = Client(cluster)
            try:
                yield own, True
            finally:
                own.close()
    else:
        yield None, False


def describe_client(client) -> str:
    """One line: workers, scheduler address and dashboard link of ``client``'s cluster."""
    info = client.scheduler_info()
    n = len(info.get("workers", {}))
    link = client.dashboard_link if "dashboard" in info.get("services", {}) else "none (install bokeh)"
    return f"Dask cluster: {n} worker(s), scheduler {info.get('address', '?')}, dashboard {link}"
