"""`evoflow export RUN --format NAME --out FILE`: a run's result in one of its family's declared
formats (`Family.exports`). The run and the arguments are checked before the family's exporter
is imported; the exporter writes `out` and returns the path written."""

from __future__ import annotations

import json
from pathlib import Path

from evoflow.algorithms.registry import algorithms, family_of, load_ref
from evoflow.errors import RunStateError, UsageError


def _run_family(run: Path):
    cfg_path = run / "config.json"
    if not run.is_dir():
        raise UsageError(f"{run}: not a run directory (no such directory)")
    if not cfg_path.is_file():
        raise UsageError(f"{run}: not a run directory (no config.json)")
    try:
        algo = json.loads(cfg_path.read_text())["algo"]
    except (json.JSONDecodeError, KeyError, TypeError, UnicodeDecodeError):
        raise RunStateError(f"{cfg_path}: not written by evoflow run") from None
    if algo not in algorithms():
        raise RunStateError(f"{cfg_path}: algorithm {algo!r} is not registered; algorithms: "
                            f"{', '.join(algorithms())}")
    return algo, family_of(algo)


def export(run: Path, format_: str | None, out: Path | None) -> Path:
    run = Path(run)
    algo, fam = _run_family(run)
    names = [f.name for f in fam.exports]
    if not names:
        raise UsageError(f"{run}: the {fam.name} family ({algo}) has no export formats")
    if format_ is None:
        raise UsageError(f"--format is required; {fam.name} formats: {', '.join(names)}")
    if format_ not in names:
        raise UsageError(f"--format {format_}: not a {fam.name} format; formats: "
                         f"{', '.join(names)}")
    if out is None:
        raise UsageError("--out FILE is required (the file written)")
    out = Path(out)
    if out.exists() and out.is_dir():
        raise UsageError(f"--out {out}: is a directory; give a file path")
    if not out.parent.is_dir():
        raise UsageError(f"--out {out}: folder {out.parent} does not exist")
    spec = next(f for f in fam.exports if f.name == format_)
    return Path(load_ref(spec.impl)(run, out))
