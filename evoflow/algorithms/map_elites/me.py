"""MAP-Elites (Mouret & Clune 2015) with the Iso+LineDD operator (Vassiliades & Mouret 2018).

Generation 0 evaluates `batch_size` fresh genotypes from the task's sampler; every later
generation draws two parents per offspring uniformly from the filled cells and applies isoline
variation (sigma_iso 0.005, sigma_line 0.05, as the DCG-ME/DCRL-ME paper configs). Offspring enter
the archive if strictly better than their cell's elite. The archive records, per cell, the emitter
that made the elite, its generation and its parent's cell, for the visualizer.

This is the skeleton the critic-based variants (PGA-ME, DCG-ME, DCRL-ME) extend with more emitters.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from evoflow.algorithms.base import Strategy
from evoflow.algorithms.map_elites import archive as arc
from evoflow.algorithms.map_elites.variation import isoline
from evoflow.algorithms.map_elites import schema
from evoflow.errors import UsageError

# Emitter ids stored per cell, shared by every QD algorithm so that files compare across them.
EMITTERS = ("init", "ga", "pg", "ai", "actor")
INIT, GA = 0, 1


@struct.dataclass
class MEParams:
    iso_sigma: jax.Array
    line_sigma: jax.Array


@struct.dataclass
class MEState:
    archive: arc.Archive
    generation: jax.Array  # generations told so far
    evaluations: jax.Array  # (1,) evaluations so far (a runs axis of one, for the engine)
    emitter: jax.Array  # (B,) emitter of each offspring of the current ask
    parent: jax.Array  # (B,) parent cell of each offspring (-1: none)
    params: MEParams


class MAPElites(Strategy):
    progress_keys = ("qd_score", "coverage", "max_fitness")
    SCHEMA = schema.ME

    def __init__(self, cfg, task):
        super().__init__(cfg, task)
        if task.descriptor_low is None or task.sample_genotypes is None:
            raise UsageError("this task has no descriptors or genotype sampler")
        self.b = cfg["batch_size"]
        lo, hi = task.descriptor_low, task.descriptor_high
        if cfg["archive"] == "cvt":
            if cfg["n_cells"] > cfg["cvt_samples"]:
                raise UsageError(f"--set n_cells={cfg['n_cells']}: cells must be <= cvt_samples "
                                 f"({cfg['cvt_samples']})")
            self.kind, self.grid_shape = "cvt", ()
            self.centroids = arc.cvt_centroids(cfg["n_cells"], cfg["cvt_samples"], lo, hi,
                                               cfg["cvt_seed"])
        else:
            if len(cfg["grid_shape"]) != len(lo):
                raise UsageError(f"--set grid_shape={cfg['grid_shape']}: needs {len(lo)} entries "
                                 f"(one per descriptor dimension)")
            self.kind, self.grid_shape = "grid", tuple(cfg["grid_shape"])
            self.centroids = arc.grid_centroids(self.grid_shape, lo, hi)

    def max_evaluations_per_iteration(self) -> int:
        return self.b

    def init(self, key, n_runs_padded, dtype=jnp.float32):
        p = MEParams(iso_sigma=jnp.asarray(self.cfg["iso_sigma"], dtype),
                     line_sigma=jnp.asarray(self.cfg["line_sigma"], dtype))
        archive = arc.Archive.empty(jnp.asarray(self.centroids, dtype), self.task.dim, dtype)
        return MEState(archive=archive, generation=jnp.int32(0),
                       evaluations=jnp.zeros((1,), jnp.int32),
                       emitter=jnp.zeros((self.b,), jnp.int32),
                       parent=jnp.full((self.b,), -1, jnp.int32), params=p)

    def ask(self, key, state: MEState, phase: int = 0):
        k_init, k_sel, k_var = jax.random.split(key, 3)

        def first(_):
            x = self.task.sample_genotypes(k_init, self.b).astype(state.archive.genotype.dtype)
            return x, jnp.full((self.b,), INIT, jnp.int32), jnp.full((self.b,), -1, jnp.int32)

        def later(_):
            x1, cells = arc.sample_parents(k_sel, state.archive, self.b)
            x2, _ = arc.sample_parents(jax.random.fold_in(k_sel, 1), state.archive, self.b)
            x = isoline(k_var, x1, x2, state.params.iso_sigma, state.params.line_sigma)
            return x, jnp.full((self.b,), GA, jnp.int32), cells.astype(jnp.int32)

        x, emitter, parent = jax.lax.cond(state.generation == 0, first, later, None)
        return x[None], state.replace(emitter=emitter, parent=parent)

    def tell(self, key, population, evaluation, state: MEState, phase: int = 0):
        archive, added = arc.add(state.archive, population[0], evaluation.descriptor[0],
                                 evaluation.fitness[0], state.emitter, state.generation,
                                 state.parent)
        metrics = dict(arc.qd_metrics(archive))
        for i, name in enumerate(EMITTERS[:2]):
            metrics[f"added/{name}"] = jnp.sum(added & (state.emitter == i))
        state = state.replace(archive=archive, generation=state.generation + 1,
                              evaluations=state.evaluations + self.b)
        return state, metrics

    # --- engine views ---------------------------------------------------------------------------
    def reported(self, state):
        a = state.archive
        return a.genotype[jnp.argmax(a.fitness)][None]

    def run_evaluations(self, state):
        return state.evaluations

    def runs_active(self, state):
        return jnp.ones((1,), bool)

    def summary(self, metrics):
        return {k: metrics[k] for k in ("qd_score", "coverage", "max_fitness") if k in metrics}

    def artifacts(self, state):
        a = state.archive
        t = self.task
        genotype = np.asarray(a.genotype)
        leaves = t.genotype_leaves(genotype) if t.genotype_leaves else {"genotype": genotype}
        return {"archive.npz": {
            "fitness": np.asarray(a.fitness), "descriptor": np.asarray(a.descriptor),
            "centroid": np.asarray(a.centroids), "emitter": np.asarray(a.emitter),
            "generation": np.asarray(a.generation), "parent": np.asarray(a.parent),
            "kind": np.array(self.kind), "grid_shape": np.array(self.grid_shape, np.int64),
            "descriptor_low": np.asarray(t.descriptor_low),
            "descriptor_high": np.asarray(t.descriptor_high),
            "descriptor_names": np.array(t.descriptor_names),
            "descriptor_units": np.array(t.descriptor_units),
            "emitter_names": np.array(EMITTERS),
            **{f"params/{k}": v for k, v in leaves.items()}}}
