"""Observation normalization for neuroevolution policies (issue 20 item 3; Salimans et al. 2017,
Such et al. 2017 on MuJoCo): running mean and variance of every observation seen, merged once
per generation.

A generation's rollouts all use the statistics frozen at its start (so every individual of a
generation sees the same normalizer, and an evaluation does not depend on its chunk); then the
generation's valid steps (masked: steps after an episode ended are not observations) are merged
in one fixed order: the batch's own count, mean and M2 in one pass, then Chan et al.'s parallel
Welford merge with the running statistics. Float32 state; the merge stays within float32
rounding of a float64 two-pass computation (tested). The elite keeps its statistics with its
genome, for `evoflow eval` and resume.
"""

from __future__ import annotations

import jax.numpy as jnp
from flax import struct

from evoflow.tasks.base import OBS_CLIP as CLIP, normalized

VAR_FLOOR = 1e-8  # a constant observation dimension divides by ~1e-4, not by 0


@struct.dataclass
class ObsStats:
    count: jnp.ndarray  # () float32: steps merged so far
    mean: jnp.ndarray  # (obs_dim,)
    m2: jnp.ndarray  # (obs_dim,): sum of squared deviations from the mean

    @property
    def var(self):
        return jnp.where(self.count > 1, self.m2 / jnp.maximum(self.count, 1.0), 1.0)


def init(obs_dim: int) -> ObsStats:
    """No observations yet: normalization is the identity (mean 0, variance 1)."""
    return ObsStats(jnp.float32(0.0), jnp.zeros(obs_dim, jnp.float32),
                    jnp.zeros(obs_dim, jnp.float32))


def update(stats: ObsStats, obs, valid) -> ObsStats:
    """Merge the steps `obs` (..., obs_dim) where `valid` (...) is true."""
    x = obs.reshape(-1, obs.shape[-1]).astype(jnp.float32)
    w = valid.reshape(-1).astype(jnp.float32)
    n_b = jnp.sum(w)
    mean_b = jnp.sum(x * w[:, None], axis=0) / jnp.maximum(n_b, 1.0)
    m2_b = jnp.sum(jnp.square(x - mean_b) * w[:, None], axis=0)
    n = stats.count + n_b
    delta = mean_b - stats.mean
    frac = n_b / jnp.maximum(n, 1.0)
    mean = stats.mean + delta * frac
    m2 = stats.m2 + m2_b + jnp.square(delta) * stats.count * frac
    return ObsStats(n, mean, m2)


def update_moments(stats: ObsStats, n, s1, s2) -> ObsStats:
    """Merge episodes given by their moments shifted by `stats.mean` (a task's
    extras["obs_moments"]): counts n (E,), s1 = sum(o - mean) (E, obs), s2 = sum((o - mean)^2)
    (E, obs); the same merge as `update` on the episodes' steps."""
    n = n.astype(jnp.float32)
    n_b = jnp.sum(n)
    shift = jnp.sum(s1, axis=0) / jnp.maximum(n_b, 1.0)  # batch mean - stats.mean
    m2_b = jnp.maximum(jnp.sum(s2, axis=0) - n_b * jnp.square(shift), 0.0)
    total = stats.count + n_b
    frac = n_b / jnp.maximum(total, 1.0)
    mean = stats.mean + shift * frac
    m2 = stats.m2 + m2_b + jnp.square(shift) * stats.count * frac
    return ObsStats(total, mean, m2)


def std(stats: ObsStats):
    return jnp.sqrt(jnp.maximum(stats.var, VAR_FLOOR))


def normalize(stats: ObsStats, obs):
    """(obs - mean) / std, clipped to [-CLIP, CLIP]."""
    return normalized(obs, stats.mean, std(stats))
