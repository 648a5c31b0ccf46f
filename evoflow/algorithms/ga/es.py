"""`es`: any evosax 0.3 strategy (`--set strategy=NAME`, a key of `evosax.algorithms.algorithms`;
default `Open_ES`, OpenAI-ES) as a device-driver strategy, the family's evolution-strategy
baseline.

evosax minimizes, so it is told −fitness. Distribution-based strategies start from one genotype
of the task's sampler as their mean; population-based ones (SimpleGA, DE, PSO, ...) need an
evaluated initial population: generation 0 asks N genotypes of the sampler and tells them to
the strategy's `init`, later generations run its ask/tell. The reported point is the best
individual evaluated so far, written to `best_params.npz` with its return.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from evoflow.algorithms.base import Strategy
from evoflow.algorithms.ga import schema
from evoflow.algorithms.ga.ga import TEST_RESET_SEED, replay_episodes
from evoflow.errors import UsageError

BEST_PARAMS = "best_params.npz"


@struct.dataclass
class ESState:
    es: object  # the evosax strategy's state
    generation: jax.Array
    evaluations: jax.Array  # (1,)
    env_steps: jax.Array
    best: jax.Array  # (D,) the best individual evaluated so far
    best_return: jax.Array
    gen0_max: jax.Array
    goal_reached: jax.Array


def evosax_strategy(name: str, pop_size: int, dim: int):
    """(strategy, is population-based) for an evosax 0.3 algorithm name."""
    from evosax.algorithms import algorithms
    from evosax.algorithms.population_based.base import PopulationBasedAlgorithm

    if name not in algorithms:
        raise UsageError(f"--set strategy={name}: not an evosax strategy; evosax 0.3 has "
                         f"{', '.join(sorted(algorithms))}")
    try:
        algo = algorithms[name](population_size=pop_size, solution=jnp.zeros(dim))
    except Exception as e:  # a strategy that needs more than a size and a solution
        raise UsageError(f"--set strategy={name}: evosax could not build it with "
                         f"population_size and solution alone ({type(e).__name__}: {e})") from None
    return algo, isinstance(algo, PopulationBasedAlgorithm)


class EvosaxES(Strategy):
    SCHEMA = schema.ES
    progress_keys = ("best/return", "fitness/max")

    def __init__(self, cfg, task):
        super().__init__(cfg, task)
        if task.sample_genotypes is None:
            raise UsageError("this task has no policy initializer (es evolves policies)")
        self.n = cfg["pop_size"]
        self.algo, self.pop_based = evosax_strategy(cfg["strategy"], self.n, task.dim)
        self.params = self.algo.default_params

    def max_evaluations_per_iteration(self) -> int:
        return self.n

    def init(self, key, n_runs_padded, dtype=jnp.float32):
        k_mean, k_init = jax.random.split(key)
        if self.pop_based:  # a placeholder of the right structure; generation 0 replaces it
            pop = self.task.sample_genotypes(k_init, self.n, dtype)
            es = self.algo.init(k_init, pop, jnp.zeros(self.n, dtype), self.params)
        else:
            es = self.algo.init(k_init, self.task.sample_genotypes(k_mean, 1, dtype)[0],
                                self.params)
        return ESState(es=es, generation=jnp.int32(0), evaluations=jnp.zeros((1,), jnp.int32),
                       env_steps=jnp.int32(0), best=jnp.zeros(self.task.dim, dtype),
                       best_return=jnp.asarray(-jnp.inf, dtype),
                       gen0_max=jnp.asarray(-jnp.inf, dtype), goal_reached=jnp.bool_(False))

    def ask(self, key, state: ESState, phase: int = 0):
        if self.pop_based:
            def first(_):
                pop = self.task.sample_genotypes(key, self.n, state.best.dtype)
                return pop, state.es

            def later(_):
                return self.algo.ask(key, state.es, self.params)

            pop, es = jax.lax.cond(state.generation == 0, first, later, None)
        else:
            pop, es = self.algo.ask(key, state.es, self.params)
        return pop[None].astype(state.best.dtype), state.replace(es=es)

    def tell(self, key, population, evaluation, state: ESState, phase: int = 0):
        pop, ret = population[0], evaluation.fitness[0]
        loss = -ret  # evosax minimizes
        if self.pop_based:
            es = jax.lax.cond(state.generation == 0,
                              lambda _: self.algo.init(key, pop, loss, self.params),
                              lambda _: self.algo.tell(key, pop, loss, state.es,
                                                       self.params)[0], None)
        else:
            es, _ = self.algo.tell(key, pop, loss, state.es, self.params)
        i = jnp.argmax(ret)
        better = ret[i] > state.best_return
        ex = evaluation.extras
        steps = (jnp.sum(ex["env_steps"][0]).astype(jnp.int32) if "env_steps" in ex
                 else jnp.int32(ret.shape[0] * self.task.episode_length))
        goal = state.goal_reached
        if "goal_reached" in ex:
            goal = goal | jnp.any(ex["goal_reached"][0])
        state = state.replace(
            es=es, generation=state.generation + 1, evaluations=state.evaluations + ret.shape[0],
            env_steps=state.env_steps + steps, best=jnp.where(better, pop[i], state.best),
            best_return=jnp.where(better, ret[i], state.best_return),
            gen0_max=jnp.where(state.generation == 0, jnp.max(ret), state.gen0_max),
            goal_reached=goal)
        metrics = {"fitness/max": jnp.max(ret), "fitness/mean": jnp.mean(ret),
                   "best/return": state.best_return, "generation": state.generation}
        if self.task.episode_length:
            metrics["env_steps"] = state.env_steps
        return state, metrics

    # --- engine views ---------------------------------------------------------------------------
    def reported(self, state):
        return state.best[None]

    def run_evaluations(self, state):
        return state.evaluations

    def runs_active(self, state):
        return jnp.ones((1,), bool)

    def summary(self, metrics):
        return {k: metrics[k] for k in ("best/return", "env_steps") if k in metrics}

    def checkpoint_files(self, state):
        return {"npz": {BEST_PARAMS: {"params": np.asarray(state.best),
                                      "return": np.asarray(state.best_return)}}}

    def finalize(self, key, state, evaluate):
        seeds = np.arange(TEST_RESET_SEED, TEST_RESET_SEED + self.cfg["test_episodes"])
        ev = replay_episodes(evaluate, state.best, seeds)
        ret = np.asarray(ev["return"], np.float64)
        summary = {"gen0/max_return": float(state.gen0_max),
                   "best/return": float(state.best_return),
                   "test/mean_return": float(ret.mean()), "test/std_return": float(ret.std()),
                   "test/episodes": len(ret), "test/first_reset_seed": int(seeds[0])}
        if "goal_reached" in ev:
            summary["goal_reached"] = bool(state.goal_reached)
            summary["test/goal_reached"] = float(np.mean(ev["goal_reached"]))
        return {"summary": summary, **self.checkpoint_files(state)}
