"""TD3 pieces for the critic-based QD algorithms (PGA-ME, DCG-ME, DCRL-ME): networks on flat
parameter vectors, a FIFO replay buffer, the (descriptor-conditioned) critic and actor losses.

Networks are flat float vectors with a static layout (`Layout`), like the genotypes, so that a
policy-gradient offspring *is* a genotype and an actor can be injected into the archive as is.
Descriptor conditioning (Faldor et al. 2023): Q(s, a | d') and pi(s | d') take the target
descriptor d' (normalized to [-1, 1]) as extra input; rewards are rescaled at sampling time by
exp(-||d - d'|| / l), d the descriptor the episode achieved.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
from flax import struct

from evoflow.nets import Layout


def fold_descriptor(dc_actor: jax.Array, d_prime: jax.Array, obs_dim: int, hidden: int):
    """A plain policy equal to the DC actor at a fixed target d': first-layer bias b' = b + d' W_d.

    `dc_actor` has layout [obs_dim + D, hidden, ...]; the result has [obs_dim, hidden, ...].
    """
    n_in = obs_dim + d_prime.shape[-1]
    kernel = dc_actor[:n_in * hidden].reshape(n_in, hidden)
    bias = dc_actor[n_in * hidden:n_in * hidden + hidden]
    rest = dc_actor[n_in * hidden + hidden:]
    new_bias = bias + d_prime @ kernel[obs_dim:]
    return jnp.concatenate([kernel[:obs_dim].reshape(-1), new_bias, rest])


# --- replay buffer -------------------------------------------------------------------------------


@struct.dataclass
class Transitions:
    obs: jax.Array  # (n, obs_dim)
    action: jax.Array  # (n, act_dim)
    reward: jax.Array  # (n,)
    next_obs: jax.Array  # (n, obs_dim)
    done: jax.Array  # (n,) 1.0 at a terminal step (no bootstrap)
    desc: jax.Array  # (n, D) achieved descriptor of the episode, normalized to [-1, 1]
    desc_prime: jax.Array  # (n, D) target descriptor, normalized


@struct.dataclass
class Replay:
    data: Transitions  # each leaf (capacity, ...)
    size: jax.Array  # () int32
    ptr: jax.Array  # () int32 next write position


def replay_empty(capacity: int, obs_dim: int, act_dim: int, desc_dim: int, dtype=jnp.float32):
    z = lambda *s: jnp.zeros((capacity, *s), dtype)  # noqa: E731
    return Replay(Transitions(z(obs_dim), z(act_dim), z(), z(obs_dim), z(), z(desc_dim),
                              z(desc_dim)), jnp.int32(0), jnp.int32(0))


def replay_insert(buf: Replay, batch: Transitions) -> Replay:
    """FIFO: the batch overwrites the oldest entries (wrapping around)."""
    cap = buf.data.reward.shape[0]
    n = batch.reward.shape[0]
    idx = (buf.ptr + jnp.arange(n)) % cap
    data = jax.tree_util.tree_map(lambda d, b: d.at[idx].set(b.astype(d.dtype)), buf.data, batch)
    return Replay(data, jnp.minimum(buf.size + n, cap).astype(jnp.int32),
                  ((buf.ptr + n) % cap).astype(jnp.int32))


def replay_sample(buf: Replay, key, n: int) -> Transitions:
    idx = jax.random.randint(key, (n,), 0, jnp.maximum(buf.size, 1))
    return jax.tree_util.tree_map(lambda d: d[idx], buf.data)


# --- losses --------------------------------------------------------------------------------------


def rescale_reward(t: Transitions, lengthscale) -> jax.Array:
    """DCG-ME's similarity scaling r exp(-||d - d'|| / l) (both normalized)."""
    return t.reward * jnp.exp(-jnp.linalg.norm(t.desc - t.desc_prime, axis=-1) / lengthscale)


@dataclass(frozen=True)
class TD3Config:
    discount: float = 0.99
    tau: float = 0.005
    policy_noise: float = 0.2
    noise_clip: float = 0.5
    reward_scaling: float = 1.0


def q_values(critic_layout: Layout, critics, obs, action, cond=None):
    """Twin Q values (2, n) of a pair of critics (2, P_critic); cond = d' or None."""
    x = jnp.concatenate([obs, action] + ([cond] if cond is not None else []), axis=-1)
    return jax.vmap(lambda c: critic_layout.apply(c, x)[..., 0])(critics)


def critic_target(t: Transitions, reward, key, actor_layout: Layout, critic_layout: Layout,
                  target_actor, target_critics, cfg: TD3Config, conditioned: bool):
    """y = r + gamma (1 - done) min_j Q'_j(s', clip(pi'(s') + eps)) with clipped noise eps."""
    cond = t.desc_prime if conditioned else None
    actor_in = t.next_obs if not conditioned else jnp.concatenate([t.next_obs, cond], -1)
    a_next = actor_layout.apply(target_actor, actor_in)
    eps = jnp.clip(cfg.policy_noise * jax.random.normal(key, a_next.shape, a_next.dtype),
                   -cfg.noise_clip, cfg.noise_clip)
    a_next = jnp.clip(a_next + eps, -1.0, 1.0)
    q_next = jnp.min(q_values(critic_layout, target_critics, t.next_obs, a_next, cond), axis=0)
    return cfg.reward_scaling * reward + cfg.discount * (1.0 - t.done) * q_next


def critic_loss(critics, t: Transitions, target, critic_layout: Layout, conditioned: bool):
    q = q_values(critic_layout, critics, t.obs, t.action, t.desc_prime if conditioned else None)
    return jnp.mean(jnp.sum((q - jax.lax.stop_gradient(target)[None]) ** 2, axis=0))


def actor_loss(actor, critics, obs, cond, actor_layout: Layout, critic_layout: Layout):
    """-mean Q_1(s, pi(s [| d']) [| d']): the policy-gradient objective."""
    actor_in = obs if cond is None else jnp.concatenate([obs, cond], -1)
    a = actor_layout.apply(actor, actor_in)
    return -jnp.mean(q_values(critic_layout, critics[:1], obs, a, cond)[0])


def soft_update(target, online, tau):
    return jax.tree_util.tree_map(lambda t, o: (1.0 - tau) * t + tau * o, target, online)
