"""Consensus-based optimization (CBO) and consensus hopping, M independent runs in one call.

Pinnau et al. 2017 (isotropic), Carrillo, Jin, Li & Zhu 2021 (anisotropic, random batches),
Fornasier, Klock & Riedl (noise floor, kick, cooling for neural networks), Riedl et al. 2023,
"Gradient is All You Need?" (consensus hopping, arXiv 2306.09778). Discretization follows CBXpy:

    x <- x - lam dt (x - c) [H(E(x) - E(c))] + sigma sqrt(dt) D(x - c) xi   (+ floor, kick)

with D = diag (anisotropic) or ||.||_2 I (isotropic); `sigma_convention="sqrt2"` uses sqrt(2) sigma
as CBX.jl. Hopping: x <- c + sigma xi. Energies are E = -fitness (the engine maximizes fitness).
The consensus is a softmax (log-sum-exp) average, stable up to alpha = 1e15.

Everything per run is written for one run and vmapped; the runs axis is the only one sharded.
"""

from __future__ import annotations

import math
import jax
import jax.numpy as jnp
from flax import struct

from evoflow.algorithms.base import Strategy
from evoflow.algorithms.cbo import schema


@struct.dataclass
class CBOParams:
    """Numeric hyperparameters: traced, so they can be swept or vmapped without recompiling."""

    lam: jax.Array
    dt: jax.Array
    sigma: jax.Array
    sigma_floor: jax.Array
    alpha: jax.Array
    alpha_factor: jax.Array
    alpha_max: jax.Array
    ess_eta: jax.Array
    stall_tol: jax.Array
    energy_tol: jax.Array
    stagnation_tol: jax.Array
    lam_memory: jax.Array
    sigma_memory: jax.Array


@struct.dataclass
class CBORuns:
    """Per-run state; every leaf has the runs axis first."""

    x: jax.Array  # (M, N, d) particles
    energy: jax.Array  # (M, N) last evaluated energy of each particle (+inf before any)
    alpha: jax.Array  # (M,)
    sigma: jax.Array  # (M,) current sigma (cooling lowers it)
    consensus: jax.Array  # (M, d)
    consensus_energy: jax.Array  # (M,) E(c) (Heaviside only; +inf otherwise)
    iteration_best: jax.Array  # (M,) lowest energy of the last batch (energy_tol test)
    prev_consensus: jax.Array  # (M, d)
    best_x: jax.Array  # (M, d) best evaluated particle so far (CBXpy's best_particle)
    best_energy: jax.Array  # (M,)
    batch_idx: jax.Array  # (M, B) particles of the current batch
    perm: jax.Array  # (M, N) batch permutation
    ptr: jax.Array  # (M,) next position in perm
    iteration: jax.Array  # (M,) iterations done
    evaluations: jax.Array  # (M,) evaluations spent
    last_improvement: jax.Array  # (M,) iteration of the last best_energy improvement
    epoch: jax.Array  # (M,) cooling epochs completed
    active: jax.Array  # (M,) still iterating
    valid: jax.Array  # (M,) a real run (False: padding for an even sharding)
    run_index: jax.Array  # (M,) global index: per-run keys are fold_in(key, run_index)
    memory: jax.Array  # (M, N, d) each particle's best position (cbo_memory; else (M, 0, d))
    memory_energy: jax.Array  # (M, N) its energy (else (M, 0))


@struct.dataclass
class CBOState:
    runs: CBORuns
    params: CBOParams


# ----------------------------------------------------------------------------------------------
# Pure per-run operators (module level, so tests can call them with injected noise)


def consensus_weights(energy: jax.Array, alpha: jax.Array) -> jax.Array:
    """softmax(-alpha E) over particles; non-finite energies get weight 0 (all: uniform)."""
    finite = jnp.isfinite(energy)
    logits = jnp.where(finite, -alpha * jnp.where(finite, energy, 0.0), -jnp.inf)
    logits = jnp.where(jnp.any(finite), logits, 0.0)
    return jax.nn.softmax(logits)


def consensus_point(x: jax.Array, energy: jax.Array, alpha: jax.Array) -> jax.Array:
    """v_alpha = sum_i x_i exp(-alpha E_i) / sum_j exp(-alpha E_j), x (B, d), energy (B,)."""
    return consensus_weights(energy, alpha) @ x


def effective_sample_size(energy: jax.Array, alpha: jax.Array) -> jax.Array:
    w = consensus_weights(energy, alpha)
    return 1.0 / jnp.sum(w * w)


