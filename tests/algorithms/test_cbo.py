"""CBO operators against float64 references and closed forms, driven through the real ask/tell."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from evoflow.algorithms.base import TaskInfo
from evoflow.algorithms.cbo.cbo import (CBO, ConsensusHopping, consensus_point, effective_sample_size,
                                    ess_alpha, move_key, reflect)
from evoflow.config import ENGINE_SCHEMA, resolve
from evoflow.tasks.base import Evaluation

D = 3


def make(cls=CBO, dim=D, init_box=(-2.0, 2.0), **sets):
    sets = {"iterations": 10, "n_runs": 2, **sets}
    cfg = resolve({**ENGINE_SCHEMA, **cls.SCHEMA}, [("test", sets)])
    lo, hi = np.full(dim, init_box[0]), np.full(dim, init_box[1])
    return cls(cfg, TaskInfo(dim, lo, hi, lo * 2, hi * 2))


def sphere_fitness(pop):
    return -jnp.sum(pop ** 2, axis=-1)


def iterate(strategy, state, key, fitness_fn=sphere_fitness):
    """One engine iteration: each phase's ask -> evaluate -> tell."""
    metrics = {}
    for phase in range(strategy.phases):
        k_ask, k_tell = jax.random.split(jax.random.fold_in(key, phase))
        pop, state = strategy.ask(k_ask, state, phase)
        state, metrics = strategy.tell(k_tell, pop, Evaluation(fitness_fn(pop)), state, phase)
    return state, metrics


# --- consensus ---------------------------------------------------------------------------------


def consensus_loop64(x, e, alpha):
    """The textbook formula in float64, shifted by min(E) (Riedl's MATLAB) for stability."""
    x, e = np.asarray(x, np.float64), np.asarray(e, np.float64)
    w = np.array([math.exp(-alpha * (ei - e.min())) for ei in e])
    return sum(wi * xi for wi, xi in zip(w, x)) / w.sum()


@pytest.mark.parametrize("alpha", [1.0, 30.0, 1e3, 1e15])
def test_consensus_matches_float64_loop(alpha):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 5)).astype(np.float32)
    e = rng.uniform(0, 3, size=40).astype(np.float32)
    got = np.asarray(consensus_point(jnp.asarray(x), jnp.asarray(e), jnp.float32(alpha)))
    np.testing.assert_allclose(got, consensus_loop64(x, e, alpha), rtol=2e-5, atol=2e-6)
    if alpha == 1e15:  # the Laplace limit: the best particle exactly
        np.testing.assert_array_equal(got, x[np.argmin(e)])


def test_consensus_ignores_nonfinite_energies():
    x = jnp.asarray([[1.0, 1.0], [5.0, 5.0], [3.0, 3.0]])
    e = jnp.asarray([0.5, jnp.inf, jnp.nan])
    np.testing.assert_allclose(consensus_point(x, e, jnp.float32(1.0)), [1.0, 1.0])
    all_bad = consensus_point(x, jnp.full(3, jnp.inf), jnp.float32(1.0))
    np.testing.assert_allclose(all_bad, [3.0, 3.0], rtol=1e-6)  # uniform weights, no NaN


def test_ess_alpha_hits_target_within_one_percent():
    rng = np.random.default_rng(1)
    for eta in (0.1, 0.5, 0.9):
        e = jnp.asarray(rng.exponential(2.0, size=200), jnp.float32)
        alpha = ess_alpha(e, jnp.float32(eta), jnp.float32(1e5))
        ess = float(effective_sample_size(e, alpha))
        assert abs(ess - eta * 200) <= 0.01 * eta * 200, (eta, ess)


# --- one step against the closed form with injected noise ----------------------------------------


def one_step(strategy, seed=0):
    state = strategy.init(jax.random.key(seed), 2)
    x0 = np.asarray(state.runs.x, np.float64)
    key = jax.random.key(42)
    state1, _ = iterate(strategy, state, key)
    k_tell = jax.random.split(jax.random.fold_in(key, strategy.phases - 1))[1]
    return x0, state1, k_tell


