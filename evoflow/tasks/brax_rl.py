"""Brax locomotion with Brax's own reward (brax 0.14): `ant`, `hopper`, `walker2d`,
`halfcheetah`, `humanoid` for single-objective policy search (the Deep GA family). For QD
algorithms these names stay aliases of the QD tasks (`evoflow.tasks.QD_ALIASES`).

An episode is the environment's reward summed until its first `done` (the robot falls) or
`episode_length` steps, as gym's TimeLimit counts it. Rollouts run in a `lax.while_loop`; vmapped
over a population it steps every episode until all are done or the limit is hit, so a batch of
falling policies costs its longest episode, not `episode_length`. Each evaluation reports the
steps it ran (`extras["env_steps"]`); the `env_steps` budget counts those (`counts_env_steps`).

Policies are tanh MLPs (actions in [-1, 1], the robots' control range). A `PolicyBatch` may set
an observation normalizer (the evaluation then returns the moments of the raw observations,
`extras["obs_moments"]`, for the algorithm's running statistics) and a step limit below
`episode_length` (an adaptive cutoff).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from evoflow.config import Param
from evoflow.nets import Layout
from evoflow.tasks.base import Evaluation, PolicyBatch, PolicyTask, normalized
from evoflow.tasks.brax_qd import BraxQD, load_brax_env

class BraxLocomotion(PolicyTask):
    sense = "max"
    kinds = ("policy",)
    counts_env_steps = True
    policy_batch = ("obs_norm", "max_steps")
    render_suffix = "html"
    SCHEMA = {
        "episode_length": Param(1000, "int", "step limit of an episode (gym's TimeLimit)",
                                check="positive"),
        "policy_hidden": Param([64, 64], "ints", "policy hidden layers (tanh MLP)",
                               check="positive"),
        **{k: BraxQD.SCHEMA[k] for k in ("resets", "brax_backend")},
        "obs_norm": Param(True, "bool", "policies act on observations normalized by the "
                          "algorithm's running mean and variance (Salimans et al. 2017)"),
    }

    def __init__(self, name: str, cfg):
        super().__init__(cfg)
        self.name = name
        self.T = cfg["episode_length"]
        self.env = load_brax_env(name, cfg["brax_backend"])
        self.obs_dim, self.act_dim = self.env.observation_size, self.env.action_size
        self.policy = Layout((self.obs_dim, *cfg["policy_hidden"], self.act_dim))

    def _episode(self, genotype, key, mean, std, normalize: bool, limit):
        if self.cfg["resets"] == "deterministic":
            key = jax.random.key(0)
        state = self.env.reset(key)
        dtype = state.obs.dtype
        zeros = jnp.zeros(self.obs_dim, dtype)

        def cond(c):
            t, _, alive, *_ = c
            return (t < limit) & alive

        def body(c):
            t, state, _, ret, s1, s2 = c
            obs = state.obs
            x = normalized(obs, mean, std) if normalize else obs
            nxt = self.env.step(state, self.policy.apply(genotype, x))
            d = obs - mean
            return (t + 1, nxt, nxt.done == 0, ret + nxt.reward, s1 + d, s2 + d * d)

        init = (jnp.int32(0), state, jnp.bool_(True), jnp.zeros((), dtype), zeros, zeros)
        steps, _, _, ret, s1, s2 = jax.lax.while_loop(cond, body, init)
        return ret, steps, s1, s2

    def evaluate(self, run_data, params, key):
        batch = params if isinstance(params, PolicyBatch) else PolicyBatch(params)
        theta = batch.params
        normalize = batch.obs_mean is not None
        if normalize:
            mean, std = batch.obs_mean, batch.obs_std
        else:
            mean, std = jnp.zeros(self.obs_dim, theta.dtype), jnp.ones(self.obs_dim, theta.dtype)
        limit = (jnp.int32(self.T) if batch.max_steps is None
                 else jnp.minimum(batch.max_steps, self.T).astype(jnp.int32))
        keys = jax.random.split(key, theta.shape[0])
        episode = lambda g, k: self._episode(g, k, mean, std, normalize, limit)  # noqa: E731
        ret, steps, s1, s2 = jax.vmap(episode)(theta, keys)
        extras = {"env_steps": steps}
        if normalize:
            extras["obs_moments"] = (steps, s1, s2)
        return Evaluation(fitness=ret, extras=extras)

    def render_episode(self, run_data, theta, key, normalizer=None) -> tuple[float, bytes]:
        """The episode `evaluate` runs for theta (D,) from `key` (on observations normalized
        by `normalizer` = (mean, std) if given): (its return, brax's HTML viewer of it; the
        page loads brax's viewer script from its CDN)."""
        from brax.io import html

        if self.cfg["resets"] == "deterministic":
            key = jax.random.key(0)
        else:
            key = jax.random.split(key, 1)[0]
        normalize = normalizer is not None
        mean, std = ((jnp.asarray(normalizer[0], jnp.float32), jnp.asarray(normalizer[1],
                      jnp.float32)) if normalize else (None, None))

        @jax.jit
        def run(theta, key):
            def step(c, _):
                state, alive, ret = c
                x = normalized(state.obs, mean, std) if normalize else state.obs
                nxt = self.env.step(state, self.policy.apply(theta, x))
                return (nxt, alive & (nxt.done == 0), ret + jnp.where(alive, nxt.reward, 0.0)), \
                    (nxt.pipeline_state, alive)

            first = self.env.reset(key)
            (_, _, ret), (states, alive) = jax.lax.scan(
                step, (first, jnp.bool_(True), jnp.zeros((), first.obs.dtype)), None, self.T)
            return ret, first.pipeline_state, states, alive

        ret, first, states, alive = jax.device_get(run(jnp.asarray(theta), key))
        n = int(np.sum(alive))
        frames = [first] + [jax.tree_util.tree_map(lambda a: a[i], states) for i in range(n)]
        return float(ret), html.render(self.env.sys, frames).encode()

    def init_box(self):
        return np.full(self.dim, -1.0), np.full(self.dim, 1.0)
