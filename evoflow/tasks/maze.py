"""`deceptive_maze`: a pure-JAX point mass in a maze whose reward leads into traps (after the Hard
Maze of Lehman & Stanley 2011, the task on which Such et al. 2017 show GA-NS succeeding where
reward-driven search fails).

The arena is [-1, 1]^2. The agent starts at (0, -0.75); the goal is at (0, 0.75). The way is an S:
- a wall at y = -0.2 spans x in [-1, 0.6]: the way up is a gap on the far right;
- a wall at y = 0.4 spans x in [-0.7, 1]: the next gap is on the far left;
- under the goal, two walls (x = ±0.25, y in [0.1, 0.4]) form a pocket open downwards.
Heading for the goal ends under the first wall (0.97 from the goal), or, past the first gap, in
the pocket (0.37 from it); every step of the way round first leads away from the goal.

Each step p <- p + 0.04 a for an action a in [-1, 1]^2 (tanh policy); a move whose segment
touches a wall is refused (the agent stays). Observations (12): 8 range sensors in the world
directions k·45° (distance to the nearest wall, divided by and capped at 1) and 4 goal "radar"
slices (a one-hot of the goal's quadrant seen from the agent). Per-step reward: progress
towards the goal, d_t - d_{t+1}; fitness: minus the final distance, plus the arena's diagonal
2√2 (OFFSET) so that fitness >= 0 as QD scores need (as the Brax QD tasks offset their rewards;
a GA's ranking does not change); descriptor: the final position; the goal counts as reached
within GOAL_RADIUS (0.1). Resets: the start, or (`resets = stochastic`) the start plus
U(±0.01)^2 per episode from the evaluation key.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from evoflow.config import Param
from evoflow.nets import Layout
from evoflow.tasks.base import PlanarEpisodeTask

START = (0.0, -0.75)
GOAL = (0.0, 0.75)
STEP = 0.04
GOAL_RADIUS = 0.1
OFFSET = float(2 * np.sqrt(2))  # the largest possible distance: fitness = OFFSET - distance
N_RAYS = 8
# segments (x1, y1, x2, y2): the arena, the two walls of the S, the pocket under the goal
WALLS = np.array([
    (-1.0, -1.0, 1.0, -1.0), (1.0, -1.0, 1.0, 1.0), (1.0, 1.0, -1.0, 1.0), (-1.0, 1.0, -1.0, -1.0),
    (-1.0, -0.2, 0.6, -0.2),  # the first wall, its gap on the right
    (-0.7, 0.4, 1.0, 0.4),  # the second, its gap on the left
    (-0.25, 0.1, -0.25, 0.4), (0.25, 0.1, 0.25, 0.4),  # the pocket under the goal
], np.float32)
_ANGLES = np.arange(N_RAYS) * (2 * np.pi / N_RAYS)
RAYS = np.stack([np.cos(_ANGLES), np.sin(_ANGLES)], axis=1).astype(np.float32)


def _cross(a, b):
    return a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]


def blocked(p, q, walls=WALLS):
    """Whether the move p -> q touches any wall (segments intersect, endpoints included)."""
    a, b = walls[:, :2], walls[:, 2:]
    d, e = q - p, b - a
    denom = _cross(d, e)
    ap = a - p
    parallel = jnp.abs(denom) < 1e-12
    t = _cross(ap, e) / jnp.where(parallel, 1.0, denom)  # along the move
    u = _cross(ap, d) / jnp.where(parallel, 1.0, denom)  # along the wall
    hit = ~parallel & (t >= 0) & (t <= 1) & (u >= 0) & (u <= 1)
    return jnp.any(hit)


def ranges(p, walls=WALLS):
    """Distance from p to the nearest wall along each of the 8 rays, capped at 1."""
    a, b = walls[None, :, :2], walls[None, :, 2:]
    d = jnp.asarray(RAYS)[:, None, :]
    e = b - a
    denom = _cross(d, e)
    ap = a - p
    ok = jnp.abs(denom) > 1e-12
    t = _cross(ap, e) / jnp.where(ok, denom, 1.0)
    u = _cross(ap, d) / jnp.where(ok, denom, 1.0)
    hit = ok & (t >= 0) & (u >= 0) & (u <= 1)
    return jnp.minimum(jnp.min(jnp.where(hit, t, jnp.inf), axis=1), 1.0)


def observe(p):
    g = jnp.asarray(GOAL, p.dtype) - p
    quadrant = (g[0] < 0).astype(jnp.int32) + 2 * (g[1] < 0).astype(jnp.int32)
    return jnp.concatenate([ranges(p).astype(p.dtype), jax.nn.one_hot(quadrant, 4, dtype=p.dtype)])


def move(p, a):
    """One step: p + STEP a, unless that move touches a wall."""
    q = p + STEP * jnp.clip(a, -1.0, 1.0)
    return jnp.where(blocked(p, q), p, q)


def distance(p):
    return jnp.linalg.norm(p - jnp.asarray(GOAL, p.dtype))


class DeceptiveMaze(PlanarEpisodeTask):
    name = "deceptive_maze"
    SCHEMA = {
        "episode_length": Param(250, "int", "steps per episode T", check="positive"),
        "policy_hidden": Param([64, 64], "ints", "hidden layer widths of the policy",
                               check="positive"),
        "resets": Param("deterministic", "str", "initial position: deterministic (the start) "
                        "or stochastic (the start + U(+-0.01)^2 per episode)",
                        choices=("deterministic", "stochastic")),
    }
    obs_dim, act_dim = N_RAYS + 4, 2

    walls, goal = WALLS, GOAL

    def __init__(self, cfg):
        super().__init__(cfg)
        self.T = cfg["episode_length"]
        self.policy = Layout((self.obs_dim, *cfg["policy_hidden"], self.act_dim))

    def descriptor_box(self):
        return np.array([-1.0, -1.0]), np.array([1.0, 1.0])

    def _episode(self, genotype, key):
        p0 = jnp.asarray(START, genotype.dtype)
        if self.cfg["resets"] == "stochastic":
            p0 = p0 + jax.random.uniform(key, (2,), genotype.dtype, -0.01, 0.01)

        def step(p, t):
            obs = observe(p)
            a = self.policy.apply(genotype, obs)
            q = move(p, a)
            r = distance(p) - distance(q)
            return q, (q, (obs, a, r, observe(q), t + 1 == self.T))

        p, (path, tr) = jax.lax.scan(step, p0, jnp.arange(self.T))
        return OFFSET - distance(p), p, path, self.transitions(*tr)

    def evaluate(self, run_data, params, key):
        ev = super().evaluate(run_data, params, key)
        reached = OFFSET - ev.fitness <= GOAL_RADIUS  # the final position within GOAL_RADIUS
        return ev.replace(extras={**ev.extras, "goal_reached": reached})
