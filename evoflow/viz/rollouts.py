"""`viz/rollouts.npz`: one episode of each of the top-k elites, computed once and cached.

The top-k elites are the filled cells by fitness, highest first (ties by cell index). The
rollouts are the family's: its declaration names a `rollouts` function ("module:function",
`(run_path, cells, *, frames) -> (arrays, info)`, for MAP-Elites
`evoflow.algorithms.map_elites.rollouts:write_rollouts`, `evoflow eval`'s code path), which
computes them and writes the file; viz never builds a task itself. The file is reused while it
still holds the current top-k: same cells, same elites (the archive fitness it recorded);
otherwise the family's function is called again. Entries whose elite has changed are never
shown. A family that declares no `rollouts` gets no rollouts view.
"""

from __future__ import annotations

import time

import numpy as np

from evoflow.errors import EvoflowError
from evoflow.viz.load import ROLLOUTS, Run, filled

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


def ensure(run: Run, top_k: int, *, compute: bool = True, frames: bool = True) -> list[str]:
    """Make `run.rollouts` hold the usable rollouts of the current top-k elites, calling the
    family's `rollouts` function (which writes viz/rollouts.npz) when it lacks any of them (and
    `compute`). Warnings go to `run.warnings`; returns the info lines to print (what was
    computed, and its cost)."""
    fam = run.family
    if fam is None or fam.rollouts is None or "rollouts" not in fam.views \
            or run.archive is None or "fitness" not in run.archive:
        run.rollouts = None
        return []
    top = top_cells(run.archive, top_k)
    cached = usable(run.rollouts, run.archive, top)
    run.rollouts = cached
    if len(top) == 0 or fresh(cached, top) or not compute:
        return []
    from evoflow.algorithms.registry import load_ref

    t0 = time.perf_counter()
    try:
        arrays, info = load_ref(fam.rollouts)(run.path, top, frames=frames)
    except Exception as e:  # the report is still written; the line says what failed
        why = str(e) if isinstance(e, EvoflowError) else f"{type(e).__name__}: {e}"
        run.warnings.append(f"no {ROLLOUTS}: rollouts not computed ({why}); other cells show "
                            f"`evoflow eval RUN --policy cell:N`")
        return []
    seconds = time.perf_counter() - t0
    run.warnings[:] = [w for w in run.warnings if ROLLOUTS not in w]  # an unreadable old cache
    run.rollouts = arrays
    if info.get("warning"):
        run.warnings.append(info["warning"])
    k, steps = np.asarray(arrays["xy"]).shape[:2]
    elites = "the top elite" if k == 1 else f"the top {k} elites"
    return [f"{run.path / ROLLOUTS}: {elites} rolled out, {steps} steps each "
            f"({info.get('what') or 'x-y only'}) in {seconds:.1f} s"]