def ess_alpha(energy: jax.Array, eta: jax.Array, alpha_max: jax.Array,
              alpha_min: float = 1e-5, steps: int = 60) -> jax.Array:
    """alpha with ESS(alpha) = eta * B, by bisection in log(alpha) (ESS falls as alpha grows)."""
    target = eta * energy.shape[0]
    lo, hi = jnp.log(jnp.asarray(alpha_min, energy.dtype)), jnp.log(alpha_max)

    def body(_, bounds):
        lo, hi = bounds
        mid = 0.5 * (lo + hi)
        too_spread = effective_sample_size(energy, jnp.exp(mid)) > target
        return jnp.where(too_spread, mid, lo), jnp.where(too_spread, hi, mid)

    lo, hi = jax.lax.fori_loop(0, steps, body, (lo, hi))
    return jnp.exp(0.5 * (lo + hi))


def reflect(x: jax.Array, lo: jax.Array, hi: jax.Array) -> jax.Array:
    """Fold x into [lo, hi] by mirror reflection at the walls."""
    width = hi - lo
    y = jnp.mod(x - lo, 2.0 * width)
    return lo + jnp.where(y > width, 2.0 * width - y, y)


def cbo_move(x, c, energy, consensus_energy, xi, sigma, p: CBOParams, *, noise: str,
             convention: str, heaviside: bool, extra_var=None, memory=None):
    """One Euler-Maruyama step of the CBO SDE for particles x (n, d), noise xi (n, d).

    `extra_var` is the per-coordinate variance of independent Gaussian terms added in the same
    step (noise floor, kick): they are folded into one draw, sqrt(s^2 + extra_var) xi, which is
    equal in distribution to separate draws and costs one normal sample instead of three.
    """
    diff = x - c
    drift = p.lam * p.dt * diff
    if heaviside:
        # CBX.jl: only particles worse than the consensus point drift (H(s) = 1[s > 0]).
        drift = drift * (energy > consensus_energy)[:, None]
    scale = sigma * (math.sqrt(2.0) if convention == "sqrt2" else 1.0) * jnp.sqrt(p.dt)
    spread = diff if noise == "anisotropic" else jnp.linalg.norm(diff, axis=-1, keepdims=True)
    diffusion = scale * spread
    if memory is not None:
        to_memory = x - memory
        drift = drift + p.lam_memory * p.dt * to_memory
        m_spread = to_memory if noise == "anisotropic" else jnp.linalg.norm(
            to_memory, axis=-1, keepdims=True)
        m_var = (p.sigma_memory * jnp.sqrt(p.dt) * m_spread) ** 2
        extra_var = m_var if extra_var is None else extra_var + m_var
    if extra_var is not None:  # keep the sign, so that extra_var = 0 changes nothing
        diffusion = jnp.where(diffusion < 0, -1.0, 1.0) * jnp.sqrt(diffusion ** 2 + extra_var)
    return x - drift + diffusion * xi


def hop(c, xi, sigma, extra_var=None):
    """Consensus hopping (Riedl et al. 2023): resample the particles around the consensus."""
    if extra_var is None:
        return c[None, :] + sigma * xi
    return c[None, :] + jnp.sqrt(sigma ** 2 + extra_var) * xi


def move_key(key, run):
    """The key of one run's move (its one standard normal draw)."""
    return jax.random.fold_in(key, run)


# ----------------------------------------------------------------------------------------------


