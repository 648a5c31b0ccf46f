"""Host-side evaluation for the host loop: fixed `eval_chunk`s, in-process, on a pool or on Ray.

Individuals are flattened in (run, individual) order and cut into chunks of exactly `eval_chunk`
(the last one padded with its last individual, unless the task sets `pad_chunks = False` because a
duplicate evaluation costs), so that every chunk is evaluated with the same shapes whether it runs
here, in a spawned process or on a Ray worker: `workers=0`, `backend=local workers=K` and
`backend=ray workers=K` give bitwise equal results. Each chunk gets its individuals' rows of the task
data, their population entries (an array slice, or a list of JSON-like payloads such as a seed
chain), their per-individual seeds and the generation's broadcast (sent once to each worker, not
once per chunk). Only plain data crosses processes; each worker builds its own task from
(env, config) once.

Config keys (ENGINE_SCHEMA): `eval_chunk`, `workers`, `backend` (local | ray), `ray_address`
(join a running Ray cluster instead of starting a local one), `dtype`.
"""

from __future__ import annotations

import sys
from typing import Any, Callable

import numpy as np

from evoflow.engine.backends import EvaluationError, LocalPool, RayPool, make_task, run_job
from evoflow.errors import UsageError

__all__ = ["HostEvaluator", "individual_seeds", "check_host_config", "EvaluationError"]

_M64 = np.uint64(0xFFFFFFFFFFFFFFFF)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _splitmix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64's output function of state x + golden gamma (uint64 arrays, wrapping)."""
    with np.errstate(over="ignore"):
        z = x + _GOLDEN
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def individual_seeds(seed: int, iteration: int, phase: int, n_runs: int, n: int) -> np.ndarray:
    """Per-individual seeds (n_runs, n) uint32, a stable hash of (seed, iteration, phase, run, index).

    h = sm(seed); h = sm(h ^ iteration); h = sm(h ^ phase); h = sm(h ^ run); h = sm(h ^ index);
    seed = high 32 bits of h, where sm is SplitMix64's output function (x + 0x9E3779B97F4A7C15,
    then xor-shift-multiply by 0xBF58476D1CE4E5B9 and 0x94D049BB133111EB) on uint64, each input
    taken mod 2**64. NumPy only: no JAX PRNG (whose streams change across versions), and never a
    function of the worker or the chunk that evaluates the individual.
    """
    def u64(v):
        return np.asarray(int(v) & 0xFFFFFFFFFFFFFFFF, np.uint64)

    h = _splitmix64(u64(seed))
    h = _splitmix64(h ^ u64(iteration))
    h = _splitmix64(h ^ u64(phase))
    runs = np.arange(n_runs, dtype=np.uint64)[:, None]
    idx = np.arange(n, dtype=np.uint64)[None, :]
    h = _splitmix64(h ^ runs)
    h = _splitmix64(h ^ idx)
    return (h >> np.uint64(32)).astype(np.uint32)


def check_host_config(cfg: dict) -> None:
    """Validate backend / workers / ray_address before anything is created (one-line errors)."""
    backend, workers, address = cfg.get("backend", "local"), cfg["workers"], cfg.get("ray_address")
    if address is not None and backend != "ray":
        raise UsageError(f"--set ray_address={address}: joining a Ray cluster needs "
                         f"--set backend=ray (backend is {backend})")
    if backend == "ray":
        if not workers:
            raise UsageError("--set backend=ray: needs --set workers=K (K >= 1 Ray workers); "
                             "workers=0 evaluates in-process")
        import importlib.util

        if importlib.util.find_spec("ray") is None:
            raise UsageError("--set backend=ray: Ray is not installed; install the ray extra: "
                             "pip install 'evoflow[ray]'")


def _report_stderr(msg: str) -> None:
    print(f"warning: {msg}", file=sys.stderr, flush=True)


