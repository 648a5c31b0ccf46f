"""One smoke test over every registered algorithm: its tiny preset runs through the engine."""

from __future__ import annotations

import math

import pytest

from evoflow import experiment
from evoflow.algorithms import ALGORITHMS


@pytest.mark.parametrize("algo", sorted(ALGORITHMS))
def test_registered_algorithm_runs_its_tiny_preset(algo):
    envs = [e for e in experiment.accepted_envs(algo) if "tiny" in experiment.algo_presets(algo, e)]
    assert envs, f"{algo} has no env with a tiny preset"
    prep = experiment.prepare(algo, envs[0], "tiny", 0, {"iterations": 30, "evaluations": None,
                                                        "log_every": 10, "snapshot_every": 0})
    engine = experiment.build_engine(prep, None, print, quiet=True)
    state, blocks = engine.advance(engine.initial_state(), 0, 30)
    assert [b.step for b in blocks] == [10, 20, 30]
    per_it = prep.strategy.max_evaluations_per_iteration()
    evals = [0] + [int(b.run_evaluations.sum()) for b in blocks]
    # a fixed batch for most; at most that where generation varies (optsearch's warm start)
    assert all(0 < b - a <= 10 * per_it for a, b in zip(evals, evals[1:])), evals
    if algo != "optsearch":
        assert evals[1:] == [10 * per_it, 20 * per_it, 30 * per_it]
    for b in blocks:
        assert all(math.isfinite(v) for v in b.metrics.values() if isinstance(v, float)), b
    # Each family's headline metric improves (or holds) from the first block to the last.
    maximized = ("qd_score", "elite/return", "best/return")
    key = next(k for k in (*maximized, "best_gap", "best/val_loss") if k in blocks[0].metrics)
    first, last = blocks[0].metrics[key], blocks[-1].metrics[key]
    assert (last >= first) if key in maximized else (last <= first)
