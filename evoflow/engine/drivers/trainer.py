"""The `trainer` driver: the algorithm owns its step loop (e.g. a PyTorch optimizer training one
model) and reports each step to a `TrainerLoop`, which enforces the budgets, logs, checkpoints
(calling back the trainer's `state()`), shows progress and handles Ctrl-C.

A trainer (evoflow.algorithms.base.Trainer) implements `setup(seed, task)`, `state()` /
`load_state(state)` (plain data: dicts, lists, numbers, numpy arrays and torch tensors, e.g.
`model.state_dict()`, `optimizer.state_dict()`, `generator.get_state()`), and `train(loop)`:

    while loop.running():
        ...one step...
        loop.step_done(metrics, evaluations=n, records=None)

Tensors go to `state.safetensors` in the checkpoint, the rest to `side.json` (never pickles).
"""

from __future__ import annotations

import signal
import time
from typing import Any, Callable

from evoflow.engine import statecodec
from evoflow.engine.budget import Budget
from evoflow.engine.drivers.base import LoopState
from evoflow.engine.progress import Progress
from evoflow.engine.recorder import Recorder


class TrainerLoop:
    """What a trainer's step loop talks to. `step` is the number of steps done so far."""

    def __init__(self, engine: "TrainerEngine", start: int, evaluations: int):
        self._e = engine
        self.step = start
        self.evaluations = evaluations
        self.stopped_by: str | None = None
        self._line = None

    def running(self) -> bool:
        """False once a budget is reached (the trainer then returns from `train`)."""
        e = self._e
        if self.stopped_by is None:
            self.stopped_by = e.budget.done(self.step, self.evaluations, 1, e.wall())
        return self.stopped_by is None

    def step_done(self, metrics: dict, evaluations: int = 0,
                  records: dict[str, list] | None = None) -> None:
        """One step finished: `evaluations` more (e.g. forward passes), `metrics` of this step
        (cumulative ones for family budget keys), `records` for the family's append-only files."""
        e = self._e
        self.step += 1
        self.evaluations += int(evaluations)
        e.budget.count(self.evaluations, metrics)
        e.loop.iteration = self.step
        e.loop.wall_s = e.wall()
        line = {"step": self.step, "evaluations": self.evaluations,
                **{c.key: c.value for c in e.budget.counters if c.per_evaluation},
                **metrics, "time/wall_s": e.loop.wall_s}
        e.recorder.append_records(records or {})
        done = self.running() is False
        if self.step % e.cfg["log_every"] == 0 or done:
            e.recorder.append_metrics([line])
            e.loop.last_metrics = line
        e.bar.update(e.budget.progress_done(e.unit, self.step, self.evaluations, e.loop.wall_s),
                     line)
        if done:
            return
        if self.step % e.cfg["checkpoint_every"] == 0 or e.interrupted:
            self.checkpoint()
        if e.interrupted:
            raise KeyboardInterrupt

    def checkpoint(self, finished: bool = False) -> None:
        """The checkpoint callback: saves the trainer's state() with the engine's counters."""
        self._e.checkpoint(self.step, self.evaluations, finished)


class TrainerEngine:
    def __init__(self, trainer, task, cfg: dict, run, *, seed: int, budget: Budget | None = None,
                 append_only=(), out: Callable[[str], None] = print, progress_keys=(),
                 quiet: bool = False):
        self.s, self.task, self.cfg, self.run, self.seed = trainer, task, cfg, run, seed
        self.out, self.quiet, self.progress_keys = out, quiet, progress_keys
        self.budget = budget or Budget.from_config(cfg, task)
        self.recorder = Recorder(run, cfg, tuple(append_only))
        self.loop = LoopState()
        self.interrupted = False
        self._t0 = time.monotonic()
        self._wall0 = 0.0

    def wall(self) -> float:
        return self._wall0 + time.monotonic() - self._t0

    def initial_state(self):
        self.s.setup(self.seed, self.task)
        return {"evaluations": 0}

    def restore(self, report):
        self.s.setup(self.seed, self.task)
        arrays, meta = self.recorder.restore(statecodec.array_template, report)
        self.s.load_state(statecodec.from_checkpoint(arrays, meta))
        self.budget.restore(meta.get("counters", {}))
        loop = LoopState(iteration=meta["iteration"], wall_s=meta["time/wall_s"],
                         last_metrics=meta.get("last_metrics", {}))
        return {"evaluations": int(meta["evaluations"])}, loop, meta

    def checkpoint(self, step: int, evals: int, finished: bool) -> None:
        arrays, side, files = statecodec.to_checkpoint(self.s.state())
        meta = {"iteration": step, "evaluations": evals, "finished": finished,
                "time/wall_s": self.wall(), "time/compile_s": 0.0,
                "last_metrics": self.loop.last_metrics}
        if self.budget.counters:
            meta["counters"] = self.budget.values()
        self.recorder.checkpoint(step, arrays, meta, side=side, files=files)

    def _on_sigint(self, signum, frame):
        if self.interrupted:
            raise KeyboardInterrupt
        self.interrupted = True

    def run_loop(self, state: Any, loop: LoopState, summary_extra: dict) -> dict:
        self.loop = loop
        self._wall0, self._t0 = loop.wall_s, time.monotonic()
        total, self.unit = self.budget.progress_total()
        tl = TrainerLoop(self, loop.iteration, state["evaluations"])
        self.bar = Progress(total, self.unit, self.progress_keys,
                            start=self.budget.progress_done(self.unit, tl.step, tl.evaluations,
                                                            loop.wall_s),
                            enabled=not self.quiet)
        prev = signal.signal(signal.SIGINT, self._on_sigint)
        try:
            if tl.running():
                self.s.train(tl)
            tl.running()
        finally:
            signal.signal(signal.SIGINT, prev)
            self.bar.close()
        self.checkpoint(tl.step, tl.evaluations, finished=True)
        out = getattr(self.s, "finalize", lambda: {})() or {}
        self.recorder.write_files(out)
        summary = {**summary_extra, "iterations": tl.step, "evaluations": tl.evaluations,
                   **self.budget.values(), "stopped_by": tl.stopped_by,
                   **self.s.summary(loop.last_metrics), **out.get("summary", {}),
                   "time/wall_s": self.wall(), "time/compile_s": 0.0}
        self.recorder.write_summary(summary)
        return summary
