"""`evoflow viz RUN [RUN ...] [--compare --out DIR] [--watch SEC] [--top-k K] [--no-rollouts]`.

All input is checked before anything is written (one line, exit 2). In a run, viz writes only
`report.html`, `figures/`, `archive.csv` (runs with the archive view) and, for a run whose family
declares rollouts and has no current ones (unless `--no-rollouts`), `viz/rollouts.npz` (the
top-k elites' rollouts, written by the family's function, `evoflow.viz.rollouts`); with
`--compare`, only `DIR/report.html` and `DIR/figures/`. Every file is written whole to a temp
name and renamed.
"""

from __future__ import annotations

import datetime as _dt
import os
import sys
import time
from pathlib import Path

from evoflow.engine.rundir import atomic_write_bytes, check_writable_parent
from evoflow.errors import UsageError
from evoflow.viz.load import Run, check_run_dir, load_run

REPORT = "report.html"


def validate(paths: list[Path], *, compare: bool, out: Path | None, watch: float | None,
             top_k: int) -> None:
    if not paths:
        raise UsageError("RUN: give at least one run directory")
    if top_k <= 0:
        raise UsageError(f"--top-k {top_k}: must be a positive number of elites")
    if watch is not None and not watch > 0:
        raise UsageError(f"--watch {watch}: must be a positive number of seconds")
    for p in paths:
        check_run_dir(p)
    if compare:
        if len(paths) < 2:
            raise UsageError(f"--compare with {len(paths)} run: give at least two runs")
        if out is None:
            raise UsageError("--compare: needs --out DIR, the directory of the comparison")
        check_writable_parent(out)
        if out.exists() and not out.is_dir():
            raise UsageError(f"--out {out}: not a directory")
        _check_ours(out / REPORT, f"--out {out}")
        _check_ours_dir(out / "figures", f"--out {out}")
    else:
        if out is not None:
            raise UsageError(f"--out {out}: only used with --compare (a run's report is "
                             f"written into the run)")
        for p in paths:
            if not os.access(p, os.W_OK | os.X_OK):
                raise UsageError(f"{p}: run directory is not writable")
            _check_ours(p / REPORT, str(p))
            _check_ours_dir(p / "figures", str(p))


def _check_ours(report: Path, what: str) -> None:
    from evoflow.viz.report import written_by_evoflow

    if report.exists() and not written_by_evoflow(report):
        raise UsageError(f"{what}: {report.name} exists and was not written by evoflow viz "
                         f"(no <meta name=\"generator\" content=\"evoflow\">); not overwriting")
    if report.exists() and not os.access(report.parent, os.W_OK):
        raise UsageError(f"{what}: {report.parent} is not writable")


def _check_ours_dir(figures: Path, what: str) -> None:
    if figures.exists() and not figures.is_dir():
        raise UsageError(f"{what}: {figures} exists and is not a directory")


def check_envs(runs: list[Run]) -> None:
    envs = sorted({r.env for r in runs})
    if len(envs) > 1:
        raise UsageError(f"--compare over different envs ({', '.join(envs)}): compare runs of "
                         f"one env")


def main(paths: list[Path], *, compare: bool = False, out: Path | None = None,
         watch: float | None = None, top_k: int = 16, rollouts: bool = True) -> int:
    paths = [Path(p) for p in paths]
    out = Path(out) if out is not None else None
    validate(paths, compare=compare, out=out, watch=watch, top_k=top_k)
    runs = [load_run(p) for p in paths]
    if compare:
        check_envs(runs)
    said: set[str] = set()
    first = True
    while True:
        finished = all(not r.live for r in runs)
        live_every = None if (watch is None or finished) else watch
        info = []
        if rollouts and not compare:  # computed for a one-off or last write, never while live
            from evoflow.viz.rollouts import ensure

            for r in runs:
                info += ensure(r, top_k, compute=live_every is None)
        _warn(runs, said)
        for line in info:
            print(line)
        written = _write(runs, compare=compare, out=out, top_k=top_k, rollouts=rollouts,
                         live_every=live_every, figures=first or live_every is None)
        _warn(runs, said)  # what building the views found (a family view that failed)
        if first or live_every is None:
            for w in written:
                print(w)
        first = False
        if live_every is None:
            return 0
        time.sleep(watch)
        runs = [load_run(p) for p in paths]


def _warn(runs: list[Run], said: set[str]) -> None:
    """Each warning once per invocation, prefixed by its run when there are several."""
    for r in runs:
        for w in r.warnings:
            text = f"warning: {r.path}: {w}" if len(runs) > 1 else f"warning: {w}"
            if text not in said:
                said.add(text)
                print(text, file=sys.stderr)


def _write(runs: list[Run], *, compare, out, top_k, rollouts, live_every, figures) -> list[str]:
    from evoflow.viz import outputs, report, views

    now = _dt.datetime.now()
    if not rollouts:
        for r in runs:
            r.rollouts = None
    written = []
    if compare:
        out.mkdir(parents=True, exist_ok=True)
        if figures:
            written += _write_figures(out, outputs.compare_figures(views.group_runs(runs)))
        page = report.compare_page(runs, live_every=live_every, now=now)
        atomic_write_bytes(out / REPORT, page.encode())
        written.append(str(out / REPORT))
        return written
    for r in runs:
        if figures:
            written += _write_figures(r.path, outputs.run_figures(r))
            for name, data in outputs.run_tables(r).items():
                atomic_write_bytes(r.path / name, data)
                written.append(str(r.path / name))
        page = report.run_page(r, top_k=top_k, live_every=live_every, now=now)
        atomic_write_bytes(r.path / REPORT, page.encode())
        written.append(str(r.path / REPORT))
    return written


def _write_figures(folder: Path, pngs: dict[str, bytes]) -> list[str]:
    (folder / "figures").mkdir(exist_ok=True)
    paths = []
    for name, data in pngs.items():
        atomic_write_bytes(folder / "figures" / f"{name}.png", data)
        paths.append(str(folder / "figures" / f"{name}.png"))
    return paths
