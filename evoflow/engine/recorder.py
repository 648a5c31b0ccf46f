"""The recorder: every run-directory write during a run (DESIGN.md "Run directory").

Metrics lines, the family's append-only JSON-lines files, snapshots (`particles.npz`, rewritten
whole), artifacts, checkpoints (with a cursor for every append-only file), the end-of-run files
and `summary.json`; on resume it cuts every append-only file back to the checkpoint's cursor (a
torn last line is dropped). Drivers hand it plain data; nothing else writes during a run.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from evoflow.engine import checkpoint as ckpt
from evoflow.engine.rundir import (METRICS, SUMMARY, RunDir, atomic_write_bytes,
                                   atomic_write_json, atomic_write_npz, load_npz)
from evoflow.errors import RunStateError

SNAPSHOTS = "particles.npz"


class Recorder:
    def __init__(self, run: RunDir, cfg: dict, append_only: tuple[str, ...] = ()):
        self.run = run
        self.cfg = cfg
        # The family's append-only JSON-lines files, beside metrics.jsonl.
        self.append_only = tuple(f for f in append_only if f != METRICS)
        self.snapshots: dict[str, list] = {}

    # --- append-only files -------------------------------------------------------------------
    def append_metrics(self, lines: list[dict]) -> None:
        self.run.append_lines(METRICS, lines)

    def append_records(self, records: dict[str, list[dict]]) -> None:
        """Records a driver collected from the algorithm: file name -> JSON records."""
        for name, recs in records.items():
            if name not in self.append_only:
                raise RunStateError(f"records for {name!r}, which the family does not declare "
                                    f"as an append-only run file ({', '.join(self.append_only) or 'none'})")
            if recs:
                (self.run / name).parent.mkdir(parents=True, exist_ok=True)
                self.run.append_lines(name, recs)

    def add_snapshot(self, step: int, snapshot: dict) -> None:
        for k, v in snapshot.items():
            self.snapshots.setdefault(k, []).append(np.asarray(v))
        self.snapshots.setdefault("iteration", []).append(np.int64(step))

    def write_snapshots(self) -> None:
        if self.snapshots:
            atomic_write_npz(self.run / SNAPSHOTS,
                             {k: np.stack(v) for k, v in self.snapshots.items()})

    def cursors(self) -> dict[str, int]:
        out = {METRICS: self.run.count_lines(METRICS),
               SNAPSHOTS: len(self.snapshots.get("iteration", []))}
        for name in self.append_only:
            out[name] = self.run.count_lines(name)
        return out

    # --- whole files ---------------------------------------------------------------------------
    def write_artifacts(self, artifacts: dict[str, dict[str, np.ndarray]]) -> None:
        for name, arrays in artifacts.items():
            atomic_write_npz(self.run / name, arrays)

    def write_files(self, out: dict) -> None:
        """{"npz" | "json" | "safetensors" | "bytes": {path: content}}, paths relative to the run."""
        for name, arrays in out.get("npz", {}).items():
            (self.run / name).parent.mkdir(parents=True, exist_ok=True)
            atomic_write_npz(self.run / name, arrays)
        for name, obj in out.get("json", {}).items():
            (self.run / name).parent.mkdir(parents=True, exist_ok=True)
            atomic_write_json(self.run / name, obj)
        for name, arrays in out.get("safetensors", {}).items():
            from safetensors.numpy import save

            (self.run / name).parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(self.run / name, save({k: np.ascontiguousarray(v)
                                                       for k, v in arrays.items()}))
        for name, data in out.get("bytes", {}).items():
            (self.run / name).parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(self.run / name, bytes(data))

    def write_summary(self, summary: dict) -> None:
        self.run.write_json(SUMMARY, summary)

    # --- checkpoints ---------------------------------------------------------------------------
    def checkpoint(self, step: int, tree: Any, meta: dict, side: Any = None,
                   files: dict[str, bytes] | None = None) -> None:
        # Snapshots first: a complete checkpoint implies the files its cursors count.
        self.write_snapshots()
        ckpt.save(self.run / "checkpoints", step, tree, {**meta, "cursors": self.cursors()},
                  self.cfg["keep_checkpoints"], side=side, files=files)

    def restore(self, template: Any, report: Callable[[str], None]) -> tuple[Any, dict]:
        """The newest readable checkpoint's (state, meta); every append-only file cut back to
        its cursor and the snapshots reloaded up to theirs."""
        state, meta = ckpt.load_latest(self.run / "checkpoints", template, report)
        cursors = meta["cursors"]
        self.run.truncate_lines(METRICS, cursors[METRICS])
        for name in self.append_only:
            self.run.truncate_lines(name, cursors.get(name, 0))
        n_snap = cursors[SNAPSHOTS]
        snaps: dict[str, list] = {}
        if n_snap:
            arrays = load_npz(self.run / SNAPSHOTS)
            snaps = {k: list(v[:n_snap]) for k, v in arrays.items()}
            if len(snaps.get("iteration", [])) < n_snap:
                raise RunStateError(f"{self.run / SNAPSHOTS}: fewer snapshots than the "
                                    f"checkpoint's cursor {n_snap}")
        self.snapshots = snaps
        if snaps:
            self.write_snapshots()
        elif (self.run / SNAPSHOTS).exists():
            (self.run / SNAPSHOTS).unlink()
        return state, meta

    def last_checkpoint_text(self) -> str:
        steps = ckpt.checkpoint_steps(self.run / "checkpoints")
        return f"checkpoints/{steps[-1]}" if steps else "none written yet"
