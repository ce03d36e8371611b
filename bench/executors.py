"""Where the benchmark's runs execute: a local thread pool, or Ray tasks.

Both take a function and items and yield `(item, result, error)` as runs finish (error is the
exception a run raised, result None then); the harness does its bookkeeping (logs, done-markers)
in the calling process either way, so resuming works the same.

- `LocalExecutor(jobs)`: `jobs` runs at once in threads (each run is itself subprocesses).
- `RayExecutor(address, cpus_per_run)`: one Ray task a run, `cpus_per_run` CPUs each. With no
  address Ray starts a local instance on this machine; with `--ray_address HOST:PORT` (or `auto`)
  the runs go to that cluster. Every node must see the repository and the benchmark folder at the
  same paths (a shared file system) and have the same environment set up (`make setup`).
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Callable, Iterable, Iterator, TypeVar

try:
    import ray
except ImportError:   # optional: only --executor ray needs it
    ray = None

Item = TypeVar("Item")
Outcome = tuple  # (item, result or None, exception or None)
EXECUTORS = ("local", "ray")


class LocalExecutor:
    def __init__(self, jobs: int = 1):
        self.jobs = max(1, jobs)

    def map_unordered(self, fn: Callable[[Item], object], items: Iterable[Item]) -> Iterator[Outcome]:
        with ThreadPoolExecutor(max_workers=self.jobs) as pool:
            futures = {pool.submit(fn, item): item for item in items}
            for future in as_completed(futures):
                error = future.exception()
                yield futures[future], None if error else future.result(), error


def _call(fn: Callable, item: object) -> object:
    return fn(item)


class RayExecutor:
    def __init__(self, address: str | None = None, cpus_per_run: int = 1):
        if ray is None:
            raise RuntimeError("--executor ray needs Ray: pip install ray (see requirements.txt)")
        if not ray.is_initialized():
            ray.init(address=address, include_dashboard=False, log_to_driver=False,
                     configure_logging=False)
        self.cpus_per_run = max(1, cpus_per_run)
        self._task = ray.remote(_call).options(num_cpus=self.cpus_per_run, max_retries=0)

    def map_unordered(self, fn: Callable[[Item], object], items: Iterable[Item]) -> Iterator[Outcome]:
        pending = {self._task.remote(fn, item): item for item in items}
        while pending:
            (done,), _ = ray.wait(list(pending), num_returns=1)
            item = pending.pop(done)
            try:
                yield item, ray.get(done), None
            except ray.exceptions.RayTaskError as err:
                # The run's own exception (RunFailed, OSError, ...), not Ray's wrapper.
                yield item, None, err.cause if err.cause is not None else err

    @staticmethod
    def shutdown() -> None:
        if ray is not None and ray.is_initialized():
            ray.shutdown()


def make_executor(name: str, jobs: int = 1, ray_address: str | None = None, cpus_per_run: int = 1):
    """The executor `name` (one of EXECUTORS)."""
    if name == "local":
        return LocalExecutor(jobs)
    if name == "ray":
        return RayExecutor(ray_address, cpus_per_run)
    raise ValueError(f"executor must be one of {EXECUTORS}, not '{name}'")
