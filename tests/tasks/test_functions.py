"""Benchmark functions: optima, NumPy = JAX, shifts inside the domain, tiny presets solve them."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from evoflow.tasks import TASKS
from evoflow.tasks.functions import FUNCTIONS
from tests.conftest import evoflow, only_run, summary


def task(name, dim, shift=True):
    return TASKS[name].make({"dim": dim, "evaluator": "jax", "shift": shift})


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
@pytest.mark.parametrize("dim", [2, 5, 20])
def test_optimum_value_and_location(name, dim):
    jax.config.update("jax_enable_x64", True)
    try:
        t = task(name, dim)
        data = jax.vmap(t.setup, (None, 0))(jax.random.key(3), jnp.arange(4))
        x_star = jax.vmap(t.x_star)(data).astype(jnp.float64)
        values = jax.vmap(t.value)(data, x_star)
        np.testing.assert_allclose(values, t.spec.f_star, atol=1e-9)
        # x* is a minimum: random nearby points are worse
        rng = np.random.default_rng(0)
        near = x_star[:, None, :] + rng.normal(0, 0.05, (4, 16, dim))
        assert np.all(jax.vmap(t.value)(data, near) > values[:, None])
        lo, hi = t.domain()
        assert np.all((np.asarray(x_star) > lo) & (np.asarray(x_star) < hi))
    finally:
        jax.config.update("jax_enable_x64", False)


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_numpy_evaluator_matches_jax(name):
    t = task(name, 7)
    data = jax.vmap(t.setup, (None, 0))(jax.random.key(0), jnp.arange(3))
    lo, hi = t.init_box()
    x = np.random.default_rng(1).uniform(lo, hi, (3, 11, 7)).astype(np.float32)
    want = np.asarray(jax.vmap(t.evaluate, (0, 0, None))(data, jnp.asarray(x), jax.random.key(0)))
    rows = {"shift": np.repeat(np.asarray(data["shift"]), 11, axis=0)}
    got = t.evaluate_numpy(rows, x.reshape(33, 7)).reshape(3, 11)
    np.testing.assert_allclose(got, want, rtol=2e-5, atol=1e-3)


def test_rastrigin_is_the_standard_sum_form():
    t = task("rastrigin", 3, shift=False)
    x = jnp.asarray([[0.5, -1.0, 2.0]])
    want = 30 + sum(v * v - 10 * np.cos(2 * np.pi * v) for v in (0.5, -1.0, 2.0))
    np.testing.assert_allclose(t.value({"shift": jnp.zeros(3)}, x), [want], rtol=1e-6)


def test_shift_is_per_run_and_from_the_seed():
    t = task("rastrigin", 5)
    a = jax.vmap(t.setup, (None, 0))(jax.random.key(0), jnp.arange(4))["shift"]
    b = jax.vmap(t.setup, (None, 0))(jax.random.key(0), jnp.arange(8))["shift"]
    np.testing.assert_array_equal(a, b[:4])  # run r's shift does not depend on the run count
    assert len({tuple(np.asarray(r)) for r in a}) == 4
    assert np.all(np.abs(np.asarray(b)) <= 1.0)


@pytest.mark.parametrize("name", ["sphere", "rastrigin", "ackley", "griewank", "levy"])
def test_tiny_preset_success(name, tmp_path):
    evoflow("run", "cbo", "--env", name, "--preset", "tiny", "--seed", 0, "--out", tmp_path,
            "--quiet")
    s = summary(only_run(tmp_path))
    assert s["n_runs"] == 8 and s["success_rate"] >= 0.9, s


def test_same_seed_is_the_same_problem_in_float64():
    t = task("rastrigin", 6)
    want = np.asarray(t.setup(jax.random.key(4), 3)["shift"])
    jax.config.update("jax_enable_x64", True)
    try:
        got = np.asarray(t.setup(jax.random.key(4), 3)["shift"])
    finally:
        jax.config.update("jax_enable_x64", False)
    np.testing.assert_array_equal(got, want)
