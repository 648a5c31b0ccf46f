"""Bitwise equality across device counts and worker counts (DESIGN.md determinism contract)."""

from __future__ import annotations

import numpy as np

from tests.conftest import cli_env, evoflow, metrics, only_run, summary, untimed
from tests.engine.test_resume import assert_same_run

TINY = ["run", "cbo", "--env", "rastrigin", "--preset", "tiny", "--seed", "0", "--quiet"]


def test_one_and_four_host_devices_are_bitwise_equal(tmp_path):
    evoflow(*TINY, "--out", tmp_path / "one")
    four = cli_env(XLA_FLAGS="--xla_force_host_platform_device_count=4")
    evoflow(*TINY, "--out", tmp_path / "four", env=four)
    # 3 devices: the 8 runs are padded to 9 with an inactive run
    three = cli_env(XLA_FLAGS="--xla_force_host_platform_device_count=3")
    evoflow(*TINY, "--set", "iterations=200", "--out", tmp_path / "three", env=three)
    evoflow(*TINY, "--set", "iterations=200", "--out", tmp_path / "one200")
    one, four_run = only_run(tmp_path / "one"), only_run(tmp_path / "four")
    assert summary(one)["devices"] == 1 and summary(four_run)["devices"] == 4
    assert_same_run(one, four_run)
    assert_same_run(only_run(tmp_path / "one200"), only_run(tmp_path / "three"))
    with np.load(one / "checkpoints" / "1000" / "state.npz") as a, \
            np.load(four_run / "checkpoints" / "1000" / "state.npz") as b:
        for k in a.files:
            np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def test_workers_zero_and_two_are_bitwise_equal(tmp_path):
    host = ["--set", "evaluator=numpy", "--set", "iterations=300"]
    evoflow(*TINY, *host, "--set", "workers=0", "--out", tmp_path / "w0")
    evoflow(*TINY, *host, "--set", "workers=2", "--out", tmp_path / "w2")
    w0, w2 = only_run(tmp_path / "w0"), only_run(tmp_path / "w2")
    assert_same_run(w0, w2)
    assert metrics(w0)[-1]["success_rate"] > 0
    assert untimed(summary(w0))["evaluations"] == 8 * 60 * 300
