"""The run directory: atomic files, append-only logs with resume cursors (DESIGN.md "Run directory").

Nothing here knows an algorithm. JSON for metadata, npz (allow_pickle=False) for arrays; every
whole-file write goes to a temp file in the same directory, is fsynced, then renamed over the
target, so a reader never sees half a file.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import secrets
import tempfile
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from evoflow.errors import RunStateError, UsageError

METRICS = "metrics.jsonl"
SUMMARY = "summary.json"
CONFIG = "config.json"
VERSIONS = "versions.json"


def to_json(value: Any) -> Any:
    """Plain JSON: numpy/JAX scalars to Python numbers; non-finite floats as strings."""
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    if hasattr(value, "shape") and getattr(value, "shape", None) == ():
        value = value.item()
    elif hasattr(value, "tolist"):
        return to_json(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return value


def dumps(obj: Any) -> str:
    return json.dumps(to_json(obj), sort_keys=False, allow_nan=False)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


_UMASK = os.umask(0)
os.umask(_UMASK)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the file normal permissions
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(to_json(obj), indent=2, allow_nan=False) + "\n").encode())


def atomic_write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    import io

    buf = io.BytesIO()
    np.savez(buf, **{k: np.asarray(v) for k, v in arrays.items()})
    atomic_write_bytes(path, buf.getvalue())


def load_npz(path: Path) -> dict[str, np.ndarray]:
    """Read a whole npz without pickles; any damage is a RunStateError naming the file."""
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except Exception as e:  # zipfile.BadZipFile, ValueError, EOFError, OSError...
        raise RunStateError(f"{path}: unreadable ({type(e).__name__}: {e})") from None


def read_json(path: Path) -> Any:
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise RunStateError(f"{path}: missing") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise RunStateError(f"{path}: corrupt JSON ({e})") from None


def run_name(algo: str, env: str, seed: int, now: _dt.datetime | None = None) -> str:
    stamp = (now or _dt.datetime.now()).strftime("%Y%m%d-%H%M%S")
    return f"{algo}-{env.replace('/', '_')}-{stamp}-{secrets.token_hex(2)}-s{seed}"


def check_writable_parent(out: Path) -> None:
    """`--out` must be a writable directory, or creatable; checked before anything is made."""
    out = Path(out)
    probe = out
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        raise UsageError(f"--out {out}: {probe} is not a directory")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise UsageError(f"--out {out}: {probe} is not writable")
    # Permission bits do not tell everything (root in /proc or /sys, read-only mounts): make
    # and remove an empty probe directory in the deepest existing folder, then put back the
    # folder's times (the check leaves no trace).
    try:
        st = os.stat(probe)
        os.rmdir(tempfile.mkdtemp(prefix=".evoflow-probe-", dir=probe))
        os.utime(probe, ns=(st.st_atime_ns, st.st_mtime_ns))
    except OSError as e:
        raise UsageError(f"--out {out}: cannot create a folder in {probe} "
                         f"({e.strerror or type(e).__name__})") from None


class RunDir:
    """A run directory, created fresh (never reused) or opened for resume."""

    def __init__(self, path: Path):
        self.path = Path(path)

    @classmethod
    def create(cls, parent: Path, name: str) -> "RunDir":
        parent = Path(parent)
        parent.mkdir(parents=True, exist_ok=True)
        path = parent / name
        path.mkdir()  # raises if it exists: a run directory is never reused
        (path / "checkpoints").mkdir()
        return cls(path)

    @classmethod
    def open(cls, path: Path) -> "RunDir":
        path = Path(path)
        if not path.is_dir() or not (path / CONFIG).is_file():
            raise UsageError(f"{path}: not an evoflow run directory (no {CONFIG}); give a folder "
                             f"that `evoflow run` created")
        return cls(path)

    def __truediv__(self, name: str) -> Path:
        return self.path / name

    # --- whole files -----------------------------------------------------------------------
    def write_json(self, name: str, obj: Any) -> None:
        atomic_write_json(self.path / name, obj)

    def read_json(self, name: str) -> Any:
        return read_json(self.path / name)

    # --- metrics.jsonl ---------------------------------------------------------------------
    def append_lines(self, name: str, records: Iterable[dict]) -> None:
        lines = "".join(dumps(r) + "\n" for r in records)
        if lines:
            with open(self.path / name, "a") as f:
                f.write(lines)
                f.flush()

    def count_lines(self, name: str) -> int:
        p = self.path / name
        if not p.exists():
            return 0
        with open(p, "rb") as f:
            return sum(1 for line in f if line.endswith(b"\n"))

    def truncate_lines(self, name: str, n: int) -> None:
        """Cut an append-only file back to its first n complete lines (a resume cursor)."""
        p = self.path / name
        if not p.exists():
            if n:
                raise RunStateError(f"{p}: missing, but the checkpoint expects {n} lines")
            return
        with open(p, "rb") as f:
            lines = f.readlines()
        complete = [ln for ln in lines if ln.endswith(b"\n")]
        if len(complete) < n:
            raise RunStateError(f"{p}: {len(complete)} lines, but the checkpoint expects {n}")
        atomic_write_bytes(p, b"".join(complete[:n]))

    def read_metrics(self) -> list[dict]:
        p = self.path / METRICS
        if not p.exists():
            return []
        out = []
        for line in p.read_text().splitlines():
            if line.strip():
                out.append(json.loads(line))
        return out
