"""`evoflow export` for the optsearch family: the program (`--program NAME|FILE.json`, or a run's
`artifacts/best_program.json`) in one format, written atomically; notes on ops that do not act
element by element go to stderr."""

from __future__ import annotations

import sys
from pathlib import Path

from evoflow.algorithms.optsearch.schema import ADAMW_FILE
from evoflow.errors import RunStateError

BEST = "artifacts/best_program.json"


def _program(run: Path | None, opts: dict):
    from evoflow.algorithms.optsearch import ir

    if run is None:
        return ir.load(opts["--program"])
    path = Path(run) / BEST
    if not path.is_file() and (Path(run) / ADAMW_FILE).is_file():
        raise RunStateError(f"{run}: a mode=adamw_tune run; its result is an optax.adamw "
                            f"setting ({ADAMW_FILE}), not a program to export")
    if not path.is_file():
        raise RunStateError(f"{run}: no {BEST} (the run has not finished a search yet)")
    try:
        return ir.loads(path.read_text())
    except ir.ProgramError as e:
        raise RunStateError(f"{path}: {e}") from None


def _write(run, out: Path, opts: dict, fmt: str) -> Path:
    from evoflow.algorithms.optsearch import export, ir
    from evoflow.engine.rundir import atomic_write_bytes

    prog = _program(run, opts)
    ir.check_shapes(prog)
    source = {"torch": export.torch_source, "optax": export.optax_source,
              "json": export.json_source, "text": export.text_source}[fmt](prog)
    if fmt in ("torch", "optax"):
        for line in export.notes(prog):
            print(f"note: {line}", file=sys.stderr)
    atomic_write_bytes(out, source.encode())
    return out


def write_torch(run, out, opts):
    return _write(run, out, opts, "torch")


def write_optax(run, out, opts):
    return _write(run, out, opts, "optax")


def write_json(run, out, opts):
    return _write(run, out, opts, "json")


def write_text(run, out, opts):
    return _write(run, out, opts, "text")
