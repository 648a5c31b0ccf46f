"""Iso+LineDD variation: moments against the closed form, clipping, the line structure, QDax."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from qdax.core.emitters.mutation_operators import isoline_variation

from evoflow.algorithms.map_elites.variation import isoline

X1 = np.array([1.0, -0.5, 2.0], np.float32)
X2 = np.array([2.0, 1.5, 1.0], np.float32)
N = 100_000


def test_moments_match_closed_form():
    iso, line = 0.3, 0.5
    x = isoline(jax.random.key(0), np.tile(X1, (N, 1)), np.tile(X2, (N, 1)), iso, line)
    x = np.asarray(x, np.float64)
    d = (X2 - X1).astype(np.float64)
    cov = iso ** 2 * np.eye(3) + line ** 2 * np.outer(d, d)
    scale = np.sqrt(np.outer(np.diag(cov), np.diag(cov)))
    # 2% relative; the floor (2% of the entries' scale) covers near-zero entries
    np.testing.assert_array_less(np.abs(x.mean(0) - X1), np.maximum(0.02 * np.abs(X1), 0.02))
    emp = np.cov(x, rowvar=False)
    np.testing.assert_array_less(np.abs(emp - cov), np.maximum(0.02 * np.abs(cov), 0.02 * scale))


def test_one_line_scalar_per_offspring():
    b, line = 50_000, 0.4
    x = np.asarray(isoline(jax.random.key(1), np.tile(X1, (b, 1)), np.tile(X2, (b, 1)), 0.0, line),
                   np.float64)
    d = (X2 - X1).astype(np.float64)
    t = (x - X1) / d  # with iso_sigma = 0 every coordinate gives the same t
    np.testing.assert_allclose(t, np.repeat(t[:, :1], 3, axis=1), rtol=1e-5, atol=1e-6)
    assert len(np.unique(np.round(t[:, 0], 6))) > b * 0.9  # one scalar per offspring, not shared
    assert abs(t[:, 0].std() / line - 1) < 0.02 and abs(t[:, 0].mean()) < 0.01


def test_clipping_and_traced_sigmas():
    key = jax.random.key(2)
    x1, x2 = np.tile(X1, (1000, 1)), np.tile(X2, (1000, 1))
    x = np.asarray(isoline(key, x1, x2, 1.0, 1.0, low=-0.5, high=1.5))
    assert x.min() == -0.5 and x.max() == 1.5
    assert isoline(key, x1, x2, 1.0, 1.0, low=0.0).min() == 0.0
    assert isoline(key, x1, x2, 1.0, 1.0, high=0.0).max() == 0.0
    jitted = jax.jit(isoline)(key, x1, x2, jnp.float32(1.0), jnp.float32(1.0))
    np.testing.assert_allclose(jitted, isoline(key, x1, x2, 1.0, 1.0), rtol=1e-6, atol=1e-6)
    sweep = jax.vmap(isoline, in_axes=(None, None, None, 0, 0))(
        key, x1, x2, jnp.array([0.0, 0.1]), jnp.array([0.0, 0.2]))
    np.testing.assert_array_equal(sweep[0], x1)  # zero sigmas: the first parent


def test_same_draws_as_qdax():
    key = jax.random.key(3)
    rng = np.random.default_rng(0)
    x1, x2 = rng.normal(size=(2, 16, 5)).astype(np.float32)
    ours = isoline(key, x1, x2, 0.005, 0.05, low=-1.0, high=1.0)
    ref = isoline_variation(jnp.asarray(x1), jnp.asarray(x2), key, 0.005, 0.05, -1.0, 1.0)
    np.testing.assert_array_equal(ours, ref)
