"""MAP-Elites archive: operator-exact against QDax 0.5.0's MapElitesRepertoire (on CPU)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from qdax.core.containers.mapelites_repertoire import (MapElitesRepertoire,
                                                       compute_euclidean_centroids,
                                                       get_cells_indices)
from qdax.utils.metrics import default_qd_metrics

from evoflow.algorithms.map_elites import archive as A
from evoflow.errors import UsageError

C, D, P = 10, 2, 3

add_jit = jax.jit(A.add)
qdax_add = jax.jit(lambda rep, g, d, f: rep.add(g, d, f))


def random_batch(rng, batch, centroids):
    """Descriptors near a few centroids (many conflicts, exact duplicates), fitness from a tiny
    integer set (exact ties within the batch and against elites), some -inf, distinct genotypes."""
    pick = rng.integers(0, centroids.shape[0], batch)
    desc = centroids[pick] + rng.normal(0, 0.03, (batch, D)).astype(np.float32)
    dup = rng.random(batch) < 0.2
    desc[dup] = desc[0]
    fit = rng.integers(0, 4, batch).astype(np.float32)
    fit[rng.random(batch) < 0.15] = -np.inf
    geno = rng.normal(size=(batch, P)).astype(np.float32)
    return geno, desc.astype(np.float32), fit


def reference_add(fit_c, batch_fit, cells):
    """Plain-Python rule: per cell the last of the batch's best, if strictly above the elite."""
    added = np.zeros(len(batch_fit), bool)
    for c in np.unique(cells):
        idx = np.flatnonzero(cells == c)
        best = batch_fit[idx].max()
        if best > fit_c[c]:
            added[idx[batch_fit[idx] == best][-1]] = True
    return added


@pytest.mark.parametrize("seed", range(5))
def test_add_matches_qdax_exactly(seed):
    rng = np.random.default_rng(seed)
    centroids = A.cvt_centroids(C, 200, [0.0, 0.0], [1.0, 1.0], seed)
    arch = A.empty(centroids, P)
    rep = MapElitesRepertoire.init_default(jnp.zeros(P, jnp.float32), jnp.asarray(centroids))
    for step in range(20):  # 5 seeds x 20 = 100 batches
        batch = (64, 7)[step % 2]
        geno, desc, fit = random_batch(rng, batch, centroids)
        before = np.asarray(arch.fitness)
        emitter = rng.integers(0, 3, batch)
        parent = rng.integers(-1, C, batch)
        arch, added = add_jit(arch, geno, desc, fit, emitter, step, parent)
        rep = qdax_add(rep, geno, desc, fit)
        np.testing.assert_array_equal(arch.fitness, rep.fitnesses[:, 0])
        np.testing.assert_array_equal(arch.descriptor, rep.descriptors)
        np.testing.assert_array_equal(arch.genotype, rep.genotypes)
        cells = np.asarray(get_cells_indices(desc, jnp.asarray(centroids)))
        np.testing.assert_array_equal(A.cell_of(arch.centroids, desc), cells)
        ref = reference_add(before, fit, cells)
        np.testing.assert_array_equal(added, ref)
        win = np.flatnonzero(ref)
        np.testing.assert_array_equal(np.asarray(arch.emitter)[cells[win]], emitter[win])
        np.testing.assert_array_equal(np.asarray(arch.parent)[cells[win]], parent[win])
        np.testing.assert_array_equal(np.asarray(arch.generation)[cells[win]], step)
    assert 0 < int(A.filled(arch).sum()) <= C


