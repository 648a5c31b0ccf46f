"""`es` (issue 20 item 7): the adapter's ask/tell equal evosax's own loop told −fitness, for a
distribution-based (Open_ES, CMA_ES) and a population-based (SimpleGA) strategy; a tiny run on
the maze; an unknown strategy lists evosax's."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from evosax.algorithms import algorithms

from evoflow.algorithms.base import TaskInfo
from evoflow.algorithms.ga.es import EvosaxES
from evoflow.errors import UsageError
from evoflow.experiment import prepare
from evoflow.tasks.base import Evaluation
from tests.conftest import evoflow, only_run, summary

D, N, GENERATIONS = 5, 16, 6


def _sampler(key, n, dtype=jnp.float32):
    return jax.random.uniform(key, (n, D), dtype, -1.0, 1.0)


def _sphere(x):
    return jnp.sum(jnp.square(x - 0.3), axis=-1)


@pytest.mark.parametrize("name", ["Open_ES", "CMA_ES", "SimpleGA"])
def test_ask_tell_equal_evosax_told_minus_fitness(name):
    info = TaskInfo(dim=D, init_low=-np.ones(D), init_high=np.ones(D), domain_low=None,
                    domain_high=None, sample_genotypes=_sampler)
    s = EvosaxES({"strategy": name, "pop_size": N, "test_episodes": 1}, info)
    key = jax.random.key(7)
    state = s.init(key, 1)
    best = -np.inf
    for g in range(GENERATIONS):
        k_ask, k_tell = jax.random.split(jax.random.fold_in(key, g))
        pop, state = s.ask(k_ask, state)
        fitness = -_sphere(pop[0])
        best = max(best, float(fitness.max()))
        state, _ = s.tell(k_tell, pop, Evaluation(fitness=fitness[None]), state)

    algo = algorithms[name](population_size=N, solution=jnp.zeros(D))
    params = algo.default_params
    k_mean, k_init = jax.random.split(key)
    pop_based = name == "SimpleGA"
    es = None if pop_based else algo.init(k_init, _sampler(k_mean, 1)[0], params)
    for g in range(GENERATIONS):
        k_ask, k_tell = jax.random.split(jax.random.fold_in(key, g))
        if pop_based and g == 0:
            ref_pop = _sampler(k_ask, N)
            es = algo.init(k_tell, ref_pop, _sphere(ref_pop), params)
            continue
        ref_pop, es = algo.ask(k_ask, es, params)
        es, _ = algo.tell(k_tell, ref_pop, _sphere(ref_pop), es, params)
    np.testing.assert_array_equal(np.asarray(pop[0]), np.asarray(ref_pop))
    for a, b in zip(jax.tree_util.tree_leaves(state.es), jax.tree_util.tree_leaves(es)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert float(state.best_return) == best  # the best individual seen, as maximized fitness


def test_a_tiny_es_run_on_the_maze_and_its_eval(tmp_path):
    evoflow("run", "es", "--env", "deceptive_maze", "--preset", "tiny", "--seed", "0",
            "--out", tmp_path, "--quiet")
    run = only_run(tmp_path)
    s = summary(run)
    assert s["iterations"] == 20 and s["best/return"] >= s["gen0/max_return"]
    assert (run / "best_params.npz").is_file()
    path = evoflow("eval", run).stdout.strip().splitlines()[-1]
    assert '"mean_return"' in open(path).read()


def test_an_unknown_strategy_lists_evosax_strategies():
    with pytest.raises(UsageError, match="strategy=Nope: not an evosax strategy; evosax 0.3 has "
                                         "ARS, .*Open_ES"):
        prepare("es", "deceptive_maze", "tiny", 0, {"strategy": "Nope"})
