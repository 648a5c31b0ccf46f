"""`deceptive_maze`: walls hold, sensors read the geometry, heading for the goal ends in the
cul-de-sac, the way round reaches the goal, and MAP-Elites runs on it."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from evoflow.tasks import maze
from tests.conftest import evoflow, only_run, summary


def _np_crosses(p, q):
    """Independent check (float64 NumPy): does segment p-q meet any wall?"""
    def orient(a, b, c):
        return np.sign((b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0]))
    for w in maze.WALLS.astype(np.float64):
        a, b = w[:2], w[2:]
        if orient(p, q, a) != orient(p, q, b) and orient(a, b, p) != orient(a, b, q):
            return True
    return False


def _drive(actions):
    p = jnp.asarray(maze.START, jnp.float32)
    path = [np.asarray(p, np.float64)]
    for a in actions:
        p = maze.move(p, jnp.asarray(a, jnp.float32))
        path.append(np.asarray(p, np.float64))
    return np.array(path)


def test_heading_for_the_goal_ends_under_the_first_wall_or_in_the_pocket():
    path = _drive([(0.0, 1.0)] * 100)
    final = path[-1]
    assert abs(final[0]) < 1e-6 and -0.24 < final[1] < -0.2  # stopped under the wall at y = -0.2
    assert not any(_np_crosses(a, b) for a, b in zip(path[:-1], path[1:]))
    # past the first gap, heading for the goal ends in the pocket under it
    path = _drive([(1.0, 0.0)] * 20 + [(0.0, 1.0)] * 19 + [(-1.0, 0.0)] * 20 + [(0.0, 1.0)] * 20)
    final = path[-1]
    assert abs(final[0]) < 1e-5 and 0.35 < final[1] < 0.4
    assert 0.35 < float(maze.distance(jnp.asarray(final))) < 0.4
    assert not any(_np_crosses(a, b) for a, b in zip(path[:-1], path[1:]))


def test_the_way_round_reaches_the_goal():
    # right to the first gap, up, left to the second gap, up, right to the goal
    actions = ([(1.0, 0.0)] * 20 + [(0.0, 1.0)] * 19 + [(-1.0, 0.0)] * 41 + [(0.0, 1.0)] * 18
               + [(1.0, 0.0)] * 21)
    path = _drive(actions)
    assert not any(_np_crosses(a, b) for a, b in zip(path[:-1], path[1:]))
    d = [float(maze.distance(jnp.asarray(p))) for p in path]
    assert max(d[60:80]) > 0.85  # deceptive: the way round goes far from the goal again
    assert d[-1] < maze.GOAL_RADIUS


def test_a_blocked_move_stays_and_sensors_read_the_walls():
    p = jnp.array([0.0, 0.38], jnp.float32)
    np.testing.assert_array_equal(maze.move(p, jnp.array([0.0, 1.0])), p)  # the wall at y=0.4
    r = np.asarray(maze.ranges(jnp.asarray(maze.START, jnp.float32)))
    # rays at k*45 degrees from (0, -0.75): right 1 (capped), up 0.55 (the first wall), left 1,
    # down 0.25
    np.testing.assert_allclose(r[[0, 2, 4, 6]], [1.0, 0.55, 1.0, 0.25], atol=1e-6)
    np.testing.assert_allclose(r[5], 0.25 * np.sqrt(2), atol=1e-6)  # down-left: the floor
    obs = np.asarray(maze.observe(jnp.asarray(maze.START, jnp.float32)))
    np.testing.assert_array_equal(obs[-4:], [1, 0, 0, 0])  # goal up and to the right (dx = 0)


def test_the_episode_matches_the_policy_and_rewards_sum_to_the_progress():
    task = maze.DeceptiveMaze({"episode_length": 30, "policy_hidden": [8],
                               "resets": "deterministic"})
    g = task.sample_genotypes(jax.random.key(0), 3)
    ev = task.evaluate(None, g, jax.random.key(1))
    d0 = float(maze.distance(jnp.asarray(maze.START)))
    tr = ev.extras["transitions"]
    dist = maze.OFFSET - np.asarray(ev.fitness)  # fitness >= 0, as QD scores need
    assert (np.asarray(ev.fitness) >= 0).all()
    np.testing.assert_allclose(np.asarray(tr["reward"]).sum(1), d0 - dist, atol=1e-5)
    np.testing.assert_allclose(dist, np.linalg.norm(np.asarray(ev.descriptor) - maze.GOAL,
                                                    axis=1), atol=1e-6)
    path = np.asarray(task.trajectory(None, g, jax.random.key(1)))
    np.testing.assert_array_equal(path[:, -1], np.asarray(ev.descriptor))


def test_map_elites_runs_on_the_maze(tmp_path):
    evoflow("run", "me", "--env", "deceptive_maze", "--preset", "tiny", "--seed", "0",
            "--set", "evaluations=640", "--out", tmp_path, "--quiet", timeout=300)
    s = summary(only_run(tmp_path))
    assert s["evaluations"] == 640 and s["coverage"] > 0 and s["qd_score"] > 0