def noise(key, run, shape):
    return np.asarray(jax.random.normal(move_key(key, run), shape), np.float64)


@pytest.mark.parametrize("noise_type", ["anisotropic", "isotropic"])
@pytest.mark.parametrize("convention", ["cbxpy", "sqrt2"])
@pytest.mark.parametrize("correction", ["none", "heaviside"])
def test_step_matches_closed_form(noise_type, convention, correction):
    lam, dt, sigma, alpha = 0.7, 0.05, 1.3, 2.0
    s = make(n_particles=6, noise=noise_type, sigma_convention=convention, correction=correction,
             lam=lam, dt=dt, sigma=sigma, alpha=alpha, alpha_schedule="fixed")
    x0, state1, k_tell = one_step(s)
    for run in range(2):
        x = x0[run]
        e = np.sum(x ** 2, axis=1)
        c = consensus_loop64(x, e, alpha)
        xi = noise(k_tell, run, x.shape)
        diff = x - c
        drift = lam * dt * diff
        if correction == "heaviside":
            drift = drift * (e > np.sum(c ** 2))[:, None]
        scale = sigma * (math.sqrt(2) if convention == "sqrt2" else 1.0) * math.sqrt(dt)
        if noise_type == "anisotropic":
            diffusion = scale * diff * xi
        else:
            diffusion = scale * np.linalg.norm(diff, axis=1, keepdims=True) * xi
        np.testing.assert_allclose(state1.runs.x[run], x - drift + diffusion, rtol=1e-4,
                                   atol=1e-5)


def test_hopping_matches_closed_form():
    s = make(ConsensusHopping, n_particles=6, sigma=0.7, alpha=3.0)
    x0, state1, k_tell = one_step(s)
    for run in range(2):
        x = x0[run]
        c = consensus_loop64(x, np.sum(x ** 2, axis=1), 3.0)
        np.testing.assert_allclose(state1.runs.x[run], c + 0.7 * noise(k_tell, run, x.shape),
                                   rtol=1e-4, atol=1e-5)


def test_noise_floor_and_kick_add_their_variance():
    """Floor and kick are independent Gaussian terms; they are drawn folded into one normal:
    x - drift + sqrt((sigma sqrt(dt) |x - c|)^2 + dt (floor^2 [+ sigma^2])) xi."""
    base = dict(n_particles=5, lam=1.0, dt=0.04, sigma=0.9, alpha=1.0, alpha_schedule="fixed")
    x0, plain, k = one_step(make(**base))
    _, floored, _ = one_step(make(**base, sigma_floor=0.3))
    _, kicked, _ = one_step(make(**base, stall_tol=1e9))  # always stalled
    _, calm, _ = one_step(make(**base, stall_tol=1e-30))  # never stalled
    for run in range(2):
        x = x0[run]
        c = consensus_loop64(x, np.sum(x ** 2, axis=1), 1.0)
        xi = noise(k, run, x.shape)
        s2 = (0.9 * 0.2 * (x - c)) ** 2
        for state, extra in ((floored, 0.3 ** 2), (kicked, 0.9 ** 2)):
            want = x - 0.04 * (x - c) + np.sign(x - c) * np.sqrt(s2 + 0.04 * extra) * xi
            np.testing.assert_allclose(state.runs.x[run], want, rtol=1e-4, atol=1e-5)
        np.testing.assert_array_equal(calm.runs.x[run], plain.runs.x[run])


def test_noise_floor_moves_a_particle_on_the_consensus_point():
    # Plain CBO freezes a particle at x = c (no drift, no diffusion); the floor does not.
    s = make(n_particles=4, alpha=1e15, alpha_schedule="fixed", sigma_floor=0.5)
    state = s.init(jax.random.key(0), 2)
    x0 = np.asarray(state.runs.x)
    state, _ = iterate(s, state, jax.random.key(1))
    assert np.all(np.any(np.asarray(state.runs.x) != x0, axis=2))


# --- evaluations, batches -----------------------------------------------------------------------


