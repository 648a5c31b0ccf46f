"""Budgets (the first reached stops the run), per-run stops ending a run, and Ctrl-C."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

from tests.conftest import REPO, cli_env, evoflow, metrics, only_run, summary
from tests.engine.test_resume import assert_same_run

TINY = ["run", "cbo", "--env", "sphere", "--preset", "tiny", "--quiet"]


def test_evaluation_budget_stops_at_the_first_iteration_reaching_it(tmp_path):
    per_it = 8 * 60
    evoflow(*TINY, "--set", "iterations=null", "--set", f"evaluations={per_it * 95 + 7}",
            "--out", tmp_path)
    s = summary(only_run(tmp_path))
    assert s["iterations"] == 96 and s["evaluations"] == per_it * 96
    assert s["stopped_by"] == "evaluations"
    assert metrics(only_run(tmp_path))[-1]["step"] == 96  # the last iteration is logged


def test_iterations_or_evaluations_whichever_first(tmp_path):
    evoflow(*TINY, "--set", "iterations=50", "--set", "evaluations=10000000", "--out", tmp_path)
    assert summary(only_run(tmp_path))["stopped_by"] == "iterations"


def test_wall_clock_budget(tmp_path):
    evoflow(*TINY, "--set", "iterations=null", "--set", "wall_s=0.5", "--out", tmp_path)
    s = summary(only_run(tmp_path))
    assert s["stopped_by"] == "wall_s" and s["iterations"] > 0


def test_run_ends_when_every_run_has_stopped(tmp_path):
    evoflow(*TINY, "--set", "iterations=5000", "--set", "energy_tol=1e-6", "--out", tmp_path)
    s = summary(only_run(tmp_path))
    assert s["stopped_by"] == "all runs stopped" and s["iterations"] < 5000
    assert metrics(only_run(tmp_path))[-1]["runs_active"] == 0


def test_ctrl_c_checkpoints_prints_resume_and_resumes_exactly(tmp_path):
    args = ["cbo", "--env", "rastrigin", "--preset", "tiny", "--set", "iterations=10000",
            "--set", "checkpoint_every=5000"]
    proc = subprocess.Popen([sys.executable, "-m", "evoflow.cli", "run", *args, "--out",
                             str(tmp_path / "a"), "--quiet"], cwd=REPO, env=cli_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    while not (tmp_path / "a").exists() or not list((tmp_path / "a").glob("*/metrics.jsonl")):
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 130, err
    assert "Resume with: evoflow resume" in err
    run = only_run(tmp_path / "a")
    steps = [p.name for p in (run / "checkpoints").iterdir()]
    assert len(steps) == 1 and int(steps[0]) < 10000 and int(steps[0]) % 5000  # checkpointed where it stopped
    evoflow("resume", run, "--quiet", timeout=900)
    evoflow("run", *args, "--out", tmp_path / "b", "--quiet", timeout=900)
    assert_same_run(run, only_run(tmp_path / "b"))
