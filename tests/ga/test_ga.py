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
    path = evoflow("eval", ga_run, "--render").stdout.strip().splitlines()[-1]
    rec = json.loads(open(path).read())
    assert rec["mean_return"] == summary(ga_run)["test/mean_return"] and rec["episodes"] == 4
    svg = (ga_run / rec["files"][0]).read_text()  # --render: the walls and episode 0's path
    assert svg.startswith("<svg") and svg.count("<line") == 8 and svg.count(",") == 100  # T = 100 points
    assert rec["render"]["return"] == pytest.approx(rec["returns"][0], rel=1e-5)


def test_eval_refuses_a_bad_genome_a_bad_count_and_a_folder_that_is_no_run(ga_run, tmp_path):
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(ga_run, bad)
    shutil.rmtree(bad / "evals", ignore_errors=True)  # records of the other tests' evals
    data = bytearray((bad / "best.genome").read_bytes())
    data[-1] ^= 1  # the last mutation's sigma: the rebuild misses the checksum
    (bad / "best.genome").write_bytes(bytes(data))
    for args, needle in [((bad,), "fail the checksum (recorded "),
                         ((ga_run, "--episodes", "0"), "--episodes 0: must be in 1.."),
                         ((tmp_path,), "not an evoflow run directory")]:
        proc = evoflow("eval", *args, check=False)
        assert proc.returncode == 2 and needle in proc.stderr, proc.stderr
        assert proc.stderr.strip().count("\n") == 0
    assert not (bad / "evals").exists()


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


def test_the_adaptive_cutoff_grows_by_its_ratio_when_episodes_reach_it():
    info = TaskInfo(dim=1, init_low=np.zeros(1), init_high=np.ones(1), domain_low=None,
                    domain_high=None, episode_length=100, policy_batch=("max_steps",),
                    sample_genotypes=lambda key, n, dtype=jnp.float32:
                    jax.random.uniform(key, (n, 1), dtype))
    cfg = {**{k: p.default for k, p in DeepGA.SCHEMA.items()}, "pop_size": 10, "truncation": 2,
           "elite_candidates": 0, "iterations": 8, "sigma": 0.1, "episode_cutoff": "adaptive",
           "cutoff_start": 10, "cutoff_ratio": 1.5, "cutoff_threshold": 0.2, "cutoff_max": 40}
    s = DeepGA(cfg, info)
    state = s.init(jax.random.key(0), 1)
    seen = []
    for gen in range(7):
        pop, state = s.ask(jax.random.key(gen), state, 0)
        assert int(pop.max_steps[0]) == int(state.cutoff)
        seen.append(int(state.cutoff))
        # generations 0-4: 3 of 10 episodes reach the limit (> 0.2); later only 2 (not > 0.2)
        n_hit = 3 if gen < 5 else 2
        steps = jnp.where(jnp.arange(10) < n_hit, state.cutoff, 1)[None]
        ev = Evaluation(fitness=pop.params[:, :, 0], extras={"env_steps": steps})
        state, m = s.tell(jax.random.key(gen), pop, ev, state, 0)
        assert int(m["episode_cutoff"]) == seen[-1]
    assert seen == [10, 15, 22, 33, 40, 40, 40]
    assert int(state.env_steps) == sum(3 * c + 7 for c in seen[:5]) + sum(2 * c + 8
                                                                          for c in seen[5:])


def test_adaptive_cutoff_needs_an_env_that_takes_one():
    with pytest.raises(UsageError, match="episode_cutoff=adaptive: this env's episodes"):
        prepare("ga", "deceptive_maze", "tiny", 0, {"episode_cutoff": "adaptive"})


# --- Brax locomotion: observation normalization, early termination --------------------------

def test_a_hopper_run_counts_the_steps_it_ran_and_eval_replays_its_normalizer(tmp_path):
    evoflow("run", "ga", "--env", "hopper", "--preset", "tiny", "--seed", "0", "--out", tmp_path,
            "--set", "episode_cutoff=adaptive", "--set", "cutoff_start=20",
            "--set", "cutoff_threshold=0.1", "--set", "log_every=1", "--quiet", timeout=900)
    run = only_run(tmp_path)
    s, m = summary(run), metrics(run)
    cutoffs = [x["episode_cutoff"] for x in m]
    assert cutoffs[0] == 20 and cutoffs == sorted(cutoffs) and cutoffs[-1] > 20, cutoffs
    # episodes stop at the first fall or the cutoff: fewer steps than evaluations x the cutoff
    per_gen = 32 + 2 * 2
    steps = [b["env_steps"] - a for a, b in zip([0] + [x["env_steps"] for x in m], m)]
    assert all(0 < n <= per_gen * c for n, c in zip(steps, cutoffs)), (steps, cutoffs)
    assert s["env_steps"] == m[-1]["env_steps"] < s["evaluations"] * 100
    norm = json.loads((run / "best.json").read_text())["normalizer"]
    assert norm["count"] > 0 and len(norm["mean"]) == len(norm["std"]) == 11  # hopper obs
    assert all(v > 0 for v in norm["std"]) and norm["std"] != [1.0] * 11
    rec = json.loads(open(evoflow("eval", run, "--render", timeout=900).stdout.strip()
                          .splitlines()[-1]).read())
    assert rec["mean_return"] == s["test/mean_return"] and rec["episodes"] == 2
    # --render: brax's viewer of episode 0, the same episode (a scan, not the while loop)
    assert "Brax visualizer" in (run / rec["files"][0]).read_text()
    assert rec["render"]["return"] == pytest.approx(rec["returns"][0], rel=1e-4, abs=1e-3)
