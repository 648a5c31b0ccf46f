"""The loop: ask -> evaluate -> tell, with metrics, snapshots, checkpoints and progress hung on it.

Two drivers, one run format:
- device loop (JAX tasks): iterations run inside one jitted function per chunk (a while loop over
  log blocks, each a while loop over iterations), with a host sync only between chunks; chunks end
  on checkpoint boundaries and at each 10% of the budget.
- host loop (non-JAX evaluation): ask/tell stay jitted, evaluation runs on the host in fixed
  `eval_chunk`s, serially or in a process pool (plain arrays cross, nothing else).

Both derive every key from (seed, iteration, phase), log at absolute multiples of `log_every`, and
store the state and resume cursors at each checkpoint, so a killed-and-resumed run reproduces an
uninterrupted one bitwise (outside `time/`).
"""

from __future__ import annotations

import math
import signal
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from evoflow.engine import checkpoint as ckpt
from evoflow.engine.devices import make_mesh, padded_runs, replicated, runs_sharding
from evoflow.engine.progress import Progress
from evoflow.engine.rundir import (METRICS, SUMMARY, RunDir, atomic_write_bytes,
                                   atomic_write_json, atomic_write_npz, load_npz)
from evoflow.errors import NonFiniteError, UsageError
from evoflow.tasks.base import Evaluation, as_evaluation, run_keys, sanitize, task_data

SNAPSHOTS = "particles.npz"


@dataclass
class Block:
    """What the loop reports at the end of one log block."""

    step: int
    run_evaluations: np.ndarray
    metrics: dict[str, float]
    snapshot: dict[str, np.ndarray] | None
    all_nonfinite_at: int  # -1, or the first iteration whose every evaluation was non-finite
    active: int  # runs still iterating


@dataclass
class Budget:
    iterations: int | None = None
    evaluations: int | None = None
    wall_s: float | None = None

    def key(self) -> str:
        for k in ("iterations", "evaluations", "wall_s"):
            if getattr(self, k) is not None:
                return k
        raise AssertionError("no budget")


@dataclass
class LoopState:
    iteration: int = 0
    wall_s: float = 0.0  # summed over the run's sessions
    compile_s: float = 0.0
    snapshots: dict[str, list] = field(default_factory=dict)
    last_metrics: dict = field(default_factory=dict)


