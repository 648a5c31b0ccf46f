"""Observation normalization (issue 20 item 3): Welford merges of masked generations equal a
float64 two-pass computation over all valid steps, to float32 rounding."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from evoflow.algorithms.ga import obs_norm


def test_merged_generations_equal_float64_over_all_valid_steps():
    rng = np.random.default_rng(0)
    stats = obs_norm.init(5)
    seen = []
    scale = np.array([1e-3, 1.0, 30.0, 1.0, 5.0])
    for gen in range(40):  # 40 generations of 16 episodes x 50 steps, ragged episode ends
        obs = (rng.normal(3.0, 1.0, (16, 50, 5)) * scale + gen * 0.1).astype(np.float32)
        ends = rng.integers(1, 51, 16)
        valid = np.arange(50)[None, :] < ends[:, None]
        stats = obs_norm.update(stats, jnp.asarray(obs), jnp.asarray(valid))
        seen.append(obs[valid].astype(np.float64))
    allx = np.concatenate(seen)
    assert float(stats.count) == len(allx)
    np.testing.assert_allclose(np.asarray(stats.mean), allx.mean(0), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(np.asarray(stats.var), allx.var(0), rtol=1e-4)


def test_no_valid_step_changes_nothing_and_fresh_stats_are_the_identity():
    stats = obs_norm.init(3)
    x = jnp.array([[0.5, -2.0, 30.0]])
    np.testing.assert_array_equal(obs_norm.normalize(stats, x), [[0.5, -2.0, 10.0]])  # clipped
    same = obs_norm.update(stats, jnp.ones((4, 3)), jnp.zeros(4, bool))
    assert float(same.count) == 0 and np.all(np.asarray(same.mean) == 0)
    const = obs_norm.update(stats, jnp.full((8, 3), 2.0), jnp.ones(8, bool))
    assert np.all(np.isfinite(np.asarray(obs_norm.normalize(const, x))))  # variance 0: floored


def test_merging_episode_moments_equals_merging_their_steps():
    rng = np.random.default_rng(1)
    stats = moments = obs_norm.init(4)
    for gen in range(10):
        obs = (rng.normal(2.0, 3.0, (8, 30, 4)) + gen).astype(np.float32)
        valid = np.arange(30)[None, :] < rng.integers(1, 31, 8)[:, None]
        stats = obs_norm.update(stats, jnp.asarray(obs), jnp.asarray(valid))
        d = (obs - np.asarray(moments.mean)) * valid[..., None]  # shifted by the frozen mean
        moments = obs_norm.update_moments(moments, jnp.asarray(valid.sum(1)),
                                          jnp.asarray(d.sum(1)), jnp.asarray((d * d).sum(1)))
    assert float(moments.count) == float(stats.count)
    np.testing.assert_allclose(np.asarray(moments.mean), np.asarray(stats.mean), rtol=1e-5)
    np.testing.assert_allclose(np.asarray(moments.var), np.asarray(stats.var), rtol=1e-4)
