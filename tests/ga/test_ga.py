"""The Deep GA and random search on the device driver (issue 20, milestone 1): runs, genome files,
`evoflow eval`, exact resume after SIGKILL on 4 forced host devices, the elite rule through the
real `tell`, the σ schedule and bad input."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from evoflow.algorithms.base import TaskInfo
from evoflow.algorithms.ga import genome
from evoflow.algorithms.ga.ga import TEST_RESET_SEED, DeepGA
from evoflow.errors import UsageError
from evoflow.experiment import prepare
from evoflow.tasks.base import Evaluation
from tests.conftest import cli_env, evoflow, metrics, only_run, summary, untimed
from tests.engine.test_resume import run_and_kill

MAZE = ["--env", "deceptive_maze", "--preset", "tiny", "--seed", "0"]


@pytest.fixture(scope="module")
def ga_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("ga")
    evoflow("run", "ga", *MAZE, "--out", out, "--quiet")
    return only_run(out)


def test_a_ga_run_writes_its_summary_genome_and_metrics(ga_run):
    s = summary(ga_run)
    assert s["iterations"] == 20 and s["test/episodes"] == 4
    assert s["test/first_reset_seed"] == TEST_RESET_SEED
    assert s["env_steps"] == s["evaluations"] * 100  # episode_length 100 (tiny)
    assert s["evaluations"] == 20 * (64 + 4 * 2)  # N + candidates x episodes, each generation
    assert s["elite/return"] >= s["gen0/max_return"]  # the elite is kept: never worse (no noise)
    assert s["goal_reached"] in (True, False) and "time/env_steps_per_s" in s
    m = metrics(ga_run)
    assert [x["step"] for x in m] == list(range(2, 21, 2))
    assert {"env_steps", "fitness/max", "elite/return", "sigma"} <= set(m[-1])
    best = json.loads((ga_run / "best.json").read_text())
    assert best["test"]["mean_return"] == s["test/mean_return"]
    g = genome.decode((ga_run / "best.genome").read_bytes())
    assert g.chain.generations == s["elite/generations"] == len(best["seeds"]) > 0
    assert list(g.chain.seeds) == best["seeds"]


def test_eval_rebuilds_the_genome_and_replays_the_test_mean_bitwise(ga_run):
    path = evoflow("eval", ga_run, "--reset-seed", "123456789", "--episodes", "2"
                   ).stdout.strip().splitlines()[-1]
    other = json.loads(open(path).read())
    assert other["episodes"] == 2 and other["first_reset_seed"] == 123456789
    path = evoflow("eval", ga_run).stdout.strip().splitlines()[-1]
    rec = json.loads(open(path).read())
    assert rec["mean_return"] == summary(ga_run)["test/mean_return"] and rec["episodes"] == 4


def test_sigkill_then_resume_on_four_devices_equals_an_uninterrupted_run(tmp_path):
    args = ["ga", *MAZE, "--set", "iterations=400", "--set", "checkpoint_every=20",
            "--set", "log_every=10"]
    killed = run_and_kill(tmp_path / "killed", args)
    evoflow("resume", killed, "--quiet")
    evoflow("run", *args, "--out", tmp_path / "whole", "--quiet",
            env=cli_env(XLA_FLAGS="--xla_force_host_platform_device_count=4"))
    whole = only_run(tmp_path / "whole")
    assert metrics(killed) == metrics(whole)
    keep = lambda s: {k: v for k, v in untimed(s).items() if k != "devices"}  # noqa: E731
    assert keep(summary(killed)) == keep(summary(whole))
    for name in ("best.genome", "best.json"):
        assert (killed / name).read_bytes() == (whole / name).read_bytes(), name


def test_random_search_keeps_the_best_reevaluated_individual(tmp_path):
    evoflow("run", "random_search", *MAZE, "--set", "iterations=6", "--out", tmp_path, "--quiet")
    run = only_run(tmp_path)
    s, m = summary(run), metrics(run)
    assert s["elite/generations"] == 0  # every individual is a fresh initialization
    elite = [x["elite/return"] for x in m]
    assert elite == sorted(elite) and s["elite/return"] == elite[-1]


# --- the elite rule through the real tell ----------------------------------------------------

N, FIT, K, EPISODES, TRIALS = 200, 20, 10, 30, 1000


def _strategy():
    info = TaskInfo(dim=1, init_low=np.zeros(1), init_high=np.ones(1), domain_low=None,
                    domain_high=None,
                    sample_genotypes=lambda key, n, dtype=jnp.float32:
                    jax.random.uniform(key, (n, 1), dtype))
    cfg = {**{k: p.default for k, p in DeepGA.SCHEMA.items()}, "pop_size": N, "truncation": 20,
           "elite_candidates": K, "elite_episodes": EPISODES, "iterations": 1, "sigma": 0.01}
    return DeepGA(cfg, info)


def test_reevaluation_through_tell_picks_a_truly_fit_elite():
    s = _strategy()

    def trial(key):
        k_fit, k_one, k_re, k_ask = jax.random.split(key, 4)
        state = s.init(k_ask, 1)
        pop, state = s.ask(k_ask, state, 0)  # generation 0: N distinct fresh individuals
        true = jnp.zeros(N).at[jax.random.permutation(k_fit, N)[:FIT]].set(1.0)
        single = true + jax.random.normal(k_one, (N,))
        state, _ = s.tell(k_ask, pop, Evaluation(fitness=single[None]), state, 0)
        cand_pop, state = s.ask(k_ask, state, 1)
        # the candidates' rows are those of phase 0
        ok = jnp.all(cand_pop[0].reshape(K, EPISODES)[:, 0] == pop[0, state.candidates, 0])
        returns = true[state.candidates][:, None] + jax.random.normal(k_re, (K, EPISODES))
        state, _ = s.tell(k_ask, cand_pop, Evaluation(fitness=returns.reshape(1, -1)), state, 1)
        elite = jnp.argmax(pop[0, :, 0] == state.elite[0])
        return true[elite], true[jnp.argmax(single)], ok, state.parents[0, 0] == state.elite[0]

    elite_fit, argmax_fit, ok, first = jax.vmap(trial)(jax.random.split(jax.random.key(1),
                                                                        TRIALS))
    assert bool(jnp.all(ok)) and bool(jnp.all(first))  # parents[0] is the elite
    assert float(elite_fit.mean()) >= 0.90, float(elite_fit.mean())  # NumPy: 99.6%
    assert float(argmax_fit.mean()) <= 0.75, float(argmax_fit.mean())  # NumPy: 60%


def test_children_of_later_generations_extend_their_parents_chains():
    s = _strategy()
    key = jax.random.key(3)
    state = s.init(key, 1)
    for gen in range(4):
        k = jax.random.fold_in(key, gen)
        pop, state = s.ask(k, state, 0)
        fit = -jnp.abs(pop[0, :, 0] - 0.5)
        state, _ = s.tell(k, pop, Evaluation(fitness=fit[None]), state, 0)
        cand, state = s.ask(k, state, 1)
        state, _ = s.tell(k, cand, Evaluation(fitness=-jnp.abs(cand[0, :, 0] - 0.5)[None]),
                          state, 1)
    init = lambda k: s.task.sample_genotypes(k, 1)[0]  # noqa: E731
    for j in range(s.t):
        n = int(state.p_len[j])
        chain = genome.Chain(int(state.p_init[j]), tuple(map(int, state.p_seeds[j, :n])),
                             tuple(map(float, state.p_sigmas[j, :n])))
        np.testing.assert_array_equal(genome.materialize(chain, init, 1), state.parents[j])
    assert int(state.p_len.max()) >= 2


@pytest.mark.parametrize("kind, mid", [("linear", 0.00505), ("exp", 0.001)])
def test_sigma_schedules_run_from_sigma_to_sigma_final(kind, mid):
    s = _strategy()
    cfg = {**s.cfg, "iterations": 3, "sigma": 0.01, "sigma_schedule": kind, "sigma_final": 1e-4}
    s = DeepGA(cfg, s.task)
    got = [float(s.sigma_at(jnp.int32(g))) for g in range(3)]
    np.testing.assert_allclose(got, [0.01, mid, 1e-4], rtol=1e-5)


@pytest.mark.parametrize("algo, sets, needle", [
    ("ga", {"truncation": 0}, "truncation=0: must be in 1..63"),
    ("ga", {"truncation": 64}, "truncation=64: must be in 1..63"),
    ("ga", {"elite_candidates": 65}, "elite_candidates=65: must be <= pop_size (64)"),
    ("ga", {"elite_episodes": 0}, "elite_episodes"),
    ("ga", {"episodes": 0}, "episodes"),
    ("ga", {"sigma": 0.0}, "sigma"),
    ("ga", {"sigma_schedule": "linear"}, "needs --set sigma_final"),
    ("ga", {"chain_capacity": 10}, "the budget allows 20 generations"),
    ("random_search", {"dtype": "float64"}, "seed-chain genomes are float32"),
])
def test_bad_settings_are_refused_naming_the_value(algo, sets, needle):
    with pytest.raises(UsageError, match=None) as e:
        prepare(algo, "deceptive_maze", "tiny", 0, sets)
    assert needle in str(e.value), str(e.value)


def test_truncation_zero_points_to_random_search():
    with pytest.raises(UsageError, match="use random_search"):
        prepare("ga", "deceptive_maze", "tiny", 0, {"truncation": 0})


def test_a_bad_setting_on_the_cli_is_one_line_exit_2_and_writes_nothing(tmp_path):
    proc = evoflow("run", "ga", *MAZE, "--set", "truncation=64", "--out", tmp_path, check=False)
    assert proc.returncode == 2 and proc.stderr.strip().count("\n") == 0, proc.stderr
    assert "truncation=64" in proc.stderr and not any(tmp_path.iterdir())
    proc = evoflow("run", "ga", "--env", "sphere", "--out", tmp_path, check=False)
    assert proc.returncode == 2 and not any(tmp_path.iterdir()), proc.stderr
