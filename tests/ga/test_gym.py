"""The Deep GA on gymnasium through the host loop (issue 20, milestone 2): a tiny CartPole run,
its test episodes replayed bitwise by `evoflow eval`, the per-child payload decoded as the device
path builds children, workers and Ray equal in-process, exact resume, and gym's bad input."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from evoflow.algorithms.ga import genome
from evoflow.algorithms.ga.ga import TEST_RESET_SEED
from evoflow.engine.hosteval import individual_seeds
from evoflow.errors import UsageError
from evoflow.experiment import prepare
from tests.conftest import evoflow, metrics, only_run, summary, untimed
from tests.engine.test_resume import run_and_kill

pytest.importorskip("gymnasium")

CARTPOLE = ["--env", "gym/CartPole-v1", "--preset", "tiny", "--seed", "0"]


@pytest.fixture(scope="module")
def cartpole_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("gym")
    evoflow("run", "ga", *CARTPOLE, "--out", out, "--quiet")
    return only_run(out)


def test_a_cartpole_run_tests_its_elite_on_seeds_training_never_drew(cartpole_run):
    s, cfg = summary(cartpole_run), json.loads((cartpole_run / "config.json").read_text())
    assert cartpole_run.name.startswith("ga-gym_CartPole-v1-")
    assert s["test/episodes"] == 8 and s["test/first_reset_seed"] == TEST_RESET_SEED
    assert s["evaluations"] == 4 * (16 + 2 * 4)
    assert 0 < s["env_steps"] <= s["evaluations"] * 100  # episodes end early: steps are counted
    assert 0 < s["elite/return"] <= 100  # episode_length 100
    best = json.loads((cartpole_run / "best.json").read_text())
    assert best["test"]["mean_return"] == s["test/mean_return"]
    # training reset seeds are the engine's per-individual seeds with bit 31 set: never a test
    # seed (1e9 + i) nor a --reset-seed K < 2**31 - episodes
    seeds = individual_seeds(cfg["seed"], 0, 0, 1, 16).astype(np.int64) | (1 << 31)
    assert seeds.min() >= 2**31 > TEST_RESET_SEED + 100


def test_eval_replays_the_test_episodes_bitwise_and_other_seeds(cartpole_run):
    proc = evoflow("eval", cartpole_run)
    lines = proc.stdout.strip().splitlines()
    rec = json.loads(open(lines[-1]).read())
    assert rec["mean_return"] == summary(cartpole_run)["test/mean_return"]
    assert rec["episodes"] == 8 and lines[0].startswith("mean_return ")
    path = evoflow("eval", cartpole_run, "--episodes", "3", "--reset-seed",
                   "123456789").stdout.strip().splitlines()[-1]
    other = json.loads(open(path).read())
    assert other["episodes"] == 3 and other["first_reset_seed"] == 123456789


def test_workers_and_ray_equal_the_in_process_run(tmp_path):
    """Acceptance 7: a worker builds each child from the broadcast parents and (parent, seed, σ)."""
    runs = {}
    for name, sets in [("local", []), ("pool", ["--set", "workers=2"]),
                       ("ray", ["--set", "backend=ray", "--set", "workers=2"])]:
        evoflow("run", "ga", *CARTPOLE, *sets, "--set", "iterations=3",
                "--out", tmp_path / name, "--quiet", timeout=300)
        runs[name] = only_run(tmp_path / name)
    base = runs["local"]
    for name in ("pool", "ray"):
        assert metrics(runs[name]) == metrics(base), name
        assert untimed(summary(runs[name])) == untimed(summary(base)), name
        assert (runs[name] / "best.genome").read_bytes() == (base / "best.genome").read_bytes()


@pytest.mark.parametrize("algo", ["random_search", "es"])
def test_the_family_s_other_algorithms_run_on_the_host_loop(tmp_path, algo):
    evoflow("run", algo, *CARTPOLE, "--set", "workers=2", "--out", tmp_path, "--quiet")
    run = only_run(tmp_path)
    s = summary(run)
    assert s["test/episodes"] == 8 and 0 < s["test/mean_return"] <= 100
    rec = json.loads(open(evoflow("eval", run).stdout.strip().splitlines()[-1]).read())
    assert rec["mean_return"] == s["test/mean_return"]


def test_sigkill_then_resume_equals_an_uninterrupted_run(tmp_path):
    args = ["ga", *CARTPOLE, "--set", "iterations=40", "--set", "checkpoint_every=4",
            "--set", "pop_size=8", "--set", "truncation=2", "--set", "episode_length=40"]
    killed = run_and_kill(tmp_path / "killed", args)
    evoflow("resume", killed, "--quiet")
    evoflow("run", *args, "--out", tmp_path / "whole", "--quiet")
    whole = only_run(tmp_path / "whole")
    assert metrics(killed) == metrics(whole)
    assert untimed(summary(killed)) == untimed(summary(whole))
    assert (killed / "best.genome").read_bytes() == (whole / "best.genome").read_bytes()


def test_the_host_decoder_builds_children_as_the_device_path_does():
    prep = prepare("ga", "gym/CartPole-v1", "tiny", 0, {})
    task, d = prep.task, prep.task.dim
    parents = np.asarray(task.sample_genotypes(jax.random.key(3), 4), np.float32)
    seeds = np.array([11, 12, 13, 14, 15], np.uint32)
    payload = {"parent": np.array([-1, 0, 2, 3, 1], np.int32), "seed": seeds,
               "sigma": np.array([0.05, 0.0, 0.05, 0.01, 0.05], np.float32)}
    rows = genome.host_children(task, payload, {"parents": parents})
    assert rows.shape == (5, d)
    fresh = np.asarray(task.sample_genotypes(jax.random.key(11), 1)[0])
    np.testing.assert_array_equal(rows[0], fresh)  # a fresh initialization from its seed
    np.testing.assert_array_equal(rows[1], parents[0])  # σ = 0: the elite, unmutated
    kids = np.asarray(genome.children(jnp.asarray(parents), jnp.array([2, 3, 1]),
                                      jnp.asarray(seeds[2:]), jnp.array([0.05, 0.01, 0.05],
                                                                        jnp.float32)))
    np.testing.assert_array_equal(rows[2:], kids)
    chain = genome.Chain(7, (13,), (0.05,))
    init = lambda key: task.sample_genotypes(key, 1)[0]  # noqa: E731
    first = np.asarray(init(jax.random.key(7)))[None]
    again = genome.host_children(task, {"parent": np.array([0], np.int32),
                                        "seed": np.array([13], np.uint32),
                                        "sigma": np.array([0.05], np.float32)},
                                 {"parents": first})
    np.testing.assert_array_equal(again[0], np.asarray(genome.materialize(chain, init, d)))


def test_episodes_reset_from_their_seeds_whatever_the_chunk():
    prep = prepare("ga", "gym/CartPole-v1", "tiny", 0, {"eval_chunk": 3})
    task = prep.task
    theta = np.asarray(task.sample_genotypes(jax.random.key(0), 5), np.float32)
    seeds = np.arange(100, 105)
    chunked = task.episodes(theta, seeds)
    one = [task.episodes(theta[i:i + 1], seeds[i:i + 1]).fitness[0] for i in range(5)]
    np.testing.assert_array_equal(chunked.fitness, one)
    assert (chunked.extras["env_steps"] >= 8).all()  # CartPole needs a few steps to fall


@pytest.mark.parametrize("algo, env, sets, needle", [
    ("ga", "gym/CartPol-v1", {}, "unknown gymnasium ID 'CartPol-v1'"),
    ("ga", "gym/CartPol-v1", {}, "CartPole-v1"),  # the closest ID
    ("ga_ns", "gym/CartPole-v1", {}, "has no descriptor"),
    ("ga", "gym/CartPole-v1", {"backend": "dask", "workers": 2}, "backend"),
    ("ga", "gym/CartPole-v1", {"workers": -1}, "workers"),
    ("ga", "gym/CartPole-v1", {"episode_cutoff": "adaptive"}, "fixed length"),
    ("ga", "gym/CartPole-v1", {"backend": "ray"}, "needs --set workers=K"),
])
def test_bad_gym_settings_are_refused_naming_the_value(algo, env, sets, needle):
    with pytest.raises(UsageError) as e:
        prepare(algo, env, "tiny", 0, sets)
    assert needle in str(e.value), str(e.value)


@pytest.mark.parametrize("env, module, needle", [
    ("gym/CartPole-v1", "gymnasium", "install the gym extra"),
    ("gym/ALE/Frostbite-v5", "ale_py", "Atari needs ale-py"),
])
def test_gym_and_atari_without_their_extra_name_it(monkeypatch, env, module, needle):
    monkeypatch.setitem(__import__("sys").modules, module, None)  # its import fails
    with pytest.raises(UsageError, match=needle):
        prepare("ga", env, "default", 0, {})


def test_ray_without_its_extra_names_it(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "ray" else real(name, *a))
    with pytest.raises(UsageError, match=r"install the ray extra"):
        prepare("ga", "gym/CartPole-v1", "tiny", 0, {"backend": "ray", "workers": 2})


def test_a_bad_gym_id_on_the_cli_is_one_line_exit_2_and_writes_nothing(tmp_path):
    proc = evoflow("run", "ga", "--env", "gym/NoSuchEnv-v0", "--out", tmp_path, check=False)
    assert proc.returncode == 2 and proc.stderr.strip().count("\n") == 0, proc.stderr
    assert "NoSuchEnv-v0" in proc.stderr and not any(tmp_path.iterdir())


def test_atari_runs_uber_s_network_on_preprocessed_frames(tmp_path):
    pytest.importorskip("ale_py")
    prep = prepare("ga", "gym/ALE/Frostbite-v5", "tiny", 0, {})
    assert prep.task.dim == 4_052_658 and prep.task.act_dim == 18  # Such et al.'s network
    assert prep.strategy.spec()["policy"] == "atari_cnn"
    evoflow("run", "ga", "--env", "gym/ALE/Frostbite-v5", "--preset", "tiny", "--out", tmp_path,
            "--quiet", timeout=600)
    run = only_run(tmp_path)
    s = summary(run)
    assert s["test/episodes"] == 2 and s["env_steps"] <= s["evaluations"] * 20
    rec = json.loads(open(evoflow("eval", run, "--render", timeout=600).stdout.strip()
                          .splitlines()[-1]).read())
    assert rec["mean_return"] == s["test/mean_return"]
    assert rec["files"][0].endswith("episode0.gif") and (run / rec["files"][0]).stat().st_size


def test_render_draws_episode_zero_beside_the_record(cartpole_run):
    rec = json.loads(open(evoflow("eval", cartpole_run, "--episodes", "2", "--render")
                          .stdout.strip().splitlines()[-1]).read())
    gif = cartpole_run / rec["files"][0]
    assert gif.read_bytes()[:6] == b"GIF89a" and rec["render"]["return"] == rec["returns"][0]
    proc = evoflow("eval", cartpole_run, "--render=yes", check=False)
    assert proc.returncode == 2 and "--render takes no value" in proc.stderr
