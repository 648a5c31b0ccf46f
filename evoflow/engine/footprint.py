"""Refuse a run whose arrays cannot fit, before anything is allocated or written.

Two checks, both from shapes only: the task's per-dimension vectors (its init box and domain,
float64, made while the run is prepared) from `task.dim`, then the algorithm's state from
`jax.eval_shape(strategy.init, ...)` (the whole state, all runs; no buffer is made). Both are
lower bounds of what the run holds, compared with the memory of the machine (host RAM on CPU,
the devices' memory limit on GPU/TPU). The error names the keys the user set that size the run.
"""

from __future__ import annotations

import math
import os
from typing import Any

from evoflow.errors import UsageError

TASK_VECTORS = 4  # init box low/high and domain low/high, float64 each, (dim,)


def machine_bytes() -> int | None:
    """Memory the run's arrays can use: the devices' limit on an accelerator, else host RAM."""
    import jax

    devs = jax.devices()
    if devs and devs[0].platform != "cpu":
        try:
            return sum(int(d.memory_stats()["bytes_limit"]) for d in devs)
        except (KeyError, TypeError, AttributeError, NotImplementedError):
            return None
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def human(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB", "PB"):
        if n < 1000 or unit == "PB":
            return f"{n:.3g} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1000
    raise AssertionError


def _size_keys(cfg: dict, sets: dict, schema: dict) -> str:
    """`--set` int keys (what the user changed), else every positive int key of the config."""
    given = [k for k in sets if schema.get(k) is not None and schema[k].kind == "int"
             and isinstance(cfg.get(k), int) and cfg[k] > 1]
    return ", ".join(f"--set {k}={cfg[k]}" for k in given) if given else "the preset's sizes"


def _refuse(what: str, need: int, have: int, cfg: dict, sets: dict, schema: dict) -> None:
    raise UsageError(f"{_size_keys(cfg, sets, schema)}: {what} would need {human(need)} "
                     f"({need:,} bytes); this machine has {human(have)}")


def check_task(task, cfg: dict, sets: dict, schema: dict, have: int | None = None) -> None:
    have = machine_bytes() if have is None else have
    need = TASK_VECTORS * 8 * int(task.dim)
    if have is not None and need > have:
        _refuse(f"the task's vectors (dim={task.dim})", need, have, cfg, sets, schema)


def state_bytes(strategy, n_runs: int, dtype) -> int:
    import jax

    from evoflow.tasks.base import run_keys

    _, k_init, _ = run_keys(0)
    shapes = jax.eval_shape(lambda k: strategy.init(k, n_runs, dtype), k_init)
    return sum(math.prod(s.shape) * s.dtype.itemsize
               for s in jax.tree_util.tree_leaves(shapes) if hasattr(s, "shape"))


def check_state(strategy, cfg: dict, sets: dict, schema: dict, dtype: Any,
                have: int | None = None) -> None:
    have = machine_bytes() if have is None else have
    if have is None:
        return
    need = state_bytes(strategy, int(getattr(strategy, "n_runs", cfg.get("n_runs", 1))), dtype)
    if need > have:
        _refuse(f"the {type(strategy).__name__} state", need, have, cfg, sets, schema)
