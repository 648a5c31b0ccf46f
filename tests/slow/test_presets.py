"""Every preset shipped in envs/*.json resolves and passes its algorithm's validation (`slow`:
building every task and strategy takes a few minutes on 2 cores)."""

from __future__ import annotations

import pytest

from evoflow import experiment
from evoflow.algorithms import ALGORITHMS

pytestmark = pytest.mark.slow

CASES = [(algo, env, preset) for algo in sorted(ALGORITHMS)
         for env in experiment.accepted_envs(algo)
         for preset in experiment.algo_presets(algo, env)]


@pytest.mark.parametrize(("algo", "env", "preset"), CASES)
def test_shipped_preset_is_valid(algo, env, preset):
    prep = experiment.prepare(algo, env, preset, 0, {})  # raises UsageError on a bad value
    assert (prep.algo, prep.preset, prep.strategy is not None) == (algo, preset, True)