class CBO(Strategy):
    """`cbo` (update="sde") and `consensus_hopping` (update="hopping")."""

    shard_runs = True
    progress_keys = ("runs_active",)
    SCHEMA = schema.CBO

    def __init__(self, cfg, task):
        super().__init__(cfg, task)
        from evoflow.errors import UsageError
        self.n_runs = cfg["n_runs"]
        self.n = cfg["n_particles"]
        self.b = cfg["batch_size"] or self.n
        if self.b > self.n:
            raise UsageError(f"--set batch_size={self.b}: batch_size must be <= n_particles "
                             f"({self.n}), or 0 for all particles")
        if cfg["cooling"] and cfg["epoch_iterations"] == 0:
            raise UsageError("--set cooling=true needs epoch_iterations > 0 (iterations per "
                             "epoch)")
        if cfg["box"] != "none" and task.domain_low is None:
            raise UsageError(f"--set box={cfg['box']}: this task has no domain; use box=none")
        self.heaviside = cfg["correction"] == "heaviside"
        self.memory = cfg["memory"]
        if self.memory and cfg["update"] == "hopping":
            raise UsageError("--set memory=true: memory effects need update=sde, not hopping")
        self.phases = 2 if self.heaviside else 1

    def max_evaluations_per_iteration(self) -> int:
        return self.n_runs * (self.b + (1 if self.heaviside else 0))

    # --- init ---------------------------------------------------------------------------------
    def default_params(self, dtype) -> CBOParams:
        c = self.cfg
        f = lambda v: jnp.asarray(v, dtype)  # noqa: E731
        return CBOParams(
            lam=f(c["lam"]), dt=f(c["dt"]), sigma=f(c["sigma"]), sigma_floor=f(c["sigma_floor"]),
            alpha=f(c["alpha"]), alpha_factor=f(c["alpha_factor"]), alpha_max=f(c["alpha_max"]),
            ess_eta=f(c["ess_eta"]), stall_tol=f(c["stall_tol"]),
            energy_tol=f(-jnp.inf if c["energy_tol"] is None else c["energy_tol"]),
            stagnation_tol=f(c["stagnation_tol"]), lam_memory=f(c["lam_memory"]),
            sigma_memory=f(c["lam_memory"] * c["sigma"] if c["sigma_memory"] is None
                           else c["sigma_memory"]))

    def init(self, key, n_runs_padded: int, dtype=jnp.float32, params: CBOParams | None = None):
        p = params if params is not None else self.default_params(dtype)
        m, n, d = n_runs_padded, self.n, self.task.dim
        lo = jnp.asarray(self.task.init_low, dtype)
        hi = jnp.asarray(self.task.init_high, dtype)
        run_index = jnp.arange(m, dtype=jnp.int32)

        def one(r):
            k_x, k_perm = jax.random.split(jax.random.fold_in(key, r))
            if self.cfg["init"] == "uniform":
                x = jax.random.uniform(k_x, (n, d), dtype, lo, hi)
            else:
                x = 0.5 * (lo + hi) + self.cfg["init_std"] * jax.random.normal(k_x, (n, d), dtype)
            return x, jax.random.permutation(k_perm, n).astype(jnp.int32)

        x, perm = jax.vmap(one)(run_index)
        inf = jnp.full((m,), jnp.inf, dtype)
        zeros_i = jnp.zeros((m,), jnp.int32)
        mean = jnp.mean(x, axis=1)
        runs = CBORuns(
            x=x, energy=jnp.full((m, n), jnp.inf, dtype), alpha=jnp.full((m,), p.alpha, dtype),
            sigma=jnp.full((m,), p.sigma, dtype), consensus=mean, consensus_energy=inf,
            iteration_best=inf, prev_consensus=mean, best_x=mean, best_energy=inf,
            batch_idx=jnp.zeros((m, self.b), jnp.int32), perm=perm,
            ptr=zeros_i, iteration=zeros_i, evaluations=zeros_i, last_improvement=zeros_i,
            epoch=zeros_i, active=run_index < self.n_runs,
            valid=run_index < self.n_runs, run_index=run_index,
            memory=x if self.memory else jnp.zeros((m, 0, d), dtype),
            memory_energy=jnp.full((m, n if self.memory else 0), jnp.inf, dtype))
        return CBOState(runs=runs, params=p)

    # --- ask ----------------------------------------------------------------------------------
    def ask(self, key, state: CBOState, phase: int = 0):
        r = state.runs
        if phase == 1:  # Heaviside: evaluate the consensus point computed in phase 0
            return r.consensus[:, None, :], state
        if self.b == self.n:
            return r.x, state

        def pick(run, perm, ptr):
            # Draw B fresh indices per step, without replacement until the permutation is used up.
            fresh = ptr + self.b > self.n
            new_perm = jax.random.permutation(jax.random.fold_in(key, run), self.n)
            perm = jnp.where(fresh, new_perm.astype(jnp.int32), perm)
            ptr = jnp.where(fresh, 0, ptr)
            idx = jax.lax.dynamic_slice(perm, (ptr,), (self.b,))
            return idx, perm, ptr + self.b

        idx, perm, ptr = jax.vmap(pick)(r.run_index, r.perm, r.ptr)
        batch = jnp.take_along_axis(r.x, idx[:, :, None], axis=1)
        return batch, state.replace(runs=r.replace(batch_idx=idx, perm=perm, ptr=ptr))

    # --- tell ---------------------------------------------------------------------------------
    def tell(self, key, population, evaluation, state: CBOState, phase: int = 0):
        r, p = state.runs, state.params
        fitness = evaluation.fitness
        energy = jnp.where(jnp.isnan(fitness), jnp.inf, -fitness)  # NaN loss counts as +inf
        if phase == 1:
            r = r.replace(consensus_energy=jnp.where(r.active, energy[:, 0], r.consensus_energy),
                          evaluations=r.evaluations + r.active)
            return self._move(key, state.replace(runs=r))
        r = self._observe(population, energy, r, p)
        state = state.replace(runs=r)
        if self.heaviside:
            return state, {}
        return self._move(key, state)

    def _observe(self, batch, energy, r: CBORuns, p: CBOParams) -> CBORuns:
        """Record a batch's energies: best particle, alpha (ess), consensus, counters."""
        schedule = self.cfg["alpha_schedule"]

        def best_of(x, e, best_x, best_e, last_imp, it):
            i = jnp.argmin(e)
            improved = e[i] < best_e - p.stagnation_tol
            better = e[i] < best_e
            return (jnp.where(better, x[i], best_x), jnp.where(better, e[i], best_e),
                    jnp.where(improved, it + 1, last_imp))

        points, point_energy = batch, energy
        if self.memory:  # y_i <- x_i where x_i improved; the consensus is taken over memories
            def remember(y, e_y, idx, x, e):
                better = e < e_y[idx]
                y = y.at[idx].set(jnp.where(better[:, None], x, y[idx]))
                return y, e_y.at[idx].set(jnp.minimum(e, e_y[idx]))

            idx = r.batch_idx if self.b < self.n else jnp.broadcast_to(
                jnp.arange(self.n, dtype=jnp.int32), r.batch_idx.shape)
            r = r.replace(batch_idx=idx)
            mem, mem_e = jax.vmap(remember)(r.memory, r.memory_energy, idx, batch, energy)
            r = r.replace(memory=jnp.where(r.active[:, None, None], mem, r.memory),
                          memory_energy=jnp.where(r.active[:, None], mem_e, r.memory_energy))
            points = jnp.take_along_axis(r.memory, r.batch_idx[:, :, None], axis=1)
            point_energy = jnp.take_along_axis(r.memory_energy, r.batch_idx, axis=1)

        def consensus_of(x, e, alpha):
            if schedule == "ess":
                alpha = ess_alpha(e, p.ess_eta, p.alpha_max).astype(alpha.dtype)
            return alpha, consensus_point(x, e, alpha)

        alpha, c = jax.vmap(consensus_of)(points, point_energy, r.alpha)
        best_x, best_e, last_imp = jax.vmap(best_of)(
            batch, energy, r.best_x, r.best_energy, r.last_improvement, r.iteration)
        act = r.active
        w = lambda new, old: jnp.where(act.reshape(act.shape + (1,) * (new.ndim - 1)), new, old)  # noqa: E731
        stored = jax.vmap(lambda e_all, idx, e: e_all.at[idx].set(e))(r.energy, r.batch_idx,
                                                                       energy)
        if self.b == self.n:
            stored = energy
        return r.replace(
            alpha=w(alpha, r.alpha), prev_consensus=w(r.consensus, r.prev_consensus),
            consensus=w(c, r.consensus), best_x=w(best_x, r.best_x),
            best_energy=w(best_e, r.best_energy), last_improvement=w(last_imp, r.last_improvement),
            energy=w(stored, r.energy), evaluations=r.evaluations + act * self.b,
            iteration_best=w(jnp.min(energy, axis=1), r.iteration_best))

    def _move(self, key, state: CBOState):
        r, p, cfg = state.runs, state.params, self.cfg
        moved_idx = r.batch_idx if (cfg["partial"] and self.b < self.n) else None
        domain = None
        if cfg["box"] != "none":
            domain = (jnp.asarray(self.task.domain_low, r.x.dtype),
                      jnp.asarray(self.task.domain_high, r.x.dtype))

        def one(run, x, energy, c, e_c, prev_c, sigma, y, idx):
            xs = x if idx is None else x[idx]
            es = energy if idx is None else energy[idx]
            ys = None if not self.memory else (y if idx is None else y[idx])
            xi = jax.random.normal(move_key(key, run), xs.shape, xs.dtype)
            extra_var = None  # variance of the noise floor and the kick, per unit time
            if cfg["sigma_floor"] > 0:
                extra_var = p.sigma_floor ** 2
            if cfg["stall_tol"] > 0:
                stalled = jnp.max(jnp.abs(c - prev_c)) < p.stall_tol
                extra_var = (0.0 if extra_var is None else extra_var) + jnp.where(
                    stalled, sigma ** 2, 0.0)
            if extra_var is not None:
                extra_var = extra_var * p.dt
            if cfg["update"] == "hopping":
                new = hop(c, xi, sigma, extra_var)
            else:
                new = cbo_move(xs, c, es, e_c, xi, sigma, p, noise=cfg["noise"],
                               convention=cfg["sigma_convention"], heaviside=self.heaviside,
                               extra_var=extra_var, memory=ys)
            if domain is not None:
                new = (jnp.clip(new, *domain) if cfg["box"] == "clip" else reflect(new, *domain))
            if cfg["clip_abs"] > 0:  # keeps diverging dynamics (e.g. isotropic, d sigma^2 > 2 lam)
                lim = jnp.asarray(cfg["clip_abs"], new.dtype)  # finite, as CBXpy does
                new = jnp.clip(jnp.nan_to_num(new, nan=lim), -lim, lim)
            return new if idx is None else x.at[idx].set(new)

        per_run = (r.run_index, r.x, r.energy, r.consensus, r.consensus_energy,
                   r.prev_consensus, r.sigma, r.memory)
        if moved_idx is None:
            x = jax.vmap(lambda *a: one(*a, None))(*per_run)
        else:
            x = jax.vmap(one)(*per_run, moved_idx)
        act = r.active
        x = jnp.where(act[:, None, None], x, r.x)
        it = r.iteration + act
        alpha, sigma, epoch = r.alpha, r.sigma, r.epoch
        if cfg["alpha_schedule"] == "multiply":
            alpha = jnp.where(act, jnp.minimum(alpha * p.alpha_factor, p.alpha_max), alpha)
        if cfg["cooling"]:
            end = act & (it % cfg["epoch_iterations"] == 0)
            epoch = epoch + end
            e = epoch.astype(sigma.dtype)
            sigma = jnp.where(end, sigma * jnp.log2(e + 1.0) / jnp.log2(e + 2.0), sigma)
            alpha = jnp.where(end, jnp.minimum(2.0 * alpha, p.alpha_max), alpha)
        stop = self._stop(r, it, r.iteration_best, p)
        r = r.replace(x=x, iteration=it, alpha=alpha, sigma=sigma, epoch=epoch,
                      active=act & ~stop)
        state = state.replace(runs=r)
        return state, self._metrics(r)

    def _stop(self, r: CBORuns, it, batch_min, p: CBOParams):
        cfg = self.cfg
        stop = batch_min < p.energy_tol
        if cfg["run_iterations"]:
            stop |= it >= cfg["run_iterations"]
        if cfg["run_evaluations"]:
            per_it = self.b + (1 if self.heaviside else 0)
            stop |= r.evaluations + per_it > cfg["run_evaluations"]
        if cfg["stagnation_patience"]:
            stop |= it - r.last_improvement >= cfg["stagnation_patience"]
        return stop

    def _metrics(self, r: CBORuns):
        alpha = jnp.where(r.valid, r.alpha, jnp.nan)
        return {"alpha_median": jnp.nanmedian(alpha), "sigma_median": jnp.nanmedian(
            jnp.where(r.valid, r.sigma, jnp.nan)), "runs_active": jnp.sum(r.active & r.valid)}

    # --- engine views -------------------------------------------------------------------------
    def reported(self, state):
        r = state.runs
        return r.consensus if self.cfg["report"] == "consensus" else r.best_x

    def run_evaluations(self, state):
        return state.runs.evaluations

    def runs_active(self, state):
        return state.runs.active & state.runs.valid

    def sharded_leaves(self, state):
        return CBOState(runs=jax.tree_util.tree_map(lambda _: True, state.runs),
                        params=jax.tree_util.tree_map(lambda _: False, state.params))

    def snapshot(self, state):
        r = state.runs
        k = min(8, self.n_runs)
        return {"positions": r.x[:k, :64, :64], "f": r.energy[:k, :64],
                "consensus": r.consensus[:k, :64]}


class CBOMemory(CBO):
    """CBO with memory effects (CBXpy's CBOMemory): lam_memory 0.4, sigma_memory lam_memory sigma."""

    SCHEMA = schema.CBO_MEMORY


class ConsensusHopping(CBO):
    """V <- v_alpha(V) + sigma xi: CBO's fully discrete limit (Riedl et al. 2023, `CH.m`)."""

    SCHEMA = schema.CONSENSUS_HOPPING