def test_equal_candidate_does_not_replace_and_added_flags():
    centroids = A.grid_centroids((2,), 0.0, 1.0)  # cells at 0.25 and 0.75
    arch = A.empty(centroids, 1)
    d = np.array([[0.2], [0.3], [0.8]], np.float32)
    arch, added = A.add(arch, np.array([[1.0], [2.0], [3.0]]), d, np.array([5.0, 5.0, 1.0]),
                        np.zeros(3, int), 0, np.full(3, -1))
    np.testing.assert_array_equal(added, [False, True, True])  # tie in a batch: last one wins
    np.testing.assert_array_equal(arch.genotype[:, 0], [2.0, 3.0])
    # equal to the stored elite: not added, even with another descriptor; lower: not added
    arch2, added = A.add(arch, np.array([[9.0], [9.0]]), np.array([[0.1], [0.7]], np.float32),
                         np.array([5.0, 0.5]), np.ones(2, int), 1, np.zeros(2, int))
    np.testing.assert_array_equal(added, [False, False])
    for a, b in zip(jax.tree.leaves(arch), jax.tree.leaves(arch2)):
        np.testing.assert_array_equal(a, b)
    # strictly better replaces; -inf and NaN never enter, and NaN does not block a finite one
    arch3, added = A.add(arch2, np.array([[7.0], [8.0], [6.0]]),
                         np.array([[0.1], [0.9], [0.95]], np.float32),
                         np.array([5.5, np.nan, 2.0]), np.full(3, 2), 4, np.array([1, 0, 1]))
    np.testing.assert_array_equal(added, [True, False, True])
    np.testing.assert_array_equal(arch3.fitness, [5.5, 2.0])
    np.testing.assert_array_equal(arch3.genotype[:, 0], [7.0, 6.0])
    np.testing.assert_array_equal(arch3.emitter, [2, 2])
    np.testing.assert_array_equal(arch3.generation, [4, 4])
    np.testing.assert_array_equal(arch3.parent, [1, 1])
    empty = A.empty(centroids, 1)
    e2, added = A.add(empty, np.ones((2, 1)), d[:2], np.array([-np.inf, np.nan]),
                      np.zeros(2, int), 0, np.zeros(2, int))
    assert not added.any() and not A.filled(e2).any()
    np.testing.assert_array_equal(e2.parent, [-1, -1])


def test_add_vmaps_over_runs():
    centroids = A.grid_centroids((3, 3), 0.0, 1.0)
    rng = np.random.default_rng(1)
    batches = [random_batch(rng, 16, centroids) for _ in range(2)]
    g, d, f = (np.stack(x) for x in zip(*batches))
    arch = jax.tree.map(lambda x: jnp.stack([x, x]), A.empty(centroids, P))
    em, par = np.zeros((2, 16), int), np.zeros((2, 16), int)
    va, vadded = jax.vmap(A.add, in_axes=(0, 0, 0, 0, 0, None, 0))(arch, g, d, f, em, 3, par)
    for r in range(2):
        one, added = A.add(A.empty(centroids, P), g[r], d[r], f[r], em[r], 3, par[r])
        np.testing.assert_array_equal(vadded[r], added)
        for a, b in zip(jax.tree.leaves(one), jax.tree.leaves(jax.tree.map(lambda x: x[r], va))):
            np.testing.assert_array_equal(a, b)


def test_cell_of_ties_go_to_lowest_index():
    centroids = jnp.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    desc = jnp.array([[0.5, 0.5], [0.5, 0.0], [1.0, 0.5], [0.9, 0.9]])
    np.testing.assert_array_equal(A.cell_of(centroids, desc), [0, 0, 1, 3])
    np.testing.assert_array_equal(A.cell_of(centroids, desc), get_cells_indices(desc, centroids))


@pytest.mark.parametrize("shape,low,high", [((5,), 0.0, 1.0), ((3, 4), [-1.0, 0.0], [1.0, 2.0]),
                                            ((2, 3, 4), 0.0, [1.0, 2.0, 3.0])])
def test_grid_centroids_vs_qdax(shape, low, high):
    ours = A.grid_centroids(shape, low, high)
    n, d = int(np.prod(shape)), len(shape)
    assert ours.shape == (n, d)
    # C order: the last descriptor varies fastest, so reshape(shape) indexes cells by grid position
    grid = ours.reshape(*shape, d)
    for k in range(d):
        lo = np.broadcast_to(low, (d,))[k]
        hi = np.broadcast_to(high, (d,))[k]
        expect = lo + (np.arange(shape[k]) + 0.5) / shape[k] * (hi - lo)
        idx = [0] * d
        idx[k] = slice(None)
        np.testing.assert_allclose(grid[tuple(idx) + (k,)], expect, rtol=1e-6, atol=1e-6)
    # QDax builds the same points with jnp.meshgrid's default "xy" indexing, which swaps the two
    # leading axes of the enumeration (for D >= 2): same set, that permutation.
    qdax = np.asarray(compute_euclidean_centroids(shape, low, high))
    perm = grid.swapaxes(0, 1).reshape(n, d) if d >= 2 else ours
    np.testing.assert_allclose(perm, qdax, rtol=1e-6, atol=1e-6)


