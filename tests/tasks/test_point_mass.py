"""`point_omni`: dynamics, reward bounds, descriptors that vary over random policies."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from evoflow.tasks import TASKS


def task(**cfg):
    return TASKS["point_omni"].make({"episode_length": 100, "policy_hidden": [8],
                                     "resets": "deterministic", **cfg})


def test_dynamics_match_a_numpy_loop():
    t = task()
    g = t.sample_genotypes(jax.random.key(0), 1)[0]
    ret, final, path = t.rollout(g, jax.random.key(1))
    p, total = np.zeros(2), 0.0
    for step in range(100):
        a = np.asarray(t.policy.apply(g, jnp.asarray(np.r_[p, step / 100], jnp.float32)),
                       np.float64)
        p = np.clip(p + 0.02 * a, -1, 1)
        total += 1 - 0.5 * a @ a
        np.testing.assert_allclose(path[step], p, atol=1e-5)
    np.testing.assert_allclose(final, p, atol=1e-5)
    np.testing.assert_allclose(ret, total, rtol=1e-5)


def test_descriptor_has_its_dimension_and_varies_over_random_policies():
    t = task(policy_hidden=[64, 64], resets="stochastic")
    params = t.sample_genotypes(jax.random.key(0), 32)
    ev = t.evaluate({}, params, jax.random.key(1))
    assert ev.descriptor.shape == (32, 2) and ev.fitness.shape == (32,)
    d = np.asarray(ev.descriptor)
    assert np.all(np.abs(d) <= 1) and d.std(axis=0).min() > 0.05
    assert len({tuple(np.round(x, 4)) for x in d}) == 32
    assert np.all((0 <= ev.fitness) & (ev.fitness <= 100))


def test_resets():
    g = task().sample_genotypes(jax.random.key(0), 1)[0]
    det = task()
    a = det.rollout(g, jax.random.key(1))[1]
    np.testing.assert_array_equal(a, det.rollout(g, jax.random.key(2))[1])
    sto = task(resets="stochastic")
    assert not np.array_equal(sto.rollout(g, jax.random.key(1))[1],
                              sto.rollout(g, jax.random.key(2))[1])
