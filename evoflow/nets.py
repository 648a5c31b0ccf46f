"""Dense networks on flat parameter vectors: one float vector per network, a static layout on it.

Flat vectors keep genotypes, variation operators, archives and checkpoints simple (one (B, P)
array per population); `leaves` names the pieces (`layer_0/kernel`, ...) for files users read.
Tasks (policies, classifiers) and algorithms (critics, actors) share this one implementation.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp


@dataclass(frozen=True)
class Layout:
    """A dense network on a flat vector: sizes [in, h1, ..., out], hidden activation, output."""

    sizes: tuple[int, ...]
    hidden_act: str = "tanh"  # tanh | relu
    out_act: str = "tanh"  # tanh | none

    @property
    def shapes(self):
        return list(zip(self.sizes[:-1], self.sizes[1:]))

    @property
    def n_params(self) -> int:
        return sum(a * b + b for a, b in self.shapes)

    def init(self, key, n: int, dtype=jnp.float32):
        """LeCun-uniform kernels, zero biases (flax Dense defaults), n vectors (n, P)."""
        parts = []
        for k, (a, b) in zip(jax.random.split(key, len(self.shapes)), self.shapes):
            lim = jnp.sqrt(3.0 / a)
            parts += [jax.random.uniform(k, (n, a * b), dtype, -lim, lim),
                      jnp.zeros((n, b), dtype)]
        return jnp.concatenate(parts, axis=1)

    def leaves(self, flat) -> dict:
        """Named pieces of flat vectors (..., P): 'layer_i/kernel' (..., a, b), 'layer_i/bias'."""
        out, pos = {}, 0
        lead = flat.shape[:-1]
        for i, (a, b) in enumerate(self.shapes):
            out[f"layer_{i}/kernel"] = flat[..., pos:pos + a * b].reshape(*lead, a, b)
            out[f"layer_{i}/bias"] = flat[..., pos + a * b:pos + a * b + b]
            pos += a * b + b
        return out

    def apply(self, flat, x):
        h, pos = x.astype(flat.dtype), 0
        last = len(self.shapes) - 1
        for i, (a, b) in enumerate(self.shapes):
            h = h @ flat[pos:pos + a * b].reshape(a, b) + flat[pos + a * b:pos + a * b + b]
            pos += a * b + b
            act = self.hidden_act if i < last else self.out_act
            if act == "tanh":
                h = jnp.tanh(h)
            elif act == "relu":
                h = jax.nn.relu(h)
        return h


def from_leaves(leaves: dict):
    """The inverse of `Layout.leaves`: flat vectors (..., P) from 'layer_i/kernel' (..., a, b)
    and 'layer_i/bias' (..., b), i = 0, 1, ...; numpy or JAX arrays. Raises ValueError naming
    what is missing or left over."""
    import numpy as np

    parts, i = [], 0
    while f"layer_{i}/kernel" in leaves:
        kernel, bias = leaves[f"layer_{i}/kernel"], leaves.get(f"layer_{i}/bias")
        if bias is None:
            raise ValueError(f"layer_{i}/kernel without layer_{i}/bias")
        parts += [kernel.reshape(*kernel.shape[:-2], -1), bias]
        i += 1
    if not parts:
        raise ValueError("no layer_0/kernel or genotype arrays (policy parameters)")
    extra = sorted(set(leaves) - {f"layer_{j}/{w}" for j in range(i) for w in ("kernel", "bias")})
    if extra:
        raise ValueError(f"arrays {extra} are not layers of a dense network")
    xp = np if all(isinstance(p, np.ndarray) for p in parts) else jnp
    return xp.concatenate(parts, axis=-1)
