"""evoflow.viz: figures and a self-contained HTML report from a run directory.

Needs the `viz` extra (`pip install "evoflow[viz]"`: plotly, matplotlib). `import evoflow` never
imports this package, and importing it loads matplotlib only when a figure is drawn.

    from evoflow import viz
    run = viz.load_run("runs/me-point_omni-20261130-120000-ab12-s0")
    viz.archive_heatmap(run)          # pyplot style: current axes, returns the Axes
    viz.curves([run0, run1, run2], "qd_score")
"""

from __future__ import annotations

import importlib

_API = {
    "load_run": "evoflow.viz.load",
    "Run": "evoflow.viz.load",
    "archive_heatmap": "evoflow.viz.figures",
    "parallel_axes": "evoflow.viz.figures",
    "curves": "evoflow.viz.figures",
    "particles": "evoflow.viz.figures",
    "write_report": "evoflow.viz.report",
}

__all__ = ["Run", "archive_heatmap", "curves", "load_run", "parallel_axes", "particles",
           "write_report"]


def __getattr__(name: str):
    if name in _API:
        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module 'evoflow.viz' has no attribute {name!r}")
