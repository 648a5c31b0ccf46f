"""`viz/rollouts.npz` of a MAP-Elites run: one episode of each of a few elites, for `evoflow viz`.

The family's declared `rollouts` function (`write_rollouts`): each elite runs through `evoflow
eval`'s code path (the task rebuilt from config.json, episode 0's reset key), which records the
x-y path of every step and, for Brax tasks whose MuJoCo model renders here, <= 60 frames
(`evoflow.viz.frames`, in a child process). The file is written whole to a temp name and renamed
(npz, no pickles). Which cells, and whether a cached file is still current, is the caller's
(`evoflow.viz.rollouts`). Nothing heavy is imported until a rollout is computed.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np

from evoflow.errors import RunStateError, UsageError

ROLLOUTS = "viz/rollouts.npz"
ARCHIVE = "archive.npz"


def policy_problem(run_path: Path, config: dict) -> str | None:
    """Why this run's elites cannot be rolled out, found without building anything: the
    archive's policy layers must be the ones config.json's `policy_hidden` describes."""
    from evoflow.engine.rundir import load_npz

    a = load_npz(Path(run_path) / ARCHIVE)
    if "params/genotype" in a:
        return None
    widths, i = [], 0
    while f"params/layer_{i}/kernel" in a:
        widths.append(int(np.asarray(a[f"params/layer_{i}/kernel"]).shape[-1]))
        i += 1
    if not widths:
        return "archive.npz holds no policy parameters"
    hidden = config.get("config", {}).get("policy_hidden") \
        if isinstance(config.get("config"), dict) else None
    if hidden is None:
        return "config.json records no policy_hidden"
    if list(hidden) != widths[:-1]:
        return (f"archive.npz's policy has hidden layers {widths[:-1]}, config.json's "
                f"policy_hidden is {list(hidden)}")
    return None


def rollout_cells(run_path: Path, cells, *, states: bool = False) -> dict[str, Any]:
    """One episode of each elite of `cells`, as `evoflow eval RUN --policy cell:N` rolls out its
    episode 0 (the task rebuilt from config.json by `evaluate.rebuild`, reset key
    `fold_in(key(EVAL_SEED), 0)`), with the path the task's `trajectory` gives. Returns the
    arrays of `viz/rollouts.npz`: `cell` (k,), `fitness` (k,) (the archive's, to tell a stale
    file), `xy` (k, T, 2) float32, `xy_names`, `xy_units`; with states=True on a MuJoCo
    task also `qpos` (k, T, nq) and `mj_model` (what a renderer needs; not for the npz), on
    other tasks `note`: one line saying why there are no states to draw."""
    import jax
    import jax.numpy as jnp

    from evoflow.algorithms.registry import family_of
    from evoflow.engine.rundir import CONFIG, RunDir
    from evoflow.algorithms.map_elites.evaluate import (_check_dim, _load_archive, _rollout_qd,
                                                        flat_genotypes)
    from evoflow.evaluate import EVAL_SEED, Plan, rebuild

    run = RunDir.open(Path(run_path))
    rec = run.read_json(CONFIG)
    try:
        ours = isinstance(rec, dict) and family_of(str(rec.get("algo"))).name == "map_elites"
    except KeyError:  # no registered family declares the algorithm
        ours = False
    if not ours:
        raise RunStateError(f"{run.path}: not a MAP-Elites run (no archive elites to roll out)")
    arrays = _load_archive(run)
    fitness = np.asarray(arrays["fitness"])
    cells = np.asarray(cells, np.int64).reshape(-1)
    bad = [int(c) for c in cells if not (0 <= c < len(fitness) and np.isfinite(fitness[c]))]
    if bad or len(cells) == 0:
        raise UsageError(f"cells {bad or '[]'}: not filled cells of {run / ARCHIVE}")
    plan = Plan(run, rec, _rollout_qd, {})
    prep, dtype, run_data = rebuild(plan)
    task = prep.task
    if not hasattr(task, "trajectory"):
        raise RunStateError(f"{rec['env']}: this task records no trajectories")
    genotypes = flat_genotypes(arrays, str(run / ARCHIVE))[cells]
    _check_dim(plan, ARCHIVE, genotypes, task.dim)
    key = jax.random.fold_in(jax.random.key(EVAL_SEED), 0)
    mujoco = hasattr(task, "env")  # a Brax task: torso x-y, and a MuJoCo model for frames
    want_q = states and mujoco

    def one(g):  # one elite exactly as `evoflow eval` evaluates it: a batch of one
        out = task.trajectory(run_data, g[None], key, q=True) if want_q else \
            task.trajectory(run_data, g[None], key)
        return jax.tree.map(lambda v: v[0], out)

    out = jax.jit(jax.vmap(one))(jnp.asarray(genotypes, dtype))
    xy, q = out if want_q else (out, None)
    names = ("torso x", "torso y") if mujoco else tuple(task.descriptor_names)[:2]
    units = ("m", "m") if mujoco else tuple(task.descriptor_units)[:2]
    res = {"cell": cells.astype(np.int32), "fitness": fitness[cells].astype(np.float32),
           "xy": np.asarray(xy, np.float32), "xy_names": np.array(names),
           "xy_units": np.array(units), "eval_seed": np.int64(EVAL_SEED)}
    if states and not mujoco:
        res["note"] = np.array(f"x-y only: {rec['env']} has no MuJoCo model")
    elif states:
        res["qpos"], res["mj_model"] = np.asarray(q), task.env.sys.mj_model
    return res


def _frames(qpos: np.ndarray, mj_model) -> dict[str, np.ndarray]:
    """<= 60 frames per elite drawn from its joint positions (k, T, nq), or a `note` why not."""
    from evoflow.viz import frames as render

    steps = render.frame_steps(qpos.shape[1])
    images, why = render.render(render.model_bytes(mj_model), qpos[:, steps])
    if images is None:
        return {"note": np.array(f"no frames: {why}")}
    return {"frames": images, "frame_steps": steps}


def write_rollouts(run_path: Path, cells, *, frames: bool = True
                   ) -> tuple[dict[str, np.ndarray], dict[str, str | None]]:
    """Roll out the elites of `cells` (filled archive cells) and write RUN/viz/rollouts.npz
    atomically. Returns its arrays and `info`: `what` (what each rollout holds, for the line
    the caller prints) and `warning` (one line, or None: frames were wanted and failed).
    Raises an EvoflowError (one line) when the elites cannot be rolled out."""
    from evoflow.engine.rundir import CONFIG, atomic_write_bytes, read_json
    from evoflow.runtime import setup_jax

    run_path = Path(run_path)
    why = policy_problem(run_path, read_json(run_path / CONFIG))
    if why is not None:
        raise RunStateError(why)
    setup_jax()  # as `evoflow eval` runs: quiet logs, the persistent compilation cache
    arrays = rollout_cells(run_path, cells, states=frames)
    if "qpos" in arrays:
        arrays.update(_frames(arrays.pop("qpos"), arrays.pop("mj_model")))
    note = str(arrays.pop("note")) if "note" in arrays else None
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    (run_path / "viz").mkdir(exist_ok=True)
    atomic_write_bytes(run_path / ROLLOUTS, buf.getvalue())
    warning = None
    if "frames" in arrays:
        what = f"x-y and {arrays['frames'].shape[1]} frames each"
    elif note is not None and not note.startswith("no frames"):
        what = note  # "x-y only: ENV has no MuJoCo model": nothing the user could install
    else:
        what = "x-y only"
        warning = note
    return arrays, {"what": what, "warning": warning}
