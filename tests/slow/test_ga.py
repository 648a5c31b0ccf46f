"""Deep GA acceptance runs (issue 20; `slow`): the default hopper run more than doubles its
generation-0 best and improves over its run, and on the deceptive maze novelty search escapes the
trap where the reward-driven GA does not, at equal evaluations; LunarLander on two workers
lands (test mean >= 200)."""

from __future__ import annotations

import statistics

import pytest

from tests.conftest import evoflow, metrics, only_run, summary

pytestmark = pytest.mark.slow


def test_the_default_hopper_run_doubles_its_first_generation(tmp_path):
    evoflow("run", "ga", "--env", "hopper", "--seed", "0", "--out", tmp_path, "--quiet",
            timeout=1800)
    run = only_run(tmp_path)
    s, m = summary(run), metrics(run)
    assert s["env_steps"] >= 3_000_000 and s["test/episodes"] == 10
    assert s["test/mean_return"] >= 2 * s["gen0/max_return"], s
    third = len(m) // 3
    elite = [x["elite/return"] for x in m]
    assert statistics.median(elite[-third:]) > statistics.median(elite[:third])


@pytest.mark.parametrize("algo, most", [("ga_ns", None), ("ga", 1)])
def test_novelty_search_escapes_the_maze_trap_and_the_ga_does_not(tmp_path, algo, most):
    reached, evaluations = [], set()
    for seed in range(5):
        out = tmp_path / f"s{seed}"
        evoflow("run", algo, "--env", "deceptive_maze", "--seed", seed, "--out", out, "--quiet",
                timeout=1800)
        s = summary(only_run(out))
        reached.append(s["goal_reached"])
        evaluations.add(s["evaluations"])
    assert len(evaluations) == 1  # equal budgets across seeds (and, by the presets, algorithms)
    if most is None:
        assert sum(reached) >= 4, reached
    else:
        assert sum(reached) <= most, reached


def test_lunar_lander_on_two_workers_lands_over_100_test_episodes(tmp_path):
    """Acceptance 3: gymnasium on the host loop, a process pool of 2 workers."""
    pytest.importorskip("gymnasium")
    evoflow("run", "ga", "--env", "gym/LunarLander-v3", "--seed", "0", "--set", "workers=2",
            "--out", tmp_path, "--quiet", timeout=3600)
    s = summary(only_run(tmp_path))
    assert s["test/episodes"] == 100 and s["test/mean_return"] >= 200, s
