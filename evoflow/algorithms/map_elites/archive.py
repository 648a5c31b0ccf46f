"""MAP-Elites archive: a fixed tessellation of descriptor space holding one elite per cell.

Pure, jittable and vmappable functions over a `flax.struct` dataclass, in the style of QDax 0.5.0
(`qdax/core/containers/mapelites_repertoire.py`) with flat float genotypes. The insertion rule is
operator-exact with `MapElitesRepertoire.add` as it runs on CPU (see `add`). Fitness is maximized;
an empty cell has fitness -inf, zero descriptor and zero genotype. Centroids are computed on the
host (`cvt_centroids`, `grid_centroids`) before anything is traced.
"""

from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from evoflow.errors import UsageError


# --- tessellations (host side, deterministic) ------------------------------------------------
def _box(low, high, n_dims: int | None) -> tuple[np.ndarray, np.ndarray, int]:
    low, high = np.asarray(low, np.float64), np.asarray(high, np.float64)
    shape = np.broadcast_shapes(low.shape, high.shape)
    if len(shape) > 1:
        raise UsageError(f"descriptor bounds must be scalars or 1-D, got shapes {low.shape} and "
                         f"{high.shape}")
    if n_dims is None:
        if not shape:
            raise UsageError("cvt_centroids needs per-dimension bounds (or n_dims) to know the "
                             "descriptor dimension")
        n_dims = shape[0]
    elif shape and shape[0] != n_dims:
        raise UsageError(f"descriptor bounds have {shape[0]} entries but n_dims is {n_dims}")
    return np.broadcast_to(low, (n_dims,)), np.broadcast_to(high, (n_dims,)), n_dims


def cvt_centroids(n_cells: int, n_samples: int, low, high, seed: int, *,
                  n_dims: int | None = None) -> np.ndarray:
    """Centroidal Voronoi tessellation of the box [low, high]: (n_cells, D) float32 centroids.

    Deterministic per `seed`: `n_samples` uniform points in [0, 1]^D from
    `np.random.default_rng(seed)`, k-means++ (one init, `random_state=seed`), rescaled to the box.
    D is the length of `low`/`high` (or `n_dims` when both are scalars). Same recipe as QDax's
    `compute_cvt_centroids`, but seeded with numpy, so the centroids differ from QDax's.
    """
    from sklearn.cluster import KMeans  # host-only dependency, imported where it is used

    n_cells, n_samples = int(n_cells), int(n_samples)
    if n_cells < 1:
        raise UsageError(f"cells {n_cells}: need at least one cell")
    if n_cells > n_samples:
        raise UsageError(f"cells {n_cells} > cvt_samples {n_samples}: need at least as many "
                         f"samples as cells")
    low, high, n_dims = _box(low, high, n_dims)
    x = np.random.default_rng(seed).uniform(size=(n_samples, n_dims))
    kmeans = KMeans(n_clusters=n_cells, init="k-means++", n_init=1, random_state=seed)
    kmeans.fit(x)
    return (kmeans.cluster_centers_ * (high - low) + low).astype(np.float32)


def grid_centroids(grid_shape: Sequence[int], low, high) -> np.ndarray:
    """Centres of a regular grid over [low, high]: (prod(grid_shape), D) float32, C order (the
    last descriptor varies fastest), as QDax's `compute_euclidean_centroids`."""
    grid_shape = tuple(int(n) for n in grid_shape)
    if not grid_shape or min(grid_shape) < 1:
        raise UsageError(f"grid shape {grid_shape}: need at least one cell per dimension")
    low, high, n_dims = _box(low, high, len(grid_shape))
    axes = [(np.arange(n) + 0.5) / n for n in grid_shape]
    unit = np.stack([m.ravel() for m in np.meshgrid(*axes, indexing="ij")], axis=-1)
    return (unit * (high - low) + low).astype(np.float32)


# --- the archive ------------------------------------------------------------------------------
@struct.dataclass
class Archive:
    """One elite per cell; every leaf has the cell axis first (C cells, D descriptors, P genes)."""

    centroids: jax.Array  # (C, D)
    fitness: jax.Array  # (C,) -inf = empty
    descriptor: jax.Array  # (C, D) observed descriptor of the elite (0 when empty)
    genotype: jax.Array  # (C, P) flat parameter vector (0 when empty)
    emitter: jax.Array  # (C,) int32 index into the algorithm's emitter names (0 when empty)
    generation: jax.Array  # (C,) int32 generation the elite was added in (0 when empty)
    parent: jax.Array  # (C,) int32 cell of the elite's parent, -1 for none (and when empty)

    @classmethod
    def empty(cls, centroids, genotype_dim: int, dtype=jnp.float32) -> "Archive":
        return empty(centroids, genotype_dim, dtype)

    @property
    def n_cells(self) -> int:
        return self.fitness.shape[-1]

    @property
    def filled(self) -> jax.Array:
        return filled(self)

    @property
    def qd_score(self) -> jax.Array:
        return qd_score(self)

    @property
    def coverage(self) -> jax.Array:
        return coverage(self)

    @property
    def max_fitness(self) -> jax.Array:
        return max_fitness(self)


