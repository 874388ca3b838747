"""Where the points of a sweep run: in this process, in local processes, or on dask.

Every backend yields one record per point as the point finishes (completion order);
the caller writes it at once and sorts by point index at the end.

``inline``     this process, one point after the other (``--workers 1``)
``processes``  a ``concurrent.futures.ProcessPoolExecutor`` with N processes
``dask``       a dask.distributed ``LocalCluster`` with N single-threaded worker processes
``scheduler``  an existing dask scheduler at ADDRESS (its workers must have clustersim)

dask is the optional extra ``clustersim[sweep]``; ``auto`` uses it for N > 1 when it is
installed and falls back to processes when it is not.
"""
from __future__ import annotations

import importlib.util
import logging
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Callable, Iterator

from sim.sweep.point import BaseScenario, run_point
from sim.sweep.spec import Point
from workloads.errors import InputError

BACKENDS = ("auto", "inline", "processes", "dask", "scheduler")


def have_dask() -> bool:
    """True when dask.distributed can be imported."""
    try:
        return importlib.util.find_spec("distributed") is not None
    except (ImportError, ValueError):
        return False


def _need_dask(field: str, value) -> None:
    if not have_dask():
        raise InputError("dask.distributed is not installed (pip install 'clustersim[sweep]')",
                         field=field, value=value)


def choose_backend(workers: int, scheduler: str | None, backend: str = "auto") -> str:
    """The backend to use; raises :class:`InputError` for an impossible choice."""
    if backend not in BACKENDS:
        raise InputError(f"unknown backend (one of {', '.join(BACKENDS)})", field="--backend",
                         value=backend)
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise InputError("the number of workers must be a positive integer", field="--workers",
                         value=workers)
    if scheduler and backend not in ("auto", "scheduler"):
        raise InputError(f"a scheduler address needs the dask scheduler backend, not '{backend}'",
                         field="--scheduler", value=scheduler)
    if backend == "auto":
        if scheduler:
            backend = "scheduler"
        elif workers == 1:
            backend = "inline"
        else:
            backend = "dask" if have_dask() else "processes"
    if backend == "scheduler":
        if not scheduler:
            raise InputError("the scheduler backend needs an address", field="--scheduler",
                             value=scheduler)
        _need_dask("--scheduler", scheduler)
    if backend == "dask":
        _need_dask("--workers", workers)
    return backend


def _crash(point: Point, exc: BaseException) -> dict:
    return {"index": point.index, "key": point.key, "seed": point.seed,
            "overrides": point.overrides, "varied": point.varied, "status": "crash",
            "error": f"{type(exc).__name__}: {' '.join(str(exc).split())}", "result": None,
            "wall_s": 0.0}


def execute(base: BaseScenario, points: list[Point], backend: str, workers: int = 1,
            scheduler: str | None = None,
            task: Callable[[BaseScenario, Point], dict] = run_point) -> Iterator[dict]:
    """Run ``task(base, point)`` for every point on ``backend``; yield records as they finish."""
    if not points:
        return
    if backend == "inline":
        for p in points:
            yield task(base, p)
    elif backend == "processes":
        yield from _processes(base, points, workers, task)
    elif backend in ("dask", "scheduler"):
        yield from _dask(base, points, workers, scheduler if backend == "scheduler" else None,
                         task)
    else:
        raise InputError("unknown backend", field="--backend", value=backend)


def _processes(base, points, workers, task) -> Iterator[dict]:
    pool = ProcessPoolExecutor(max_workers=min(workers, len(points)))
    try:
        futures = {pool.submit(task, base, p): p for p in points}
        for fut in as_completed(futures):
            try:
                yield fut.result()
            except Exception as e:  # noqa: BLE001 - a lost worker is a crashed point
                yield _crash(futures[fut], e)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _dask(base, points, workers, address, task) -> Iterator[dict]:
    from distributed import Client, LocalCluster
    from distributed import as_completed as dask_completed
    cluster = None
    if address is None:
        cluster = LocalCluster(n_workers=min(workers, len(points)), threads_per_worker=1,
                               processes=True, dashboard_address=None,
                               silence_logs=logging.ERROR)
        client = Client(cluster)
    else:
        try:
            client = Client(address, timeout="10s")
        except (OSError, TimeoutError, ValueError) as e:
            raise InputError(f"cannot connect to the dask scheduler: {e}", field="--scheduler",
                             value=address) from None
    try:
        futures = {client.submit(task, base, p, pure=False): p for p in points}
        for fut in dask_completed(list(futures)):
            try:
                yield fut.result()
            except Exception as e:  # noqa: BLE001 - a lost worker is a crashed point
                yield _crash(futures[fut], e)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