@pytest.mark.parametrize("sets, per_iteration", [
    ({}, 8), ({"correction": "heaviside"}, 9), ({"batch_size": 3}, 3),
    ({"batch_size": 3, "correction": "heaviside"}, 4)])
def test_evaluation_counts(sets, per_iteration):
    s = make(n_particles=8, **sets)
    state = s.init(jax.random.key(0), 2)
    for i in range(5):
        state, _ = iterate(s, state, jax.random.key(i))
    np.testing.assert_array_equal(s.run_evaluations(state), [5 * per_iteration] * 2)
    assert s.max_evaluations_per_iteration() == 2 * per_iteration


def test_partial_moves_only_batch_particles_and_batches_cover_all():
    # A noise floor moves even a particle sitting on the consensus point (where x - c = 0).
    s = make(n_particles=9, batch_size=3, partial=True, sigma_floor=0.1)
    state = s.init(jax.random.key(0), 2)
    seen = [set(), set()]
    for i in range(3):  # one pass through the permutation
        before = np.asarray(state.runs.x)
        state, _ = iterate(s, state, jax.random.key(i))
        after = np.asarray(state.runs.x)
        for run in range(2):
            idx = set(np.asarray(state.runs.batch_idx[run]).tolist())
            moved = set(np.flatnonzero(np.any(after[run] != before[run], axis=1)).tolist())
            assert moved == idx
            assert not idx & seen[run]  # without replacement within a pass
            seen[run] |= idx
    assert seen == [set(range(9))] * 2


def test_full_update_moves_every_particle():
    s = make(n_particles=9, batch_size=3, partial=False, sigma_floor=0.1)
    state = s.init(jax.random.key(0), 1)
    before = np.asarray(state.runs.x)
    state, _ = iterate(s, state, jax.random.key(0))
    assert np.all(np.any(np.asarray(state.runs.x) != before, axis=2))


# --- termination, each run on its own -------------------------------------------------------------


def per_run_fitness(values):
    """Fitness where run r's particles all have energy values[r](iteration)."""
    def fn(pop):
        return -jnp.broadcast_to(jnp.asarray(values, pop.dtype)[:, None], pop.shape[:2])
    return fn


def test_energy_tol_stops_one_run_alone_and_freezes_it():
    s = make(n_particles=4, energy_tol=1e-3)
    state = s.init(jax.random.key(0), 2)
    fit = per_run_fitness([0.0, 1.0])  # run 0 is below the tolerance, run 1 is not
    state, _ = iterate(s, state, jax.random.key(0), fit)
    assert np.asarray(state.runs.active).tolist() == [False, True]
    frozen = np.asarray(state.runs.x[0])
    state, m = iterate(s, state, jax.random.key(1), fit)
    np.testing.assert_array_equal(state.runs.x[0], frozen)
    assert np.asarray(state.runs.iteration).tolist() == [1, 2]
    assert np.asarray(state.runs.evaluations).tolist() == [4, 8]
    assert int(m["runs_active"]) == 1


def test_stagnation_stops_the_stagnant_run():
    s = make(n_particles=4, stagnation_patience=3, stagnation_tol=1e-6)
    state = s.init(jax.random.key(0), 2)
    for i in range(5):
        state, _ = iterate(s, state, jax.random.key(i), per_run_fitness([1.0, 1.0 - 0.1 * i]))
    assert np.asarray(state.runs.active).tolist() == [False, True]
    assert int(state.runs.iteration[0]) == 4  # improved at iteration 1, then 3 without


@pytest.mark.parametrize("sets, stop_at", [({"run_iterations": 3}, 3),
                                           ({"run_evaluations": 20}, 2)])
def test_iteration_and_evaluation_limits(sets, stop_at):
    s = make(n_particles=8, **sets)
    state = s.init(jax.random.key(0), 2)
    for i in range(6):
        state, _ = iterate(s, state, jax.random.key(i))
    assert np.asarray(state.runs.iteration).tolist() == [stop_at] * 2
    assert np.all(np.asarray(state.runs.evaluations) <= 20) or "run_iterations" in sets


# --- schedules, cooling, boxes --------------------------------------------------------------------


