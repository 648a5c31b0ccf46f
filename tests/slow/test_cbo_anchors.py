"""Statistical anchors and full-size acceptance checks (`pytest -m slow`)."""

from __future__ import annotations

import pytest

from tests.conftest import evoflow, only_run, summary
from tests.engine.test_resume import assert_same_run, killed_resumed_and_whole

pytestmark = pytest.mark.slow


def run_summary(tmp_path, *args):
    evoflow("run", "cbo", *args, "--out", tmp_path, "--quiet", timeout=1200)
    return summary(only_run(tmp_path))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_rastrigin_default_matches_cbxpy_reference(tmp_path, seed):
    s = run_summary(tmp_path, "--env", "rastrigin", "--seed", seed)
    assert s["n_runs"] == 100 and s["success_rate"] >= 0.95 and s["best_gap"] < 1e-2, s


def test_ackley_d20_anisotropic_n50(tmp_path):
    s = run_summary(tmp_path, "--env", "ackley", "--set", "n_particles=50")
    assert s["success_rate"] >= 0.95, s  # CBXpy, d=30, N=40: 100/100


def test_rastrigin_d20_isotropic_is_worse(tmp_path):
    """Isotropic noise needs 2 lam > d sigma^2 to contract: it must not match anisotropic."""
    s = run_summary(tmp_path, "--env", "rastrigin", "--set", "noise=isotropic")
    assert s["success_rate"] <= 0.70, s


def test_full_size_sigkill_resume(tmp_path):
    args = ["cbo", "--env", "rastrigin", "--seed", "0", "--set", "iterations=20000",
            "--set", "checkpoint_every=1000"]
    assert_same_run(*killed_resumed_and_whole(tmp_path, args))


def test_digits_three_seeds(tmp_path):
    acc = []
    for seed in (0, 1, 2):
        s = run_summary(tmp_path / str(seed), "--env", "digits", "--seed", seed)
        assert s["time/wall_s"] <= 180, s
        acc.append(s["test_accuracy"])
    assert sum(acc) / 3 >= 0.92, acc
