"""Brax QD tasks: rewards, descriptors (ant_omni here, the other robots `slow`), the AntTrap's
walls, and the QD aliases through the CLI."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from evoflow.experiment import resolve_env
from evoflow.tasks import TASKS, brax_qd
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
    step = jax.jit(lambda st: env.step(st, ant.policy.apply(g, st.obs)))
    for _ in range(40):
        state = step(state)
        r = float(state.reward - state.metrics["reward_forward"])
        total += max(r + 3.0, 0.0) * alive
        if alive:  # the descriptor is the torso's position at the last step before done
            last_xy = np.asarray(state.pipeline_state.x.pos[0, :2])
        alive *= 1.0 - float(state.done)
    np.testing.assert_allclose(ret, total, rtol=1e-4)
    np.testing.assert_allclose(xy, last_xy, atol=1e-3)  # a step moves the torso ~1e-2 m


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


@pytest.mark.parametrize("alias, env", [("ant", "ant_omni"), ("humanoid", "humanoid_omni"),
                                        ("walker2d", "walker2d_uni"),
                                        ("halfcheetah", "halfcheetah_uni")])
def test_robot_names_alias_one_paper_task_for_qd_algorithms(alias, env):
    assert resolve_env("dcg_me", alias) == (env, alias)
    assert resolve_env("me", env) == (env, None)


def _torso_x_after(env, steps=50):
    """The torso started inside the U (x = 9) at +10 m/s toward its closed end (x = 12),
    zero actions: its largest x over `steps` steps."""
    q = env.sys.init_q.at[0].set(9.0)
    qd = jnp.zeros(env.sys.qd_size()).at[0].set(10.0)
    state, step = env.pipeline_init(q, qd), jax.jit(env.pipeline_step)
    a, xs = jnp.zeros(env.action_size), []
    for _ in range(steps):
        state = step(state, a)
        xs.append(float(state.x.pos[0, 0]))
    return max(xs)


def test_anttrap_walls_stop_the_torso_and_ant_omni_has_none():
    wall_face = 12.0 - brax_qd.TRAP_RADIUS
    trapped = _torso_x_after(brax_qd.load_ant_trap("spring"))
    free = _torso_x_after(brax_qd.load_brax_env("ant", "spring"))
    assert trapped < wall_face, trapped
    assert free > 12.0 + brax_qd.TRAP_RADIUS, free


def _feet_contact_reference(task, pipeline_state):
    """QDax's FeetContactWrapper by hand: a foot touches when a contact's second link is it
    and the contact distance is <= 0."""
    c = pipeline_state.contact
    li, dist = np.asarray(c.link_idx[1]), np.asarray(c.dist)
    return np.array([np.any((li == f) & (dist <= 0)) for f in task.feet], np.float32)


@pytest.mark.slow
@pytest.mark.parametrize("name, dim", [("ant_uni", 4), ("walker2d_uni", 2),
                                       ("halfcheetah_uni", 2), ("humanoid_uni", 2),
                                       ("humanoid_omni", 2), ("anttrap_omni", 2)])
def test_other_brax_tasks_descriptors_have_their_dimension_and_vary(name, dim):
    task = TASKS[name].make({"episode_length": 40, "policy_hidden": [16, 16],
                             "resets": "stochastic", "brax_backend": "spring"})
    params = task.sample_genotypes(jax.random.key(0), 32) * 3.0
    ev = jax.jit(task.evaluate)({}, params, jax.random.key(1))
    d, f = np.asarray(ev.descriptor), np.asarray(ev.fitness)
    lo, hi = task.descriptor_box()
    assert d.shape == (32, dim) and len(task.descriptor_names) == dim
    assert np.all(d >= lo) and np.all(d <= hi) and d.std(axis=0).min() > 1e-3
    assert np.all(f >= 0)
    if task.spec.descriptor == "feet":
        # The contact test, state by state along a step-by-step rollout.
        env, g = task.env, params[0]
        step = jax.jit(lambda st: env.step(st, task.policy.apply(g, st.obs)))
        state, seen = env.reset(jax.random.key(7)), set()
        for _ in range(task.T):
            want = _feet_contact_reference(task, state.pipeline_state)
            np.testing.assert_array_equal(task._feet_contact(state.pipeline_state), want)
            seen.add(tuple(want))
            state = step(state)
        assert len(seen) > 1  # the rollout saw more than one contact pattern
        # The descriptor is a mean over the steps before `done`: all-contact gives exactly 1,
        # also for policies that fall early (dividing by T would not).
        always = type(task)(name, task.cfg)
        always._feet_contact = lambda ps: jnp.ones(len(always.feet))
        ev1 = jax.jit(always.evaluate)({}, params, jax.random.key(1))
        np.testing.assert_array_equal(ev1.descriptor, 1.0)
        fell = np.asarray(ev1.extras["transitions"]["done"]).max(axis=1)
        if name == "ant_uni":
            assert fell.sum() > 0  # some ants fell: the normalization was exercised
