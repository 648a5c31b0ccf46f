"""Read a run directory for the visualizer, finished or still running, old or new.

Tolerant by design: a live run's `metrics.jsonl` may end in half a line (ignored); a finished
run's corrupt line is named and skipped; an unreadable `.npz` skips its views. Every gap becomes
one line in `Run.warnings` (printed by the CLI) and, for fields an older evoflow did not record,
one entry in `Run.gaps` (shown on the page). Nothing here writes, pickles or executes file
contents.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from evoflow.engine.rundir import CONFIG, METRICS, SUMMARY, load_npz, read_json
from evoflow.errors import RunStateError, UsageError

# Algorithm -> family, as `evoflow eval` has it; upcoming families are recognised by their files.
QD_ALGOS = {"me", "pga_me", "dcg_me", "dcrl_me"}
CBO_ALGOS = {"cbo", "cbo_memory", "consensus_hopping"}
ARCHIVE_FIELDS = ("emitter", "generation", "parent")


@dataclass
class Run:
    """Everything the views need from one run directory."""

    path: Path
    config: dict
    summary: dict | None  # None: the run is live (or was interrupted)
    metrics: list[dict]
    archive: dict[str, np.ndarray] | None = None
    particles: dict[str, np.ndarray] | None = None
    distilled: dict[str, np.ndarray] | None = None
    rollouts: dict[str, np.ndarray] | None = None
    novelty: dict[str, np.ndarray] | None = None
    continual: dict[str, np.ndarray] | None = None  # ZO trainers
    trials: list[dict] | None = None  # CNN hyperparameter search
    candidates: list[dict] | None = None  # optimizer search
    program: dict | None = None  # optimizer search: artifacts/best_program.json
    program_text: str | None = None
    warnings: list[str] = field(default_factory=list)
    gaps: list[str] = field(default_factory=list)  # "not recorded by this run" notes for the page

    @property
    def algo(self) -> str:
        return str(self.config.get("algo", "?"))

    @property
    def env(self) -> str:
        return str(self.config.get("env", "?"))

    @property
    def seed(self) -> Any:
        return self.config.get("seed", "?")

    @property
    def version(self) -> str:
        return str(self.config.get("evoflow", "?"))

    @property
    def live(self) -> bool:
        return self.summary is None

    @property
    def title(self) -> str:
        return f"{self.algo} on {self.env}, seed {self.seed}"

    @property
    def family(self) -> str:
        if self.algo in QD_ALGOS:
            return "qd"
        if self.algo in CBO_ALGOS:
            return "cbo"
        return "other"


def check_run_dir(path: Path) -> Path:
    """A path the user gave must be a run directory: one line naming it otherwise."""
    path = Path(path)
    if not path.exists():
        raise UsageError(f"{path}: no such directory; give a run directory made by `evoflow run`")
    if not path.is_dir() or not (path / CONFIG).is_file():
        raise UsageError(f"{path}: not an evoflow run directory (no {CONFIG}); give a folder "
                         f"that `evoflow run` created")
    return path


def load_run(path: str | Path) -> Run:
    """Load a run directory (see docs/run-directory.md); gaps become `warnings` and `gaps`."""
    path = check_run_dir(Path(path))
    try:
        config = read_json(path / CONFIG)
    except RunStateError as e:
        raise UsageError(str(e)) from None
    if not isinstance(config, dict):
        raise UsageError(f"{path / CONFIG}: not written by evoflow (not a JSON object)")
    summary = None
    if (path / SUMMARY).is_file():
        try:
            summary = read_json(path / SUMMARY)
        except RunStateError:
            summary = {}  # present means finished, even if unreadable
    run = Run(path, config, summary, [])
    run.metrics = _read_metrics(path / METRICS, live=run.live, warnings=run.warnings)
    run.archive = _optional_npz(run, "archive.npz", "archive, parallel_axes, archive.csv")
    run.particles = _optional_npz(run, "particles.npz", "particles")
    run.distilled = _optional_npz(run, "distilled_eval.npz", "distilled")
    run.rollouts = _optional_npz(run, "viz/rollouts.npz", "rollouts")
    run.novelty = _optional_npz(run, "novelty_archive.npz", "novelty")
    run.continual = _optional_npz(run, "continual.npz", "accuracy_matrix")
    run.trials = _optional_jsonl(run, "trials.jsonl", "trial")
    run.candidates = _optional_jsonl(run, "candidates.jsonl", "index")
    if (path / "artifacts" / "best_program.json").is_file():
        try:
            run.program = read_json(path / "artifacts" / "best_program.json")
        except RunStateError as e:
            run.warnings.append(f"{e}: program listing skipped")
        txt = path / "artifacts" / "best_program.txt"
        run.program_text = txt.read_text(errors="replace") if txt.is_file() else None
    _note_gaps(run)
    return run


def _optional_npz(run: Run, name: str, views: str) -> dict[str, np.ndarray] | None:
    p = run.path / name
    if not p.is_file():
        return None
    try:
        return load_npz(p)
    except RunStateError as e:
        run.warnings.append(f"{e}: {views} view skipped")
        return None


def _optional_jsonl(run: Run, name: str, key: str) -> list[dict] | None:
    """Records of an append-only JSON-lines file (a live run's torn last line ignored)."""
    p = run.path / name
    if not p.is_file():
        return None
    out = []
    lines = p.read_bytes().split(b"\n")
    tail = lines.pop()
    for i, raw in enumerate([*lines, tail], start=1):
        if not raw.strip():
            continue
        try:
            rec = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            rec = None
        if not isinstance(rec, dict) or key not in rec:
            if i <= len(lines) or not run.live:
                run.warnings.append(f"{p}: line {i} is not a record; skipped, rest shown")
            continue
        out.append({k: _number(v) for k, v in rec.items()})
    return out


def _note_gaps(run: Run) -> None:
    """One line per file or field this run's family should have but the run lacks."""
    stamp = f"not recorded by this run (evoflow {run.version})"
    if run.family == "cbo" and run.particles is None and not _warned(run, "particles.npz"):
        run.warnings.append("no particles.npz: particle view skipped")
        run.gaps.append(f"particles: {stamp}")
    if run.family == "qd" and run.archive is None and not _warned(run, "archive.npz"):
        run.warnings.append("no archive.npz: showing curves only")
        run.gaps.append(f"archive: {stamp}")
    if run.archive is not None:
        for key in ARCHIVE_FIELDS:
            if key not in run.archive:
                run.warnings.append(f"archive.npz has no {key!r}: shown as not recorded")
                run.gaps.append(f"cell {key}: {stamp}")
    if not run.metrics and not _warned(run, METRICS):
        run.warnings.append(f"no {METRICS} lines: curves view skipped")


def _warned(run: Run, name: str) -> bool:
    return any(name in w for w in run.warnings)


def _number(v: Any) -> Any:
    """JSON non-finite strings back to floats (rundir writes "nan", "inf", "-inf")."""
    if isinstance(v, str) and v in ("nan", "inf", "-inf"):
        return float(v)
    return v


def _read_metrics(path: Path, *, live: bool, warnings: list[str]) -> list[dict]:
    if not path.is_file():
        if not live:
            warnings.append(f"no {METRICS}: curves view skipped")
        return []
    data = path.read_bytes()
    lines = data.split(b"\n")
    tail = lines.pop()  # b"" when the file ends in a newline; else a line still being written
    out = []
    for i, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        rec = _parse_line(raw)
        if rec is None:
            warnings.append(f"{path}: line {i} is not a metrics record; skipped, rest shown")
            continue
        out.append(rec)
    if tail.strip():
        rec = _parse_line(tail)
        if rec is not None:
            out.append(rec)
        elif not live:  # a live run's half last line is simply not written yet
            warnings.append(f"{path}: line {len(lines) + 1} is not a metrics record; skipped, "
                            f"rest shown")
    return out


def _parse_line(raw: bytes) -> dict | None:
    try:
        rec = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    if not isinstance(rec, dict) or "evaluations" not in rec:
        return None
    return {k: _number(v) for k, v in rec.items()}


def metric_names(runs: list[Run]) -> list[str]:
    """Numeric metric keys to plot against evaluations, in first-seen order; time/* excluded
    (not reproducible) as are the x counters themselves."""
    seen: dict[str, None] = {}
    for run in runs:
        for rec in run.metrics:
            for k, v in rec.items():
                if k in ("step", "evaluations") or k.startswith("time/"):
                    continue
                if isinstance(v, (int, float)) and not isinstance(v, bool):
                    seen.setdefault(k, None)
    return list(seen)


def series(run: Run, metric: str, x: str = "evaluations") -> tuple[np.ndarray, np.ndarray]:
    """(x, y) of one metric, finite x only, sorted by x."""
    xs, ys = [], []
    for rec in run.metrics:
        if metric in rec and x in rec:
            xv, yv = rec[x], rec[metric]
            numbers = isinstance(xv, (int, float)) and isinstance(yv, (int, float))
            if numbers and math.isfinite(float(xv)):
                xs.append(float(xv))
                ys.append(float(yv))
    order = np.argsort(xs, kind="stable")
    return np.asarray(xs)[order], np.asarray(ys)[order]


def filled(archive: dict[str, np.ndarray]) -> np.ndarray:
    """Indices of filled cells (finite fitness)."""
    return np.flatnonzero(np.isfinite(np.asarray(archive["fitness"], np.float64)))


def text_list(archive: dict, key: str, n: int, default: str) -> list[str]:
    vals = archive.get(key)
    if vals is None or np.asarray(vals).shape != (n,):
        return [default.format(i=i) for i in range(n)]
    return [str(v) for v in np.asarray(vals).tolist()]


def axis_label(archive: dict, i: int) -> str:
    d = np.asarray(archive["descriptor"]).shape[1]
    name = text_list(archive, "descriptor_names", d, "descriptor {i}")[i]
    unit = text_list(archive, "descriptor_units", d, "")[i]
    return f"{name} [{unit}]" if unit else name
