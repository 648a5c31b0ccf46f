"""Shared fixtures: run the CLI in a subprocess, read run directories, compare runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# In-process tests share the CLI's persistent compilation cache (cold compiles dominate).
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", os.path.join(
    os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "evoflow", "jax"))
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
os.environ.setdefault("JAX_PLATFORMS", "cpu")


def cli_env(**extra) -> dict:
    env = dict(os.environ)
    env.setdefault("JAX_PLATFORMS", "cpu")
    env.pop("XLA_FLAGS", None)
    env.update({k: str(v) for k, v in extra.items()})
    return env


def evoflow(*args, timeout=600, env=None, check=True) -> subprocess.CompletedProcess:
    """Run `evoflow ARGS` as a user would (python -m evoflow.cli), capturing output."""
    proc = subprocess.run([sys.executable, "-m", "evoflow.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout,
                          env=env or cli_env(), cwd=REPO)
    if check and proc.returncode != 0:
        raise AssertionError(f"evoflow {' '.join(map(str, args))} exited {proc.returncode}:\n"
                             f"{proc.stdout}\n{proc.stderr}")
    return proc


def only_run(parent: Path) -> Path:
    runs = [p for p in Path(parent).iterdir() if p.is_dir()]
    assert len(runs) == 1, runs
    return runs[0]


def untimed(record: dict) -> dict:
    """A record without the fields that may differ between two runs of one config."""
    return {k: v for k, v in record.items() if not k.startswith("time/") and k != "devices"}


def metrics(run: Path) -> list[dict]:
    return [untimed(json.loads(line)) for line in (run / "metrics.jsonl").read_text().splitlines()]


def summary(run: Path) -> dict:
    return json.loads((run / "summary.json").read_text())


@pytest.fixture(autouse=True)
def _restore_prng_setting():
    """`experiment.prepare` sets jax_threefry_partitionable (and, for dtype=float64,
    jax_enable_x64) for the process, as a run's settings; in-process tests that call it must not
    change the random streams or dtypes of the tests after them."""
    import jax

    flags = {k: getattr(jax.config, k) for k in ("jax_threefry_partitionable", "jax_enable_x64")}
    yield
    for k, v in flags.items():
        if getattr(jax.config, k) != v:
            jax.config.update(k, v)


@pytest.fixture
def run_cli():
    return evoflow
