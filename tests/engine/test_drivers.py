"""The python and trainer drivers (test-only family tests/families/toy.py), family budget keys,
env_steps, append-only run files and the PRNG guard on resume."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from tests.conftest import evoflow, metrics, only_run, summary, untimed
from tests.engine.test_resume import assert_same_run, run_and_kill

FAMILY = "tests.families.toy"
EA = ["toy_ea", "--env", "sphere", "--preset", "tiny", "--seed", "0"]
SGD = ["toy_sgd", "--env", "digits", "--preset", "tiny", "--seed", "0"]


@pytest.fixture(autouse=True)
def toy_family(monkeypatch):
    monkeypatch.setenv("EVOFLOW_FAMILIES", FAMILY)  # inherited by the CLI subprocesses


def lines(run: Path, name: str) -> list[str]:
    return (run / name).read_text().splitlines()


def assert_same(a: Path, b: Path, files=()) -> None:
    assert_same_run(a, b)
    for name in files:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def test_python_driver_sigkill_then_resume_equals_uninterrupted(tmp_path):
    args = EA + ["--set", "iterations=6000", "--set", "checkpoint_every=200",
                 "--set", "log_every=50", "--set", "snapshot_every=0"]
    killed = run_and_kill(tmp_path / "killed", args)
    evoflow("resume", killed, "--quiet")
    evoflow("run", *args, "--out", tmp_path / "whole", "--quiet")
    whole = only_run(tmp_path / "whole")
    assert_same(killed, whole, files=["candidates.jsonl"])
    assert len(lines(whole, "candidates.jsonl")) == 6000
    m = metrics(whole)
    assert all("step" in x and "evaluations" in x for x in m)
    assert m[-1]["evaluations"] == 6000 * 8
    side = json.loads((whole / "checkpoints" / "6000" / "side.json").read_text())
    assert side["state"]["gen"] == 6000 and side["arrays"]  # JSON plus named arrays


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="needs the torch extra")
def test_trainer_driver_sigkill_then_resume_equals_uninterrupted(tmp_path):
    args = SGD + ["--set", "iterations=2500", "--set", "checkpoint_every=200",
                  "--set", "log_every=100"]
    killed = run_and_kill(tmp_path / "killed", args, timeout=120)
    evoflow("resume", killed, "--quiet")
    evoflow("run", *args, "--out", tmp_path / "whole", "--quiet")
    whole = only_run(tmp_path / "whole")
    assert_same(killed, whole)
    s = summary(whole)
    assert s["iterations"] == 2500 and s["evaluations"] == 2500 * 32
    assert s["test_accuracy"] > 0.8
    assert (whole / "checkpoints" / "2500" / "state.safetensors").exists()
    assert not list(whole.rglob("*.pkl"))


def test_family_budget_key_stops_the_run_and_more_extends_it(tmp_path):
    base = EA + ["--set", "iterations=null", "--set", "checkpoint_every=20", "--set",
                 "log_every=1"]
    evoflow("run", *base, "--set", "mutations=500", "--out", tmp_path / "a", "--quiet")
    run = only_run(tmp_path / "a")
    m = metrics(run)
    assert summary(run)["stopped_by"] == "mutations"
    assert m[-1]["mutations"] >= 500 > m[-2]["mutations"]  # the first generation reaching it
    assert summary(run)["mutations"] == m[-1]["mutations"]
    evoflow("resume", run, "--more", 300, "--quiet")
    assert json.loads((run / "config.json").read_text())["config"]["mutations"] == 800
    evoflow("run", *base, "--set", "mutations=800", "--out", tmp_path / "b", "--quiet")
    assert_same(run, only_run(tmp_path / "b"), files=["candidates.jsonl"])
    assert metrics(run)[-1]["mutations"] >= 800 > metrics(run)[-2]["mutations"]


def test_env_steps_stops_a_qd_run_within_one_generation_and_more_extends_it(tmp_path):
    base = ["me", "--env", "point_omni", "--preset", "tiny", "--seed", "0", "--set",
            "iterations=null", "--set", "evaluations=null", "--set", "log_every=1",
            "--set", "checkpoint_every=5"]
    evoflow("run", *base, "--set", "env_steps=150000", "--out", tmp_path / "a", "--quiet")
    run = only_run(tmp_path / "a")
    s, m = summary(run), metrics(run)
    assert s["stopped_by"] == "env_steps"
    cfg = json.loads((run / "config.json").read_text())["config"]
    per_gen = m[-1]["evaluations"] - m[-2]["evaluations"]
    assert m[-1]["env_steps"] == m[-1]["evaluations"] * cfg["episode_length"]
    assert m[-1]["env_steps"] >= 150000 > m[-2]["env_steps"]
    assert m[-1]["env_steps"] - 150000 < per_gen * cfg["episode_length"]
    evoflow("resume", run, "--more", 100000, "--quiet")
    evoflow("run", *base, "--set", "env_steps=250000", "--out", tmp_path / "b", "--quiet")
    whole = only_run(tmp_path / "b")
    assert summary(run)["env_steps"] >= 250000 > metrics(run)[-2]["env_steps"]
    assert metrics(run) == metrics(whole)
    assert untimed(summary(run)) == untimed(summary(whole))


def test_env_steps_on_a_task_without_episodes_is_refused(tmp_path):
    proc = evoflow("run", "cbo", "--env", "sphere", "--preset", "tiny", "--set",
                   "env_steps=100", "--out", tmp_path, check=False)
    assert proc.returncode == 2 and "no environment steps" in proc.stderr
    assert not tmp_path.exists() or not list(tmp_path.iterdir())


def test_append_only_file_is_cut_to_the_cursor_on_resume(tmp_path):
    """Lines written after the last checkpoint (and a torn line) are cut, then re-written once."""
    args = EA + ["--set", "iterations=100", "--set", "checkpoint_every=30", "--set",
                 "log_every=10"]
    evoflow("run", *args, "--out", tmp_path / "whole", "--quiet")
    evoflow("run", *args, "--out", tmp_path / "cut", "--quiet")
    run = only_run(tmp_path / "cut")
    # As if killed after writing iteration 85's lines, past checkpoint 60: drop the newer ones.
    import shutil

    for step in (90, 100):
        shutil.rmtree(run / "checkpoints" / str(step), ignore_errors=True)
    (run / "summary.json").unlink()
    keep = lines(run, "candidates.jsonl")[:85]
    (run / "candidates.jsonl").write_text("\n".join(keep) + '\n{"gen": 85, "fitn')
    meta = json.loads((run / "checkpoints" / "60" / "meta.json").read_text())
    assert meta["cursors"]["candidates.jsonl"] == 60
    evoflow("resume", run, "--quiet")
    got = lines(run, "candidates.jsonl")
    assert [json.loads(x)["gen"] for x in got] == list(range(100))  # none lost or doubled
    assert_same(run, only_run(tmp_path / "whole"), files=["candidates.jsonl"])


def test_resume_under_other_prng_settings_is_refused(tmp_path):
    evoflow("run", *EA, "--set", "iterations=20", "--set", "checkpoint_every=10",
            "--out", tmp_path, "--quiet")
    run = only_run(tmp_path)
    v = json.loads((run / "versions.json").read_text())
    v["prng"]["threefry_partitionable"] = not v["prng"]["threefry_partitionable"]
    (run / "versions.json").write_text(json.dumps(v))
    proc = evoflow("resume", run, "--more", 10, check=False)
    assert proc.returncode == 2, proc.stderr
    err = proc.stderr.strip().splitlines()
    assert len(err) == 1 and "threefry_partitionable=True" in err[0] \
        and "threefry_partitionable=False" in err[0]
    assert not (run / "checkpoints" / "30").exists()


def test_more_extends_the_budget_key_that_stopped_the_run(tmp_path):
    """Two budgets set (the tiny preset's evaluations and env_steps): --more N extends the one
    that stopped the run."""
    base = ["me", "--env", "point_omni", "--preset", "tiny", "--seed", "0", "--set",
            "iterations=null", "--set", "log_every=1", "--set", "checkpoint_every=5"]
    evoflow("run", *base, "--set", "env_steps=64000", "--out", tmp_path, "--quiet")
    run = only_run(tmp_path)
    assert summary(run)["stopped_by"] == "env_steps"
    evoflow("resume", run, "--more", 32000, "--quiet")
    cfg = json.loads((run / "config.json").read_text())["config"]
    assert cfg["env_steps"] == 96000 and summary(run)["env_steps"] >= 96000


@pytest.mark.parametrize("driver", ["python", "trainer"])
def test_ctrl_c_checkpoints_and_resumes_exactly(tmp_path, driver):
    import signal
    import subprocess
    import sys
    import time

    from tests.conftest import REPO, cli_env

    if driver == "trainer" and importlib.util.find_spec("torch") is None:
        pytest.skip("needs the torch extra")
    n = 6000 if driver == "python" else 3000
    args = (EA + ["--set", "snapshot_every=0"] if driver == "python" else SGD) + [
        "--set", f"iterations={n}", "--set", "log_every=10",
                                                         "--set", "checkpoint_every=100000"]
    proc = subprocess.Popen([sys.executable, "-m", "evoflow.cli", "run", *args, "--out",
                             str(tmp_path / "a"), "--quiet"], cwd=REPO, env=cli_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    while not list((tmp_path / "a").glob("*/metrics.jsonl")):
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    run = only_run(tmp_path / "a")
    steps = [int(p.name) for p in (run / "checkpoints").iterdir()]
    assert len(steps) == 1 and 0 < steps[0] < n  # checkpointed where it stopped
    evoflow("resume", run, "--quiet")
    evoflow("run", *args, "--out", tmp_path / "b", "--quiet")
    assert_same(run, only_run(tmp_path / "b"),
                files=["candidates.jsonl"] if driver == "python" else [])


@pytest.mark.slow
def test_env_steps_on_a_brax_qd_task(tmp_path):
    """ant_omni (brax): 16 x 20-step episodes per generation, 320 env steps."""
    base = ["me", "--env", "ant_omni", "--preset", "tiny", "--seed", "0", "--set",
            "evaluations=null", "--set", "checkpoint_every=2"]
    evoflow("run", *base, "--set", "env_steps=965", "--out", tmp_path / "a", "--quiet")
    run = only_run(tmp_path / "a")
    assert summary(run)["stopped_by"] == "env_steps"
    assert [x["env_steps"] for x in metrics(run)] == [320, 640, 960, 1280]
    evoflow("resume", run, "--more", 640, "--quiet")
    assert [x["env_steps"] for x in metrics(run)][-2:] == [1600, 1920]
    evoflow("run", *base, "--set", "env_steps=1605", "--out", tmp_path / "b", "--quiet")
    assert metrics(run) == metrics(only_run(tmp_path / "b"))
    assert untimed(summary(run)) == untimed(summary(only_run(tmp_path / "b")))
