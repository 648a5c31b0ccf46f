"""What every block-based driver shares: the run loop around `advance`.

A driver implements `advance(state, it0, it1) -> (state, [Block])` (iterations [it0, it1), one
Block per log block), `counts(state) -> (evaluations, active runs)`, `checkpoint(...)`,
`restore(report)`, `final(state, last_metrics) -> summary entries` and `close()`. `run_loop`
hangs the budget, the recorder, the progress bar and SIGINT handling on it, so every driver
writes the same run format.
"""

from __future__ import annotations

import signal
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from evoflow.engine.budget import Budget
from evoflow.engine.progress import Progress
from evoflow.engine.recorder import Recorder
from evoflow.engine.rundir import RunDir
from evoflow.errors import NonFiniteError


@dataclass
class Block:
    """What a driver reports at the end of one log block."""

    step: int
    run_evaluations: np.ndarray
    metrics: dict[str, float]
    snapshot: dict[str, np.ndarray] | None
    all_nonfinite_at: int  # -1, or the first iteration whose every evaluation was non-finite
    active: int  # runs still iterating
    records: dict[str, list] = field(default_factory=dict)  # append-only file -> new records


@dataclass
class LoopState:
    iteration: int = 0
    wall_s: float = 0.0  # summed over the run's sessions
    compile_s: float = 0.0
    last_metrics: dict = field(default_factory=dict)


