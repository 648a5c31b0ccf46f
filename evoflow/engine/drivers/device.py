"""The `device` driver (JAX tasks): iterations run inside one jitted function per chunk (a while
loop over log blocks, each a while loop over iterations), with a host sync only between chunks;
chunks end on checkpoint boundaries and at each 10% of the budget (engine/budget.py).

Every key derives from (seed, iteration, phase); logs fall at absolute multiples of `log_every`;
checkpoints store the state and the resume cursors, so a killed-and-resumed run reproduces an
uninterrupted one bitwise (outside `time/`).
"""

from __future__ import annotations

import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from evoflow.engine.budget import Budget
from evoflow.engine.devices import make_mesh, padded_runs, replicated, runs_sharding
from evoflow.engine.drivers.base import Block, BlockEngine
from evoflow.tasks.base import as_evaluation, run_keys, sanitize, task_data


class DeviceEngine(BlockEngine):
    """Runs one JAX strategy on one JAX task into one run directory."""

    sharded_driver = True  # the host driver evaluates on the host: no runs-axis sharding

    def __init__(self, strategy, task, cfg: dict, run, mesh, *, seed: int, out=print,
                 progress_keys: tuple[str, ...] = (), dtype=jnp.float32, quiet: bool = False,
                 budget: Budget | None = None, append_only=()):
        super().__init__(cfg, run, budget=budget or Budget.from_config(cfg, task),
                         append_only=append_only, out=out, progress_keys=progress_keys,
                         quiet=quiet)
        self.s, self.task = strategy, task
        self.seed = seed
        self.dtype = dtype
        sharded = self.sharded_driver and strategy.shard_runs
        if not sharded:  # nothing to split: one device, not a replicated copy on each
            mesh = make_mesh(list(mesh.devices.flat)[:1])
        self.mesh = mesh
        self.m_pad = padded_runs(strategy.n_runs, mesh) if sharded else strategy.n_runs
        _, self.k_init, self.k_iter = run_keys(seed)
        self.task_data = task_data(task, seed, self.m_pad)
        self.max_evals = strategy.max_evaluations_per_iteration()
        self._chunk_fn = None

    # ------------------------------------------------------------------------------------------
    # one iteration

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
    # the scanned chunk

    def advance(self, state, it0: int, it1: int) -> tuple[Any, list[Block]]:
        """Run iterations [it0, it1) and return the state and one Block per log block.

        Touches no file: run_loop hangs the run directory on it; benchmarks call it directly.
        """
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

    def _block(self, end: int, rec) -> Block:
        metrics = {k: (v.item() if hasattr(v, "item") else v) for k, v in rec["metrics"].items()}
        return Block(step=end, run_evaluations=np.asarray(rec["evals"], np.int64),
                     metrics=metrics, snapshot=rec["snapshot"],
                     all_nonfinite_at=int(rec["bad_at"]), active=int(np.sum(rec["active"])))

    # ------------------------------------------------------------------------------------------
    # state, checkpoints, the end

    def _place(self, state):
        return jax.device_put(state, runs_sharding(self.mesh, state, self.s.sharded_leaves(state)))

    def _init(self):
        return self.s.init(self.k_init, self.m_pad, self.dtype)

    def initial_state(self):
        state = self._init()
        # Distinct buffers per leaf: init may alias one array in two fields, and state is donated.
        state = jax.tree_util.tree_map(lambda a: jnp.array(a, copy=True), state)
        return self._place(state)

    def counts(self, state) -> tuple[int, int]:
        evals = int(np.asarray(jax.device_get(self.s.run_evaluations(state)), np.int64).sum())
        active = int(np.asarray(jax.device_get(self.s.runs_active(state))).sum())
        return evals, active

    def checkpoint(self, state, it: int, evals: int, finished: bool) -> None:
        host_state = jax.device_get(state)
        self.recorder.write_artifacts(self.s.artifacts(host_state))
        self.recorder.write_files(self.s.checkpoint_files(host_state))
        self.recorder.checkpoint(it, host_state, self._meta(it, evals, finished))

    def restore(self, report):
        """State and loop counters from the newest readable checkpoint; cut files to cursors."""
        template = jax.device_get(self._init())
        state, meta = self.recorder.restore(template, report)
        return self._place(state), self._loop_from(meta), meta

    def final(self, state, last_metrics: dict) -> dict:
        return {**self.s.summary(last_metrics), **self.task.summary(last_metrics),
                **self._finalize(state)}

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
        self.recorder.write_files(out)
        return out.get("summary", {})