def test_alpha_multiply_is_capped():
    s = make(n_particles=4, alpha=10.0, alpha_factor=2.0, alpha_max=50.0)
    state = s.init(jax.random.key(0), 1)
    alphas = []
    for i in range(4):
        state, _ = iterate(s, state, jax.random.key(i))
        alphas.append(float(state.runs.alpha[0]))
    assert alphas == [20.0, 40.0, 50.0, 50.0]


def test_cooling_per_epoch():
    s = make(n_particles=4, sigma=1.0, alpha=3.0, alpha_schedule="fixed", cooling=True,
             epoch_iterations=2)
    state = s.init(jax.random.key(0), 1)
    sig = []
    for i in range(4):
        state, _ = iterate(s, state, jax.random.key(i))
        sig.append((float(state.runs.sigma[0]), float(state.runs.alpha[0])))
    s1 = math.log2(2) / math.log2(3)
    s2 = s1 * math.log2(3) / math.log2(4)
    np.testing.assert_allclose(sig, [(1, 3), (s1, 6), (s1, 6), (s2, 12)], rtol=1e-6)


@pytest.mark.parametrize("box", ["clip", "reflect"])
def test_box_keeps_particles_in_the_domain(box):
    s = make(n_particles=16, init_box=(-1.0, 1.0), sigma=30.0, alpha_schedule="fixed", **{"box": box})
    state = s.init(jax.random.key(0), 2)
    for i in range(5):
        state, _ = iterate(s, state, jax.random.key(i))
        assert np.all(np.abs(np.asarray(state.runs.x)) <= 2.0)  # domain is 2 x the init box


def test_reflect_folds_into_the_box():
    x = jnp.asarray([-3.5, -1.5, 0.3, 2.5, 5.5])
    np.testing.assert_allclose(reflect(x, -1.0, 2.0), [1.5, -0.5, 0.3, 1.5, -0.5], atol=1e-6)


def test_batch_size_above_n_is_rejected():
    from evoflow.errors import UsageError

    with pytest.raises(UsageError, match="batch_size"):
        make(n_particles=4, batch_size=5)


# --- memory (cbo_memory) --------------------------------------------------------------------------


def test_memory_keeps_each_particles_best_and_steps_toward_it():
    from evoflow.algorithms.cbo.cbo import CBOMemory

    lam, lam_m, dt, sigma, alpha = 1.0, 0.4, 0.05, 0.8, 2.0
    s = make(CBOMemory, n_particles=6, lam=lam, dt=dt, sigma=sigma, alpha=alpha,
             alpha_schedule="fixed")
    state = s.init(jax.random.key(0), 2)
    x0 = np.asarray(state.runs.x, np.float64)
    state, _ = iterate(s, state, jax.random.key(1))
    x1 = np.asarray(state.runs.x, np.float64)
    np.testing.assert_array_equal(state.runs.memory, x0.astype(np.float32))  # all improved on inf
    key2 = jax.random.key(2)
    state, _ = iterate(s, state, key2)
    k_tell = jax.random.split(jax.random.fold_in(key2, 0))[1]
    e0, e1 = np.sum(x0 ** 2, -1), np.sum(x1 ** 2, -1)
    y = np.where((e1 < e0)[..., None], x1, x0)
    np.testing.assert_allclose(state.runs.memory, y, rtol=1e-6)
    np.testing.assert_allclose(state.runs.memory_energy, np.minimum(e0, e1), rtol=1e-5)
    for run in range(2):  # the step: consensus of memories, drift and noise toward memory
        c = consensus_loop64(y[run], np.minimum(e0, e1)[run], alpha)
        x = x1[run]
        var = (sigma * np.sqrt(dt) * (x - c)) ** 2 + (lam_m * sigma * np.sqrt(dt) * (x - y[run])) ** 2
        want = (x - lam * dt * (x - c) - lam_m * dt * (x - y[run])
                + np.sign(x - c) * np.sqrt(var) * noise(k_tell, run, x.shape))
        np.testing.assert_allclose(state.runs.x[run], want, rtol=1e-4, atol=1e-5)
