"""One smoke test over every registered algorithm: its tiny preset runs through the engine."""

from __future__ import annotations

import numpy as np
import pytest

from evoflow import experiment
from evoflow.algorithms import ALGORITHMS


@pytest.mark.parametrize("algo", sorted(ALGORITHMS))
def test_registered_algorithm_improves_on_sphere(algo):
    prep = experiment.prepare(algo, "sphere", "tiny", 0, {"iterations": 60, "log_every": 20,
                                                          "snapshot_every": 20})
    engine = experiment._build_engine(prep, None, print, quiet=True)
    state = engine.initial_state()
    state, blocks = engine.advance(state, 0, 60)
    assert [b.step for b in blocks] == [20, 40, 60]
    evals = [int(b.run_evaluations.sum()) for b in blocks]
    assert evals == [20 * prep.strategy.max_evaluations_per_iteration() * k for k in (1, 2, 3)]
    gaps = [b.metrics["best_gap"] for b in blocks]
    assert np.isfinite(gaps).all() and gaps[-1] <= gaps[0]
    assert experiment.accepted_envs(algo)  # listed with at least one env