class BlockEngine:
    """Base of the block-based drivers (device, host, python)."""

    def __init__(self, cfg: dict, run: RunDir, *, budget: Budget, append_only=(),
                 out: Callable[[str], None] = print, progress_keys: tuple[str, ...] = (),
                 quiet: bool = False):
        self.cfg, self.out = cfg, out
        self.progress_keys = progress_keys
        self.quiet = quiet
        self.budget = budget
        self.recorder = Recorder(run, cfg, tuple(append_only))
        self.max_evals = 1
        self._warned_nonfinite = False
        self._interrupted = False
        self.loop = LoopState()

    @property
    def run(self) -> RunDir:
        return self.recorder.run

    @run.setter
    def run(self, run: RunDir) -> None:
        self.recorder.run = run

    # --- driver hooks ----------------------------------------------------------------------------
    def advance(self, state, it0: int, it1: int) -> tuple[Any, list[Block]]:
        raise NotImplementedError

    def counts(self, state) -> tuple[int, int]:
        raise NotImplementedError

    def checkpoint(self, state, it: int, evals: int, finished: bool) -> None:
        raise NotImplementedError

    def final(self, state, last_metrics: dict) -> dict:
        return {}

    def close(self) -> None:
        pass

    # --- shared ----------------------------------------------------------------------------------
    def _block_ends(self, it0: int, it1: int) -> list[int]:
        le = self.cfg["log_every"]
        ends = list(range((it0 // le + 1) * le, it1 + 1, le))
        if not ends or ends[-1] != it1:
            ends.append(it1)
        return ends

    def _meta(self, it: int, evals: int, finished: bool) -> dict:
        meta = {"iteration": it, "evaluations": evals, "finished": finished,
                "time/wall_s": self.loop.wall_s, "time/compile_s": self.loop.compile_s,
                "last_metrics": self.loop.last_metrics}
        if self.budget.counters:
            meta["counters"] = self.budget.values()
        return meta

    def _loop_from(self, meta: dict) -> LoopState:
        self.budget.restore(meta.get("counters", {}))
        return LoopState(iteration=meta["iteration"], wall_s=meta["time/wall_s"], compile_s=0.0,
                         last_metrics=meta.get("last_metrics", {}))

    def _last_ckpt_text(self) -> str:
        return self.recorder.last_checkpoint_text()

    def _on_sigint(self, signum, frame):
        if self._interrupted:  # a second Ctrl-C: stop now
            raise KeyboardInterrupt
        self._interrupted = True

    def run_loop(self, state, loop: LoopState, summary_extra: dict) -> dict:
        """Iterate until a budget is reached; returns summary.json's content."""
        compile_s = self.loop.compile_s
        self.loop = loop
        loop.compile_s += compile_s
        rec, budget = self.recorder, self.budget
        it = loop.iteration
        evals, active = self.counts(state)
        line = None
        total, unit = budget.progress_total()
        bar = Progress(total, unit, self.progress_keys,
                       start=budget.progress_done(unit, it, evals, loop.wall_s),
                       enabled=not self.quiet)
        session_t0 = time.monotonic()
        wall0 = loop.wall_s
        prev_handler = signal.signal(signal.SIGINT, self._on_sigint)
        snap_every = self.cfg["snapshot_every"]
        stop = budget.done(it, evals, active, loop.wall_s)
        try:
            while stop is None:
                end = budget.chunk_end(it, evals, self.cfg["checkpoint_every"], self.max_evals)
                state, blocks = self.advance(state, it, end)
                lines = []
                for blk in blocks:
                    evals = int(blk.run_evaluations.sum())
                    if blk.all_nonfinite_at >= 0:
                        rec.append_metrics(lines)
                        raise NonFiniteError(
                            f"iteration {blk.all_nonfinite_at}: every evaluation was non-finite "
                            f"(NaN or inf); the run stops. The last good checkpoint is kept: "
                            f"{self._last_ckpt_text()}")
                    nf = blk.metrics.get("eval/nonfinite", 0)
                    if nf and not self._warned_nonfinite:
                        self._warned_nonfinite = True
                        self.out(f"warning: {nf} non-finite evaluations by iteration {blk.step} "
                                 f"count as -inf fitness (metrics key eval/nonfinite)")
                    budget.count(evals, blk.metrics)
                    loop.wall_s = wall0 + time.monotonic() - session_t0
                    line = {"step": blk.step, "evaluations": evals,
                            **{c.key: c.value for c in budget.counters if c.per_evaluation},
                            **blk.metrics, "time/wall_s": loop.wall_s}
                    _add_rates(line)
                    if blk.step % self.cfg["log_every"] == 0:
                        lines.append(line)
                        loop.last_metrics = line
                    if snap_every and blk.step % snap_every == 0 and blk.snapshot:
                        rec.add_snapshot(blk.step, blk.snapshot)
                    rec.append_records(blk.records)
                it = end
                loop.iteration = it
                stop = budget.done(it, evals, blocks[-1].active, loop.wall_s)
                if stop is not None and loop.last_metrics is not line:
                    lines.append(line)  # the run's last iteration is always logged
                    loop.last_metrics = line
                rec.append_metrics(lines)
                bar.update(budget.progress_done(unit, it, evals, loop.wall_s), line)
                if stop is not None:
                    break
                if it % self.cfg["checkpoint_every"] == 0 or self._interrupted:
                    self.checkpoint(state, it, evals, finished=False)
                if self._interrupted:
                    raise KeyboardInterrupt
        finally:
            signal.signal(signal.SIGINT, prev_handler)
            bar.close()
            self.close()
        self.checkpoint(state, it, evals, finished=True)
        final = dict(self.final(state, loop.last_metrics))
        loop.wall_s = wall0 + time.monotonic() - session_t0
        # compile time the algorithm reports (e.g. its host evaluators') adds to the engine's
        compile_s = loop.compile_s + final.pop("time/compile_s", 0.0)
        summary = {**summary_extra, "iterations": it, "evaluations": evals,
                   **budget.values(), "stopped_by": stop, **final,
                   "time/wall_s": loop.wall_s, "time/compile_s": compile_s}
        _add_rates(summary)
        rec.write_summary(summary)
        return summary


def _add_rates(record: dict) -> None:
    """`time/env_steps_per_s` beside a cumulative `env_steps` (tasks with episodes)."""
    if record.get("env_steps") is not None and record.get("time/wall_s"):
        record["time/env_steps_per_s"] = record["env_steps"] / record["time/wall_s"]