class Engine:
    """Runs one strategy on one task into one run directory."""

    def __init__(self, strategy, task, cfg: dict, run: RunDir, mesh, *, seed: int,
                 host_evaluator=None, out: Callable[[str], None] = print,
                 progress_keys: tuple[str, ...] = (), dtype=jnp.float32, quiet: bool = False):
        self.s, self.task, self.cfg, self.run, self.mesh = strategy, task, cfg, run, mesh
        self.out = out
        self.progress_keys = progress_keys
        self.quiet = quiet
        self.dtype = dtype
        self.host_evaluator = host_evaluator  # None: device loop
        sharded = host_evaluator is None and strategy.shard_runs
        if not sharded:  # nothing to split: one device, not a replicated copy on each
            mesh = make_mesh(list(mesh.devices.flat)[:1])
        self.mesh = mesh
        self.m_pad = padded_runs(strategy.n_runs, mesh) if sharded else strategy.n_runs
        self.budget = Budget(cfg["iterations"], cfg["evaluations"], cfg["wall_s"])
        _, self.k_init, self.k_iter = run_keys(seed)
        self.task_data = task_data(task, seed, self.m_pad)
        self.valid = np.arange(self.m_pad) < strategy.n_runs
        self.max_evals = strategy.max_evaluations_per_iteration()
        self._warned_nonfinite = False
        self._interrupted = False
        self.loop = LoopState()
        self._chunk_fn = self._ask = None

    # ------------------------------------------------------------------------------------------
    # one iteration (shared by both drivers' jitted pieces)

    def _eval_keys(self, k_eval):
        return jax.vmap(jax.random.fold_in, (None, 0))(k_eval, jnp.arange(self.m_pad))

    def _iteration(self, state, it):
        """One iteration on device: every phase's ask -> evaluate -> tell."""
        active = self.s.runs_active(state)
        k = jax.random.fold_in(self.k_iter, it)
        metrics, nonfinite, evaluated = {}, jnp.int32(0), jnp.int32(0)
        for phase in range(self.s.phases):
            k_ask, k_eval, k_tell = jax.random.split(jax.random.fold_in(k, phase), 3)
            pop, state = self.s.ask(k_ask, state, phase)
            ev = as_evaluation(jax.vmap(self.task.evaluate)(self.task_data, pop,
                                                            self._eval_keys(k_eval)))
            raw = ev.fitness
            bad = jnp.sum(~jnp.isfinite(raw), axis=tuple(range(1, raw.ndim)))
            nonfinite += jnp.sum(jnp.where(active, bad, 0)).astype(jnp.int32)
            evaluated += jnp.sum(active) * (raw.size // raw.shape[0])
            state, metrics = self.s.tell(k_tell, pop, sanitize(ev), state, phase)
        all_bad = (evaluated > 0) & (nonfinite == evaluated)
        return state, metrics, nonfinite, all_bad

    def _observe(self, state):
        """Metrics computed from the state at a log point (task metrics of the reported points)."""
        valid = jnp.arange(self.m_pad) < self.s.n_runs
        return self.task.metrics(self.task_data, self.s.reported(state), valid)

    # ------------------------------------------------------------------------------------------
    # device loop

    def advance(self, state, it0: int, it1: int) -> tuple[Any, list[Block]]:
        """Run iterations [it0, it1) and return the state and one Block per log block.

        Touches no file: run_loop hangs the run directory on it; benchmarks call it directly.
        """
        if self.host_evaluator is None:
            return self._advance_device(state, it0, it1)
        return self._advance_host(state, it0, it1)

    def _build_device_chunk(self, state, max_blocks: int):
        s = self

        def chunk(state, block_ends, n_blocks, it0):
            m_shape = jax.eval_shape(lambda st: s._iteration(st, it0)[1], state)
            zeros_m = jax.tree_util.tree_map(lambda a: jnp.zeros(a.shape, a.dtype), m_shape)

            def one_block(b, carry):
                state, it, outs = carry

                def body(c):
                    st, i, m, nf, bad_at = c
                    st, m, nf_i, all_bad = s._iteration(st, i)
                    bad_at = jnp.where(all_bad & (bad_at < 0), i, bad_at)
                    return st, i + 1, m, nf + nf_i, bad_at

                state, it, m, nf, bad_at = jax.lax.while_loop(
                    lambda c: c[1] < block_ends[b], body,
                    (state, it, zeros_m, jnp.int32(0), jnp.int32(-1)))
                rec = {"metrics": {**m, **s._observe(state), "eval/nonfinite": nf},
                       "evals": s.s.run_evaluations(state), "bad_at": bad_at,
                       "active": s.s.runs_active(state), "snapshot": s.s.snapshot(state)}
                outs = jax.tree_util.tree_map(lambda buf, v: buf.at[b].set(v), outs, rec)
                return state, it, outs

            rec_shape = jax.eval_shape(
                lambda st: {"metrics": {**m_shape, **s._observe(st),
                                        "eval/nonfinite": jnp.int32(0)},
                            "evals": s.s.run_evaluations(st), "bad_at": jnp.int32(0),
                            "active": s.s.runs_active(st), "snapshot": s.s.snapshot(st)}, state)
            outs = jax.tree_util.tree_map(
                lambda a: jnp.zeros((max_blocks,) + a.shape, a.dtype), rec_shape)
            state, _, outs = jax.lax.fori_loop(0, n_blocks, one_block, (state, it0, outs))
            return state, outs

        state_sh = runs_sharding(self.mesh, state, self.s.sharded_leaves(state))
        rep = replicated(self.mesh)
        fn = jax.jit(chunk, in_shardings=(state_sh, rep, rep, rep),
                     out_shardings=(state_sh, rep), donate_argnums=(0,))
        args = (state, np.zeros(max_blocks, np.int32), np.int32(0), np.int32(0))
        t0 = time.perf_counter()
        compiled = fn.lower(*args).compile()
        self.loop.compile_s += time.perf_counter() - t0
        return compiled, state_sh

    def _advance_device(self, state, it0: int, it1: int):
        ends = self._block_ends(it0, it1)
        if self._chunk_fn is None:
            self._max_blocks = self.cfg["checkpoint_every"] // self.cfg["log_every"] + 2
            self._chunk_fn, self._state_sh = self._build_device_chunk(state, self._max_blocks)
        blocks = []
        for i in range(0, len(ends), self._max_blocks):
            part = ends[i:i + self._max_blocks]
            buf = np.zeros(self._max_blocks, np.int32)
            buf[:len(part)] = part
            start = it0 if i == 0 else ends[i - 1]
            state, outs = self._chunk_fn(state, buf, np.int32(len(part)), np.int32(start))
            outs = jax.device_get(outs)
            for j, end in enumerate(part):
                blocks.append(self._block(end, jax.tree_util.tree_map(lambda a: a[j], outs)))
        return state, blocks

    # ------------------------------------------------------------------------------------------
    # host loop

    def _build_host_fns(self, state):
        s = self
        ask = jax.jit(lambda k, st, ph: s.s.ask(k, st, ph), static_argnums=2)
        tell = jax.jit(lambda k, pop, fit, st, ph: s.s.tell(k, pop, fit, st, ph),
                       static_argnums=4, donate_argnums=(3,))

        def observe(st):
            return {"metrics": s._observe(st), "evals": s.s.run_evaluations(st),
                    "active": s.s.runs_active(st), "snapshot": s.s.snapshot(st)}

        self._ask, self._tell, self._observe_fn = ask, tell, jax.jit(observe)
        self._host_task_data = jax.tree_util.tree_map(np.asarray, self.task_data)

    def _advance_host(self, state, it0: int, it1: int):
        if self._ask is None:
            self._build_host_fns(state)
        blocks = []
        ends = self._block_ends(it0, it1)
        it, m, nf, bad_at = it0, {}, 0, -1
        for end in ends:
            nf, bad_at = 0, -1
            while it < end:
                t0 = time.perf_counter()
                active = np.asarray(self.s.runs_active(state))
                k = jax.random.fold_in(self.k_iter, it)
                nf_it, evaluated = 0, 0
                for phase in range(self.s.phases):
                    k_ask, k_eval, k_tell = jax.random.split(jax.random.fold_in(k, phase), 3)
                    pop, state = self._ask(k_ask, state, phase)
                    raw = self.host_evaluator(self._host_task_data, np.asarray(pop))
                    bad = (~np.isfinite(raw)).reshape(raw.shape[0], -1).sum(1)
                    nf_it += int(bad[active].sum())
                    evaluated += int(active.sum()) * (raw.size // raw.shape[0])
                    fit = jnp.asarray(np.where(np.isnan(raw) | (raw == np.inf), -np.inf, raw),
                                      self.dtype)
                    state, m = self._tell(k_tell, pop, Evaluation(fitness=fit), state, phase)
                if it == it0 and self.loop.compile_s == 0.0:
                    self.loop.compile_s = time.perf_counter() - t0  # first call: compile
                nf += nf_it
                if evaluated and nf_it == evaluated and bad_at < 0:
                    bad_at = it
                it += 1
            obs = jax.device_get(self._observe_fn(state))
            rec = {"metrics": {**jax.device_get(m), **obs["metrics"], "eval/nonfinite": nf},
                   "evals": obs["evals"], "bad_at": bad_at, "active": obs["active"],
                   "snapshot": obs["snapshot"]}
            blocks.append(self._block(end, rec))
        return state, blocks

    # ------------------------------------------------------------------------------------------
    # shared

    def _block_ends(self, it0: int, it1: int) -> list[int]:
        le = self.cfg["log_every"]
        ends = list(range((it0 // le + 1) * le, it1 + 1, le))
        if not ends or ends[-1] != it1:
            ends.append(it1)
        return ends

    def _block(self, end: int, rec) -> Block:
        metrics = {k: (v.item() if hasattr(v, "item") else v) for k, v in rec["metrics"].items()}
        return Block(step=end, run_evaluations=np.asarray(rec["evals"], np.int64),
                     metrics=metrics, snapshot=rec["snapshot"],
                     all_nonfinite_at=int(rec["bad_at"]), active=int(np.sum(rec["active"])))

    def _chunk_end(self, it: int, evals: int, t_start: float) -> int:
        ce = self.cfg["checkpoint_every"]
        end = (it // ce + 1) * ce
        b = self.budget
        if b.iterations is not None:
            tenth = next(t for t in (math.ceil(b.iterations * j / 10) for j in range(1, 11))
                         if t > it)
            end = min(end, b.iterations, tenth)
        if b.evaluations is not None:
            left = b.evaluations - evals
            tenth_ev = next(t for t in (math.ceil(b.evaluations * j / 10) for j in range(1, 11))
                            if t > evals)
            end = min(end, it + max(1, math.ceil((tenth_ev - evals) / self.max_evals)),
                      it + max(1, math.ceil(left / self.max_evals)))
        return max(end, it + 1)

    def _done(self, it: int, evals: int, active: int, wall: float) -> str | None:
        b = self.budget
        if b.iterations is not None and it >= b.iterations:
            return "iterations"
        if b.evaluations is not None and evals >= b.evaluations:
            return "evaluations"
        if b.wall_s is not None and wall >= b.wall_s:
            return "wall_s"
        if active == 0:
            return "all runs stopped"
        return None

    def _progress_total(self):
        b = self.budget
        if b.iterations is not None:
            return b.iterations, "iterations"
        if b.evaluations is not None:
            return b.evaluations, "evaluations"
        return b.wall_s, "seconds"

    def _write_snapshots(self) -> None:
        if self.loop.snapshots:
            atomic_write_npz(self.run / SNAPSHOTS,
                             {k: np.stack(v) for k, v in self.loop.snapshots.items()})

    def _checkpoint(self, state, it: int, evals: int, finished: bool) -> None:
        self._write_snapshots()  # before the checkpoint: a complete checkpoint implies its cursor
        host_state = jax.device_get(state)
        for name, arrays in self.s.artifacts(host_state).items():
            atomic_write_npz(self.run / name, arrays)
        n_snap = len(self.loop.snapshots.get("iteration", []))
        meta = {"iteration": it, "evaluations": evals, "finished": finished,
                "cursors": {METRICS: self.run.count_lines(METRICS), SNAPSHOTS: n_snap},
                "time/wall_s": self.loop.wall_s, "time/compile_s": self.loop.compile_s,
                "last_metrics": self.loop.last_metrics}
        ckpt.save(self.run / "checkpoints", it, host_state, meta,
                  self.cfg["keep_checkpoints"])

    # ------------------------------------------------------------------------------------------

    def initial_state(self):
        state = self.s.init(self.k_init, self.m_pad, self.dtype)
        # Distinct buffers per leaf: init may alias one array in two fields, and state is donated.
        state = jax.tree_util.tree_map(lambda a: jnp.array(a, copy=True), state)
        if self.host_evaluator is None:
            state = jax.device_put(state, runs_sharding(self.mesh, state,
                                                        self.s.sharded_leaves(state)))
        return state

    def restore(self, report):
        """State and loop counters from the newest readable checkpoint; cut files to cursors."""
        template = jax.device_get(self.s.init(self.k_init, self.m_pad, self.dtype))
        state, meta = ckpt.load_latest(self.run / "checkpoints", template, report)
        self.run.truncate_lines(METRICS, meta["cursors"][METRICS])
        n_snap = meta["cursors"][SNAPSHOTS]
        snaps: dict[str, list] = {}
        if n_snap:
            arrays = load_npz(self.run / SNAPSHOTS)
            snaps = {k: list(v[:n_snap]) for k, v in arrays.items()}
            if len(snaps.get("iteration", [])) < n_snap:
                from evoflow.errors import RunStateError
                raise RunStateError(f"{self.run / SNAPSHOTS}: fewer snapshots than the "
                                    f"checkpoint's cursor {n_snap}")
        self._write_snapshots_from(snaps)
        loop = LoopState(iteration=meta["iteration"], wall_s=meta["time/wall_s"],
                         compile_s=0.0, snapshots=snaps, last_metrics=meta.get("last_metrics", {}))
        if self.host_evaluator is None:
            state = jax.device_put(state, runs_sharding(self.mesh, state,
                                                        self.s.sharded_leaves(state)))
        return state, loop, meta

    def _write_snapshots_from(self, snaps):
        if snaps:
            atomic_write_npz(self.run / SNAPSHOTS, {k: np.stack(v) for k, v in snaps.items()})
        elif (self.run / SNAPSHOTS).exists():
            (self.run / SNAPSHOTS).unlink()

    def run_loop(self, state, loop: LoopState, summary_extra: dict) -> dict:
        """Iterate until a budget is reached; returns summary.json's content."""
        compile_s = self.loop.compile_s
        self.loop = loop
        loop.compile_s += compile_s
        advance = self.advance
        it = loop.iteration
        evals = int(np.asarray(jax.device_get(self.s.run_evaluations(state)), np.int64).sum())
        active = int(np.asarray(jax.device_get(self.s.runs_active(state))).sum())
        line = None
        total, unit = self._progress_total()
        done_units = {"iterations": it, "evaluations": evals, "seconds": loop.wall_s}[unit]
        bar = Progress(total, unit, self.progress_keys, start=done_units, enabled=not self.quiet)
        session_t0 = time.monotonic()
        wall0 = loop.wall_s
        prev_handler = signal.signal(signal.SIGINT, self._on_sigint)
        snap_every = self.cfg["snapshot_every"]
        stop = self._done(it, evals, active, loop.wall_s)
        try:
            while stop is None:
                end = self._chunk_end(it, evals, session_t0)
                state, blocks = advance(state, it, end)
                lines = []
                for blk in blocks:
                    evals = int(blk.run_evaluations.sum())
                    if blk.all_nonfinite_at >= 0:
                        self.run.append_lines(METRICS, lines)
                        raise NonFiniteError(
                            f"iteration {blk.all_nonfinite_at}: every evaluation was non-finite "
                            f"(NaN or inf); the run stops. The last good checkpoint is kept: "
                            f"{self._last_ckpt_text()}")
                    nf = blk.metrics.get("eval/nonfinite", 0)
                    if nf and not self._warned_nonfinite:
                        self._warned_nonfinite = True
                        self.out(f"warning: {nf} non-finite evaluations by iteration {blk.step} "
                                 f"count as -inf fitness (metrics key eval/nonfinite)")
                    loop.wall_s = wall0 + time.monotonic() - session_t0
                    line = {"step": blk.step, "evaluations": evals, **blk.metrics,
                            "time/wall_s": loop.wall_s}
                    if blk.step % self.cfg["log_every"] == 0:
                        lines.append(line)
                        loop.last_metrics = line
                    if snap_every and blk.step % snap_every == 0 and blk.snapshot:
                        for k, v in blk.snapshot.items():
                            loop.snapshots.setdefault(k, []).append(np.asarray(v))
                        loop.snapshots.setdefault("iteration", []).append(np.int64(blk.step))
                it = end
                loop.iteration = it
                stop = self._done(it, evals, blocks[-1].active, loop.wall_s)
                if stop is not None and loop.last_metrics is not line:
                    lines.append(line)  # the run's last iteration is always logged
                    loop.last_metrics = line
                self.run.append_lines(METRICS, lines)
                bar.update({"iterations": it, "evaluations": evals,
                            "seconds": loop.wall_s}[unit], line)
                if stop is not None:
                    break
                if it % self.cfg["checkpoint_every"] == 0 or self._interrupted:
                    self._checkpoint(state, it, evals, finished=False)
                if self._interrupted:
                    raise KeyboardInterrupt
        finally:
            signal.signal(signal.SIGINT, prev_handler)
            bar.close()
            if self.host_evaluator is not None:
                self.host_evaluator.close()
        self._checkpoint(state, it, evals, finished=True)
        final = self._finalize(state)
        loop.wall_s = wall0 + time.monotonic() - session_t0
        summary = {**summary_extra, "iterations": it, "evaluations": evals,
                   "stopped_by": stop, **self.s.summary(loop.last_metrics),
                   **self.task.summary(loop.last_metrics), **final,
                   "time/wall_s": loop.wall_s, "time/compile_s": loop.compile_s}
        self.run.write_json(SUMMARY, summary)
        return summary

    def _finalize(self, state) -> dict:
        """The strategy's end-of-run evaluations (e.g. a distilled policy), written as files."""
        run0 = jax.tree_util.tree_map(lambda a: a[0], self.task_data)

        @jax.jit
        def evaluate(genotypes, key):
            return self.task.evaluate(run0, genotypes, key)

        # A key no iteration uses (iterations stay below 2**31 - 1).
        out = self.s.finalize(jax.random.fold_in(self.k_iter, 2**31 - 1), state, evaluate)
        if not out:
            return {}
        for name, arrays in out.get("npz", {}).items():
            atomic_write_npz(self.run / name, arrays)
        for name, obj in out.get("json", {}).items():
            (self.run / name).parent.mkdir(parents=True, exist_ok=True)
            atomic_write_json(self.run / name, obj)
        for name, arrays in out.get("safetensors", {}).items():
            from safetensors.numpy import save

            (self.run / name).parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(self.run / name, save({k: np.ascontiguousarray(v)
                                                       for k, v in arrays.items()}))
        return out.get("summary", {})

    def _last_ckpt_text(self) -> str:
        steps = ckpt.checkpoint_steps(self.run / "checkpoints")
        return f"checkpoints/{steps[-1]}" if steps else "none written yet"

    def _on_sigint(self, signum, frame):
        if self._interrupted:  # a second Ctrl-C: stop now
            raise KeyboardInterrupt
        self._interrupted = True


def check_budget(cfg: dict, task) -> None:
    if all(cfg[k] is None for k in ("iterations", "evaluations", "wall_s", "env_steps")):
        raise UsageError("no budget: set one of iterations, evaluations, wall_s "
                         "(e.g. --set iterations=1000)")
    if cfg["env_steps"] is not None and "env" not in task.kinds:
        raise UsageError(f"--set env_steps={cfg['env_steps']}: {task.name} has no environment "
                         f"steps; use iterations, evaluations or wall_s")
