"""Atari through ale-py (`gym/ALE/<Game>-v5`) for the Deep GA: the preprocessing of Mnih et al.
(2015) as Uber's GA used it, and Uber's Atari network (Such et al. 2017, `LargeModel`).

Preprocessing, in NumPy (no OpenCV): the emulator's grayscale screen (210 x 160), each action
repeated for `frame_skip` (4) frames, the last two maxed (flicker), resized to 84 x 84 by a fixed
bilinear matrix on each side, four agent steps stacked (84, 84, 4) uint8; at reset 1..30 no-op
actions drawn from the episode's reset seed; sticky actions off (`repeat_action_probability` 0,
as in 2017); the episode is the whole game (no end at a lost life), cut at `episode_length` agent
steps.

Network (SAME padding, ReLU): conv 32@8x8 stride 4, 64@4x4 stride 2, 64@3x3 stride 1, dense 512,
dense to the game's actions (logits; the action is their argmax): 4,052,658 parameters for 18
actions, on a flat vector like `evoflow.nets.Layout`.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

SCREEN = (210, 160)
SIZE = 84
STACK = 4
NOOP_MAX = 30


@dataclass(frozen=True)
class AtariCNN:
    """Uber's Atari network on flat parameter vectors (NHWC input, HWIO kernels)."""

    actions: int
    kind: str = "atari_cnn"
    convs: tuple = ((8, 4, STACK, 32), (4, 2, 32, 64), (3, 1, 64, 64))  # (size, stride, in, out)
    hidden: int = 512

    @property
    def sizes(self) -> tuple[int, ...]:
        return (SIZE * SIZE * STACK, self.hidden, self.actions)

    @property
    def _flat_in(self) -> int:
        side = SIZE
        for _, stride, _, _ in self.convs:
            side = -(-side // stride)  # SAME padding
        return side * side * self.convs[-1][3]

    @property
    def shapes(self) -> list[tuple[tuple[int, ...], int]]:
        """(kernel shape, fan-in) of each layer; each has a bias of its output width."""
        out = [((k, k, i, o), k * k * i) for k, _, i, o in self.convs]
        return out + [((self._flat_in, self.hidden), self._flat_in),
                      ((self.hidden, self.actions), self.hidden)]

    @property
    def n_params(self) -> int:
        return sum(int(np.prod(s)) + s[-1] for s, _ in self.shapes)

    def init(self, key, n: int, dtype=jnp.float32):
        """LeCun-uniform kernels, zero biases, n vectors (n, P)."""
        parts = []
        for k, (shape, fan_in) in zip(jax.random.split(key, len(self.shapes)), self.shapes):
            lim = jnp.sqrt(3.0 / fan_in)
            parts += [jax.random.uniform(k, (n, int(np.prod(shape))), dtype, -lim, lim),
                      jnp.zeros((n, shape[-1]), dtype)]
        return jnp.concatenate(parts, axis=1)

    def leaves(self, flat) -> dict:
        out, pos, lead = {}, 0, flat.shape[:-1]
        for i, (shape, _) in enumerate(self.shapes):
            size = int(np.prod(shape))
            out[f"layer_{i}/kernel"] = flat[..., pos:pos + size].reshape(*lead, *shape)
            out[f"layer_{i}/bias"] = flat[..., pos + size:pos + size + shape[-1]]
            pos += size + shape[-1]
        return out

    def apply(self, flat, x):
        """Logits of one observation (84, 84, 4) uint8 under one parameter vector."""
        p = self.leaves(flat)
        h = (x.astype(flat.dtype) / 255.0)[None]
        for i, (_, stride, _, _) in enumerate(self.convs):
            h = jax.lax.conv_general_dilated(h, p[f"layer_{i}/kernel"], (stride, stride), "SAME",
                                             dimension_numbers=("NHWC", "HWIO", "NHWC"))
            h = jax.nn.relu(h + p[f"layer_{i}/bias"])
        h = h.reshape(-1)
        n = len(self.convs)
        h = jax.nn.relu(h @ p[f"layer_{n}/kernel"] + p[f"layer_{n}/bias"])
        return h @ p[f"layer_{n + 1}/kernel"] + p[f"layer_{n + 1}/bias"]


def _bilinear(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) float32 matrix of bilinear resampling with half-pixel centres."""
    pos = (np.arange(n_out) + 0.5) * n_in / n_out - 0.5
    lo = np.clip(np.floor(pos).astype(int), 0, n_in - 1)
    hi = np.clip(lo + 1, 0, n_in - 1)
    w = np.clip(pos - lo, 0.0, 1.0)
    m = np.zeros((n_out, n_in), np.float64)
    m[np.arange(n_out), lo] += 1 - w
    m[np.arange(n_out), hi] += w
    return m.astype(np.float32)


_ROWS, _COLS = _bilinear(SCREEN[0], SIZE), _bilinear(SCREEN[1], SIZE).T


class AtariEpisode:
    """One ALE game with Mnih et al.'s preprocessing; `reset(seed)` and `step(action)` with
    gymnasium's return values, observations (84, 84, 4) uint8."""

    def __init__(self, gym, game_id: str, max_steps: int, frame_skip: int = 4,
                 render_mode: str | None = None):
        self.env = gym.make(game_id, frameskip=1, repeat_action_probability=0.0,
                            obs_type="grayscale", max_episode_steps=None, render_mode=render_mode)
        self.skip, self.max_steps = frame_skip, max_steps
        self.action_space = self.env.action_space
        self.frames = np.zeros((SIZE, SIZE, STACK), np.uint8)
        self.t = 0

    def _resized(self, screen: np.ndarray) -> np.ndarray:
        img = _ROWS @ screen.astype(np.float32) @ _COLS
        return np.clip(np.rint(img), 0, 255).astype(np.uint8)

    def _push(self, screen) -> np.ndarray:
        self.frames = np.roll(self.frames, -1, axis=2)
        self.frames[..., -1] = self._resized(screen)
        return self.frames.copy()

    def reset(self, seed: int):
        screen, info = self.env.reset(seed=seed)
        rng = np.random.default_rng(seed)
        for _ in range(int(rng.integers(1, NOOP_MAX + 1))):
            screen, _, term, trunc, info = self.env.step(0)
            if term or trunc:
                screen, info = self.env.reset(seed=seed)
        self.t = 0
        self.frames[:] = 0
        for _ in range(STACK):
            obs = self._push(screen)
        return obs, info

    def step(self, action):
        total, last, prev = 0.0, None, None
        term = trunc = False
        info = {}
        for _ in range(self.skip):
            screen, r, term, trunc, info = self.env.step(int(action))
            total += float(r)
            prev, last = last, screen
            if term or trunc:
                break
        screen = last if prev is None else np.maximum(prev, last)
        self.t += 1
        return self._push(screen), total, term, trunc or self.t >= self.max_steps, info

    def render(self):
        return self.env.render()

    def close(self):
        self.env.close()
