"""The strategy contract every JAX algorithm follows (DESIGN.md "Contracts").

`init(key, task_info) -> state`; `ask(key, state, phase) -> (population, state)`;
`tell(key, population, evaluation, state, phase) -> (state, metrics)`, `evaluation` an
`evoflow.tasks.base.Evaluation` (fitness, descriptor, extras). Pure and jittable; state is a
flax.struct dataclass. An iteration is `phases` rounds of ask -> evaluate -> tell (one for most
algorithms; two for CBO with the Heaviside correction, which evaluates the consensus point after
the particles). Populations carry a leading *runs* axis of size `n_runs`: independent runs, the
only axis the engine shards. Fitness is maximized.

Algorithms never log, print, write files or know about devices: they return metrics.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import jax
import numpy as np

from evoflow.config import Param


@dataclass(frozen=True)
class TaskInfo:
    """What an algorithm may know of a task: shapes, boxes and samplers, never its identity."""

    dim: int
    init_low: np.ndarray
    init_high: np.ndarray
    domain_low: np.ndarray | None
    domain_high: np.ndarray | None
    # Policy tasks: initial genotypes (key, n) -> (n, dim), and named pieces of a genotype.
    sample_genotypes: Callable | None = None
    genotype_leaves: Callable | None = None
    obs_dim: int = 0
    act_dim: int = 0
    episode_length: int = 0
    policy_hidden: tuple[int, ...] = ()
    # QD tasks: the descriptor space.
    descriptor_low: np.ndarray | None = None
    descriptor_high: np.ndarray | None = None
    descriptor_names: tuple[str, ...] = ()
    descriptor_units: tuple[str, ...] = ()


class Strategy:
    """Base class of JAX strategies; subclasses implement the pure methods."""

    name: str = ""
    SCHEMA: dict[str, Param] = {}
    phases: int = 1
    n_runs: int = 1
    shard_runs: bool = False  # True: the runs axis is padded to the device count and sharded
    progress_keys: tuple[str, ...] = ()  # metrics shown beside the progress bar

    def __init__(self, cfg: dict[str, Any], task: TaskInfo):
        self.cfg = cfg
        self.task = task

    def init(self, key: jax.Array, n_runs_padded: int) -> Any:
        raise NotImplementedError

    def ask(self, key: jax.Array, state: Any, phase: int = 0) -> tuple[jax.Array, Any]:
        raise NotImplementedError

    def tell(self, key, population, evaluation, state, phase: int = 0) -> tuple[Any, dict]:
        raise NotImplementedError

    # --- what the engine reads from the state -------------------------------------------------
    def reported(self, state) -> jax.Array:
        """Per run, the point reported as the run's result, (M, dim)."""
        raise NotImplementedError

    def run_evaluations(self, state) -> jax.Array:
        """Evaluations spent so far by each run, (M,) int."""
        raise NotImplementedError

    def runs_active(self, state) -> jax.Array:
        """Which runs still iterate, (M,) bool."""
        raise NotImplementedError

    def max_evaluations_per_iteration(self) -> int:
        raise NotImplementedError

    def sharded_leaves(self, state) -> Any:
        """A pytree of bools like `state`: True where a leaf's first axis is the runs axis."""
        return jax.tree_util.tree_map(lambda _: False, state)

    def summary(self, metrics: dict) -> dict:
        """Entries for summary.json from the last metrics line."""
        return {}

    def artifacts(self, state) -> dict[str, dict[str, np.ndarray]]:
        """Files (name -> npz arrays) rewritten atomically at each checkpoint, from host state."""
        return {}

    def finalize(self, key, state, evaluate: Callable) -> dict:
        """End-of-run evaluations with `evaluate(genotypes, key) -> Evaluation` (one run's task).

        Returns {} or {"summary": {...}, "npz" | "json" | "safetensors": {path: content}}; the
        engine writes the files (paths relative to the run directory).
        """
        return {}

    def snapshot(self, state) -> dict[str, jax.Array]:
        """Small per-run view of the population for particles.npz-like files (may be {})."""
        return {}
