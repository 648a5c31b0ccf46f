"""Killed runs resume to the same files as uninterrupted ones; damaged checkpoints are skipped."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import REPO, cli_env, evoflow, metrics, only_run, summary, untimed


def run_and_kill(out: Path, args: list, n_checkpoints: int = 2, timeout: float = 300) -> Path:
    """Start `evoflow run ARGS --out OUT`, SIGKILL it once checkpoints/ holds n entries."""
    proc = subprocess.Popen([sys.executable, "-m", "evoflow.cli", "run", *map(str, args),
                             "--out", str(out), "--quiet"], cwd=REPO, env=cli_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    t0 = time.monotonic()
    try:
        while time.monotonic() - t0 < timeout:
            runs = [p for p in out.iterdir()] if out.exists() else []
            if runs:
                ck = runs[0] / "checkpoints"
                if ck.exists() and sum(p.name.isdigit() for p in ck.iterdir()) >= n_checkpoints:
                    break
            if proc.poll() is not None:
                pytest.fail(f"run ended before {n_checkpoints} checkpoints: "
                            f"{proc.stderr.read().decode()}")
            time.sleep(0.01)
        else:
            pytest.fail("timed out waiting for checkpoints")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    run = only_run(out)
    assert not (run / "summary.json").exists()
    return run


def killed_resumed_and_whole(tmp_path: Path, args: list) -> tuple[Path, Path]:
    """The run of ARGS SIGKILLed after 2 checkpoints and resumed, and an uninterrupted one."""
    killed = run_and_kill(tmp_path / "killed", args)
    evoflow("resume", killed, "--quiet", timeout=1200)
    evoflow("run", *args, "--out", tmp_path / "whole", "--quiet", timeout=1200)
    return killed, only_run(tmp_path / "whole")


def assert_same_run(a: Path, b: Path) -> None:
    assert metrics(a) == metrics(b)
    assert untimed(summary(a)) == untimed(summary(b))
    pa, pb = a / "particles.npz", b / "particles.npz"
    if pa.exists() or pb.exists():
        with np.load(pa) as za, np.load(pb) as zb:
            assert sorted(za.files) == sorted(zb.files)
            for k in za.files:
                np.testing.assert_array_equal(za[k], zb[k], err_msg=k)


# Enough iterations that the kill lands mid-run; small checkpoints so it lands early.
TINY = ["cbo", "--env", "rastrigin", "--preset", "tiny", "--seed", "0",
        "--set", "iterations=10000", "--set", "checkpoint_every=200"]


@pytest.mark.parametrize("driver", ["device", "host"])
def test_sigkill_then_resume_equals_uninterrupted(tmp_path, driver):
    args = TINY + (["--set", "evaluator=numpy", "--set", "workers=2", "--set",
                    "iterations=800", "--set", "checkpoint_every=100"]
                   if driver == "host" else [])
    assert_same_run(*killed_resumed_and_whole(tmp_path, args))


def test_truncated_newest_checkpoint_is_reported_and_skipped(tmp_path):
    args = TINY[:-4] + ["--set", "iterations=600", "--set", "checkpoint_every=100"]
    evoflow("run", *args, "--out", tmp_path / "a", "--quiet")
    run = only_run(tmp_path / "a")
    steps = sorted(int(p.name) for p in (run / "checkpoints").iterdir())
    assert steps == [400, 500, 600]  # keep_checkpoints = 3
    (run / "summary.json").unlink()
    state = run / "checkpoints" / "600" / "state.npz"
    state.write_bytes(state.read_bytes()[: state.stat().st_size // 2])
    proc = evoflow("resume", run)
    assert "skipping checkpoint 600" in proc.stdout and "truncated or corrupt" in proc.stdout
    evoflow("run", *args, "--out", tmp_path / "b", "--quiet")
    assert_same_run(run, only_run(tmp_path / "b"))


def test_resume_more_extends_a_finished_run(tmp_path):
    args = TINY[:-4] + ["--set", "iterations=300", "--set", "checkpoint_every=100"]
    evoflow("run", *args, "--out", tmp_path / "a", "--quiet")
    run = only_run(tmp_path / "a")
    evoflow("resume", run, "--more", 200, "--quiet")
    assert summary(run)["iterations"] == 500
    assert json.loads((run / "config.json").read_text())["config"]["iterations"] == 500
    evoflow("run", *TINY[:-4], "--set", "iterations=500", "--set", "checkpoint_every=100",
            "--out", tmp_path / "b", "--quiet")
    whole = only_run(tmp_path / "b")
    assert metrics(run) == metrics(whole)
    assert untimed(summary(run)) == untimed(summary(whole))


def test_resume_of_a_finished_run_without_more_is_refused(tmp_path):
    evoflow("run", *TINY[:-4], "--set", "iterations=100", "--out", tmp_path, "--quiet")
    proc = evoflow("resume", only_run(tmp_path), check=False)
    assert proc.returncode == 2 and "--more" in proc.stderr


def test_checkpoint_files_are_whole_and_plain(tmp_path):
    evoflow("run", *TINY[:-4], "--set", "iterations=200", "--set", "checkpoint_every=100",
            "--out", tmp_path, "--quiet")
    run = only_run(tmp_path)
    for step in ("100", "200"):
        meta = json.loads((run / "checkpoints" / step / "meta.json").read_text())
        assert meta["cursors"]["metrics.jsonl"] == int(step) // 20
        with np.load(run / "checkpoints" / step / "state.npz", allow_pickle=False) as z:
            assert {".runs.x", ".runs.best_x", ".params.sigma"} <= set(z.files)
    assert not list((run / "checkpoints").glob(".tmp-*"))
    shutil.rmtree(run)
