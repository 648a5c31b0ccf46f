"""`digits`: the fixed split, the network, the loss, and that CBO learns it (tiny preset)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from evoflow.tasks import TASKS
from evoflow.tasks.digits import cross_entropy, digits_split, logits, n_params
from tests.conftest import evoflow, only_run, summary


def test_split_is_fixed_and_stratified():
    x_tr, y_tr, x_te, y_te = digits_split()
    assert x_tr.shape == (1437, 64) and x_te.shape == (360, 64)
    assert 0 <= x_tr.min() and x_tr.max() <= 1
    counts = np.bincount(y_te, minlength=10)
    assert counts.min() >= 35 and counts.max() <= 37  # stratified: ~36 per class
    np.testing.assert_array_equal(digits_split()[3], y_te)


def test_network_and_loss_match_a_direct_computation():
    hidden = [7]
    assert n_params(hidden) == 64 * 7 + 7 + 7 * 10 + 10
    rng = np.random.default_rng(0)
    flat = rng.normal(size=n_params(hidden)).astype(np.float32)
    x = rng.uniform(size=(5, 64)).astype(np.float32)
    y = np.array([0, 3, 9, 2, 2], np.int32)
    w1, b1 = flat[:448].reshape(64, 7), flat[448:455]
    w2, b2 = flat[455:525].reshape(7, 10), flat[525:]
    z = np.tanh(x @ w1 + b1) @ w2 + b2
    np.testing.assert_allclose(logits(jnp.asarray(flat), jnp.asarray(x), hidden), z, rtol=1e-5,
                               atol=1e-5)
    ce = np.mean(np.log(np.exp(z).sum(1)) - z[np.arange(5), y])
    np.testing.assert_allclose(cross_entropy(jnp.asarray(flat), jnp.asarray(x), jnp.asarray(y),
                                             hidden), ce, rtol=1e-5)


def test_fitness_is_minus_the_minibatch_loss():
    t = TASKS["digits"].make({"hidden": [], "data_batch": 1437, "init_scale": 1.0})
    params = jnp.zeros((2, t.dim))
    fit = t.evaluate({}, params, jax.random.key(0))
    np.testing.assert_allclose(fit, -np.log(10.0), rtol=1e-6)  # uniform softmax on all data


def test_tiny_preset_learns(tmp_path):
    evoflow("run", "cbo", "--env", "digits", "--preset", "tiny", "--out", tmp_path, "--quiet")
    s = summary(only_run(tmp_path))
    assert s["test_accuracy"] >= 0.80, s  # chance is 0.10
