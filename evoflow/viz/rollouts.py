"""`viz/rollouts.npz`: one episode of each of the top-k elites, computed once and cached.

The top-k elites are the filled cells by fitness, highest first (ties by cell index). Each runs
through `evoflow eval`'s code path (`evoflow.evaluate.rollouts`: the task rebuilt from
config.json, episode 0's reset key), which records the x-y path of every step and, for Brax
tasks whose MuJoCo model renders here, ≤ 60 frames. The file is reused while it still holds the
current top-k: same cells, same elites (the archive fitness it recorded); otherwise it is
recomputed and replaced atomically (npz, no pickles). Entries whose elite has changed are never
shown.
"""

from __future__ import annotations

import io
import time

import numpy as np

from evoflow.engine.rundir import atomic_write_bytes
from evoflow.errors import EvoflowError
from evoflow.viz.load import Run, filled

ROLLOUTS = "viz/rollouts.npz"
FIELDS = ("cell", "xy")


def top_cells(archive: dict, k: int) -> np.ndarray:
    """The k best filled cells, highest fitness first, ties by cell index."""
    f = np.asarray(archive["fitness"], np.float64)
    cells = filled(archive)
    order = np.lexsort((cells, -f[cells]))
    return cells[order][:k]


def usable(cached: dict | None, archive: dict, top: np.ndarray) -> dict | None:
    """The cached entries that still show a current top-k elite (in the archive's order of
    the top-k), or None when none does."""
    if cached is None or any(k not in cached for k in FIELDS):
        return None
    cells = np.asarray(cached["cell"], np.int64).reshape(-1)
    xy = np.asarray(cached["xy"])
    if xy.ndim != 3 or xy.shape[0] != len(cells) or xy.shape[2] != 2:
        return None
    f = np.asarray(archive["fitness"], np.float32)
    ok = np.isin(cells, top) & (cells >= 0) & (cells < len(f))
    if "fitness" in cached:  # the elite recorded then is still the cell's elite
        rec = np.asarray(cached["fitness"], np.float32).reshape(-1)
        if rec.shape != cells.shape:
            return None
        ok &= rec == f[np.clip(cells, 0, len(f) - 1)]
    if not ok.any():
        return None
    rank = {int(c): i for i, c in enumerate(top)}
    keep = sorted(np.flatnonzero(ok), key=lambda i: rank[int(cells[i])])
    per_elite = {k for k, v in cached.items() if np.ndim(v) >= 1 and len(v) == len(cells)
                 and k not in ("xy_names", "xy_units", "frame_steps")}
    return {k: (np.asarray(v)[keep] if k in per_elite else v) for k, v in cached.items()}


def fresh(cached: dict | None, top: np.ndarray) -> bool:
    """The usable cache holds exactly the top-k cells."""
    return cached is not None and np.array_equal(np.asarray(cached["cell"], np.int64), top)


def policy_problem(run: Run) -> str | None:
    """Why this run's elites cannot be rolled out, found without building anything: the
    archive's policy layers must be the ones config.json's `policy_hidden` describes."""
    a = run.archive
    if "params/genotype" in a:
        return None
    widths, i = [], 0
    while f"params/layer_{i}/kernel" in a:
        widths.append(int(np.asarray(a[f"params/layer_{i}/kernel"]).shape[-1]))
        i += 1
    if not widths:
        return "archive.npz holds no policy parameters"
    hidden = run.config.get("config", {}).get("policy_hidden") \
        if isinstance(run.config.get("config"), dict) else None
    if hidden is None:
        return "config.json records no policy_hidden"
    if list(hidden) != widths[:-1]:
        return (f"archive.npz's policy has hidden layers {widths[:-1]}, config.json's "
                f"policy_hidden is {list(hidden)}")
    return None


def _frames(qpos: np.ndarray, mj_model) -> dict[str, np.ndarray]:
    """<= 60 frames per elite drawn from its joint positions (k, T, nq), or a `note` why not."""
    from evoflow.viz import frames as render

    steps = render.frame_steps(qpos.shape[1])
    images, why = render.render(render.model_bytes(mj_model), qpos[:, steps])
    if images is None:
        return {"note": np.array(f"no frames: {why}")}
    return {"frames": images, "frame_steps": steps}


def ensure(run: Run, top_k: int, *, compute: bool = True, frames: bool = True) -> list[str]:
    """Make `run.rollouts` hold the usable rollouts of the current top-k elites, computing and
    writing viz/rollouts.npz when it lacks any of them (and `compute`). Warnings go to
    `run.warnings`; returns the info lines to print (what was computed, and its cost)."""
    if run.family != "qd" or run.archive is None or "fitness" not in run.archive:
        return []
    top = top_cells(run.archive, top_k)
    cached = usable(run.rollouts, run.archive, top)
    run.rollouts = cached
    if len(top) == 0 or fresh(cached, top) or not compute:
        return []
    why = policy_problem(run)
    if why is None:
        from evoflow.algorithms.map_elites import evaluate
        from evoflow.runtime import setup_jax

        setup_jax()  # as `evoflow eval` runs: quiet logs, the persistent compilation cache
        t0 = time.perf_counter()
        try:
            arrays = evaluate.rollouts(run.path, top, states=frames)
            if "qpos" in arrays:
                arrays.update(_frames(arrays.pop("qpos"), arrays.pop("mj_model")))
        except Exception as e:  # the report is still written; the line says what failed
            why = str(e) if isinstance(e, EvoflowError) else f"{type(e).__name__}: {e}"
    if why is not None:
        run.warnings.append(f"no {ROLLOUTS}: rollouts not computed ({why}); other cells show "
                            f"`evoflow eval RUN --policy cell:N`")
        return []
    seconds = time.perf_counter() - t0
    note = str(arrays.pop("note")) if "note" in arrays else None
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    (run.path / "viz").mkdir(exist_ok=True)
    atomic_write_bytes(run.path / ROLLOUTS, buf.getvalue())
    run.warnings[:] = [w for w in run.warnings if ROLLOUTS not in w]  # an unreadable old cache
    run.rollouts = arrays
    k, steps = arrays["xy"].shape[:2]
    if "frames" in arrays:
        what = f"x-y and {arrays['frames'].shape[1]} frames each"
    elif note is not None and not note.startswith("no frames"):
        what = note  # "x-y only: ENV has no MuJoCo model": nothing the user could install
    else:
        what = "x-y only"
    if note is not None and note.startswith("no frames"):
        run.warnings.append(note)
    elites = "the top elite" if k == 1 else f"the top {k} elites"
    return [f"{run.path / ROLLOUTS}: {elites} rolled out, {steps} steps each ({what}) "
            f"in {seconds:.1f} s"]
