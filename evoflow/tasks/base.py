"""The task contract: what the engine evaluates, with no knowledge of the algorithm that asks.

A task evaluates a batch of flat parameter vectors for one *run* (independent runs share the task
but may each hold their own data, e.g. a shifted optimum). Fitness is maximized: a task whose
natural objective is a loss declares `sense = "min"` and returns `-loss`, with NaN mapped to -inf
by the engine.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from evoflow.config import Param


@struct.dataclass
class Evaluation:
    """What evaluating a population returns; leaves share the population's leading axes.

    `fitness` is maximized. `descriptor` is set by QD tasks; `extras` carries anything else an
    algorithm may learn from (e.g. transitions for a replay buffer).
    """

    fitness: jax.Array
    descriptor: jax.Array | None = None
    extras: dict = struct.field(default_factory=dict)


OBS_CLIP = 10.0  # normalized observations are clipped to [-OBS_CLIP, OBS_CLIP]


@struct.dataclass
class PolicyBatch:
    """Flat policies `params` (B, D) with what a population algorithm sets for their episodes,
    for tasks that declare the fields in `Task.policy_batch`:

    - "obs_norm": `obs_mean`, `obs_std` (obs_dim,): the policies act on clip((o - mean) / std,
      +-OBS_CLIP) (the Deep GA's running normalizer, frozen for a generation), and the task
      returns per episode the moments of its valid steps' raw observations shifted by the mean,
      extras["obs_moments"] = (n (B,), sum(o - mean) (B, obs), sum((o - mean)^2) (B, obs));
    - "max_steps": `max_steps` (): episodes stop after this many steps (an adaptive cutoff),
      at most the task's own episode length.

    Fields left None keep the task's defaults (raw observations, its episode length)."""

    params: jax.Array
    obs_mean: jax.Array | None = None
    obs_std: jax.Array | None = None
    max_steps: jax.Array | None = None

    def inputs(self, obs):
        if self.obs_mean is None:
            return obs
        return normalized(obs, self.obs_mean, self.obs_std)


def normalized(obs, mean, std):
    return jnp.clip((obs - mean) / std, -OBS_CLIP, OBS_CLIP)


def as_evaluation(out) -> Evaluation:
    return out if isinstance(out, Evaluation) else Evaluation(fitness=out)


class Task:
    """Base class. Subclasses set the class attributes and implement the JAX methods."""

    name: str = ""
    sense: str = "min"  # the natural objective's sense; fitness is always maximized
    kinds: tuple[str, ...] = ()  # what the task offers: "function", "supervised", "descriptor", ...
    SCHEMA: dict[str, Param] = {}
    progress_keys: tuple[str, ...] = ()  # metrics shown beside the progress bar
    policy_batch: tuple[str, ...] = ()  # PolicyBatch fields evaluate takes ("obs_norm", ...)

    def __init__(self, cfg: dict[str, Any]):
        self.cfg = cfg

    # --- shapes and boxes -------------------------------------------------------------------
    @property
    def dim(self) -> int:
        raise NotImplementedError

    def init_box(self) -> tuple[np.ndarray, np.ndarray]:
        """Box of the initial sampling distribution, each (dim,)."""
        raise NotImplementedError

    def domain(self) -> tuple[np.ndarray, np.ndarray] | None:
        """Search domain (for box constraints), or None if unbounded."""
        return None

    # --- per-run data -----------------------------------------------------------------------
    def setup(self, key: jax.Array, run: jax.Array) -> Any:
        """Data of one run (a pytree), built from the run's own key; vmapped over runs."""
        return {}

    # --- evaluation -------------------------------------------------------------------------
    def evaluate(self, run_data: Any, params: jax.Array, key: jax.Array):
        """Fitness (maximized) of params (B, dim) for one run, or an Evaluation; pure JAX."""
        raise NotImplementedError

    numpy_evaluator: bool = False

    def evaluate_numpy(self, run_data: dict[str, np.ndarray], params: np.ndarray) -> np.ndarray:
        """Host evaluation of params (P, dim); run_data leaves are rows per individual (P, ...)."""
        raise NotImplementedError

    # Host evaluation (the host evaluator's workers call this on one chunk of P individuals).
    pad_chunks: bool = True  # False: a duplicate evaluation costs (a training trial), so the last
    #                          chunk is evaluated short instead of padded to `eval_chunk`

    def evaluate_host(self, run_data: dict[str, np.ndarray], population, seeds: np.ndarray,
                      broadcast: Any = None):
        """Host evaluation of one chunk: fitness (P,) or an Evaluation with numpy leaves (P, ...).

        run_data: the individuals' rows of the task data (P, ...). population: an array (P, ...)
        or a list of P JSON-like payloads (genome dicts, seed chains). seeds: (P,) uint32
        per-individual seeds (engine.hosteval.individual_seeds). broadcast: the generation's plain
        data (e.g. parent parameters), or None. Runs in a worker process that built the task from
        (env, config); it must depend on nothing but its arguments. Default: `evaluate_numpy`.
        """
        return self.evaluate_numpy(run_data, population)

    # Policy tasks that draw an episode (`evoflow eval --render`): the file's suffix, and
    # render_episode(run_data, theta, key, normalizer=None) -> (return, bytes) for JAX tasks,
    # render_episode(theta, reset_seed) for host tasks.
    render_suffix: str | None = None

    # --- reporting --------------------------------------------------------------------------
    def metrics(self, run_data: Any, points: jax.Array, valid: jax.Array) -> dict[str, jax.Array]:
        """Scalar metrics of the runs' reported points (M, dim); pure JAX, exact reductions only
        (counts, min, max), so that they do not depend on how the runs axis is sharded."""
        return {}

    def summary(self, metrics: dict[str, float]) -> dict[str, Any]:
        """Entries for summary.json from the last metrics line."""
        return {}


def nonfinite_to_neg_inf(fitness: jax.Array) -> jax.Array:
    """DESIGN.md's NaN policy at the task boundary: NaN or +inf fitness counts as -inf."""
    return jnp.where(jnp.isnan(fitness) | (fitness == jnp.inf), -jnp.inf, fitness)


def sanitize(evaluation: Evaluation) -> Evaluation:
    return evaluation.replace(fitness=nonfinite_to_neg_inf(evaluation.fitness))


class PolicyTask(Task):
    """A task whose genotypes are flat policy networks (`self.policy`, an evoflow.nets.Layout)
    rolled out for `self.T` steps from `obs_dim` observations to `act_dim` actions."""

    policy: Any
    T: int
    obs_dim: int
    act_dim: int

    @property
    def dim(self) -> int:
        return self.policy.n_params

    def init_box(self):
        return np.full(self.dim, -1.0), np.full(self.dim, 1.0)

    def sample_genotypes(self, key, n, dtype=jnp.float32):
        return self.policy.init(key, n, dtype)

    def genotype_leaves(self, flat):
        return self.policy.leaves(flat)


class PlanarEpisodeTask(PolicyTask):
    """A policy task on the plane whose `_episode(genotype, key)` returns (fitness, final
    position = descriptor, positions after each step (T, 2), transitions): evaluation and the
    viz trajectory follow from it, one reset key per policy."""

    sense = "max"
    kinds = ("descriptor", "policy")
    descriptor_names = ("x", "y")
    descriptor_units = ("", "")

    def _episode(self, genotype, key):
        raise NotImplementedError

    @staticmethod
    def transitions(obs, action, reward, next_obs, done) -> dict:
        """The (T, ...) transitions of an episode, as the PG variation's replay buffer reads
        them (`done` as the reward's dtype)."""
        return {"obs": obs, "action": action, "reward": reward, "next_obs": next_obs,
                "done": done.astype(reward.dtype)}

    def trajectory(self, run_data, params, key):
        """Positions after each step (n, T, 2) of the policies `params` (n, P), with the reset
        keys `evaluate` gives them: the last point is the descriptor."""
        keys = jax.random.split(key, params.shape[0])
        return jax.vmap(lambda g, k: self._episode(g, k)[2])(params, keys)

    walls: np.ndarray = np.zeros((0, 4))  # wall segments (x1, y1, x2, y2) drawn by render
    goal: tuple[float, float] | None = None

    render_suffix = "svg"

    def render_episode(self, run_data, theta, key, normalizer=None) -> tuple[float, bytes]:
        """The episode `evaluate` runs for theta (D,) from `key`: (its fitness, an SVG of the
        walls, the goal and the path) on the arena [-1, 1]^2."""
        fit, _, path, _ = jax.jit(self._episode)(theta, jax.random.split(key, 1)[0])
        path = np.asarray(path, np.float64)

        def xy(x, y):
            return f"{(x + 1) * 200:.2f},{(1 - y) * 200:.2f}"

        lines = [f'<line x1="{(a + 1) * 200:.2f}" y1="{(1 - b) * 200:.2f}" '
                 f'x2="{(c + 1) * 200:.2f}" y2="{(1 - d) * 200:.2f}" stroke="black" '
                 f'stroke-width="3"/>' for a, b, c, d in np.asarray(self.walls)]
        start = path[0]
        goal = "" if self.goal is None else (
            f'<circle cx="{(self.goal[0] + 1) * 200:.2f}" cy="{(1 - self.goal[1]) * 200:.2f}" '
            f'r="8" fill="green"/>')
        svg = ('<svg xmlns="http://www.w3.org/2000/svg" width="400" height="400" '
               'viewBox="0 0 400 400"><rect width="400" height="400" fill="white" '
               'stroke="black"/>' + "".join(lines) + goal +
               f'<polyline fill="none" stroke="#1f77b4" stroke-width="2" points="'
               f'{" ".join(xy(x, y) for x, y in path)}"/>'
               f'<circle cx="{(start[0] + 1) * 200:.2f}" cy="{(1 - start[1]) * 200:.2f}" r="4" '
               f'fill="#1f77b4"/></svg>')
        return float(fit), svg.encode()

    def evaluate(self, run_data, params, key):
        keys = jax.random.split(key, params.shape[0])
        fitness, final, _, transitions = jax.vmap(self._episode)(params, keys)
        return Evaluation(fitness=fitness, descriptor=final,
                          extras={"transitions": transitions})


def run_keys(seed: int):
    """The run's root keys (task data, init, iterations): fold_in(key(seed), 0 | 1 | 2)."""
    key = jax.random.key(seed)
    return tuple(jax.random.fold_in(key, i) for i in range(3))


def task_data(task: Task, seed: int, n_runs: int):
    """Every run's task data, as the engine builds it: `task.setup` vmapped over runs 0..M-1
    with the run's task key. `evoflow eval` and the engine both call this."""
    return jax.vmap(task.setup, (None, 0))(run_keys(seed)[0], jnp.arange(n_runs))
