"""Brax QD tasks (brax 0.14, `spring` backend), after QDax 0.5.0's `qdax.tasks.brax.v2`.

`ant_omni`: the ant with its forward reward removed; descriptor = the torso's final x-y,
clipped to [-30, 30]^2. Each step's reward is offset (QDax's v2 table: 3.0) and clipped at 0, so
fitness >= 0 and QD scores need no offset. An episode stops counting at its first `done`
(the ant falls): later steps add no reward and the descriptor is the last valid position.

Note: brax v2 `spring` is not the papers' brax v1 `legacy_spring`; numbers are not comparable
with the DCG-ME / DCRL-ME papers as is.
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from evoflow.config import Param
from evoflow.nets import Layout
from evoflow.tasks.base import Evaluation, PolicyTask


@dataclass(frozen=True)
class QDSpec:
    robot: str
    descriptor: str  # "xy"
    low: tuple[float, ...]
    high: tuple[float, ...]
    offset: float
    forward_metric: str | None  # the forward reward removed by omni tasks


SPECS = {
    "ant_omni": QDSpec("ant", "xy", (-30.0, -30.0), (30.0, 30.0), 3.0, "reward_forward"),
}


def load_brax_env(robot: str, backend: str):
    """A brax env; brax's import chatter ("Failed to import warp") stays out of the output."""
    import logging
    import warnings

    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()), \
            warnings.catch_warnings():
        warnings.simplefilter("ignore")
        logging.getLogger("absl").setLevel(logging.ERROR)
        from brax import envs

        return envs.get_environment(robot, backend=backend)


class BraxQD(PolicyTask):
    sense = "max"
    kinds = ("descriptor", "policy")
    descriptor_units = ("m", "m")
    SCHEMA = {
        "episode_length": Param(250, "int", "steps per episode", check="positive"),
        "policy_hidden": Param([128, 128], "ints", "policy hidden layers (DCG-ME configs)",
                               check="positive"),
        "resets": Param("stochastic", "str", "brax's reset noise per episode (stochastic), or "
                        "one fixed initial state (deterministic)",
                        choices=("stochastic", "deterministic")),
        "brax_backend": Param("spring", "str", "brax physics pipeline",
                              choices=("spring", "positional", "generalized")),
    }

    def __init__(self, name: str, cfg):
        super().__init__(cfg)
        self.name = name
        self.spec = SPECS[name]
        self.T = cfg["episode_length"]
        self.env = load_brax_env(self.spec.robot, cfg["brax_backend"])
        self.obs_dim, self.act_dim = self.env.observation_size, self.env.action_size
        self.policy = Layout((self.obs_dim, *cfg["policy_hidden"], self.act_dim))
        self.descriptor_names = ("x", "y")

    def descriptor_box(self):
        return np.array(self.spec.low), np.array(self.spec.high)

    def _xy(self, pipeline_state):
        lo, hi = jnp.asarray(self.spec.low), jnp.asarray(self.spec.high)
        return jnp.clip(pipeline_state.x.pos[0, :2], lo, hi)  # link 0 is the torso

    def _episode(self, genotype, key):
        if self.cfg["resets"] == "deterministic":
            key = jax.random.key(0)
        state = self.env.reset(key)

        def step(carry, _):
            state, alive, xy = carry
            obs = state.obs
            a = self.policy.apply(genotype, obs)
            nxt = self.env.step(state, a)
            r = nxt.reward
            if self.spec.forward_metric:
                r = r - nxt.metrics[self.spec.forward_metric]
            r = jnp.maximum(r + self.spec.offset, 0.0) * alive
            xy = jnp.where(alive > 0, self._xy(nxt.pipeline_state), xy)
            done = nxt.done
            tr = (obs, a, r, nxt.obs, done, alive)
            return (nxt, alive * (1.0 - done), xy), tr

        init = (state, jnp.ones((), state.obs.dtype), self._xy(state.pipeline_state))
        (_, _, xy), (obs, act, rew, nxt, done, alive) = jax.lax.scan(step, init, None, self.T)
        transitions = {"obs": obs, "action": act, "reward": rew, "next_obs": nxt,
                       "done": jnp.maximum(done, 1.0 - alive)}
        return jnp.sum(rew), xy, transitions

    def evaluate(self, run_data, params, key):
        keys = jax.random.split(key, params.shape[0])
        ret, xy, transitions = jax.vmap(self._episode)(params, keys)
        return Evaluation(fitness=ret, descriptor=xy, extras={"transitions": transitions})
