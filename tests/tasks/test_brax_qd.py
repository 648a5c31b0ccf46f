"""Brax QD tasks: `ant_omni` rewards, descriptors, and the `ant` alias through the CLI."""

from __future__ import annotations

import json

import jax
import numpy as np
import pytest

from evoflow.tasks import TASKS
from tests.conftest import evoflow, only_run, summary


@pytest.fixture(scope="module")
def ant():
    cfg = {"episode_length": 40, "policy_hidden": [16, 16], "resets": "stochastic",
           "brax_backend": "spring"}
    return TASKS["ant_omni"].make(cfg)  # one Brax build for the module


def test_descriptor_has_its_dimension_and_varies_over_random_policies(ant):
    params = ant.sample_genotypes(jax.random.key(0), 32) * 3.0  # livelier than the init scale
    ev = jax.jit(ant.evaluate)({}, params, jax.random.key(1))
    d, f = np.asarray(ev.descriptor), np.asarray(ev.fitness)
    assert d.shape == (32, 2) and f.shape == (32,)
    assert np.all(np.abs(d) <= 30) and d.std(axis=0).min() > 1e-3
    assert np.all(f >= 0) and np.all(f <= 40 * (3.0 + 1.0))  # offset 3 + healthy 1 per step
    t = ev.extras["transitions"]
    assert t["obs"].shape == (32, 40, ant.obs_dim) and t["action"].shape == (32, 40, 8)


def test_reward_is_offset_clipped_and_has_no_forward_term(ant):
    g = ant.sample_genotypes(jax.random.key(2), 1)[0]
    key = jax.random.key(3)
    ret, xy, tr = jax.jit(ant._episode)(g, key)
    env = ant.env
    state, alive, total = env.reset(key), 1.0, 0.0
    last_xy = None
    for _ in range(40):
        state = env.step(state, ant.policy.apply(g, state.obs))
        r = float(state.reward - state.metrics["reward_forward"])
        total += max(r + 3.0, 0.0) * alive
        if alive:  # the descriptor is the torso's position at the last step before done
            last_xy = np.asarray(state.pipeline_state.x.pos[0, :2])
        alive *= 1.0 - float(state.done)
    np.testing.assert_allclose(ret, total, rtol=1e-4)
    np.testing.assert_allclose(xy, last_xy, atol=1e-4)


def test_dcg_me_ant_alias_runs_ant_omni(tmp_path):
    proc = evoflow("run", "dcg_me", "--env", "ant", "--preset", "tiny", "--out", tmp_path)
    assert "dcg_me on ant_omni" in proc.stdout.splitlines()[0]
    run = only_run(tmp_path)
    assert run.name.startswith("dcg_me-ant_omni-")
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["env"] == "ant_omni" and cfg["env_alias"] == "ant"
    s = summary(run)
    assert s["env_alias"] == "ant" and s["evaluations"] == 80 and s["qd_score"] > 0
    assert s["coverage"] > 0
    for f in ("archive.npz", "distilled_eval.npz", "artifacts/distilled.safetensors"):
        assert (run / f).exists(), f
    assert "qd_score=" in proc.stdout and "coverage=" in proc.stdout
