"""The Deep GA of Such et al. (2017) and its random-search baseline, as device-driver strategies.

A generation (one engine iteration) has two phases:

- phase 0 evaluates N individuals, `episodes` episodes each: in generation 0 (and in every
  generation of random search) N fresh initializations; later the unmutated elite (row 0) and
  N - 1 children of parents drawn uniformly from the T cached parents, child = parent + σ·ε;
- phase 1 re-evaluates the top `elite_candidates` by phase-0 fitness (the previous elite
  replacing the last when it is not among them) for `elite_episodes` episodes each; the best
  mean is the new elite (Uber's `gpu_implementation/ga.py`). With `elite_candidates=0` there is
  no phase 1 and the elite is the phase-0 best.

The next parents are the elite and the top T - 1 others by phase-0 fitness (selection.py),
materialized once from the cached parents with one draw each (genome.py: the same arithmetic a
chain rebuild does). Each parent also keeps its seed chain, (seed, σ) per mutation in a
fixed-capacity buffer, so that `best.genome` is written without rebuilding anything.

Random search (T = 0): every individual is a fresh initialization; the elite is the best
re-evaluated candidate seen so far (its mean compared with the stored elite's).

Fitness is the task's episode return; evaluations count every episode, re-evaluations included,
so `evaluations` and `env_steps` budgets are Uber's frame accounting.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from evoflow.algorithms.base import Strategy
from evoflow.algorithms.ga import genome, obs_norm, schema, selection
from evoflow.errors import UsageError
from evoflow.tasks.base import PolicyBatch

GENOME_FILE, BEST_FILE = "best.genome", "best.json"
# Test episodes use reset keys key(TEST_RESET_SEED + i): training derives every key it uses by
# folding and splitting the run's keys, never from a raw seed in this range.
TEST_RESET_SEED = 1_000_000_000


INT32_MAX = 2**31 - 1


def replay_episodes(evaluate, theta, reset_seeds, normalizer=None) -> dict[str, np.ndarray]:
    """One episode of the policy `theta` (D,) per reset seed, by `evaluate(genotypes, key)` (a
    run's task), on observations normalized by `normalizer` = (mean, std) if given:
    {"return": (E,), "goal_reached": (E,) where the task reports it}."""
    if getattr(evaluate, "host", False):  # the host loop: seeds are the episodes' reset seeds
        theta = np.asarray(theta, np.float32)
        ev = evaluate(np.repeat(theta[None], len(reset_seeds), axis=0), reset_seeds)
        out = {"return": np.asarray(ev.fitness)}
        if "goal_reached" in ev.extras:
            out["goal_reached"] = np.asarray(ev.extras["goal_reached"])
        return out
    keys = jax.vmap(jax.random.key)(jnp.asarray(np.asarray(reset_seeds, np.uint32)))

    @jax.jit
    def run(theta, keys, norm):
        pol = theta[None] if norm is None else PolicyBatch(theta[None], *norm)
        ev = jax.vmap(lambda k: evaluate(pol, k))(keys)
        out = {"return": ev.fitness[:, 0]}
        if "goal_reached" in ev.extras:
            out["goal_reached"] = ev.extras["goal_reached"][:, 0]
        return out

    norm = None if normalizer is None else tuple(jnp.asarray(a, jnp.float32) for a in normalizer)
    return jax.device_get(run(jnp.asarray(theta), keys, norm))


@struct.dataclass
class GAState:
    parents: jax.Array  # (T, D) materialized parents; row 0 is the elite (GA), or (1, D) unused
    p_init: jax.Array  # (T,) uint32 init seed of each parent's chain
    p_seeds: jax.Array  # (T, C) uint32 mutation seeds
    p_sigmas: jax.Array  # (T, C) float32 mutation powers
    p_len: jax.Array  # (T,) int32 mutations in each chain
    c_parent: jax.Array  # (N,) int32 parent row of each individual asked (-1: fresh init)
    c_seed: jax.Array  # (N,) uint32 its mutation seed (fresh: its init seed)
    sigma: jax.Array  # () the generation's σ
    fitness: jax.Array  # (N,) phase-0 fitness of the generation
    select: jax.Array  # (N,) what truncation ranks: the fitness (GA) or a novelty score
    candidates: jax.Array  # (k,) individuals re-evaluated in phase 1
    elite: jax.Array  # (D,) the elite's parameters
    elite_init: jax.Array  # () uint32
    elite_seeds: jax.Array  # (C,) uint32
    elite_sigmas: jax.Array  # (C,) float32
    elite_len: jax.Array  # () int32
    elite_return: jax.Array  # () the elite's mean return over its re-evaluation episodes
    elite_generation: jax.Array  # () int32 generation in which the elite was chosen
    generation: jax.Array  # () int32 generations told
    evaluations: jax.Array  # (1,) int32 episodes run (a runs axis of one, for the engine)
    gen0_max: jax.Array  # () the best phase-0 fitness of generation 0
    goal_reached: jax.Array  # () bool: an episode reported goal_reached (tasks that have one)
    env_steps: jax.Array  # () int32 environment steps run
    cutoff: jax.Array  # () int32 the generation's episode step limit
    at_cutoff: jax.Array  # () fraction of the generation's phase-0 episodes that hit it
    obs: obs_norm.ObsStats  # the running normalizer, frozen during a generation
    obs_pending: tuple  # the generation's (count, sum, sum of squares) shifted by obs.mean
    elite_obs: obs_norm.ObsStats  # the normalizer the elite's return was measured with
    aux: dict  # a subclass's own state (ga_ns: the novelty archive)


class DeepGA(Strategy):
    """Truncation selection, Gaussian mutation, one unmutated elite, no crossover."""

    SCHEMA = schema.GA
    progress_keys = ("elite/return", "fitness/max")
    random_init = False  # random search: every individual a fresh initialization
    # The reported elite is the best re-evaluated individual so far, not the first parent
    # (random search; novelty search, whose parents are the most novel)
    keeps_best = False

    def __init__(self, cfg, task):
        super().__init__(cfg, task)
        if task.sample_genotypes is None:
            raise UsageError("this task has no policy initializer (the GA evolves policies)")
        self.n = cfg["pop_size"]
        self.t = 1 if self.random_init else cfg["truncation"]
        self.k = cfg["elite_candidates"]
        self.e = cfg["elite_episodes"]
        self.reps = cfg["episodes"]
        self.cap = cfg["chain_capacity"]
        self.norm = bool(cfg.get("obs_norm", False)) and "obs_norm" in task.policy_batch
        self.adaptive = cfg["episode_cutoff"] == "adaptive"
        if self.adaptive:
            self._check_cutoff()
        if cfg.get("dtype", "float32") != "float32":
            raise UsageError(f"--set dtype={cfg['dtype']}: seed-chain genomes are float32; "
                             f"use dtype=float32")
        self._check()
        self.phases = 2 if self.k else 1
        if task.host_loop:  # workers build children from the parents and (parent, seed, σ)
            self.host_decoder = "evoflow.algorithms.ga.genome:host_children"
        self.generations = self._generation_bound()
        if self.generations is not None and self.generations > self.cap:
            raise UsageError(f"--set chain_capacity={self.cap}: the budget allows "
                             f"{self.generations} generations; a run's chain capacity is fixed "
                             f"when it starts: start it with chain_capacity >= "
                             f"{self.generations}")
        self._sigma_schedule()
        steps = (self.generations or 0) * self.evaluations_per_generation() * max(
            task.episode_length, 1)
        if steps > INT32_MAX and (cfg.get("env_steps") or INT32_MAX + 1) > INT32_MAX:
            raise UsageError(f"the budget allows {steps:,} environment steps; the run counts up "
                             f"to {INT32_MAX:,}: set --set env_steps=N with N <= {INT32_MAX:,}")

    # --- configuration -----------------------------------------------------------------------
    def _check(self):
        n = self.n
        if n < 2:
            raise UsageError(f"--set pop_size={n}: must be >= 2")
        if not self.random_init and not 1 <= self.t <= n - 1:
            hint = " (T = 0 is random search: use random_search)" if self.t == 0 else ""
            raise UsageError(f"--set truncation={self.t}: must be in 1..{n - 1} "
                             f"(1 <= T < pop_size){hint}")
        if self.k > n:
            raise UsageError(f"--set elite_candidates={self.k}: must be <= pop_size ({n})")

    def _check_cutoff(self):
        c, t = self.cfg, self.task
        if "max_steps" not in t.policy_batch:
            raise UsageError("--set episode_cutoff=adaptive: this env's episodes have a fixed "
                             "length; the Brax locomotion envs take a cutoff")
        self.cutoff_max = c["cutoff_max"] or t.episode_length
        if not c["cutoff_start"] <= self.cutoff_max <= t.episode_length:
            raise UsageError(f"--set cutoff_start={c['cutoff_start']} cutoff_max="
                             f"{self.cutoff_max}: need cutoff_start <= cutoff_max <= "
                             f"episode_length ({t.episode_length})")
        if c["cutoff_ratio"] <= 1:
            raise UsageError(f"--set cutoff_ratio={c['cutoff_ratio']}: must be > 1")

    def evaluations_per_generation(self) -> int:
        return self.n * self.reps + self.k * self.e

    def max_evaluations_per_iteration(self) -> int:
        return self.evaluations_per_generation()

    def _generation_bound(self) -> int | None:
        """The most generations the run's budget allows (None: only a wall-clock budget)."""
        per_gen = self.evaluations_per_generation()
        bounds = []
        if self.cfg.get("iterations") is not None:
            bounds.append(self.cfg["iterations"])
        if self.cfg.get("evaluations") is not None:
            bounds.append(math.ceil(self.cfg["evaluations"] / per_gen))
        if self.cfg.get("env_steps") is not None and self.task.episode_length:
            bounds.append(math.ceil(self.cfg["env_steps"] / (per_gen * self.task.episode_length)))
        return min(bounds) if bounds else None

    def _sigma_schedule(self):
        c = self.cfg
        kind = c.get("sigma_schedule", "constant")
        self.sigma0 = c.get("sigma", 0.0)
        self.sigma1 = c.get("sigma_final")
        if kind == "constant":
            return
        if self.sigma1 is None:
            raise UsageError(f"--set sigma_schedule={kind}: needs --set sigma_final=VALUE (> 0)")
        if self.generations is None:
            raise UsageError(f"--set sigma_schedule={kind}: needs a budget in generations "
                             f"(iterations, evaluations or env_steps), not only wall_s")

    def sigma_at(self, generation):
        """σ of a generation (traced): constant, or linear / geometric from sigma to
        sigma_final over the budget's generations."""
        kind = self.cfg.get("sigma_schedule", "constant")
        s0 = jnp.float32(self.sigma0)
        if kind == "constant":
            return s0
        s1 = jnp.float32(self.sigma1)
        frac = jnp.clip(generation.astype(jnp.float32) / max(self.generations - 1, 1), 0.0, 1.0)
        if kind == "linear":
            return s0 + (s1 - s0) * frac
        return s0 * (s1 / s0) ** frac

    # --- helpers -------------------------------------------------------------------------------
    def _fresh(self, seeds, dtype):
        init = self.task.sample_genotypes
        return jax.vmap(lambda s: init(jax.random.key(s), 1, dtype)[0])(seeds)

    def _rows(self, state: GAState, idx):
        """Parameters of the individuals `idx` of the generation asked (one draw each)."""
        seeds, par = state.c_seed[idx], state.c_parent[idx]
        dtype = state.elite.dtype
        if self.random_init:
            return self._fresh(seeds, dtype)

        def mutated(_):
            x = jax.vmap(genome._mutate, (0, 0, None))(state.parents[jnp.maximum(par, 0)], seeds,
                                                        state.sigma.astype(dtype))
            return jnp.where((idx == 0)[:, None], state.parents[0][None], x)  # the elite

        return jax.lax.cond(state.generation == 0, lambda _: self._fresh(seeds, dtype), mutated,
                            None)

    def _chains(self, state: GAState, idx):
        """Chains (init, seeds, sigmas, len) of the individuals `idx`."""
        par = jnp.maximum(state.c_parent[idx], 0)
        fresh = state.c_parent[idx] < 0
        elite = (idx == 0) & (state.generation > 0) & ~fresh
        init = jnp.where(fresh, state.c_seed[idx], state.p_init[par])
        seeds, sigmas, n = state.p_seeds[par], state.p_sigmas[par], state.p_len[par]
        grow = ~fresh & ~elite
        pos = jax.nn.one_hot(n, self.cap, dtype=bool) & grow[:, None]
        seeds = jnp.where(pos, state.c_seed[idx][:, None], seeds)
        sigmas = jnp.where(pos, state.sigma.astype(jnp.float32), sigmas)
        n = jnp.where(grow, n + 1, n)
        keep = jnp.arange(self.cap)[None] < n[:, None]
        return (init, jnp.where(keep, seeds, jnp.uint32(0)),
                jnp.where(keep, sigmas, jnp.float32(0)), jnp.where(fresh, 0, n))

    # --- the strategy -------------------------------------------------------------------------
    def init(self, key, n_runs_padded, dtype=jnp.float32):
        d, t, c = self.task.dim, self.t, self.cap
        stats = obs_norm.init(max(self.task.obs_dim, 1) if self.norm else 1)
        zeros_obs = jnp.zeros_like(stats.mean)
        zeros_u = jnp.zeros((), jnp.uint32)
        return GAState(
            parents=jnp.zeros((t, d), dtype), p_init=jnp.zeros((t,), jnp.uint32),
            p_seeds=jnp.zeros((t, c), jnp.uint32), p_sigmas=jnp.zeros((t, c), jnp.float32),
            p_len=jnp.zeros((t,), jnp.int32), c_parent=jnp.full((self.n,), -1, jnp.int32),
            c_seed=jnp.zeros((self.n,), jnp.uint32), sigma=jnp.float32(self.sigma0),
            fitness=jnp.zeros((self.n,), dtype), select=jnp.zeros((self.n,), dtype),
            candidates=jnp.zeros((self.k,), jnp.int32),
            elite=jnp.zeros((d,), dtype), elite_init=zeros_u,
            elite_seeds=jnp.zeros((c,), jnp.uint32), elite_sigmas=jnp.zeros((c,), jnp.float32),
            elite_len=jnp.int32(0), elite_return=jnp.asarray(-jnp.inf, dtype),
            elite_generation=jnp.int32(-1), generation=jnp.int32(0),
            evaluations=jnp.zeros((1,), jnp.int32), gen0_max=jnp.asarray(-jnp.inf, dtype),
            goal_reached=jnp.bool_(False), env_steps=jnp.int32(0),
            cutoff=jnp.int32(self.cfg["cutoff_start"] if self.adaptive
                             else self.task.episode_length),
            at_cutoff=jnp.float32(0), obs=stats,
            obs_pending=(jnp.float32(0), zeros_obs, zeros_obs), elite_obs=stats,
            aux=self._init_aux(dtype))

    def _init_aux(self, dtype) -> dict:
        return {}

    def _metrics(self, state: GAState) -> dict:
        """A subclass's own metrics at the end of a generation."""
        return {}

    def _scores(self, key, state: GAState, fitness, evaluation):
        """(what truncation ranks (N,), state, metrics): the fitness itself for the GA."""
        return fitness, state, {}

    def _policies(self, state: GAState, rows):
        """The population the task evaluates: rows (B, D), with the frozen normalizer and the
        generation's cutoff where the run uses them."""
        if not (self.norm or self.adaptive):
            return rows[None]
        batch = PolicyBatch(rows[None])
        if self.norm:
            batch = batch.replace(obs_mean=state.obs.mean[None],
                                  obs_std=obs_norm.std(state.obs)[None])
        if self.adaptive:
            batch = batch.replace(max_steps=state.cutoff[None])
        return batch

    def _payload(self, state: GAState, idx, reps: int) -> dict:
        """The host loop's population: per individual (1, B) arrays a worker decodes with
        `genome.host_children` from the generation's parents (host_broadcast)."""
        elite = (idx == 0) & (state.generation > 0)
        parent = jnp.where(state.generation == 0, -1, state.c_parent[idx])
        sigma = jnp.where(elite, 0.0, state.sigma).astype(jnp.float32)
        rep = lambda a: jnp.repeat(a, reps, axis=0)[None]  # noqa: E731
        return {"parent": rep(parent), "seed": rep(state.c_seed[idx]), "sigma": rep(sigma)}

    def host_broadcast(self, state: GAState, phase: int):
        return int(state.generation), {"parents": np.asarray(state.parents, np.float32)}

    def ask(self, key, state: GAState, phase: int = 0):
        host = self.host_decoder is not None
        if phase == 1:
            if host:
                return self._payload(state, state.candidates, self.e), state
            rows = self._rows(state, state.candidates)
            return self._policies(state, jnp.repeat(rows, self.e, axis=0)), state
        k_parent, k_seed = jax.random.split(key)
        seeds = jax.random.bits(k_seed, (self.n,), jnp.uint32)
        if self.random_init:
            par = jnp.full((self.n,), -1, jnp.int32)
        else:
            drawn = jax.random.randint(k_parent, (self.n,), 0, self.t, jnp.int32).at[0].set(0)
            par = jnp.where(state.generation == 0, -1, drawn)
        state = state.replace(c_parent=par, c_seed=seeds, sigma=self.sigma_at(state.generation))
        if host:
            return self._payload(state, jnp.arange(self.n), self.reps), state
        rows = self._rows(state, jnp.arange(self.n))
        return self._policies(state, jnp.repeat(rows, self.reps, axis=0)), state

    def tell(self, key, population, evaluation, state: GAState, phase: int = 0):
        new, metrics = self._tell(key, evaluation, state, phase)
        # A run whose chains are full stops (runs_active); iterations the engine runs past that
        # within a chunk leave its state as it was.
        active = state.generation < self.cap
        new = jax.tree_util.tree_map(lambda a, b: jnp.where(active, a, b), new, state)
        return new, metrics

    def _tell(self, key, evaluation, state: GAState, phase: int):
        fit = evaluation.fitness[0]
        goal = state.goal_reached
        if "goal_reached" in evaluation.extras:
            goal = goal | jnp.any(evaluation.extras["goal_reached"][0])
        ex = evaluation.extras
        steps = (jnp.sum(ex["env_steps"][0]).astype(jnp.int32) if "env_steps" in ex
                 else jnp.int32(fit.shape[0] * self.task.episode_length))
        pending = state.obs_pending
        if self.norm:
            n, s1, s2 = ex["obs_moments"]
            pending = (pending[0] + jnp.sum(n[0]).astype(jnp.float32),
                       pending[1] + jnp.sum(s1[0], axis=0), pending[2] + jnp.sum(s2[0], axis=0))
        state = state.replace(goal_reached=goal, evaluations=state.evaluations + fit.shape[0],
                              env_steps=state.env_steps + steps, obs_pending=pending)
        if phase == 0:
            if self.adaptive:
                hit = jnp.mean((ex["env_steps"][0] >= state.cutoff).astype(jnp.float32))
                state = state.replace(at_cutoff=hit)
            fitness = jnp.mean(fit.reshape(self.n, self.reps), axis=1)
            scores, state, extra = self._scores(key, state, fitness, evaluation)
            # row 0 is the previous elite only where the elite is the first parent (GA)
            prev = jnp.where((state.generation > 0) & (not self.keeps_best), 0, -1)
            cands = (selection.elite_candidates(fitness, self.k, prev) if self.k
                     else state.candidates)
            state = state.replace(fitness=fitness, select=scores, candidates=cands,
                                  gen0_max=jnp.where(state.generation == 0, jnp.max(fitness),
                                                     state.gen0_max))
            if self.k:
                return state, extra
            best = selection.ranking(fitness)[0]
            state, metrics = self._next_generation(state, best, fitness[best])
            return state, {**metrics, **extra}
        returns = fit.reshape(self.k, self.e)
        elite, mean = selection.choose_elite(state.candidates, returns)
        return self._next_generation(state, elite, mean)

    def _next_generation(self, state: GAState, elite, elite_return):
        fitness = state.fitness
        if self.keeps_best:  # keep the better of the stored elite and this generation's
            better = elite_return > state.elite_return
            rows = self._rows(state, elite[None])[0]
            init, seeds, sigmas, n = self._chains(state, elite[None])
            pick = lambda new, old: jnp.where(better, new, old)  # noqa: E731
            state = state.replace(
                elite=pick(rows, state.elite), elite_init=pick(init[0], state.elite_init),
                elite_seeds=pick(seeds[0], state.elite_seeds),
                elite_sigmas=pick(sigmas[0], state.elite_sigmas),
                elite_len=pick(n[0], state.elite_len),
                elite_return=pick(elite_return, state.elite_return),
                elite_generation=pick(state.generation, state.elite_generation),
                elite_obs=jax.tree_util.tree_map(pick, state.obs, state.elite_obs))
        if not self.random_init:
            # the first parent (next generation's unmutated row 0): the elite, or the top score
            lead = selection.ranking(state.select)[0] if self.keeps_best else elite
            idx = selection.parents(state.select, lead, self.t)
            rows = self._rows(state, idx)
            init, seeds, sigmas, n = self._chains(state, idx)
            state = state.replace(parents=rows, p_init=init, p_seeds=seeds, p_sigmas=sigmas,
                                  p_len=n)
        if not self.keeps_best:
            state = state.replace(
                elite=rows[0], elite_init=init[0], elite_seeds=seeds[0], elite_sigmas=sigmas[0],
                elite_len=n[0], elite_return=elite_return,
                elite_generation=jnp.where((elite == 0) & (state.generation > 0),
                                           state.elite_generation, state.generation),
                elite_obs=state.obs)  # its return was measured under this generation's
        if self.norm:
            n, s1, s2 = state.obs_pending
            state = state.replace(obs=obs_norm.update_moments(state.obs, n[None], s1[None],
                                                              s2[None]),
                                  obs_pending=jax.tree_util.tree_map(jnp.zeros_like,
                                                                     state.obs_pending))
        metrics = {"fitness/max": jnp.max(fitness), "fitness/mean": jnp.mean(fitness),
                   "elite/return": state.elite_return, "sigma": state.sigma,
                   "generation": state.generation + 1, "episode_cutoff": state.cutoff,
                   **self._metrics(state)}
        if self.adaptive:  # Uber's rule, for the next generation
            c = self.cfg
            grown = jnp.minimum((state.cutoff * c["cutoff_ratio"]).astype(jnp.int32),
                                self.cutoff_max)
            state = state.replace(cutoff=jnp.where(state.at_cutoff > c["cutoff_threshold"],
                                                   grown, state.cutoff))
        if self.task.episode_length:
            metrics["env_steps"] = state.env_steps
        return state.replace(generation=state.generation + 1), metrics

    # --- engine views ---------------------------------------------------------------------------
    def reported(self, state):
        return state.elite[None]

    def run_evaluations(self, state):
        return state.evaluations

    def runs_active(self, state):
        return (state.generation < self.cap)[None]

    def summary(self, metrics):
        return {k: metrics[k] for k in ("elite/return", "env_steps") if k in metrics}

    # --- genome files ----------------------------------------------------------------------------
    def spec(self) -> dict:
        """The network a genome's parameters are for (its hash is in the genome header)."""
        t = self.task
        return {"policy": t.policy_kind, "obs_dim": t.obs_dim, "act_dim": t.act_dim,
                "hidden": list(t.policy_hidden), "dim": t.dim}

    @staticmethod
    def elite_chain(state) -> genome.Chain:
        n = int(state.elite_len)
        return genome.Chain(int(state.elite_init),
                            tuple(int(v) for v in np.asarray(state.elite_seeds)[:n]),
                            tuple(float(v) for v in np.asarray(state.elite_sigmas)[:n]))

    def _best_files(self, state, test: dict | None = None) -> dict:
        chain = self.elite_chain(state)
        best = {"genome": GENOME_FILE, "init_seed": chain.init_seed, "seeds": list(chain.seeds),
                "sigmas": list(chain.sigmas), "generations": chain.generations,
                "return": float(state.elite_return),
                "chosen_in_generation": int(state.elite_generation),
                "re_evaluation_episodes": self.e if self.k else self.reps,
                "network": self.spec(), "normalizer": self.normalizer(state), "test": test}
        return {"bytes": {GENOME_FILE: genome.encode(chain, np.asarray(state.elite, np.float32),
                                                     self.spec())},
                "json": {BEST_FILE: best}}

    def normalizer(self, state) -> dict | None:
        """The elite's observation normalizer: {count, mean, std} (float32 values)."""
        if not self.norm:
            return None
        st = state.elite_obs
        return {"count": float(st.count), "mean": np.asarray(st.mean).tolist(),
                "std": np.asarray(obs_norm.std(st)).tolist()}

    def checkpoint_files(self, state):
        return self._best_files(state) if int(state.generation) > 0 else {}

    def finalize(self, key, state, evaluate):
        seeds = np.arange(TEST_RESET_SEED, TEST_RESET_SEED + self.cfg["test_episodes"])
        norm = self.normalizer(state)
        ev = replay_episodes(evaluate, state.elite, seeds,
                           None if norm is None else (norm["mean"], norm["std"]))
        ret = np.asarray(ev["return"], np.float64)
        test = {"episodes": len(ret), "first_reset_seed": int(seeds[0]),
                "mean_return": float(ret.mean()), "std_return": float(ret.std()),
                "returns": ret.tolist()}
        summary = {"gen0/max_return": float(state.gen0_max),
                   "elite/return": float(state.elite_return),
                   "elite/generations": int(state.elite_len),
                   "test/mean_return": test["mean_return"], "test/std_return": test["std_return"],
                   "test/episodes": test["episodes"],
                   "test/first_reset_seed": test["first_reset_seed"]}
        if "goal_reached" in ev:
            test["goal_reached"] = np.asarray(ev["goal_reached"]).tolist()
            summary["goal_reached"] = bool(state.goal_reached)
            summary["test/goal_reached"] = float(np.mean(ev["goal_reached"]))
        return {"summary": summary, **self._best_files(state, test)}


class RandomSearch(DeepGA):
    """Every individual a fresh initialization (T = 0); the elite is the best re-evaluated."""

    SCHEMA = schema.RANDOM_SEARCH
    random_init = True
    keeps_best = True
