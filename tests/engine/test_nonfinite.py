"""DESIGN.md's NaN policy: non-finite fitness counts as -inf and is counted; an iteration whose
every evaluation is non-finite stops the run with a clear error, keeping its last checkpoint."""

from __future__ import annotations

import jax.numpy as jnp
import pytest

from evoflow import experiment
from evoflow.engine.loop import LoopState
from evoflow.engine.rundir import RunDir
from evoflow.errors import NonFiniteError
from evoflow.tasks.functions import FunctionTask


class NaNAbove(FunctionTask):
    """Sphere whose fitness is NaN where x_0 > threshold (NaN everywhere for -inf)."""

    threshold = 0.0

    def evaluate(self, run_data, params, key):
        f = super().evaluate(run_data, params, key)
        return jnp.where(params[..., 0] > self.threshold, jnp.nan, f)


def engine_for(tmp_path, threshold, **sets):
    prep = experiment.prepare("cbo", "sphere", "tiny", 0, {"iterations": 300,
                                                           "checkpoint_every": 100, **sets})
    task = NaNAbove("sphere", prep.cfg)
    task.threshold = threshold
    prep.task = task
    run = RunDir.create(tmp_path, "run")
    lines = []
    eng = experiment.build_engine(prep, run, lines.append, quiet=True)
    return eng, run, lines


def test_nan_counts_as_worst_and_is_counted_once_warned(tmp_path):
    eng, run, lines = engine_for(tmp_path, threshold=1.5)
    summary = eng.run_loop(eng.initial_state(), LoopState(), {})
    m = run.read_metrics()
    assert sum(line["eval/nonfinite"] for line in m) > 0
    assert len([s for s in lines if "non-finite" in s]) == 1  # one warning per run
    assert summary["success_rate"] == 1.0  # the optimum (x_0 near 0 after shift) (|shift| <= 1) is reachable


def test_all_nonfinite_iteration_stops_with_last_checkpoint_kept(tmp_path):
    eng, run, _ = engine_for(tmp_path, threshold=-jnp.inf, iterations=300)
    # Every evaluation is NaN from the first iteration on.
    with pytest.raises(NonFiniteError, match="iteration 0: every evaluation was non-finite"):
        eng.run_loop(eng.initial_state(), LoopState(), {})
    assert not (run / "summary.json").exists()


def test_nonfinite_after_a_checkpoint_keeps_it(tmp_path):
    eng, run, _ = engine_for(tmp_path, threshold=1e9)
    state = eng.initial_state()
    eng.task.threshold = 1e9
    eng.budget.iterations = 100
    eng.run_loop(state, LoopState(), {})  # a good first segment with a checkpoint at 100
    eng2, _, _ = engine_for(tmp_path / "b", threshold=-jnp.inf)
    eng2.run = run
    st, loop, _ = eng2.restore(report=print)
    eng2.budget.iterations = 300
    with pytest.raises(NonFiniteError, match="last good checkpoint is kept: checkpoints/100"):
        eng2.run_loop(st, loop, {})
    assert (run / "checkpoints" / "100" / "state.npz").exists()