def test_cvt_centroids_deterministic_and_checked():
    a = A.cvt_centroids(20, 500, [0.0, -1.0], [1.0, 1.0], 3)
    b = A.cvt_centroids(20, 500, [0.0, -1.0], [1.0, 1.0], 3)
    c = A.cvt_centroids(20, 500, [0.0, -1.0], [1.0, 1.0], 4)
    assert a.shape == (20, 2) and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    assert (a[:, 0] >= 0).all() and (a[:, 0] <= 1).all() and (a[:, 1] >= -1).all()
    assert a[:, 1].min() < -0.5 and a[:, 1].max() > 0.5  # rescaled to the box
    assert A.cvt_centroids(4, 50, 0.0, 1.0, 0, n_dims=3).shape == (4, 3)
    with pytest.raises(UsageError, match=r"^cells 600 > cvt_samples 500: need at least as many "
                                         r"samples as cells$"):
        A.cvt_centroids(600, 500, [0.0, 0.0], [1.0, 1.0], 0)


def test_sample_parents_uniform_over_filled_and_matches_qdax():
    centroids = A.grid_centroids((20,), 0.0, 1.0)
    arch = A.empty(centroids, P)
    cells = np.arange(0, 20, 2)  # 10 filled cells
    geno = np.arange(10 * P, dtype=np.float32).reshape(10, P)
    arch, added = A.add(arch, geno, centroids[cells], np.arange(10.0), np.zeros(10, int), 0,
                        np.full(10, -1))
    assert added.all()
    n = 20000
    key = jax.random.key(7)
    g, picked = jax.jit(A.sample_parents, static_argnums=2)(key, arch, n)
    assert g.shape == (n, P) and picked.shape == (n,)
    assert np.isin(np.asarray(picked), cells).all()
    np.testing.assert_array_equal(g, arch.genotype[picked])
    counts = np.bincount(np.asarray(picked), minlength=20)[cells]
    chi2 = ((counts - n / 10) ** 2 / (n / 10)).sum()
    assert chi2 < 30.0, counts  # 9 dof: P(chi2 > 30) ~ 4e-4
    rep = MapElitesRepertoire.init_default(jnp.zeros(P, jnp.float32), jnp.asarray(centroids))
    rep = rep.add(geno, jnp.asarray(centroids[cells]), jnp.arange(10.0))
    np.testing.assert_array_equal(rep.select(key, 64).genotypes, A.sample_parents(key, arch, 64)[0])


def test_qd_metrics_hand_built():
    centroids = A.grid_centroids((2, 2), 0.0, 1.0)
    arch = A.empty(centroids, 2)
    m = A.qd_metrics(arch)
    assert float(m["qd_score"]) == 0.0 and float(m["coverage"]) == 0.0
    assert float(m["max_fitness"]) == -np.inf
    arch = arch.replace(fitness=jnp.array([1.5, -jnp.inf, 0.0, 4.0]))
    m = A.qd_metrics(arch)
    assert float(m["qd_score"]) == 5.5
    assert float(m["coverage"]) == 75.0
    assert float(m["max_fitness"]) == 4.0
    assert float(arch.qd_score) == 5.5 and float(arch.coverage) == 75.0
    np.testing.assert_array_equal(arch.filled, [True, False, True, True])
    assert arch.n_cells == 4
    rep = MapElitesRepertoire.init_default(jnp.zeros(2), jnp.asarray(centroids))
    rep = rep.replace(fitnesses=arch.fitness[:, None])
    q = default_qd_metrics(rep, 0.0)
    for k in m:
        np.testing.assert_allclose(m[k], q[k])
    # an Archive is a pytree: metrics jit
    assert float(jax.jit(A.qd_metrics)(arch)["qd_score"]) == 5.5
    assert A.Archive.empty(centroids, 2).genotype.shape == (4, 2)