class HostEvaluator:
    """Evaluates host-loop populations in fixed chunks, in-process (workers=0) or on workers.

    `report` receives one line per recovered worker death (default: `warning: ...` on stderr).
    """

    def __init__(self, env: str, cfg: dict, task, report: Callable[[str], None] | None = None,
                 decoder: str | None = None):
        """decoder: a strategy's `host_decoder` ("module:function"), or None when populations
        are parameters."""
        from evoflow.engine.backends import load_decoder

        self.env, self.task = env, task
        self.decoder, self.decode = decoder, load_decoder(decoder)
        self.chunk = cfg["eval_chunk"]
        self.dtype = np.float64 if cfg.get("dtype", "float32") == "float64" else np.float32
        self.pad = bool(getattr(task, "pad_chunks", True))
        self.report = report or _report_stderr
        self.backend_name = cfg.get("backend", "local")
        self.workers = cfg.get("workers", 0)
        self._gen, self._version = 0, None
        if self.backend_name not in ("local", "ray"):
            raise UsageError(f"--set backend={self.backend_name}: backend must be one of local, ray")
        if self.backend_name == "ray":
            if not self.workers:
                raise UsageError("--set backend=ray: needs --set workers=K (K >= 1)")
            self.pool = RayPool(env, cfg, self.workers, self.report, cfg.get("ray_address"),
                                decoder)
        elif self.workers:
            self.pool = LocalPool(env, cfg, self.workers, self.report, decoder)
        else:
            self.pool = None
        if self.task is None and self.pool is None:
            self.task = make_task(env, cfg)

    # ------------------------------------------------------------------------------------------

    def worker_pids(self) -> list:
        """Process ids of the current workers (empty in-process)."""
        return [] if self.pool is None else self.pool.pids()

    def _jobs(self, task_data: dict, population, seeds) -> tuple[list[tuple], int, int]:
        if isinstance(population, dict):  # payload arrays (M, B, ...) per field
            fields = {k: np.asarray(v) for k, v in population.items()}
            m, b = next(iter(fields.values())).shape[:2]
            fields = {k: v.reshape(m * b, *v.shape[2:]) for k, v in fields.items()}
            take = lambda idx: {k: v[idx] for k, v in fields.items()}  # noqa: E731
        elif not isinstance(population, (list, tuple)):  # an array (numpy or JAX)
            population = np.asarray(population)
            m, b = population.shape[:2]
            flat = population.reshape(m * b, *population.shape[2:])
            if np.issubdtype(flat.dtype, np.floating):
                flat = flat.astype(self.dtype, copy=False)
            take = lambda idx: flat[idx]  # noqa: E731
        else:
            m = len(population)
            b = len(population[0]) if m else 0
            if any(len(row) != b for row in population):
                raise ValueError("population: every run needs the same number of individuals")
            flat_list = [g for row in population for g in row]
            take = lambda idx: [flat_list[i] for i in idx]  # noqa: E731
        n = m * b
        if seeds is None:
            seeds = np.zeros((m, b), np.uint32)
        seeds = np.asarray(seeds, np.uint32).reshape(n)
        run = np.repeat(np.arange(m), b)
        data = {k: np.asarray(v) for k, v in task_data.items()}
        jobs = []
        for start in range(0, n, self.chunk):
            idx = np.arange(start, min(start + self.chunk, n) if not self.pad
                            else start + self.chunk)
            idx = np.minimum(idx, n - 1)  # pad the last chunk with its last individual
            rows = {k: v[run[idx]] for k, v in data.items()}
            jobs.append((rows, take(idx), seeds[idx]))
        return jobs, m, b

    def evaluate(self, task_data: dict, population, seeds, broadcast: Any = None,
                 version: Any = None):
        """Evaluation of population (M, B, ...), a dict of payload arrays (M, B, ...) or [M][B]
        payloads; leaves of shape (M, B, ...).

        task_data: dict of arrays with a leading runs axis M. seeds: (M, B) uint32 (see
        `individual_seeds`). broadcast: optional plain data for this generation, sent once to
        each worker; a `version` equal to the previous call's is not sent again.
        """
        from evoflow.tasks.base import Evaluation

        jobs, m, b = self._jobs(task_data, population, seeds)
        n = m * b
        if not jobs:
            return Evaluation(fitness=np.zeros((m, b), self.dtype))
        gen = None
        if broadcast is not None:
            if version is None or version != self._version:
                self._gen += 1
            self._version, gen = version, self._gen
        if self.pool is None:
            parts = [run_job(self.task, rows, pop, sd, broadcast, self.decode)
                     for rows, pop, sd in jobs]
        else:
            parts = self.pool.run(jobs, gen, broadcast)

        def cat(leaves):
            out = np.concatenate([np.asarray(x) for x in leaves])[:n]
            return out.reshape(m, b, *out.shape[1:])

        def cat_tree(trees):
            if isinstance(trees[0], dict):
                return {k: cat_tree([t[k] for t in trees]) for k in trees[0]}
            return cat(trees)

        descriptor = None if parts[0]["descriptor"] is None else cat([p["descriptor"]
                                                                      for p in parts])
        return Evaluation(fitness=cat([p["fitness"] for p in parts]), descriptor=descriptor,
                          extras=cat_tree([p["extras"] for p in parts]))

    def __call__(self, task_data: dict, population: np.ndarray) -> np.ndarray:
        """Fitness (M, B) of population (M, B, d); task_data leaves have a leading runs axis."""
        return self.evaluate(task_data, population, None).fitness

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()
            self.pool = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
