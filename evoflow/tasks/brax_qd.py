"""Brax QD tasks (brax 0.14, `spring` backend), after QDax 0.5.0's `qdax.tasks.brax.v2`.

Omni tasks (`ant_omni`, `anttrap_omni`, `humanoid_omni`): the forward reward is removed and the
descriptor is the torso's final x-y, clipped to the task's box. Uni tasks (`ant_uni`,
`walker2d_uni`, `halfcheetah_uni`, `humanoid_uni`): the robot's own reward (forward velocity
included) and the fraction of steps each foot touches the floor (brax `debug=True` contacts).
Each step's reward is offset (QDax's v2 table) and clipped at 0, so fitness >= 0 and QD scores
need no offset. An episode stops counting at its first `done` (the robot falls): later steps add
no reward and are not in the descriptor.

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
    descriptor: str  # "xy": final torso x-y; "feet": fraction of steps each foot is in contact
    low: tuple[float, ...]
    high: tuple[float, ...]
    offset: float
    forward_metric: str | None = None  # the forward reward omni tasks remove
    feet: tuple[str, ...] = ()  # brax link names of the feet, in link order
    trap: bool = False


_XY30 = dict(low=(-30.0, -30.0), high=(30.0, 30.0))
_XY10 = dict(low=(-10.0, -10.0), high=(10.0, 10.0))


def _unit_box(n):
    return dict(low=(0.0,) * n, high=(1.0,) * n)


# Brax 0.14's ant names its four lower legs "" (QDax 0.5.0's v1 names "$ Body 4", ... match
# nothing on brax v2, so its ant_uni descriptor is empty); the feet are those unnamed links.
SPECS = {
    "ant_omni": QDSpec("ant", "xy", **_XY30, offset=3.0, forward_metric="reward_forward"),
    "anttrap_omni": QDSpec("ant", "xy", **_XY30, offset=3.0, forward_metric="reward_forward",
                           trap=True),
    "humanoid_omni": QDSpec("humanoid", "xy", **_XY10, offset=0.0,
                            forward_metric="reward_linvel"),
    "ant_uni": QDSpec("ant", "feet", **_unit_box(4), offset=3.24, feet=("",)),
    "walker2d_uni": QDSpec("walker2d", "feet", **_unit_box(2), offset=1.413,
                           feet=("foot", "foot_left")),
    "halfcheetah_uni": QDSpec("halfcheetah", "feet", **_unit_box(2), offset=9.231,
                              feet=("bfoot", "ffoot")),
    "humanoid_uni": QDSpec("humanoid", "feet", **_unit_box(2), offset=0.0,
                           feet=("right_shin", "left_shin")),
}

# AntTrap (DCG-ME paper; QDax v1 `TRAP_CONFIG`): a U of three capsules, radius 0.5 at z = 0.5,
# open toward the origin: side walls along x at y = +-3 (x 6.5 .. 12.5 with caps), the closed end
# along y at x = 12 (y -2.5 .. 2.5). The torso and the feet collide with it.
TRAP_GEOMS = (
    ("trap_end", (12.0, -2.0, 0.5), (12.0, 2.0, 0.5)),
    ("trap_left", (7.0, 3.0, 0.5), (12.0, 3.0, 0.5)),
    ("trap_right", (7.0, -3.0, 0.5), (12.0, -3.0, 0.5)),
)
TRAP_RADIUS = 0.5
_ANT_COLLIDERS = ("torso_geom", "left_foot_geom", "right_foot_geom", "third_foot_geom",
                  "fourth_foot_geom")


def _quiet():
    """brax's import chatter ("Failed to import warp") and MuJoCo's compiler deprecation notes
    (which MuJoCo would also append to MUJOCO_LOG.TXT in the user's directory) stay out."""
    import logging
    import warnings

    import mujoco

    logging.getLogger("absl").setLevel(logging.ERROR)
    stack = contextlib.ExitStack()
    previous = mujoco.get_mju_user_warning()
    mujoco.set_mju_user_warning(lambda msg: None)
    stack.callback(mujoco.set_mju_user_warning, previous)
    stack.enter_context(contextlib.redirect_stdout(io.StringIO()))
    stack.enter_context(contextlib.redirect_stderr(io.StringIO()))
    stack.enter_context(warnings.catch_warnings())
    warnings.simplefilter("ignore")
    return stack


def load_brax_env(robot: str, backend: str, debug: bool = False):
    with _quiet():
        from brax import envs

        return envs.get_environment(robot, backend=backend, debug=debug)


def ant_trap_xml() -> str:
    """brax's ant.xml with the trap capsules in the world and explicit contact pairs with it."""
    from xml.etree import ElementTree

    from etils import epath

    root = ElementTree.fromstring((epath.resource_path("brax") / "envs/assets/ant.xml")
                                  .read_text())
    world = root.find("worldbody")
    contact = root.find("contact")
    if contact is None:
        contact = ElementTree.SubElement(root, "contact")
    for name, a, b in TRAP_GEOMS:
        ElementTree.SubElement(world, "geom", name=name, type="capsule", size=str(TRAP_RADIUS),
                               fromto=" ".join(map(str, (*a, *b))), contype="0",
                               conaffinity="0", rgba="0.6 0.3 0.3 1")
        for other in _ANT_COLLIDERS:
            ElementTree.SubElement(contact, "pair", geom1=other, geom2=name)
    return ElementTree.tostring(root, encoding="unicode")


def load_ant_trap(backend: str, debug: bool = False):
    """brax's ant with the trap added to its system (same timestep and gears as brax's Ant)."""
    env = load_brax_env("ant", backend, debug)
    with _quiet():
        from brax.io import mjcf

        sys = mjcf.loads(ant_trap_xml())
    sys = sys.tree_replace({"opt.timestep": env.sys.opt.timestep})
    env.sys = sys.replace(actuator=sys.actuator.replace(gear=env.sys.actuator.gear))
    return env


class BraxQD(PolicyTask):
    sense = "max"
    kinds = ("descriptor", "policy")
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
        self.spec = spec = SPECS[name]
        self.T = cfg["episode_length"]
        feet = spec.descriptor == "feet"
        self.env = (load_ant_trap(cfg["brax_backend"]) if spec.trap
                    else load_brax_env(spec.robot, cfg["brax_backend"], debug=feet))
        self.obs_dim, self.act_dim = self.env.observation_size, self.env.action_size
        self.policy = Layout((self.obs_dim, *cfg["policy_hidden"], self.act_dim))
        if feet:
            names = self.env.sys.link_names
            self.feet = np.array([i for i, n in enumerate(names) if n in spec.feet])
            if len(self.feet) != len(spec.low):  # a brax that renamed its links
                raise RuntimeError(f"{name}: expected {len(spec.low)} feet among brax's links "
                                   f"{names}, found {len(self.feet)}")
            self.descriptor_names = tuple(f"{names[i] or f'leg {k + 1}'} contact"
                                          for k, i in enumerate(self.feet))
            self.descriptor_units = ("fraction of steps",) * len(self.feet)
        else:
            self.descriptor_names, self.descriptor_units = ("x", "y"), ("m", "m")

    def descriptor_box(self):
        return np.array(self.spec.low), np.array(self.spec.high)

    def _xy(self, pipeline_state):
        lo, hi = jnp.asarray(self.spec.low), jnp.asarray(self.spec.high)
        return jnp.clip(pipeline_state.x.pos[0, :2], lo, hi)  # link 0 is the torso

    def _feet_contact(self, pipeline_state):
        """1 where a foot touches the floor: a contact whose second link is the foot, dist <= 0
        (QDax's FeetContactWrapper)."""
        c = pipeline_state.contact
        hit = (c.link_idx[1][None, :] == jnp.asarray(self.feet)[:, None]) & (c.dist <= 0)[None]
        return jnp.any(hit, axis=-1).astype(c.dist.dtype)

    def _episode(self, genotype, key):
        if self.cfg["resets"] == "deterministic":
            key = jax.random.key(0)
        state = self.env.reset(key)
        feet = self.spec.descriptor == "feet"

        def step(carry, _):
            state, alive, desc = carry
            obs = state.obs
            a = self.policy.apply(genotype, obs)
            nxt = self.env.step(state, a)
            r = nxt.reward
            if self.spec.forward_metric:
                r = r - nxt.metrics[self.spec.forward_metric]
            r = jnp.maximum(r + self.spec.offset, 0.0) * alive
            if feet:  # contacts of the state the action is taken in (QDax's `state_desc`)
                desc = desc + alive * self._feet_contact(state.pipeline_state)
            else:
                desc = jnp.where(alive > 0, self._xy(nxt.pipeline_state), desc)
            done = nxt.done
            tr = (obs, a, r, nxt.obs, done, alive)
            return (nxt, alive * (1.0 - done), desc), tr

        dtype = state.obs.dtype
        desc0 = (jnp.zeros(len(self.feet), dtype) if feet else self._xy(state.pipeline_state))
        init = (state, jnp.ones((), dtype), desc0)
        (_, _, desc), (obs, act, rew, nxt, done, alive) = jax.lax.scan(step, init, None, self.T)
        if feet:
            desc = desc / jnp.sum(alive)  # alive[0] = 1: never empty
        transitions = {"obs": obs, "action": act, "reward": rew, "next_obs": nxt,
                       "done": jnp.maximum(done, 1.0 - alive)}
        return jnp.sum(rew), desc, transitions

    def _path(self, genotype, key):
        """One episode as `_episode` runs it, keeping per step the torso x-y after the step
        (clipped as the descriptor for x-y tasks, unclipped otherwise) and the generalized
        positions q; from the first `done` on, the last alive values repeat. (T, 2), (T, nq)."""
        if self.cfg["resets"] == "deterministic":
            key = jax.random.key(0)
        state = self.env.reset(key)
        clip = self.spec.descriptor == "xy"

        def xy(ps):
            return self._xy(ps) if clip else ps.x.pos[0, :2]

        def step(carry, _):
            state, alive, p, q = carry
            a = self.policy.apply(genotype, state.obs)
            nxt = self.env.step(state, a)
            p = jnp.where(alive > 0, xy(nxt.pipeline_state), p)
            q = jnp.where(alive > 0, nxt.pipeline_state.q, q)
            return (nxt, alive * (1.0 - nxt.done), p, q), (p, q)

        ps = state.pipeline_state
        init = (state, jnp.ones((), state.obs.dtype), xy(ps), ps.q)
        _, (path, qs) = jax.lax.scan(step, init, None, self.T)
        return path, qs

    def trajectory(self, run_data, params, key, *, q: bool = False):
        """Per-step torso x-y (n, T, 2) of the policies `params` (n, P), with the reset keys
        `evaluate` gives them (so on x-y tasks the last point is the descriptor); with q=True
        also the generalized positions (n, T, nq) that frames are rendered from."""
        keys = jax.random.split(key, params.shape[0])
        path, qs = jax.vmap(self._path)(params, keys)
        return (path, qs) if q else path

    def evaluate(self, run_data, params, key):
        keys = jax.random.split(key, params.shape[0])
        ret, desc, transitions = jax.vmap(self._episode)(params, keys)
        return Evaluation(fitness=ret, descriptor=desc, extras={"transitions": transitions})
