"""Flat-vector MLP policies: a genotype is one float vector, a network is a static layout on it.

Flat genotypes keep variation operators, archives and checkpoints simple (one (B, P) array);
`leaves` names the pieces (`layer_0/kernel`, ...) for files that users read.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np


@dataclass(frozen=True)
class MLP:
    """tanh hidden layers, tanh output (actions in [-1, 1])."""

    n_in: int
    n_out: int
    hidden: tuple[int, ...] = (64, 64)

    @property
    def shapes(self) -> list[tuple[int, int]]:
        sizes = [self.n_in, *self.hidden, self.n_out]
        return list(zip(sizes[:-1], sizes[1:]))

    @property
    def n_params(self) -> int:
        return sum(a * b + b for a, b in self.shapes)

    def init(self, key: jax.Array, n: int, dtype=jnp.float32) -> jax.Array:
        """n genotypes: LeCun-uniform kernels (flax's default for Dense), zero biases."""
        parts = []
        keys = jax.random.split(key, len(self.shapes))
        for k, (a, b) in zip(keys, self.shapes):
            lim = jnp.sqrt(3.0 / a)
            parts += [jax.random.uniform(k, (n, a * b), dtype, -lim, lim), jnp.zeros((n, b), dtype)]
        return jnp.concatenate(parts, axis=1)

    def apply(self, flat: jax.Array, obs: jax.Array) -> jax.Array:
        h, pos = obs.astype(flat.dtype), 0
        for a, b in self.shapes:
            w = flat[pos:pos + a * b].reshape(a, b)
            h = jnp.tanh(h @ w + flat[pos + a * b:pos + a * b + b])
            pos += a * b + b
        return h

    def leaves(self, flat: np.ndarray) -> dict[str, np.ndarray]:
        """Named pieces of genotypes flat (..., P): {'layer_0/kernel': (..., a, b), ...}."""
        out, pos = {}, 0
        lead = flat.shape[:-1]
        for i, (a, b) in enumerate(self.shapes):
            out[f"layer_{i}/kernel"] = flat[..., pos:pos + a * b].reshape(*lead, a, b)
            out[f"layer_{i}/bias"] = flat[..., pos + a * b:pos + a * b + b]
            pos += a * b + b
        return out
