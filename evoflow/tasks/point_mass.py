"""`point_omni`: a pure-JAX point mass for QD tests and quick experiments.

p_0 = 0 (`resets=deterministic`) or U(-0.01, 0.01)^2 (`stochastic`, drawn per episode from the
evaluation key); p <- clip(p + 0.02 a, -1, 1) for T = 100 steps; observation (p, t/T); reward
1 - ||a||^2 / 2, in [0, 1] for a in [-1, 1]^2 (no offset needed); descriptor = final p in
[-1, 1]^2. A policy is a tanh MLP on a flat genotype.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from evoflow.config import Param
from evoflow.tasks.base import PlanarEpisodeTask
from evoflow.nets import Layout


class PointOmni(PlanarEpisodeTask):
    name = "point_omni"
    SCHEMA = {
        "episode_length": Param(100, "int", "steps per episode T", check="positive"),
        "policy_hidden": Param([64, 64], "ints", "hidden layer widths of the policy",
                               check="positive"),
        "resets": Param("stochastic", "str", "initial position: stochastic U(+-0.01)^2 per "
                        "episode, or deterministic 0", choices=("stochastic", "deterministic")),
    }

    def __init__(self, cfg):
        super().__init__(cfg)
        self.T = cfg["episode_length"]
        self.policy = Layout((3, *cfg["policy_hidden"], 2))  # tanh hidden, tanh actions

    def descriptor_box(self):
        return np.array([-1.0, -1.0]), np.array([1.0, 1.0])

    obs_dim, act_dim = 3, 2

    def rollout(self, genotype, key):
        """One episode: (return, final position, positions (T, 2))."""
        ret, final, path, _ = self._episode(genotype, key)
        return ret, final, path

    def _episode(self, genotype, key):
        if self.cfg["resets"] == "stochastic":
            p0 = jax.random.uniform(key, (2,), genotype.dtype, -0.01, 0.01)
        else:
            p0 = jnp.zeros((2,), genotype.dtype)

        def observe(p, t):
            return jnp.concatenate([p, (t / self.T)[None].astype(p.dtype)])

        def step(p, t):
            obs = observe(p, t)
            a = self.policy.apply(genotype, obs)
            p = jnp.clip(p + 0.02 * a, -1.0, 1.0)
            r = 1.0 - 0.5 * jnp.sum(a * a)
            return p, (r, p, (obs, a, r, observe(p, t + 1), (t + 1 == self.T)))

        p, (rewards, path, tr) = jax.lax.scan(step, p0, jnp.arange(self.T))
        return jnp.sum(rewards), p, path, self.transitions(*tr)
