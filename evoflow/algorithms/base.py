"""The algorithm contracts, one per driver (DESIGN.md "Contracts"; registry Algorithm.driver).

**device / host** (`Strategy`, JAX): constructed as `cls(cfg, task_info)`;
`init(key, n_runs_padded, dtype) -> state` (the engine pads the runs axis to the device count);
`ask(key, state, phase) -> (population, state)`;
`tell(key, population, evaluation, state, phase) -> (state, metrics)`, `evaluation` an
`evoflow.tasks.base.Evaluation` (fitness, descriptor, extras). Pure and jittable; state is a
flax.struct dataclass. An iteration is `phases` rounds of ask -> evaluate -> tell (one for most
algorithms; two for CBO with the Heaviside correction, which evaluates the consensus point after
the particles). Populations carry a leading *runs* axis of size `n_runs`: independent runs, the
only axis the engine shards. Fitness is maximized.

**python** (`PythonAlgorithm`): plain Python over JSON-serializable genomes; see its docstring.
**trainer** (`Trainer`): owns its step loop, reports each step to the engine; see its docstring.

Algorithms never log, print, write files or know about devices: they return metrics, and (python
and trainer drivers) *records*: `{run file: [JSON record, ...]}` for the family's append-only
files (`RunFile(append_only=True)`), which the engine appends, cursors in every checkpoint and
cuts back on resume. Metrics stay a dict of scalars; a family budget key
(`BudgetKey(key, help, metric)`) is counted by a cumulative metric of that name.
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
    policy_kind: str = "mlp"  # the policy network's kind (`kind` of the task's policy)
    policy_batch: tuple[str, ...] = ()  # tasks.base.PolicyBatch fields its evaluate takes
    # The task evaluates on the host loop (gymnasium): populations cross to worker processes.
    host_loop: bool = False
    # QD tasks: the descriptor space.
    descriptor_low: np.ndarray | None = None
    descriptor_high: np.ndarray | None = None
    descriptor_names: tuple[str, ...] = ()
    descriptor_units: tuple[str, ...] = ()


class Strategy:
    """Base class of JAX strategies; subclasses implement the pure methods."""

    # Config keys are declared in the family's registry entry (Algorithm.schema); SCHEMA is the
    # same dict, for tests that build a strategy directly.
    SCHEMA: dict[str, Param] = {}
    phases: int = 1
    n_runs: int = 1
    shard_runs: bool = False  # True: the runs axis is padded to the device count and sharded
    progress_keys: tuple[str, ...] = ()  # metrics shown beside the progress bar

    def __init__(self, cfg: dict[str, Any], task: TaskInfo):
        self.cfg = cfg
        self.task = task

    def init(self, key: jax.Array, n_runs_padded: int, dtype=jax.numpy.float32) -> Any:
        """The initial state for `n_runs_padded` runs (>= n_runs; padded runs stay inactive)."""
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

    def checkpoint_files(self, state) -> dict:
        """Files rewritten atomically at each checkpoint, from host state: {} or {"npz" |
        "json" | "safetensors" | "bytes": {path: content}} (paths relative to the run)."""
        return {}

    # Host loop, per-child payloads: where `host_decoder` names a function "module:name" of
    # evoflow, `ask` returns per individual a dict of (M, B) arrays instead of parameters, and
    # each worker builds the parameters as decoder(task, payload chunk, broadcast), from the
    # generation's `host_broadcast` sent once to each worker (the Deep GA: parents + seeds).
    host_decoder: str | None = None

    def host_broadcast(self, state, phase: int) -> tuple[int, dict] | None:
        """(version, plain data) every worker holds while it decodes this phase's payloads; a
        version equal to the last one sent is not sent again."""
        return None

    def finalize(self, key, state, evaluate: Callable) -> dict:
        """End-of-run evaluations with `evaluate(genotypes, key) -> Evaluation` (one run's task).
        On the host loop `evaluate.host` is True and it is `evaluate(genotypes (B, D), seeds
        (B,))`: one episode per row, each reset from its seed as given.

        Returns {} or {"summary": {...}, "npz" | "json" | "safetensors": {path: content}}; the
        engine writes the files (paths relative to the run directory).
        """
        return {}

    def snapshot(self, state) -> dict[str, jax.Array]:
        """Small per-run view of the population for particles.npz-like files (may be {})."""
        return {}


class PythonAlgorithm:
    """Base of `python`-driver algorithms: plain-Python init/ask/tell over JSON genomes.

    Constructed as `cls(cfg, task_info)`. One run. Each call gets a fresh
    `numpy.random.Generator` derived from (seed, call, iteration, phase): keep no RNG in state.
    State is plain data (dicts, lists, tuples, numbers, strings, numpy arrays); the engine saves
    it in checkpoints as JSON plus named arrays (never pickles) and counts evaluations (one per
    genome asked).
    """

    phases: int = 1
    n_runs: int = 1  # one run (summary.json's n_runs)
    progress_keys: tuple[str, ...] = ()

    def __init__(self, cfg: dict[str, Any], task: TaskInfo):
        self.cfg = cfg
        self.task = task

    def init(self, rng: np.random.Generator) -> Any:
        raise NotImplementedError

    def ask(self, rng: np.random.Generator, state: Any) -> tuple[list, Any]:
        """(genomes: a list of JSON-serializable genomes, state)."""
        raise NotImplementedError

    def payload(self, genomes: list):
        """What the task evaluates for `genomes`: an array (B, dim) for array tasks, or a list
        of JSON payloads for tasks that take them. Default: the genomes themselves."""
        return genomes

    def tell(self, rng: np.random.Generator, genomes: list, evaluation, state: Any):
        """`evaluation`: an Evaluation with numpy leaves (B, ...), non-finite fitness as -inf.
        Returns (state, metrics) or (state, metrics, records)."""
        raise NotImplementedError

    def max_evaluations_per_iteration(self) -> int:
        """An upper bound (lets the engine run several iterations per chunk near a budget)."""
        return 2**62

    def active(self, state) -> bool:
        return True

    def summary(self, metrics: dict) -> dict:
        return {}

    def finalize(self, rng: np.random.Generator, state, evaluate: Callable) -> dict:
        """End-of-run work: {} or {"summary": {...}, "npz" | "json" | "safetensors" | "bytes":
        {path: content}}. `evaluate(genomes, phase=0)` runs the host evaluator on genomes (their
        payloads) with the individual seeds of a final iteration; it counts no evaluations."""
        return {}


class Trainer:
    """Base of `trainer`-driver algorithms: the algorithm owns its step loop.

    Constructed as `cls(cfg, task_info)`; `setup(seed, task)` builds the model, optimizer and
    generators (on start and before a resume's `load_state`); `train(loop)` runs

        while loop.running():
            ...one step...
            loop.step_done(metrics, evaluations=n, records=None)

    and `loop.step_done` logs, checkpoints (calling `state()`: the checkpoint callback) and
    raises KeyboardInterrupt after a checkpoint on Ctrl-C. `state()` returns plain data with
    torch tensors / numpy arrays as leaves (`model.state_dict()`, `optimizer.state_dict()`,
    `generator.get_state()`: RNG states included); tensors are saved as safetensors, the rest
    as JSON, never pickled. `loop.step` is the number of steps done (resumed runs start there).
    """

    n_runs: int = 1
    progress_keys: tuple[str, ...] = ()

    def __init__(self, cfg: dict[str, Any], task: TaskInfo):
        self.cfg = cfg
        self.task = task

    def setup(self, seed: int, task) -> None:
        raise NotImplementedError

    def state(self) -> dict:
        raise NotImplementedError

    def load_state(self, state: dict) -> None:
        raise NotImplementedError

    def train(self, loop) -> None:
        raise NotImplementedError

    def summary(self, metrics: dict) -> dict:
        return {}

    def finalize(self) -> dict:
        return {}
