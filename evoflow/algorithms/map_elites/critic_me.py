"""Critic-based MAP-Elites, one code path: PGA-ME, DCG-ME (GECCO 2023) and DCRL-ME (TELO).

Per generation the offspring are, in this order (counts per preset):
  GA     Iso+LineDD on two uniform parents (as `me`);
  PG     a uniform parent improved by `pg_steps` Adam steps (a fresh Adam per offspring, lr
         `policy_lr`) on -Q_1(s, pi(s) [| d_p]); the minibatches of states are shared by all PG
         offspring. DCG-ME/DCRL-ME condition Q on the parent's own stored descriptor d_p;
  AI     (DCRL-ME) the descriptor-conditioned actor specialised to a d' drawn from the filled
         cells' descriptors, d' folded into its first-layer bias;
  actor  PGA-ME: the greedy TD3 actor, added to the archive; DCG-ME: DC-actor rollouts at
         d' from filled cells that only feed the replay buffer (never the archive).
Every evaluated transition enters a FIFO replay buffer with its episode's achieved descriptor d
and target d' (GA, PG under PGA-ME, initial: d' = d; PG under DCG/DCRL: d_p; AI, actor: the
sampled d'), both normalized to [-1, 1]. Then `critic_steps` TD3 steps train the twin critic and,
after every `policy_delay` of them, the actor on a minibatch of its own (DC actor for DCG/DCRL:
rewards rescaled at sampling by exp(-||d - d'|| / lengthscale)); as in QDax, the target critics
follow every critic step and the target actor every actor step.

Faldor, Chalumeau, Flageat & Cully, "MAP-Elites with Descriptor-Conditioned Gradients and
Archive Distillation into a Single Policy", GECCO 2023; Nilsson & Cully, "Policy Gradient
Assisted MAP-Elites", GECCO 2021.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct

from evoflow.algorithms.map_elites import archive as arc
from evoflow.algorithms.map_elites import td3
from evoflow.algorithms.map_elites.me import EMITTERS, GA, INIT, MAPElites
from evoflow.algorithms.map_elites.variation import isoline
from evoflow.algorithms.map_elites import schema
from evoflow.errors import UsageError
from evoflow.nets import Layout

PG, AI, ACTOR = EMITTERS.index("pg"), EMITTERS.index("ai"), EMITTERS.index("actor")


@struct.dataclass
class CriticState:
    archive: arc.Archive
    generation: jax.Array
    evaluations: jax.Array  # (1,)
    emitter: jax.Array  # (B,) emitter of each offspring of the current ask
    parent: jax.Array  # (B,) parent cell (-1 none)
    target_desc: jax.Array  # (B, D) d' of each offspring (normalized; NaN: its own achieved d)
    replay: td3.Replay
    critics: jax.Array  # (2, P_critic)
    target_critics: jax.Array
    actor: jax.Array  # (P_actor,) greedy actor (PGA-ME) or DC actor
    target_actor: jax.Array
    critic_opt: optax.OptState
    actor_opt: optax.OptState
    steps: jax.Array  # critic steps taken (for the policy delay)
    params: object


class CriticME(MAPElites):
    """Base of `pga_me`, `dcg_me`, `dcrl_me`; subclasses set `variant`."""

    variant = "pga_me"
    SCHEMA = schema.PGA_ME

    def __init__(self, cfg, task):
        super().__init__(cfg, task)
        c = cfg
        self.counts = {"ga": c["n_ga"], "pg": c["n_pg"], "ai": c["n_ai"], "actor": c["n_actor"]}
        if self.variant != "dcrl_me" and c["n_ai"]:
            raise UsageError(f"--set n_ai={c['n_ai']}: actor injection is DCRL-ME's; "
                             f"{self.variant} takes n_ai=0")
        self.b = sum(self.counts.values())
        if self.b == 0:
            raise UsageError("n_ga, n_pg, n_ai and n_actor are all 0: nothing to evaluate")
        if task.obs_dim == 0:
            raise UsageError("this task gives no transitions (obs_dim 0) for the critic")
        if c["critic_steps"] % c["policy_delay"]:
            raise UsageError(f"--set critic_steps={c['critic_steps']}: must be a multiple of "
                             f"policy_delay={c['policy_delay']} (one actor step per "
                             f"policy_delay critic steps)")
        per_gen = self.b * task.episode_length
        if c["replay_size"] < per_gen:
            raise UsageError(f"--set replay_size={c['replay_size']}: below one generation's "
                             f"transitions ({self.b} x {task.episode_length} = {per_gen})")
        self.conditioned = self.variant in ("dcg_me", "dcrl_me")
        d = len(task.descriptor_low)
        self.d = d
        hidden = tuple(task.policy_hidden)
        self.policy_layout = Layout((task.obs_dim, *hidden, task.act_dim))
        assert self.policy_layout.n_params == task.dim, "policy layout differs from the task's"
        self.actor_layout = Layout((task.obs_dim + (d if self.conditioned else 0), *hidden,
                                        task.act_dim))
        self.critic_layout = Layout(
            (task.obs_dim + task.act_dim + (d if self.conditioned else 0),
             *c["critic_hidden"], 1), "relu", "none")
        self.td3cfg = td3.TD3Config(c["discount"], c["tau"], c["policy_noise"], c["noise_clip"])
        self.critic_opt = optax.adam(c["critic_lr"])
        self.actor_opt = optax.adam(c["actor_lr"])
        self.policy_opt = optax.adam(c["policy_lr"])
        self.per_gen = per_gen

    def max_evaluations_per_iteration(self) -> int:
        return self.b

    # --- init -----------------------------------------------------------------------------------
    def init(self, key, n_runs_padded, dtype=jnp.float32):
        base = super().init(key, n_runs_padded, dtype)
        k_c, k_a = jax.random.split(jax.random.fold_in(key, 7))
        critics = self.critic_layout.init(k_c, 2, dtype)
        actor = self.actor_layout.init(k_a, 1, dtype)[0]
        return CriticState(
            archive=base.archive, generation=base.generation, evaluations=base.evaluations,
            emitter=jnp.zeros((self.b,), jnp.int32), parent=jnp.full((self.b,), -1, jnp.int32),
            target_desc=jnp.full((self.b, self.d), jnp.nan, dtype),
            replay=td3.replay_empty(self.cfg["replay_size"], self.task.obs_dim,
                                    self.task.act_dim, self.d, dtype),
            critics=critics, target_critics=critics + 0, actor=actor, target_actor=actor + 0,
            critic_opt=self.critic_opt.init(critics), actor_opt=self.actor_opt.init(actor),
            steps=jnp.int32(0), params=base.params)

    def normalize(self, d):
        lo = jnp.asarray(self.task.descriptor_low, d.dtype)
        hi = jnp.asarray(self.task.descriptor_high, d.dtype)
        return 2.0 * (d - lo) / (hi - lo) - 1.0

    # --- ask ------------------------------------------------------------------------------------
    def ask(self, key, state: CriticState, phase: int = 0):
        k_init, k_ga, k_pg, k_ai, k_act = jax.random.split(key, 5)
        n = self.counts
        dtype = state.archive.genotype.dtype

        def first(_):
            x = self.task.sample_genotypes(k_init, self.b).astype(dtype)
            return (x, jnp.full((self.b,), INIT, jnp.int32), jnp.full((self.b,), -1, jnp.int32),
                    jnp.full((self.b, self.d), jnp.nan, dtype))

        def later(_):
            xs, em, par, tgt = [], [], [], []
            if n["ga"]:
                x1, cells = arc.sample_parents(k_ga, state.archive, n["ga"])
                x2, _ = arc.sample_parents(jax.random.fold_in(k_ga, 1), state.archive, n["ga"])
                xs.append(isoline(jax.random.fold_in(k_ga, 2), x1, x2, state.params.iso_sigma,
                                  state.params.line_sigma))
                em.append(jnp.full((n["ga"],), GA, jnp.int32))
                par.append(cells)
                tgt.append(jnp.full((n["ga"], self.d), jnp.nan, dtype))
            if n["pg"]:
                x, cells = arc.sample_parents(k_pg, state.archive, n["pg"])
                d_p = self.normalize(state.archive.descriptor[cells])
                xs.append(self.pg_variation(jax.random.fold_in(k_pg, 1), x, d_p, state))
                em.append(jnp.full((n["pg"],), PG, jnp.int32))
                par.append(cells)
                tgt.append(d_p if self.conditioned else jnp.full_like(d_p, jnp.nan))
            for name, k, emitter in (("ai", k_ai, AI), ("actor", k_act, ACTOR)):
                if not n[name]:
                    continue
                if self.conditioned:
                    _, cells = arc.sample_parents(k, state.archive, n[name])
                    d_t = self.normalize(state.archive.descriptor[cells])
                    x = jax.vmap(lambda dp: td3.fold_descriptor(
                        state.actor, dp, self.task.obs_dim, self.actor_layout.sizes[1]))(d_t)
                else:  # PGA-ME's greedy actor
                    x = jnp.broadcast_to(state.actor, (n[name], state.actor.shape[0]))
                    d_t = jnp.full((n[name], self.d), jnp.nan, dtype)
                    cells = jnp.full((n[name],), -1, jnp.int32)
                xs.append(x)
                em.append(jnp.full((n[name],), emitter, jnp.int32))
                par.append(jnp.full((n[name],), -1, jnp.int32))  # made by the actor, no parent
                tgt.append(d_t)
            cat = lambda parts: jnp.concatenate(parts, axis=0)  # noqa: E731
            return cat(xs), cat(em), cat(par).astype(jnp.int32), cat(tgt)

        x, emitter, parent, target = jax.lax.cond(state.generation == 0, first, later, None)
        return x[None], state.replace(emitter=emitter, parent=parent, target_desc=target)

    def pg_variation(self, key, genotypes, d_p, state: CriticState):
        """`pg_steps` Adam steps per offspring on -Q_1; minibatches shared by all offspring."""
        cond_all = d_p if self.conditioned else None

        def loss(theta, obs, cond):
            c = None if cond is None else jnp.broadcast_to(cond, (obs.shape[0], cond.shape[-1]))
            a = self.policy_layout.apply(theta, obs)
            return -jnp.mean(td3.q_values(self.critic_layout, state.critics[:1], obs, a, c)[0])

        def step(carry, k):
            thetas, opts = carry
            obs = td3.replay_sample(state.replay, k, self.cfg["minibatch"]).obs

            def one(theta, opt, cond):
                g = jax.grad(loss)(theta, obs, cond)
                upd, opt = self.policy_opt.update(g, opt, theta)
                return optax.apply_updates(theta, upd), opt

            thetas, opts = jax.vmap(one, in_axes=(0, 0, 0 if cond_all is not None else None))(
                thetas, opts, cond_all)
            return (thetas, opts), None

        opts = jax.vmap(self.policy_opt.init)(genotypes)
        keys = jax.random.split(key, self.cfg["pg_steps"])
        (thetas, _), _ = jax.lax.scan(step, (genotypes, opts), keys)
        return thetas

    # --- tell -----------------------------------------------------------------------------------
    def tell(self, key, population, evaluation, state: CriticState, phase: int = 0):
        pop, fit, desc = population[0], evaluation.fitness[0], evaluation.descriptor[0]
        # DCG-ME's DC-actor rollouts only feed the replay buffer.
        archived = (state.emitter != ACTOR) | (self.variant == "pga_me")
        archive, added = arc.add(state.archive, pop, desc, jnp.where(archived, fit, -jnp.inf),
                                 state.emitter, state.generation, state.parent)
        d_norm = self.normalize(desc)
        d_prime = jnp.where(jnp.isnan(state.target_desc), d_norm, state.target_desc)
        tr = evaluation.extras["transitions"]
        t_len = tr["reward"].shape[-1]
        flat = lambda a: a[0].reshape((-1,) + a.shape[3:])  # noqa: E731
        rep = lambda d: jnp.repeat(d, t_len, axis=0)  # noqa: E731
        batch = td3.Transitions(flat(tr["obs"]), flat(tr["action"]), flat(tr["reward"]),
                                flat(tr["next_obs"]), flat(tr["done"]), rep(d_norm),
                                rep(d_prime))
        state = state.replace(replay=td3.replay_insert(state.replay, batch))
        state = self.train_critic(key, state)
        metrics = dict(arc.qd_metrics(archive))
        for i, name in enumerate(EMITTERS[:4]):
            metrics[f"added/{name}"] = jnp.sum(added & (state.emitter == i))
        if self.variant == "pga_me":
            metrics["added/actor"] = jnp.sum(added & (state.emitter == ACTOR))
        state = state.replace(archive=archive, generation=state.generation + 1,
                              evaluations=state.evaluations + self.b)
        return state, metrics

    def train_critic(self, key, state: CriticState) -> CriticState:
        """`critic_steps` TD3 critic steps and one actor step per `policy_delay` of them.

        Structured as QDax 0.5.0's PGA-ME/DCRL-ME emitters (`_scan_actor_critic_training`): each
        iteration draws `policy_delay + 1` minibatches, the first `policy_delay` train the twin
        critic (target critics soft-updated after every critic step, target actor held fixed),
        the last one the actor, followed by the target actor's soft update.
        """
        L, C, cfg = self.actor_layout, self.critic_layout, self.td3cfg
        cond, delay, mb = self.conditioned, self.cfg["policy_delay"], self.cfg["minibatch"]

        def critic_step(carry, xs):
            critics, c_opt, target_critics, target_actor = carry
            t, k_noise = xs
            reward = td3.rescale_reward(t, self.cfg["lengthscale"]) if cond else t.reward
            y = td3.critic_target(t, reward, k_noise, L, C, target_actor, target_critics,
                                  cfg, cond)
            g = jax.grad(td3.critic_loss)(critics, t, y, C, cond)
            upd, c_opt = self.critic_opt.update(g, c_opt, critics)
            critics = optax.apply_updates(critics, upd)
            target_critics = td3.soft_update(target_critics, critics, cfg.tau)
            return (critics, c_opt, target_critics, target_actor), None

        def iteration(s, k):
            k_batch, k_noise = jax.random.split(k)
            t = td3.replay_sample(s.replay, k_batch, (delay + 1) * mb)
            t = jax.tree_util.tree_map(lambda x: x.reshape(delay + 1, mb, *x.shape[1:]), t)
            critic_data = jax.tree_util.tree_map(lambda x: x[:-1], t)
            actor_data = jax.tree_util.tree_map(lambda x: x[-1], t)
            (critics, c_opt, target_critics, _), _ = jax.lax.scan(
                critic_step, (s.critics, s.critic_opt, s.target_critics, s.target_actor),
                (critic_data, jax.random.split(k_noise, delay)))
            ga = jax.grad(td3.actor_loss)(s.actor, critics, actor_data.obs,
                                          actor_data.desc_prime if cond else None, L, C)
            upd, a_opt = self.actor_opt.update(ga, s.actor_opt, s.actor)
            actor = optax.apply_updates(s.actor, upd)
            return s.replace(critics=critics, critic_opt=c_opt, target_critics=target_critics,
                             actor=actor, actor_opt=a_opt,
                             target_actor=td3.soft_update(s.target_actor, actor, cfg.tau),
                             steps=s.steps + delay), None

        state, _ = jax.lax.scan(iteration, state,
                                jax.random.split(key, self.cfg["critic_steps"] // delay))
        return state

    # --- distillation: the DC actor as one descriptor-conditioned policy ---------------------------
    def distilled_policies(self, actor, targets):
        """Plain policies equal to the DC actor at each target descriptor (raw units) (n, D)."""
        d = self.normalize(jnp.asarray(targets, actor.dtype))
        return jax.vmap(lambda dp: td3.fold_descriptor(actor, dp, self.task.obs_dim,
                                                       self.actor_layout.sizes[1]))(d)

    def finalize(self, key, state, evaluate):
        if not self.conditioned:
            return {}
        a = jax.device_get(state.archive)
        filled = np.flatnonzero(np.isfinite(np.asarray(a.fitness)))
        if filled.size == 0:
            return {}
        k_cells, k_eval, k_targets, k_rand = jax.random.split(key, 4)
        cells = filled
        if filled.size > self.cfg["distill_cells"]:  # evaluated at the end only, on <= N cells
            cells = np.sort(np.asarray(jax.random.choice(
                k_cells, filled, (self.cfg["distill_cells"],), replace=False)))
        centroids = np.asarray(a.centroids)
        policies = self.distilled_policies(state.actor, centroids[cells])
        ev = jax.device_get(evaluate(policies, k_eval))
        fit, desc = np.asarray(ev.fitness), np.asarray(ev.descriptor)
        # The distilled policy's own archive: its rollouts inserted where they land.
        own, _ = arc.add(arc.Archive.empty(jnp.asarray(centroids), self.task.dim),
                         policies, ev.descriptor, ev.fitness,
                         jnp.full(len(cells), ACTOR, jnp.int32), jnp.int32(0),
                         jnp.full(len(cells), -1, jnp.int32))
        # Distances to 32 targets (centroids of filled cells drawn from the seed).
        n_t = min(32, filled.size)
        t_cells = np.asarray(jax.random.choice(k_targets, filled, (n_t,), replace=False))
        target = centroids[t_cells]

        def mean_dist(genotypes, k):
            d = np.asarray(jax.device_get(evaluate(genotypes, k)).descriptor)
            return float(np.mean(np.linalg.norm(d - target, axis=-1)))

        dist = {"distill/target_dist": mean_dist(self.distilled_policies(state.actor, target),
                                                 jax.random.fold_in(k_eval, 1)),
                "distill/random_dist": mean_dist(self.task.sample_genotypes(k_rand, n_t),
                                                 jax.random.fold_in(k_eval, 2)),
                "distill/elite_dist": mean_dist(jnp.asarray(a.genotype)[t_cells],
                                                jax.random.fold_in(k_eval, 3))}
        t = self.task
        hidden = list(self.actor_layout.sizes[1:-1])
        meta = {"format": "evoflow.distilled/1", "algo": self.variant,
                "obs_dim": t.obs_dim, "act_dim": t.act_dim, "descriptor_dim": self.d,
                "hidden": hidden, "hidden_activation": "tanh", "output_activation": "tanh",
                "input": "concat(obs, 2 (d' - descriptor_low) / (descriptor_high - "
                         "descriptor_low) - 1)",
                "descriptor_low": np.asarray(t.descriptor_low).tolist(),
                "descriptor_high": np.asarray(t.descriptor_high).tolist(),
                "descriptor_names": list(t.descriptor_names)}
        return {
            "summary": {"distill/qd_score": float(arc.qd_metrics(own)["qd_score"]), **dist},
            "npz": {"distilled_eval.npz": {"cell": cells.astype(np.int64), "fitness": fit,
                                           "descriptor": desc}},
            "safetensors": {"artifacts/distilled.safetensors": {
                k: np.asarray(v) for k, v in self.actor_layout.leaves(
                    np.asarray(state.actor)).items()}},
            "json": {"artifacts/distilled.json": meta}}


class PGAME(CriticME):
    variant = "pga_me"


class DCGME(CriticME):
    variant = "dcg_me"
    SCHEMA = schema.DCG_ME


class DCRLME(CriticME):
    variant = "dcrl_me"
    SCHEMA = schema.DCRL_ME
