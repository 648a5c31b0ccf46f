"""GA-NS: the Deep GA selecting by novelty (Such et al. 2017 §4.3, after Lehman & Stanley 2011).

An individual's behaviour characterization (BC) is the task's descriptor (deceptive_maze: the
final (x, y)). Its novelty is the mean squared distance from its BC to the k nearest BCs among
the rest of the population and the archive. Truncation ranks `novelty_weight` · rank(novelty) +
(1 − novelty_weight) · rank(reward) (ranks scaled to [0, 1]; weight 1 is pure novelty search).
After a generation each individual enters the archive with probability `archive_prob`; the
archive has a fixed capacity and, once full, its oldest entries are overwritten.

The first parent, carried unmutated, is the top-scoring individual; the reported elite (best.genome)
is the best reward seen, re-evaluated as for random search (`elite_candidates`, `elite_episodes`).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from evoflow.algorithms.ga import schema
from evoflow.algorithms.ga.ga import DeepGA
from evoflow.errors import UsageError

ROW_CHUNK = 1024  # population rows per distance block (bounds memory at N = 20,001)


def novelty(behaviour, archive, archive_valid, k: int):
    """Mean squared distance from each row of `behaviour` (N, d) to its k nearest among the other
    rows and the valid archive entries (A, d)."""
    n = behaviour.shape[0]
    others = jnp.concatenate([behaviour, archive])
    excluded = jnp.concatenate([jnp.zeros(n, bool), ~archive_valid])

    def rows(i):
        d2 = jnp.sum(jnp.square(behaviour[i][:, None] - others[None]), axis=-1)
        self_ = jnp.arange(n + archive.shape[0])[None] == i[:, None]
        d2 = jnp.where(self_ | excluded[None], jnp.inf, d2)
        nearest = -jax.lax.top_k(-d2, k)[0]
        return jnp.mean(nearest, axis=-1)

    pad = -n % ROW_CHUNK
    idx = jnp.concatenate([jnp.arange(n), jnp.zeros(pad, jnp.int32)]).reshape(-1, ROW_CHUNK)
    return jax.lax.map(rows, idx).reshape(-1)[:n] if n > ROW_CHUNK else rows(jnp.arange(n))


def unit_rank(x):
    """Ranks scaled to [0, 1] (the lowest 0, the highest 1; ties by index)."""
    order = jnp.argsort(jnp.where(jnp.isnan(x), -jnp.inf, x), stable=True)
    return jnp.zeros(x.shape[0]).at[order].set(jnp.arange(x.shape[0])) / max(x.shape[0] - 1, 1)


class NoveltyGA(DeepGA):
    SCHEMA = schema.GA_NS
    keeps_best = True
    progress_keys = ("elite/return", "novelty/max")

    def __init__(self, cfg, task):
        if task.descriptor_low is None:
            raise UsageError("ga_ns needs an env with a behaviour characterization (a "
                             "descriptor, e.g. deceptive_maze's final position)")
        super().__init__(cfg, task)
        self.nk, self.cap_a = cfg["novelty_k"], cfg["archive_size"]
        if self.nk >= self.n:
            raise UsageError(f"--set novelty_k={self.nk}: must be < pop_size ({self.n})")
        for key in ("archive_prob", "novelty_weight"):
            if not 0.0 <= cfg[key] <= 1.0:
                raise UsageError(f"--set {key}={cfg[key]}: must be in [0, 1]")

    def _init_aux(self, dtype):
        d = len(self.task.descriptor_low)
        return {"behaviour": jnp.zeros((self.cap_a, d), dtype),
                "generation": jnp.full((self.cap_a,), -1, jnp.int32),
                "fitness": jnp.zeros((self.cap_a,), dtype),
                "added": jnp.int32(0),  # entries ever added (the ring's write position)
               "novelty_max": jnp.zeros((), dtype), "novelty_mean": jnp.zeros((), dtype)}

    def _scores(self, key, state, fitness, evaluation):
        a = state.aux
        bc = jnp.mean(evaluation.descriptor[0].reshape(self.n, self.reps, -1), axis=1)
        valid = a["generation"] >= 0
        nov = novelty(bc, a["behaviour"], valid, self.nk)
        w = self.cfg["novelty_weight"]
        scores = w * unit_rank(nov) + (1.0 - w) * unit_rank(fitness)
        enter = jax.random.bernoulli(jax.random.fold_in(key, 0), self.cfg["archive_prob"],
                                     (self.n,))
        pos = (a["added"] + jnp.cumsum(enter) - 1) % self.cap_a
        pos = jnp.where(enter, pos, self.cap_a)  # out of range: dropped
        aux = {"behaviour": a["behaviour"].at[pos].set(bc, mode="drop"),
               "generation": a["generation"].at[pos].set(state.generation, mode="drop"),
               "fitness": a["fitness"].at[pos].set(fitness, mode="drop"),
               "added": a["added"] + jnp.sum(enter).astype(jnp.int32),
               "novelty_max": jnp.max(nov), "novelty_mean": jnp.mean(nov)}
        return scores.astype(fitness.dtype), state.replace(aux=aux), {}

    def _metrics(self, state):
        a = state.aux
        return {"novelty/max": a["novelty_max"], "novelty/mean": a["novelty_mean"],
                "archive/size": jnp.minimum(a["added"], self.cap_a)}

    def artifacts(self, state):
        a = state.aux
        n = min(int(a["added"]), self.cap_a)
        start = int(a["added"]) % self.cap_a if int(a["added"]) > self.cap_a else 0
        order = [(start + i) % self.cap_a for i in range(n)]  # oldest first
        return {"novelty_archive.npz": {
            "behaviour": jax.device_get(a["behaviour"])[order],
            "generation": jax.device_get(a["generation"])[order],
            "fitness": jax.device_get(a["fitness"])[order]}}
