"""Host-side evaluation for the host loop: fixed `eval_chunk`s, in-process or in worker processes.

Individuals are flattened in (run, particle) order and cut into chunks of exactly `eval_chunk`
(the last one padded), so that every chunk is evaluated with the same shapes whether it runs here
or in a worker: `workers=0` and `workers=K` give bitwise equal fitness. Only plain arrays cross
process boundaries; each worker builds its own task from (env, config) once.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from concurrent.futures import ProcessPoolExecutor

import numpy as np

_WORKER_TASK = None


def _exit_with_parent(parent: int) -> None:
    """A killed run (SIGKILL) cannot shut its pool down: workers leave when their parent does."""
    import os
    import time

    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(0)


def _init_worker(env: str, cfg: dict, parent: int) -> None:
    global _WORKER_TASK
    import threading

    from evoflow.tasks import TASKS

    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True).start()
    _WORKER_TASK = TASKS[env].make(cfg)


def _evaluate_chunk(rows: dict, params: np.ndarray) -> np.ndarray:
    return _WORKER_TASK.evaluate_numpy(rows, params)


class HostEvaluator:
    def __init__(self, env: str, cfg: dict, task):
        self.task = task
        self.chunk = cfg["eval_chunk"]
        self.dtype = np.float64 if cfg["dtype"] == "float64" else np.float32
        self.pool = None
        if cfg["workers"]:
            self.pool = ProcessPoolExecutor(cfg["workers"], mp_context=mp.get_context("spawn"),
                                            initializer=_init_worker,
                                            initargs=(env, cfg, os.getpid()))

    def __call__(self, task_data: dict, population: np.ndarray) -> np.ndarray:
        """Fitness (M, B) of population (M, B, d); task_data leaves have a leading runs axis."""
        m, b = population.shape[:2]
        flat = population.reshape(m * b, -1).astype(self.dtype, copy=False)
        run = np.repeat(np.arange(m), b)
        jobs = []
        for start in range(0, m * b, self.chunk):
            idx = np.arange(start, start + self.chunk)
            idx = np.minimum(idx, m * b - 1)  # pad the last chunk with its last individual
            rows = {k: np.asarray(v)[run[idx]] for k, v in task_data.items()}
            jobs.append((rows, flat[idx]))
        if self.pool is None:
            parts = [self.task.evaluate_numpy(rows, params) for rows, params in jobs]
        else:
            parts = list(self.pool.map(_evaluate_chunk, *zip(*jobs)))
        return np.concatenate(parts)[: m * b].reshape(m, b)

    def evaluate(self, task_data: dict, population, seeds: np.ndarray, broadcast=None):
        """Minimal stand-in of the HostEvaluator contract (the hosteval rewrite replaces it):
        an Evaluation with numpy leaves (M, B). `population` is an array (M, B, ...) evaluated
        by the task's `evaluate_numpy` in fixed chunks; a nested list [M][B] of JSON payloads
        goes to the task's `evaluate_payloads(rows, payloads, seeds)`, one run at a time."""
        from evoflow.tasks.base import Evaluation

        if isinstance(population, np.ndarray):
            return Evaluation(fitness=self(task_data, population))
        fits = []
        for r, payloads in enumerate(population):
            rows = {k: np.repeat(np.asarray(v)[r:r + 1], len(payloads), 0)
                    for k, v in task_data.items()}
            fits.append(np.asarray(self.task.evaluate_payloads(rows, payloads, seeds[r])))
        return Evaluation(fitness=np.stack(fits))

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)
            self.pool = None


def individual_seeds(seed: int, iteration: int, phase: int, n_runs: int, n: int) -> np.ndarray:
    """(n_runs, n) uint32 seeds derived from (seed, iteration, phase, run, index) only, never
    from the worker or the chunk (a splitmix64 hash of the five numbers; minimal stand-in)."""
    def mix(z):
        z = (z + np.uint64(0x9E3779B97F4A7C15))
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))

    with np.errstate(over="ignore"):
        h = np.uint64(0)
        for v in (seed, iteration, phase):
            h = mix(h ^ np.uint64(v))
        run = np.arange(n_runs, dtype=np.uint64)[:, None]
        idx = np.arange(n, dtype=np.uint64)[None, :]
        h = mix(mix(h ^ run) ^ idx)
    return (h >> np.uint64(32)).astype(np.uint32)
