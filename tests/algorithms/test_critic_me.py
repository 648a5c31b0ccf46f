"""PGA-ME, DCG-ME, DCRL-ME on point_omni: the emitter blocks, injection, replay, resume."""

from __future__ import annotations

import jax
import numpy as np
import optax
import pytest

from evoflow import experiment
from evoflow.algorithms.map_elites.critic_me import ACTOR, AI, PG
from evoflow.algorithms.map_elites.me import GA
from tests.algorithms.test_me import assert_same_archive
from tests.conftest import cli_env, evoflow, only_run, summary
from tests.engine.test_resume import assert_same_run, killed_resumed_and_whole


def engine_for(algo, **sets):
    prep = experiment.prepare(algo, "point_omni", "tiny", 0, {"log_every": 1, **sets})
    return prep, experiment.build_engine(prep, None, print, quiet=True)


@pytest.mark.parametrize("algo", ["pga_me", "dcg_me", "dcrl_me"])
def test_generation_blocks_counts_and_replay(algo):
    prep, eng = engine_for(algo)
    s = prep.strategy
    state, blocks = eng.advance(eng.initial_state(), 0, 4)
    n = s.counts
    assert [int(b.run_evaluations.sum()) for b in blocks] == [s.b * k for k in (1, 2, 3, 4)]
    assert int(state.replay.size) == 4 * s.b * 100  # every transition of every rollout
    em = np.asarray(state.emitter)  # the last ask's blocks, in order
    want = [GA] * n["ga"] + [PG] * n["pg"] + [AI] * n["ai"] + [ACTOR] * n["actor"]
    assert em.tolist() == want
    archive_emitters = set(np.asarray(state.archive.emitter)[np.isfinite(
        np.asarray(state.archive.fitness))].tolist())
    if algo == "dcg_me":
        assert ACTOR not in archive_emitters  # DC-actor rollouts only feed the replay buffer
    target = np.asarray(state.target_desc)
    assert np.isnan(target[em == GA]).all()
    if algo in ("dcg_me", "dcrl_me"):
        assert np.isfinite(target[em == PG]).all() and np.all(np.abs(target[em == PG]) <= 1)
    assert int(state.steps) == 4 * prep.cfg["critic_steps"]


@pytest.mark.parametrize("algo", ["pga_me", "dcg_me"])
def test_target_networks_follow_qdax_schedule(algo):
    """QDax 0.5.0: the target critics move after every critic step, the target actor after every
    actor step (one per `policy_delay` critic steps). With zero learning rates the online networks
    stay put, so after k soft updates target = (1 - tau)^k target_0 + (1 - (1 - tau)^k) online."""
    tau, steps, delay = 0.1, 6, 3
    prep, eng = engine_for(algo, tau=tau, critic_steps=steps, policy_delay=delay)
    s = prep.strategy
    s.critic_opt = s.actor_opt = optax.adam(0.0)  # same state layout, no movement
    state, _ = eng.advance(eng.initial_state(), 0, 1)
    state = state.replace(target_critics=state.target_critics * 0.5 - 1.0,
                          target_actor=state.target_actor * 0.5 - 1.0)
    after = jax.jit(s.train_critic)(jax.random.key(3), state)
    for name, updates in (("critics", steps), ("actor", steps // delay)):
        online = np.asarray(getattr(state, name), np.float64)
        t0 = np.asarray(getattr(state, "target_" + name), np.float64)
        keep = (1 - tau) ** updates
        np.testing.assert_allclose(np.asarray(getattr(after, "target_" + name)),
                                   keep * t0 + (1 - keep) * online, rtol=1e-5, atol=1e-6,
                                   err_msg=name)
        np.testing.assert_array_equal(np.asarray(getattr(after, name)), online)
    assert int(after.steps) == int(state.steps) + steps


def test_injected_actor_is_the_dc_actor_at_its_target():
    prep, eng = engine_for("dcrl_me")
    s = prep.strategy
    state, _ = eng.advance(eng.initial_state(), 0, 3)
    pop, asked = s.ask(jax.random.key(5), state)
    pop = np.asarray(pop[0])
    ai = np.asarray(asked.emitter) == AI
    obs = jax.random.uniform(jax.random.key(6), (64, 3), minval=-1, maxval=1)
    for genotype, d_prime in zip(pop[ai], np.asarray(asked.target_desc)[ai]):
        dc_in = np.concatenate([obs, np.broadcast_to(d_prime, (64, 2))], axis=1)
        np.testing.assert_allclose(s.policy_layout.apply(genotype, obs),
                                   s.actor_layout.apply(asked.actor, dc_in), atol=1e-6)


def test_dcg_me_sigkill_resume_and_devices(tmp_path):
    args = ["dcg_me", "--env", "point_omni", "--preset", "tiny", "--seed", "1",
            "--set", "evaluations=1000", "--set", "checkpoint_every=10", "--set", "log_every=5"]
    killed, whole = killed_resumed_and_whole(tmp_path, args)
    assert_same_run(killed, whole)
    assert_same_archive(killed, whole)
    last = str(summary(whole)["iterations"])
    with np.load(killed / "checkpoints" / last / "state.npz") as a, \
            np.load(whole / "checkpoints" / last / "state.npz") as b:
        assert {".critics", ".actor", ".replay.data.obs", ".critic_opt[0].mu"} <= set(a.files)
        for k in a.files:  # networks, optimizer states, replay buffer: all equal
            np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    four = cli_env(XLA_FLAGS="--xla_force_host_platform_device_count=4")
    evoflow("run", *args, "--out", tmp_path / "four", "--quiet", env=four)
    assert_same_run(whole, only_run(tmp_path / "four"))


def test_distilled_policy_files_and_summary(tmp_path):
    from safetensors.numpy import load_file

    from evoflow.nets import Layout

    evoflow("run", "dcrl_me", "--env", "point_omni", "--preset", "tiny", "--out", tmp_path,
            "--quiet")
    run = only_run(tmp_path)
    s = summary(run)
    for key in ("distill/qd_score", "distill/target_dist", "distill/random_dist",
                "distill/elite_dist", "qd_score", "coverage", "max_fitness"):
        assert key in s and np.isfinite(s[key]), key
    import json

    meta = json.loads((run / "artifacts" / "distilled.json").read_text())
    tensors = load_file(run / "artifacts" / "distilled.safetensors")
    layout = Layout((meta["obs_dim"] + meta["descriptor_dim"], *meta["hidden"], meta["act_dim"]))
    flat = np.concatenate([np.concatenate([tensors[f"layer_{i}/kernel"].ravel(),
                                           tensors[f"layer_{i}/bias"]])
                           for i in range(len(layout.shapes))])
    assert flat.size == layout.n_params
    with np.load(run / "distilled_eval.npz") as z, np.load(run / "archive.npz") as arch:
        cells = z["cell"]
        assert np.all(np.isfinite(arch["fitness"][cells]))  # evaluated at filled cells only
        assert z["fitness"].shape == cells.shape and z["descriptor"].shape == (cells.size, 2)
        assert np.all(np.abs(z["descriptor"]) <= 1) and np.all(z["fitness"] >= 0)
    last = str(s["iterations"])
    with np.load(run / "checkpoints" / last / "state.npz") as state:
        np.testing.assert_array_equal(flat, state[".actor"])  # the file is the final DC actor
    # pga_me has no DC actor: no distillation files
    evoflow("run", "pga_me", "--env", "point_omni", "--preset", "tiny", "--out", tmp_path / "p",
            "--quiet")
    assert not (only_run(tmp_path / "p") / "distilled_eval.npz").exists()
