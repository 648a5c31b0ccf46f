"""Read a run directory for the visualizer, finished or still running, old or new.

What a run holds comes from its family's declaration (`evoflow.algorithms.registry`): the
family of `config.json`'s algorithm declares its run files, and each is read by its format (npz:
a dict of arrays; jsonl: records; json: a dict; safetensors and bytes are not read) into
`Run.files[path]`. An algorithm no family declares is a family-less run: curves only.

Tolerant by design: a live run's `metrics.jsonl` (or a declared JSON-lines file) may end in half
a line (ignored); a finished run's corrupt line is named and skipped; an unreadable file skips
the views that read it. Every gap becomes one line in `Run.warnings` (printed by the CLI) and,
for files or fields an older evoflow did not record, one entry in `Run.gaps` (shown on the
page). Nothing here writes, pickles or executes file contents.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from evoflow.algorithms import registry
from evoflow.engine.rundir import CONFIG, METRICS, SUMMARY, load_npz, read_json
from evoflow.errors import RunStateError, UsageError

ARCHIVE = "archive.npz"
PARTICLES = "particles.npz"
DISTILLED = "distilled_eval.npz"
ROLLOUTS = "viz/rollouts.npz"
ARCHIVE_FIELDS = ("emitter", "generation", "parent")
# The run files each built-in view reads: (needed, shown when present). A family that declares
# the view and its needed file, and whose finished run lacks that file, gets a gap note.
VIEW_FILES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "archive": ((ARCHIVE,), ()),
    "parallel_axes": ((ARCHIVE,), ()),
    "distilled": ((ARCHIVE,), (DISTILLED,)),
    "rollouts": ((ARCHIVE,), (ROLLOUTS,)),
    "particles": ((PARTICLES,), ()),
}
LOADED = ("npz", "jsonl", "json")  # formats read into Run.files


def _file_property(path: str, doc: str):
    def get(self):
        return self.files.get(path)

    def set_(self, value):
        if value is None:
            self.files.pop(path, None)
        else:
            self.files[path] = value

    return property(get, set_, doc=doc)


@dataclass
class Run:
    """Everything the views need from one run directory."""

    path: Path
    config: dict
    summary: dict | None  # None: the run is live (or was interrupted)
    metrics: list[dict]
    family: registry.Family | None = None  # None: no registered family declares the algorithm
    files: dict[str, Any] = field(default_factory=dict)  # declared run file -> its contents
    warnings: list[str] = field(default_factory=list)
    gaps: list[str] = field(default_factory=list)  # "not recorded by this run" notes for the page

    archive = _file_property(ARCHIVE, "archive.npz's arrays, or None")
    particles = _file_property(PARTICLES, "particles.npz's arrays, or None")
    distilled = _file_property(DISTILLED, "distilled_eval.npz's arrays, or None")
    rollouts = _file_property(ROLLOUTS, "viz/rollouts.npz's arrays, or None")

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
    def views(self) -> tuple[str, ...]:
        """The family's declared views (built-in names or "module:function" refs)."""
        return self.family.views if self.family is not None else ()


def check_run_dir(path: Path) -> Path:
    """A path the user gave must be a run directory: one line naming it otherwise."""
    path = Path(path)
    if not path.exists():
        raise UsageError(f"{path}: no such directory; give a run directory made by `evoflow run`")
    if not path.is_dir() or not (path / CONFIG).is_file():
        raise UsageError(f"{path}: not an evoflow run directory (no {CONFIG}); give a folder "
                         f"that `evoflow run` created")
    return path


def family_of(algo: str) -> registry.Family | None:
    try:
        return registry.family_of(algo)
    except KeyError:
        return None


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
    run.family = family_of(run.algo)
    if run.family is None:
        run.warnings.append(f"algorithm {run.algo!r} is in no registered family: showing "
                            f"curves only")
    else:
        for f in run.family.run_files:
            if f.format in LOADED and (path / f.path).is_file():
                value = _read_file(run, f)
                if value is not None:
                    run.files[f.path] = value
    _note_gaps(run)
    return run


def readers(run: Run, name: str) -> list[str]:
    """The run's views that read run file `name` (built-in views only; a family's own views
    are not known to read any)."""
    return [v for v in run.views if name in sum(VIEW_FILES.get(v, ((), ())), ())]


def _read_file(run: Run, f: registry.RunFile) -> Any:
    p = run.path / f.path
    try:
        if f.format == "npz":
            return load_npz(p)
        if f.format == "json":
            return read_json(p)
        return _read_jsonl(run, p, f.record_key)
    except RunStateError as e:
        views = readers(run, f.path)
        if f.path == ARCHIVE and "archive" in views:
            views.append("archive.csv")
        run.warnings.append(f"{e}: {', '.join(views)} view skipped" if views else
                            f"{e}: not shown")
        return None


def _read_jsonl(run: Run, p: Path, key: str | None) -> list[dict]:
    """Records of a JSON-lines file: objects with field `key` (a live run's torn last line
    ignored; any other line that is not one is named and skipped)."""
    try:
        data = p.read_bytes()
    except OSError as e:
        raise RunStateError(f"{p}: unreadable ({e.strerror})") from None
    lines = data.split(b"\n")
    tail = lines.pop()
    out = []
    for i, raw in enumerate([*lines, tail], start=1):
        if not raw.strip():
            continue
        try:
            rec = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            rec = None
        if not isinstance(rec, dict) or (key is not None and key not in rec):
            if i <= len(lines) or not run.live:
                run.warnings.append(f"{p}: line {i} is not a record; skipped, rest shown")
            continue
        out.append({k: _number(v) for k, v in rec.items()})
    return out


def _note_gaps(run: Run) -> None:
    """One line per declared file a finished run's views need but the run lacks, and per
    archive field an older evoflow did not record."""
    stamp = f"not recorded by this run (evoflow {run.version})"
    declared = {f.path for f in run.family.run_files} if run.family is not None else set()
    if not run.live:
        needed: dict[str, None] = {}
        for v in run.views:
            for name in VIEW_FILES.get(v, ((), ()))[0]:
                needed.setdefault(name, None)
        family_views = [v for v in run.views if v != "curves"]
        for name in needed:
            if name not in declared or (run.path / name).is_file():
                continue  # not this family's file, or present (an unreadable one is warned)
            skipped = [v for v in readers(run, name) if name in VIEW_FILES[v][0]]
            what = "showing curves only" if skipped == family_views else \
                f"{', '.join(skipped)} view skipped"
            run.warnings.append(f"no {name}: {what}")
            run.gaps.append(f"{Path(name).stem}: {stamp}")
    if run.archive is not None and "archive" in run.views:
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
