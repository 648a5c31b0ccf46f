"""The `host` driver (non-JAX evaluation): ask/tell stay jitted, evaluation runs on the host
through a HostEvaluator (in fixed `eval_chunk`s, in-process, in a process pool or on Ray), with a
per-individual seed derived from (seed, iteration, phase, run, index). Only plain arrays cross.
"""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np

from evoflow.engine.drivers.device import DeviceEngine
from evoflow.tasks.base import Evaluation


def nonfinite_to_neg_inf(raw: np.ndarray) -> np.ndarray:
    return np.where(np.isnan(raw) | (raw == np.inf), -np.inf, raw)


class HostEngine(DeviceEngine):
    sharded_driver = False

    def __init__(self, strategy, task, cfg, run, mesh, *, host_evaluator, **kw):
        super().__init__(strategy, task, cfg, run, mesh, **kw)
        self.host_evaluator = host_evaluator
        self._ask = None

    def _place(self, state):
        return state

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

    def _evaluate(self, pop, it: int, phase: int, state) -> Evaluation:
        """pop: parameters (M, B, D), or (a strategy with a `host_decoder`) payload arrays."""
        from evoflow.engine.hosteval import individual_seeds

        pop = jax.tree_util.tree_map(np.asarray, pop)
        m, b = jax.tree_util.tree_leaves(pop)[0].shape[:2]
        seeds = individual_seeds(self.seed, it, phase, m, b)
        version, broadcast = None, None
        if self.s.host_decoder is not None:
            version, broadcast = self.s.host_broadcast(state, phase)
        return self.host_evaluator.evaluate(self._host_task_data, pop, seeds, broadcast,
                                             version)

    def advance(self, state, it0: int, it1: int):
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
                    ev = self._evaluate(pop, it, phase, state)
                    raw = np.asarray(ev.fitness)
                    bad = (~np.isfinite(raw)).reshape(raw.shape[0], -1).sum(1)
                    nf_it += int(bad[active].sum())
                    evaluated += int(active.sum()) * (raw.size // raw.shape[0])
                    fit = jnp.asarray(nonfinite_to_neg_inf(raw), self.dtype)
                    desc = None if ev.descriptor is None else jnp.asarray(ev.descriptor)
                    extras = {k_: jnp.asarray(v) for k_, v in (ev.extras or {}).items()}
                    state, m = self._tell(k_tell, pop,
                                          Evaluation(fitness=fit, descriptor=desc, extras=extras),
                                          state, phase)
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

    def _finalize(self, state) -> dict:
        """The strategy's end-of-run episodes, on the host: `evaluate(genotypes (B, D), seeds
        (B,))` runs one episode per row reset from its seed as given, in-process, in the run's
        `eval_chunk`s (`Task.episodes`). A JAX task evaluated on the host (`evaluator=numpy`)
        keeps the device driver's jitted `evaluate`."""
        task = self.task
        if not getattr(task, "host_loop", False):
            return super()._finalize(state)

        def evaluate(genotypes, seeds):
            return task.episodes(np.asarray(genotypes, np.float32), np.asarray(seeds))

        evaluate.host = True
        out = self.s.finalize(jax.random.fold_in(self.k_iter, 2**31 - 1), state, evaluate)
        if not out:
            return {}
        self.recorder.write_files(out)
        return out.get("summary", {})

    def close(self) -> None:
        self.host_evaluator.close()
