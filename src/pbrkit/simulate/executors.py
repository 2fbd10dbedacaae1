"""Where replicates run: in this process, in a pool of local processes, or on Ray.

An executor is handed the replicate function, the starting worlds (built once
in the calling process) and a list of tasks, one per replicate; it calls
`done(task, result)` in the calling process as each replicate finishes, in
whatever order they finish. The runner puts the results back in replicate
order, and every replicate's random numbers come from its own (seed,
replicate) pair, so the numbers are the same whichever executor ran them and
with however many workers.

- `LocalExecutor`: one replicate after another, in this process.
- `ProcessExecutor`: a `concurrent.futures.ProcessPoolExecutor` ("spawn"
  workers, so no thread pool is forked mid-flight); each worker receives the
  starting worlds once, when it starts, not with every task, and sizes its
  Polars and BLAS thread pools to its share of the CPUs.
- `RayExecutor`: `ray.init(address)` (a new local instance for "local"); each
  starting world is put in the object store once, and each replicate is a
  remote task that reads it from there.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from pbrkit.simulate.record import ReplicateResult

#: `fn(design, params, *, world, scenario, replicate, seed, keep_world) -> ReplicateResult`
ReplicateFn = Callable[..., ReplicateResult]


@dataclass(frozen=True)
class Task:
    """One replicate to run: which group (design and scenario) and which world."""

    group: int
    world: int
    design: Any  # pbrkit.contracts.Design, with the scenario's and --set's overrides applied
    params: Any  # pbrkit.simulate.params.ModelParams, likewise
    scenario: str
    replicate: int
    seed: int
    keep_world: bool = False


Done = Callable[[Task, ReplicateResult], None]


def run_task(fn: ReplicateFn, world: Any, task: Task) -> ReplicateResult:
    """Run one replicate: the call every executor makes, wherever it makes it."""
    return fn(task.design, task.params, world=world, scenario=task.scenario, replicate=task.replicate,
              seed=task.seed, keep_world=task.keep_world)


class Executor:
    """Runs tasks; `start` before the first `run` and `stop` after the last."""

    name = "executor"
    workers = 1

    def start(self) -> None:
        """Acquire what the executor needs (Ray connects here, so a bad address fails early)."""

    def stop(self) -> None:
        """Release it again."""

    def run(self, fn: ReplicateFn, worlds: Mapping[int, Any], tasks: list[Task], done: Done) -> None:
        raise NotImplementedError

    def describe(self) -> str:
        return self.name


class LocalExecutor(Executor):
    """One replicate after another, in this process."""

    name = "local"

    def run(self, fn: ReplicateFn, worlds: Mapping[int, Any], tasks: list[Task], done: Done) -> None:
        for task in tasks:
            done(task, run_task(fn, worlds[task.world], task))


# --- processes ---------------------------------------------------------------

_WORKER: dict[str, Any] = {}


def _init_worker(fn: ReplicateFn, worlds: Mapping[int, Any]) -> None:
    _WORKER["fn"] = fn
    _WORKER["worlds"] = worlds


def _worker_task(task: Task) -> tuple[Task, ReplicateResult]:
    return task, run_task(_WORKER["fn"], _WORKER["worlds"][task.world], task)


class ProcessExecutor(Executor):
    """A pool of local worker processes (default: one per CPU)."""

    name = "processes"

    def __init__(self, workers: int | None = None):
        if workers is not None and workers < 1:
            raise ValueError(f"workers must be at least 1, not {workers}")
        self.workers = workers or os.cpu_count() or 1

    def describe(self) -> str:
        return f"{self.workers} local processes"

    def run(self, fn: ReplicateFn, worlds: Mapping[int, Any], tasks: list[Task], done: Done) -> None:
        if not tasks:
            return
        workers = min(self.workers, len(tasks))
        with _thread_limits(max(1, (os.cpu_count() or 1) // workers)):
            pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                                       initializer=_init_worker, initargs=(fn, dict(worlds)))
            try:
                pending = {pool.submit(_worker_task, task) for task in tasks}
                while pending:
                    finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for future in finished:
                        done(*future.result())
            finally:
                # On an error (or Ctrl-C) drop the queued replicates rather than finish them.
                pool.shutdown(wait=True, cancel_futures=True)


#: Thread pools a worker would otherwise size to every CPU each (Polars, BLAS, OpenMP).
THREAD_VARIABLES = ("POLARS_MAX_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


@contextmanager
def _thread_limits(threads: int):
    """Share the CPUs between the workers: spawned workers inherit the environment,
    so set each thread-pool size (unless the user set it) while they start."""
    unset = [name for name in THREAD_VARIABLES if name not in os.environ]
    for name in unset:
        os.environ[name] = str(threads)
    try:
        yield
    finally:
        for name in unset:
            os.environ.pop(name, None)


# --- Ray ---------------------------------------------------------------------


def _ray_task(fn: ReplicateFn, world: Any, task: Task) -> ReplicateResult:
    # `world` arrives resolved from the object store (its arrays are read-only).
    return run_task(fn, world, task)


class RayNotInstalled(RuntimeError):
    pass


class RayExecutor(Executor):
    """Remote tasks on a Ray cluster: `address` "local" starts a private local
    instance (stopped again afterwards); "auto" or an address such as
    `ray://head:10001` connects to a running cluster. If Ray is already
    initialised in this process it is used as it is, and left running."""

    name = "ray"

    def __init__(self, address: str = "local", *, num_cpus: int | None = None,
                 runtime_env: dict[str, Any] | None = None):
        self.address = address
        self.num_cpus = num_cpus
        self.runtime_env = runtime_env
        self._started = False

    def describe(self) -> str:
        return "Ray (a local instance)" if self.address == "local" else f"Ray at {self.address}"

    def start(self) -> None:
        try:
            import ray
        except ImportError:
            raise RayNotInstalled("Ray is not installed: pip install 'pbrkit[ray]'") from None
        if ray.is_initialized():
            return
        options: dict[str, Any] = {"configure_logging": False, "log_to_driver": False}
        if self.runtime_env is not None:
            options["runtime_env"] = self.runtime_env
        if self.address == "local":
            ray.init(num_cpus=self.num_cpus, include_dashboard=False, **options)
        else:
            ray.init(address=self.address, **options)
        self._started = True

    def stop(self) -> None:
        if self._started:
            import ray

            ray.shutdown()
            self._started = False

    def run(self, fn: ReplicateFn, worlds: Mapping[int, Any], tasks: list[Task], done: Done) -> None:
        import ray

        if not tasks:
            return
        refs = {key: ray.put(world) for key, world in worlds.items()}  # each world stored once
        remote = ray.remote(num_cpus=1)(_ray_task)
        pending = {remote.remote(fn, refs[task.world], task): task for task in tasks}
        try:
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1)
                for ref in ready:
                    done(pending.pop(ref), ray.get(ref))
        finally:
            for ref in pending:
                ray.cancel(ref)


def make_executor(workers: int | None = None, ray: str | None = None) -> Executor:
    """The executor the CLI's options ask for: Ray when an address is given,
    otherwise local processes (one per CPU by default), or this process alone
    when `workers` is 1."""
    if ray is not None:
        if workers is not None:
            raise ValueError("give --workers or --ray, not both (Ray decides its own workers)")
        return RayExecutor(ray)
    if workers is not None and workers < 1:
        raise ValueError(f"--workers {workers}: must be at least 1")
    if workers == 1 or (workers is None and (os.cpu_count() or 1) == 1):
        return LocalExecutor()
    return ProcessExecutor(workers)


__all__ = [
    "Executor",
    "LocalExecutor",
    "ProcessExecutor",
    "RayExecutor",
    "RayNotInstalled",
    "Task",
    "make_executor",
    "run_task",
]
