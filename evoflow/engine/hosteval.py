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

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)
            self.pool = None