def empty(centroids, genotype_dim: int, dtype=jnp.float32) -> Archive:
    """An archive with every cell empty over the given (C, D) centroids."""
    centroids = jnp.asarray(centroids, dtype)
    n_cells = centroids.shape[0]
    return Archive(
        centroids=centroids,
        fitness=jnp.full((n_cells,), -jnp.inf, dtype),
        descriptor=jnp.zeros_like(centroids),
        genotype=jnp.zeros((n_cells, int(genotype_dim)), dtype),
        emitter=jnp.zeros((n_cells,), jnp.int32),
        generation=jnp.zeros((n_cells,), jnp.int32),
        parent=jnp.full((n_cells,), -1, jnp.int32),
    )


def filled(archive: Archive) -> jax.Array:
    """(C,) bool: cells holding an elite."""
    return archive.fitness > -jnp.inf


def qd_score(archive: Archive) -> jax.Array:
    """Sum of fitness over filled cells (no offset, no clipping); 0 when empty."""
    return jnp.sum(archive.fitness, where=filled(archive))


def coverage(archive: Archive) -> jax.Array:
    """Percentage of filled cells, 0-100."""
    return 100.0 * jnp.mean(filled(archive).astype(archive.fitness.dtype))


def max_fitness(archive: Archive) -> jax.Array:
    """Best elite fitness; -inf when empty."""
    return jnp.max(archive.fitness)


def qd_metrics(archive: Archive) -> dict[str, jax.Array]:
    """Scalar QD metrics (QDax `default_qd_metrics` with qd_offset = 0)."""
    return {"qd_score": qd_score(archive), "coverage": coverage(archive),
            "max_fitness": max_fitness(archive)}


def cell_of(centroids: jax.Array, descriptors: jax.Array) -> jax.Array:
    """(B,) int32: nearest centroid by squared Euclidean distance, ties to the lowest index
    (computed as QDax's `get_cells_indices`, so cells agree bit for bit)."""
    def one(d):
        return jnp.argmin(jnp.sum(jnp.square(d - centroids), axis=-1))
    return jax.vmap(one)(descriptors).astype(jnp.int32)


def add(archive: Archive, genotype: jax.Array, descriptor: jax.Array, fitness: jax.Array,
        emitter: jax.Array, generation, parent: jax.Array) -> tuple[Archive, jax.Array]:
    """Insert a batch of B candidates; returns (archive, added (B,) bool).

    Per cell, the best candidate of the batch replaces the elite only if its fitness is strictly
    greater than the stored one (-inf when empty); an equal candidate never replaces it. Among
    candidates tied for a cell's best fitness, the one with the highest batch index wins: this is
    what QDax 0.5.0's `MapElitesRepertoire.add` does on CPU (it scatters every tied candidate
    with `.at[].set`, and XLA's CPU scatter lets the last duplicate write win; on GPU that order is
    unspecified, so QDax is nondeterministic there while this rule is not). Candidates with -inf
    or NaN fitness are never added; NaN counts as -inf, so unlike QDax it cannot block a finite
    candidate of the same cell. `added[i]` is True iff candidate i is now its cell's elite.
    """
    n_cells = archive.fitness.shape[0]
    batch = descriptor.shape[0]
    dtype = archive.fitness.dtype
    fitness = jnp.reshape(fitness, (batch,)).astype(dtype)
    fitness = jnp.where(jnp.isnan(fitness), -jnp.inf, fitness)
    cells = cell_of(archive.centroids, descriptor)

    best = jax.ops.segment_max(fitness, cells, num_segments=n_cells)
    contender = (fitness == best[cells]) & (fitness > archive.fitness[cells])
    index = jnp.arange(batch, dtype=jnp.int32)
    winner = jax.ops.segment_max(jnp.where(contender, index, -1), cells, num_segments=n_cells)
    added = contender & (winner[cells] == index)

    # one writer per cell at most, so the scatter is deterministic on every backend
    target = jnp.where(added, cells, n_cells)

    def put(stored, new):
        return stored.at[target].set(new.astype(stored.dtype), mode="drop")

    generation = jnp.broadcast_to(jnp.asarray(generation, jnp.int32), (batch,))
    new = archive.replace(
        fitness=put(archive.fitness, fitness),
        descriptor=put(archive.descriptor, descriptor),
        genotype=put(archive.genotype, genotype),
        emitter=put(archive.emitter, jnp.asarray(emitter)),
        generation=put(archive.generation, generation),
        parent=put(archive.parent, jnp.asarray(parent)),
    )
    return new, added


def sample_parents(key: jax.Array, archive: Archive, n: int) -> tuple[jax.Array, jax.Array]:
    """n parents uniformly, with replacement, over filled cells: (genotypes (n, P), cells (n,)).

    Same draws as QDax's `UniformSelector(select_with_replacement=True)` for the same key. The
    archive must hold at least one elite: on an empty archive the probabilities are 0/0 and the
    result is undefined (callers always add an initial population first).
    """
    vacant = archive.fitness == -jnp.inf
    p = (1.0 - vacant) / jnp.sum(1.0 - vacant)
    _, subkey = jax.random.split(key)  # as QDax, so the draws match it
    cells = jax.random.choice(subkey, jnp.arange(archive.fitness.shape[0]), shape=(int(n),),
                              p=p, replace=True).astype(jnp.int32)
    return archive.genotype[cells], cells


__all__ = ["Archive", "add", "cell_of", "coverage", "cvt_centroids", "empty", "filled",
           "grid_centroids", "max_fitness", "qd_metrics", "qd_score", "sample_parents"]
