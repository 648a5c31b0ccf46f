"""Variation operators on flat genotypes (B, P), pure and jittable."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def isoline(key: jax.Array, x1: jax.Array, x2: jax.Array, iso_sigma, line_sigma,
            low=None, high=None) -> jax.Array:
    """Iso+LineDD (Vassiliades & Mouret 2018): x = x1 + s_iso N(0, I) + s_line N(0, 1) (x2 - x1).

    One line-noise scalar per offspring (row), independent isotropic noise per gene; the result is
    clipped to [low, high] when either bound is given (None = unbounded on that side). The sigmas
    may be traced scalars. Same draws as QDax 0.5.0's `isoline_variation` for a flat array genotype
    and the same key, so offspring match it bit for bit.
    """
    key, key_line = jax.random.split(key)
    line_noise = jax.random.normal(key_line, shape=(x1.shape[0],)) * line_sigma
    (key_iso,) = jax.random.split(key, 1)  # QDax gives each pytree leaf a key; one leaf here
    iso_noise = jax.random.normal(key_iso, shape=x1.shape) * iso_sigma
    x = (x1 + iso_noise) + (x2 - x1) * line_noise[:, None]
    if low is not None or high is not None:
        x = jnp.clip(x, low, high)
    return x


__all__ = ["isoline"]
