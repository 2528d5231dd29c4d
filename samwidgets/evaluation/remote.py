"""Run sweep units as Dask tasks: one task per (case, model), results streamed back as tasks finish.

Each task carries its :class:`~samwidgets.evaluation.unit.Unit` (the manifest Case, protocols and seed), the
model (a registry name, or a picklable predictor object shipped with each task) and a
:class:`~samwidgets.evaluation.cache_spec.CacheSpec`.
On the worker, :class:`SweepWorkerState` (a worker plugin registered at the start of each sweep) keeps one
predictor per model and one embedding cache per spec, so a worker loads each model once and its memory
tier holds at most ``CacheSpec.memory_bytes`` of embeddings whatever the number of tasks and models. With a
cache directory on a filesystem all workers share, their signed atomic writes go to the same store.

Failures: a task that raises (e.g. the model cannot be loaded on that worker) becomes one error row per
protocol of its unit; a task whose workers kept dying (``KilledWorker``, see
:mod:`samwidgets.evaluation.cluster`) too, with that reason. Tasks lost with a worker that died are rerun
elsewhere by the scheduler; the driver only ever receives each task's result once. Losing the cluster
itself (futures cancelled, scheduler gone) is not a case's error: the sweep stops with what it has written,
and a rerun resumes.
"""

from __future__ import annotations

import uuid
from concurrent.futures import CancelledError

from distributed import KilledWorker, WorkerPlugin, as_completed, get_worker

from samwidgets.errors import EvaluationError
from samwidgets.evaluation.cache_spec import CacheSpec
from samwidgets.evaluation.cluster import worker_device
from samwidgets.evaluation.rows import describe
from samwidgets.evaluation.unit import Unit, UnitResult, run_unit

PLUGIN_NAME = "samwidgets-sweep"


class SweepWorkerState(WorkerPlugin):
    """Worker plugin holding the worker's predictors, embedding caches and SAM2 video propagators."""

    name = PLUGIN_NAME

    def __init__(self):
        self.predictors: dict = {}
        self.caches: dict = {}
        self.videos: dict = {}

    def setup(self, worker=None):
        self.predictors, self.caches, self.videos = {}, {}, {}

    def teardown(self, worker=None):
        self.setup(worker)

    def predictor(self, model, *, device: str, cache: CacheSpec):
        """The predictor for ``model``: a registry name loaded once per (name, device, cache), or the
        object itself."""
        if not isinstance(model, str):
            return model
        key = (model, device, cache)
        if key not in self.predictors:
            from samwidgets.models import load

            if cache not in self.caches:
                self.caches[cache] = cache.build()
            self.predictors[key] = load(model, device=device, cache=self.caches[cache])
        return self.predictors[key]


def _worker_index(name) -> int | None:
    return int(name) if isinstance(name, int) or (isinstance(name, str) and name.isdigit()) else None


def _gpu_count() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def run_task(unit: Unit, model, *, device: str, cache: CacheSpec, pin_gpus: bool) -> UnitResult:
    """The Dask task: evaluate ``unit`` on this worker (see the module docstring)."""
    worker = get_worker()
    state = worker.plugins.get(PLUGIN_NAME)
    if state is None:  # the plugin was not registered on this worker: evaluate without memo
        state = SweepWorkerState()
    if pin_gpus and device in ("cuda", "auto"):
        device = worker_device(device, _worker_index(worker.name), _gpu_count())
    predictor = state.predictor(model, device=device, cache=cache)
    return run_unit(unit, predictor, videos=state.videos, worker=str(worker.name))


def _lost_result(unit: Unit, exc: BaseException) -> UnitResult:
    if isinstance(exc, KilledWorker):
        why = f"KilledWorker: the worker process died each time it ran this case ({exc})"
    else:
        why = describe(exc)
    return UnitResult(unit, unit.error_rows(why), worker="")


def _result(future) -> UnitResult:
    """The task's result; cancelled (cluster gone or restarted): EvaluationError, the sweep stops."""
    try:
        return future.result()
    except CancelledError as exc:
        raise EvaluationError("the Dask cluster cancelled the sweep's tasks (scheduler gone or restarted); "
                              "finished cases are in the table: rerun to resume", where=future.key) from exc


def _window(client) -> int:
    """Tasks to keep in flight: one per worker thread, so a crashing case takes no other task down with it."""
    return max(1, sum(client.nthreads().values()))


def run_on_client(client, units, models: dict, *, device: str, cache: CacheSpec, pin_gpus: bool):
    """Run one task per unit on ``client``'s cluster and yield their :class:`UnitResult` as they complete.

    ``models`` maps model names to what a task loads: the name itself or a predictor object. At most one
    task per worker thread is submitted at a time (the next when one completes), so a worker that dies
    takes only its own case's task with it (which the scheduler reruns, or fails as KilledWorker)."""
    todo = list(enumerate(units))[::-1]
    if not todo:
        return
    client.register_plugin(SweepWorkerState(), name=PLUGIN_NAME)
    token = uuid.uuid4().hex[:8]
    running: dict = {}
    done = as_completed()

    def top_up():
        window = _window(client)
        while todo and len(running) < window:
            i, unit = todo.pop()
            future = client.submit(run_task, unit, models[unit.model], device=device, cache=cache,
                                   pin_gpus=pin_gpus, key=f"evaluate-case-{token}-{i}", pure=False)
            running[future.key] = unit
            done.add(future)

    try:
        top_up()
        for future in done:
            unit = running.pop(future.key)
            if future.status == "error":  # the task raised, or its workers kept dying (KilledWorker)
                result = _lost_result(unit, future.exception())
            else:
                result = _result(future)
            future.release()
            top_up()
            yield result
    finally:
        done.clear()
