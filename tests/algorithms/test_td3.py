"""TD3 pieces against NumPy: reward rescaling, the critic target, bias folding, the replay FIFO."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from evoflow.algorithms.map_elites.td3 import (TD3Config, Transitions, critic_target,
                                               fold_descriptor, replay_empty, replay_insert,
                                               replay_sample, rescale_reward)
from evoflow.nets import Layout


def np_mlp(layout, flat, x):
    h, pos = np.asarray(x, np.float64), 0
    flat = np.asarray(flat, np.float64)
    for i, (a, b) in enumerate(layout.shapes):
        h = h @ flat[pos:pos + a * b].reshape(a, b) + flat[pos + a * b:pos + a * b + b]
        pos += a * b + b
        act = layout.hidden_act if i < len(layout.shapes) - 1 else layout.out_act
        h = np.tanh(h) if act == "tanh" else (np.maximum(h, 0) if act == "relu" else h)
    return h


def batch(key, n=16, obs=3, act=2, d=2):
    ks = jax.random.split(key, 7)
    u = lambda k, *s: jax.random.uniform(k, (n, *s), minval=-1, maxval=1)  # noqa: E731
    return Transitions(u(ks[0], obs), u(ks[1], act), jnp.abs(u(ks[2])), u(ks[3], obs),
                       (u(ks[4]) > 0.6).astype(jnp.float32), u(ks[5], d), u(ks[6], d))


def test_reward_rescaling():
    t = batch(jax.random.key(0))
    want = np.asarray(t.reward) * np.exp(-np.linalg.norm(np.asarray(t.desc) -
                                                         np.asarray(t.desc_prime), axis=1) / 0.1)
    np.testing.assert_allclose(rescale_reward(t, 0.1), want, rtol=1e-5)


def test_critic_target_matches_numpy():
    t = batch(jax.random.key(1))
    cfg = TD3Config()
    actor = Layout((3 + 2, 8, 2))
    critic = Layout((3 + 2 + 2, 16, 16, 1), "relu", "none")
    target_actor = actor.init(jax.random.key(2), 1)[0]
    target_critics = critic.init(jax.random.key(3), 2)
    reward = rescale_reward(t, 0.1)
    key = jax.random.key(4)
    y = critic_target(t, reward, key, actor, critic, target_actor, target_critics, cfg, True)
    a = np_mlp(actor, target_actor, np.c_[t.next_obs, t.desc_prime])
    eps = np.clip(0.2 * np.asarray(jax.random.normal(key, a.shape)), -0.5, 0.5)
    a = np.clip(a + eps, -1, 1)
    x = np.c_[t.next_obs, a, t.desc_prime]
    q = np.minimum(np_mlp(critic, target_critics[0], x)[:, 0],
                   np_mlp(critic, target_critics[1], x)[:, 0])
    want = np.asarray(reward) + 0.99 * (1 - np.asarray(t.done)) * q
    np.testing.assert_allclose(y, want, rtol=1e-4, atol=1e-5)


def test_folded_descriptor_policy_equals_the_dc_actor():
    obs_dim, d, hidden = 3, 2, 16
    dc = Layout((obs_dim + d, hidden, hidden, 2))
    plain = Layout((obs_dim, hidden, hidden, 2))
    actor = dc.init(jax.random.key(0), 1)[0] + 0.1  # nonzero biases too
    obs = jax.random.uniform(jax.random.key(1), (50, obs_dim), minval=-1, maxval=1)
    for d_prime in jax.random.uniform(jax.random.key(2), (5, d), minval=-1, maxval=1):
        folded = fold_descriptor(actor, d_prime, obs_dim, hidden)
        assert folded.shape == (plain.n_params,)
        want = dc.apply(actor, jnp.concatenate([obs, jnp.broadcast_to(d_prime, (50, d))], -1))
        np.testing.assert_allclose(plain.apply(folded, obs), want, atol=1e-6)


def test_replay_is_a_fifo_of_fixed_capacity():
    buf = replay_empty(10, 3, 2, 2)
    t = batch(jax.random.key(0), n=4)
    seen = []
    for i in range(4):  # 16 transitions into 10 slots
        tagged = t.replace(reward=jnp.arange(4, dtype=jnp.float32) + 4 * i)
        seen += list(range(4 * i, 4 * i + 4))
        buf = replay_insert(buf, tagged)
    assert int(buf.size) == 10 and int(buf.ptr) == 16 % 10
    assert sorted(np.asarray(buf.data.reward).astype(int).tolist()) == seen[-10:]
    s = replay_sample(buf, jax.random.key(1), 200)
    assert set(np.asarray(s.reward).astype(int).tolist()) <= set(seen[-10:])
    partial = replay_insert(replay_empty(10, 3, 2, 2), t)
    s = replay_sample(partial, jax.random.key(2), 100)
    assert np.all(np.isin(np.asarray(s.obs), np.asarray(t.obs)))  # only filled rows
