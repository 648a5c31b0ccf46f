"""The engine's entry points; the loop itself lives in its parts (DESIGN.md "Layers"):

- `engine/budget.py`: budgets (iterations, evaluations, env_steps, wall_s, family keys), chunk
  ends, which key stopped the run;
- `engine/recorder.py`: every run-directory write during a run (metrics, append-only files,
  snapshots, artifacts, checkpoints with cursors, summary), truncation on resume;
- `engine/drivers/`: `device` (jitted, scanned chunks), `host` (jitted ask/tell, evaluation on
  the host), `python` (plain-Python ask/tell over JSON genomes) and `trainer` (the algorithm
  owns its step loop), chosen by the algorithm's declared driver in `experiment.build_engine`.
"""

from __future__ import annotations

from evoflow.engine.budget import Budget, check_budget  # noqa: F401
from evoflow.engine.drivers.base import Block, LoopState  # noqa: F401
from evoflow.engine.recorder import SNAPSHOTS  # noqa: F401


def Engine(strategy, task, cfg, run, mesh, *, host_evaluator=None, **kw):
    """A JAX strategy's engine: the host driver when a host evaluator is given, else device."""
    if host_evaluator is None:
        from evoflow.engine.drivers.device import DeviceEngine

        return DeviceEngine(strategy, task, cfg, run, mesh, **kw)
    from evoflow.engine.drivers.host import HostEngine

    return HostEngine(strategy, task, cfg, run, mesh, host_evaluator=host_evaluator, **kw)
