"""Deep GA selection (Such et al. 2017; Uber's `gpu_implementation`): truncation, and the elite
chosen by re-evaluation.

Single-episode returns are noisy, so the fittest-looking individual is often lucky. Uber's rule:
the top `k` (`elite_candidates`, 10) by single-episode fitness, with the previous elite (carried
unmutated into this generation) replacing the last of them when it is not already among them, are
re-run for `elite_episodes` (paper 30) episodes; the best mean is the elite. The next parents are
the elite and the top T-1 others by single-episode fitness. Non-finite fitness ranks last; ties
go to the lower index (stable sorts), so selection is a pure function of the fitness values.

Pure, jittable JAX on one population (vmap for independent runs); no I/O, no randomness.
"""

from __future__ import annotations

import jax.numpy as jnp


def _rankable(fitness):
    return jnp.where(jnp.isnan(fitness), -jnp.inf, fitness)


def ranking(fitness) -> jnp.ndarray:
    """Indices from fittest to least fit (ties: lower index first)."""
    return jnp.argsort(-_rankable(fitness), stable=True)


def elite_candidates(fitness, k: int, prev_elite=-1) -> jnp.ndarray:
    """(k,) indices to re-evaluate: the top k, the previous elite (an index, or -1 for none)
    in place of the k-th when it is not among them."""
    top = ranking(fitness)[:k]
    prev = jnp.asarray(prev_elite)
    swap = (prev >= 0) & ~jnp.any(top == prev)
    return jnp.where(swap, top.at[k - 1].set(prev), top)


def choose_elite(candidates, returns) -> tuple[jnp.ndarray, jnp.ndarray]:
    """(elite index, its mean return) from the candidates' re-evaluation returns (k, E): the
    best mean, the earlier candidate on ties (so the fitter by single episode)."""
    mean = _rankable(jnp.mean(returns, axis=-1))
    j = jnp.argmax(mean)
    return candidates[j], mean[j]


def parents(fitness, elite, t: int) -> jnp.ndarray:
    """(t,) parent indices: the elite first, then the top t-1 others by single-episode fitness."""
    f = _rankable(fitness).at[elite].set(-jnp.inf)
    others = jnp.argsort(-f, stable=True)[:t - 1]
    return jnp.concatenate([jnp.asarray(elite)[None].astype(others.dtype), others])
