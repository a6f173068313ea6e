"""The sweep runner: many independent trainings (ε grids, data sizes, seeds, β, ROAR/KAR
retrainings) on an existing engine, joblib.

Locally each task runs in a worker process of joblib's ``loky`` backend. A task always runs
on ``threads`` torch threads (default 1) whatever the number of workers, and is seeded by
its own parameters, so that its result does not depend on how many tasks run at once
(torch's CPU kernels may split reductions differently with another thread count). The
default number of workers is ``cores // threads``, so workers × threads never exceeds the
cores. With one worker the tasks run in this process, one after the other.

On a cluster, point joblib at Dask or Ray without changing any code:

    from dask.distributed import Client
    import joblib
    client = Client("scheduler-address:8786")
    with joblib.parallel_config(backend="dask"):
        tradeoff.experiments.sweep.run_sweep(fn, tasks, workers=64)

(``pip install 'tradeoff[cluster]'``). The tasks' functions must be importable module-level
functions and their arguments and results picklable.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["default_workers", "run_sweep"]


def default_workers(threads: int = 1) -> int:
    """Workers so that workers × threads ≤ the cores this process may use."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, cores // max(1, threads))


def _call(fn: Callable[..., Any], task: dict, threads: int) -> Any:
    """Run one task on ``threads`` torch threads (restored afterwards)."""
    torch = sys.modules.get("torch")
    if torch is None:
        try:
            import torch
        except ImportError:
            torch = None
    before = torch.get_num_threads() if torch is not None else None
    if torch is not None:
        torch.set_num_threads(threads)
    try:
        return fn(**task)
    finally:
        if torch is not None:
            torch.set_num_threads(before)


def run_sweep(
    fn: Callable[..., Any],
    tasks: Sequence[dict],
    *,
    workers: int | None = None,
    threads: int = 1,
    desc: str = "sweep",
    progress: bool = True,
) -> list[Any]:
    """``[fn(**task) for task in tasks]``, in parallel, in the order of ``tasks``.

    Parameters
    ----------
    fn:
        a module-level function (it is pickled to the workers).
    tasks:
        keyword arguments of each call; every source of randomness of a task must come
        from its arguments (e.g. a ``seed``).
    workers:
        parallel workers (default :func:`default_workers`); 1 runs in this process.
        Under ``joblib.parallel_config(backend=...)`` (Dask, Ray) that backend is used.
    threads:
        torch threads of each task, the same whatever ``workers`` is.
    """
    from tradeoff._validate import check_int

    threads = check_int("threads", threads, low=1)
    tasks = list(tasks)
    if workers is None:
        workers = default_workers(threads)
    workers = check_int("workers", workers, low=1)
    t0 = time.perf_counter()

    def note(done: int) -> None:
        if progress:
            el = time.perf_counter() - t0
            eta = el / done * (len(tasks) - done) if done else float("nan")
            print(
                f"{desc}: {done}/{len(tasks)} tasks, {el:.0f} s elapsed, ETA {eta:.0f} s",
                file=sys.stderr,
                flush=True,
            )

    if workers == 1 or len(tasks) <= 1:
        out = []
        for i, task in enumerate(tasks):
            out.append(_call(fn, task, threads))
            note(i + 1)
        return out

    import joblib

    calls = [joblib.delayed(_call)(fn, task, threads) for task in tasks]
    try:  # results as they complete, in order (joblib >= 1.3, local backends)
        parallel = joblib.Parallel(n_jobs=min(workers, len(tasks)), return_as="generator")
        out = []
        for value in parallel(calls):
            out.append(value)
            note(len(out))
        return out
    except ValueError:  # a backend without generator output: all at once
        out = joblib.Parallel(n_jobs=min(workers, len(tasks)))(calls)
        note(len(out))
        return out


def example_task(seed: int, epochs: int = 3) -> dict:
    """A small, real sweep task (used by the tests and as a template): a toy MLP trained on
    scikit-learn's 8×8 digits, seeded by ``seed``; returns its weights' sum and test
    accuracy."""
    from tradeoff.torch import data, nets, train

    d = data.load("digits", seed=seed, subset=400, test_subset=200)
    model = nets.build("toy_mlp", input_shape=d.input_shape, num_classes=10, seed=seed)
    train.fit(model, d, epochs=epochs, optimizer="adam", lr=1e-2, seed=seed, progress=False)
    acc = train.evaluate(model, d).clean_acc
    weight_sum = float(sum(p.detach().double().sum() for p in model.parameters()))
    return {"seed": seed, "accuracy": acc, "weight_sum": weight_sum}
