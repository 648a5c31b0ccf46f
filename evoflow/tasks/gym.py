"""Gymnasium environments on the host loop: `gym/<ID>` is any registered gymnasium ID.

Episodes run in a vector of `eval_chunk` environments stepped on the host, with one batched,
jitted policy call per step for the whole chunk (DESIGN.md "Performance principles"); an
environment whose episode has ended is no longer stepped, and each episode is counted once, from
its own reset seed, to its first `terminated` or `truncated` (gymnasium's TimeLimit at
`episode_length`, default the ID's `max_episode_steps`). The return is summed in float64 in step
order. A chunk's result depends only on its parameters and reset seeds, never on the process
that runs it, so in-process, pool and Ray evaluations are bitwise equal.

Reset seeds: training episodes reset from the engine's per-individual seed with bit 31 set
(2**31 <= seed < 2**32); `episodes` resets from the seeds it is given as they are, so test
episodes (the Deep GA's from 10**9) and `evoflow eval --reset-seed K` for K + episodes <= 2**31
use seeds no training episode drew.

Policies: a tanh MLP on the raw observation (`policy_hidden`, default 64x64); for a `Discrete`
action space its outputs are logits and the action is their argmax, for a `Box` they pass
through tanh, scaled to the space's bounds. `gym/ALE/<Game>-v5` runs Uber's Atari network on
Mnih et al.'s preprocessed frames (`evoflow.tasks.atari`, ale-py in the gym extra).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from evoflow.config import Param, closest
from evoflow.errors import UsageError
from evoflow.nets import Layout
from evoflow.tasks.base import Evaluation, PolicyTask

PREFIX = "gym/"
TRAIN_SEED_BIT = 1 << 31  # training reset seeds are engine seeds with this bit set


def _gymnasium():
    try:
        import gymnasium
    except ImportError:
        raise UsageError("gym/ envs need gymnasium: install the gym extra: "
                         "pip install 'evoflow[gym]'") from None
    return gymnasium


def check_env(env: str) -> None:
    """A one-line error for an ID gymnasium does not register (with the closest IDs), or one
    whose extra (box2d, ale-py) is not installed."""
    gym = _gymnasium()
    gid = env[len(PREFIX):]
    if gid.startswith("ALE/"):
        try:
            import ale_py

            ale_py.ALEInterface.setLoggerMode(ale_py.LoggerMode.Error)  # no banner per game
            gym.register_envs(ale_py)
        except (ImportError, AttributeError):
            raise UsageError(f"env {env!r}: Atari needs ale-py: install the gym extra: "
                             f"pip install 'evoflow[gym]'") from None
    ids = list(gym.envs.registry)
    if gid not in gym.envs.registry:
        raise UsageError(f"unknown gymnasium ID {gid!r} (--env {env}){closest(gid, ids)}")
    try:
        gym.make(gid).close()
    except gym.error.DependencyNotInstalled as e:
        first = (str(e).strip().splitlines() or ["a dependency is missing"])[0]
        raise UsageError(f"env {env!r}: {first}; install the gym extra: "
                         f"pip install 'evoflow[gym]'") from None


class GymTask(PolicyTask):
    sense = "max"
    kinds = ("policy",)
    host_loop = True  # evaluates on the host: the engine runs the host driver
    counts_env_steps = True
    render_suffix = "gif"
    SCHEMA = {
        "episode_length": Param(None, "int", "step limit of an episode (default: the ID's "
                                "max_episode_steps)", check="positive", nullable=True),
        "policy_hidden": Param([64, 64], "ints", "policy hidden layers (tanh MLP)",
                               check="positive"),
    }

    def __init__(self, name: str, cfg):
        super().__init__(cfg)
        check_env(name)
        gym = _gymnasium()
        self.name, self.gym_id = name, name[len(PREFIX):]
        self.chunk = cfg["eval_chunk"]
        self._envs: list = []
        if self.gym_id.startswith("ALE/"):
            self._init_atari(gym, cfg)
            return
        probe = gym.make(self.gym_id)
        self.T = int(cfg["episode_length"] or probe.spec.max_episode_steps or 0)
        if not self.T:
            raise UsageError(f"env {name!r} has no max_episode_steps: set --set "
                             f"episode_length=N")
        obs_space, act_space = probe.observation_space, probe.action_space
        probe.close()
        if not isinstance(obs_space, gym.spaces.Box) or len(obs_space.shape) != 1:
            raise UsageError(f"env {name!r}: observations {obs_space} are not a flat Box; the "
                             f"MLP policy needs a vector")
        self.obs_dim = int(obs_space.shape[0])
        self.obs_shape, self.obs_dtype = (self.obs_dim,), np.float32
        if isinstance(act_space, gym.spaces.Discrete):
            self.discrete, self.act_dim = True, int(act_space.n)
            out = "none"
        elif isinstance(act_space, gym.spaces.Box) and len(act_space.shape) == 1:
            self.discrete, self.act_dim = False, int(act_space.shape[0])
            self.act_low = np.asarray(act_space.low, np.float32)
            self.act_high = np.asarray(act_space.high, np.float32)
            out = "tanh"
        else:
            raise UsageError(f"env {name!r}: actions {act_space} are neither Discrete nor a flat "
                             f"Box")
        self.policy = Layout((self.obs_dim, *cfg["policy_hidden"], self.act_dim), out_act=out)

    def _init_atari(self, gym, cfg) -> None:
        from evoflow.tasks import atari

        # ALE's own limit is 108,000 frames: 27,000 agent steps at frame skip 4
        self.T = int(cfg["episode_length"] or 27_000)
        probe = atari.AtariEpisode(gym, self.gym_id, self.T)
        self.discrete, self.act_dim = True, int(probe.action_space.n)
        probe.close()
        self.obs_shape, self.obs_dtype = (atari.SIZE, atari.SIZE, atari.STACK), np.uint8
        self.obs_dim = int(np.prod(self.obs_shape))
        self.policy = atari.AtariCNN(self.act_dim)

    # --- the JAX side: nothing runs on device -------------------------------------------------
    def evaluate(self, run_data, params, key):
        raise TypeError(f"{self.name} evaluates on the host loop (evaluate_host)")

    # --- host episodes ----------------------------------------------------------------------
    @functools.cached_property
    def _act(self):
        """(P, D) parameters, (P, obs) observations -> (P,) or (P, act) actions, jitted."""
        apply = jax.vmap(self.policy.apply)
        if self.discrete:
            return jax.jit(lambda th, o: jnp.argmax(apply(th, o), axis=-1))
        low, span = jnp.asarray(self.act_low), jnp.asarray(self.act_high - self.act_low)
        return jax.jit(lambda th, o: low + (apply(th, o) + 1.0) * 0.5 * span)

    def _vector(self, n: int) -> list:
        gym = _gymnasium()
        while len(self._envs) < n:
            if self.gym_id.startswith("ALE/"):
                from evoflow.tasks.atari import AtariEpisode

                self._envs.append(AtariEpisode(gym, self.gym_id, self.T))
            else:
                self._envs.append(gym.make(self.gym_id, max_episode_steps=self.T))
        return self._envs[:n]

    def _render_env(self):
        import os

        os.environ.setdefault("SDL_VIDEODRIVER", "dummy")  # rgb_array frames need no window
        os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
        gym = _gymnasium()
        if self.gym_id.startswith("ALE/"):
            from evoflow.tasks.atari import AtariEpisode

            return AtariEpisode(gym, self.gym_id, self.T, render_mode="rgb_array")
        return gym.make(self.gym_id, max_episode_steps=self.T, render_mode="rgb_array")

    def _chunk(self, params: np.ndarray, reset_seeds: np.ndarray, frames: list | None = None):
        """One episode per row of a chunk: (returns (P,) float64, steps (P,) int32). With
        `frames`, row 0 runs in an environment that renders, its RGB frames appended."""
        p = len(params)
        envs = self._vector(p)
        if frames is not None:
            envs = [self._render_env(), *envs[1:]]
        obs = np.zeros((p, *self.obs_shape), self.obs_dtype)
        for i, env in enumerate(envs):
            obs[i] = env.reset(seed=int(reset_seeds[i]))[0]
        if frames is not None:
            frames.append(envs[0].render())
        alive = np.ones(p, bool)
        ret = np.zeros(p, np.float64)
        steps = np.zeros(p, np.int32)
        theta = jnp.asarray(params, jnp.float32)
        while alive.any():
            act = np.asarray(self._act(theta, obs))
            for i in np.flatnonzero(alive):
                o, r, terminated, truncated, _ = envs[i].step(act[i].item() if self.discrete
                                                              else act[i])
                obs[i] = o
                ret[i] += float(r)
                steps[i] += 1
                alive[i] = not (terminated or truncated)
                if frames is not None and i == 0:
                    frames.append(envs[0].render())
        if frames is not None:
            envs[0].close()
        return ret, steps

    def render_episode(self, theta: np.ndarray, reset_seed: int) -> tuple[float, bytes]:
        """Episode `reset_seed` of the policy theta (D,), run as `episodes` runs it (in a full
        chunk), rendered: (its return, an animated GIF of its frames at 50 frames/s)."""
        try:
            from PIL import Image
        except ImportError:
            raise UsageError("--render writes a GIF with Pillow: install the viz extra: "
                             "pip install 'evoflow[viz]'") from None
        import io

        frames: list = []
        params = np.repeat(np.asarray(theta, np.float32)[None], self.chunk, axis=0)
        ret, _ = self._chunk(params, np.full(self.chunk, reset_seed, np.int64), frames)
        images = [Image.fromarray(np.asarray(f, np.uint8)) for f in frames]
        buf = io.BytesIO()
        images[0].save(buf, format="GIF", save_all=True, append_images=images[1:], duration=20,
                       loop=0)
        return float(ret[0]), buf.getvalue()

    def episodes(self, params: np.ndarray, reset_seeds: np.ndarray) -> Evaluation:
        """One episode per row of params (B, D), reset from reset_seeds (B,) as given, in chunks
        of `eval_chunk` (the last padded with its last row): fitness (B,) float64 returns,
        extras["env_steps"] (B,)."""
        params = np.asarray(params, np.float32)
        reset_seeds = np.asarray(reset_seeds, np.int64)
        if reset_seeds.min(initial=0) < 0 or reset_seeds.max(initial=0) >= 2**32:
            raise ValueError("reset seeds must be in [0, 2**32)")
        n = len(params)
        rets, steps = [], []
        for start in range(0, n, self.chunk):
            idx = np.minimum(np.arange(start, start + self.chunk), n - 1)
            r, s = self._chunk(params[idx], reset_seeds[idx])
            rets.append(r)
            steps.append(s)
        ret = np.concatenate(rets)[:n] if rets else np.zeros(0)
        st = np.concatenate(steps)[:n] if steps else np.zeros(0, np.int32)
        return Evaluation(fitness=ret, extras={"env_steps": st})

    def evaluate_host(self, run_data, population, seeds, broadcast=None):
        """A chunk of parameters (P, D), each episode reset from its engine seed | 2**31."""
        params = np.asarray(population, np.float32)
        reset = np.asarray(seeds, np.int64) | TRAIN_SEED_BIT
        ret, steps = self._chunk(params, reset)
        return Evaluation(fitness=ret.astype(np.float32), extras={"env_steps": steps})

    def close(self) -> None:
        for env in self._envs:
            env.close()
        self._envs = []
