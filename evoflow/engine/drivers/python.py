"""The `python` driver: plain-Python init/ask/tell over JSON-serializable genomes (dicts, lists,
programs), evaluated through the host evaluator with per-individual seeds.

The algorithm (evoflow.algorithms.base.PythonAlgorithm) gets a fresh numpy Generator for every
call, derived from (seed, call, iteration, phase), so it keeps no RNG state; its state is plain
data (JSON plus numpy arrays), saved in each checkpoint as `side.json` + `state.npz`. One run
(M = 1); the engine counts evaluations (one per genome asked).
"""

from __future__ import annotations

import numpy as np

from evoflow.engine import statecodec
from evoflow.engine.budget import Budget
from evoflow.engine.drivers.base import Block, BlockEngine
from evoflow.tasks.base import Evaluation

INIT, ASK, TELL, FINAL = 0, 1, 2, 3
FINAL_ITERATION = 2**31 - 1  # the iteration of finalize's evaluations (individual seeds)


def call_rng(seed: int, call: int, iteration: int = 0, phase: int = 0) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, call, iteration, phase]))


def _fitness(raw: np.ndarray) -> np.ndarray:
    return np.where(np.isnan(raw) | (raw == np.inf), -np.inf, raw)


class PythonEngine(BlockEngine):
    def __init__(self, algorithm, task, cfg: dict, run, *, env: str, host_evaluator, seed: int,
                 budget: Budget | None = None, append_only=(), out=print,
                 progress_keys=(), quiet: bool = False):
        super().__init__(cfg, run, budget=budget or Budget.from_config(cfg, task),
                         append_only=append_only, out=out, progress_keys=progress_keys,
                         quiet=quiet)
        import jax

        from evoflow.tasks.base import task_data

        self.s, self.task, self.seed, self.env = algorithm, task, seed, env
        self.host_evaluator = host_evaluator
        self.task_data = jax.tree_util.tree_map(np.asarray, task_data(task, seed, 1))
        # Unknown: chunks of one iteration near a budget, so that no budget is overshot.
        self.max_evals = int(getattr(algorithm, "max_evaluations_per_iteration",
                                     lambda: 2**62)())
        self.evals = 0

    def initial_state(self):
        self.evals = 0
        return self.s.init(call_rng(self.seed, INIT))

    def counts(self, state) -> tuple[int, int]:
        return self.evals, int(self._active(state))

    def _active(self, state) -> bool:
        return bool(getattr(self.s, "active", lambda st: True)(state))

    def _evaluate(self, genomes: list, it: int, phase: int) -> Evaluation:
        from evoflow.engine.hosteval import individual_seeds

        payload = self.s.payload(genomes) if hasattr(self.s, "payload") else genomes
        pop = payload[None] if isinstance(payload, np.ndarray) else [list(payload)]
        seeds = individual_seeds(self.seed, it, phase, 1, len(genomes))
        ev = self.host_evaluator.evaluate(self.task_data, pop, seeds)
        desc = None if ev.descriptor is None else np.asarray(ev.descriptor)[0]
        return Evaluation(fitness=np.asarray(ev.fitness)[0], descriptor=desc,
                          extras={k: np.asarray(v)[0] for k, v in (ev.extras or {}).items()})

    def advance(self, state, it0: int, it1: int):
        blocks = []
        it, m = it0, {}
        for end in self._block_ends(it0, it1):
            nf, bad_at, records = 0, -1, {}
            while it < end:
                nf_it, evaluated = 0, 0
                for phase in range(getattr(self.s, "phases", 1)):
                    genomes, state = self.s.ask(call_rng(self.seed, ASK, it, phase), state)
                    ev = self._evaluate(genomes, it, phase)
                    raw = np.asarray(ev.fitness)
                    nf_it += int((~np.isfinite(raw)).sum())
                    evaluated += len(genomes)
                    self.evals += len(genomes)
                    out = self.s.tell(call_rng(self.seed, TELL, it, phase), genomes,
                                      ev.replace(fitness=_fitness(raw)), state)
                    state, m = out[0], out[1]
                    for name, recs in (out[2] if len(out) > 2 else {}).items():
                        records.setdefault(name, []).extend(recs)
                nf += nf_it
                if evaluated and nf_it == evaluated and bad_at < 0:
                    bad_at = it
                it += 1
            blocks.append(Block(step=end, run_evaluations=np.array([self.evals], np.int64),
                                metrics={**m, "eval/nonfinite": nf}, snapshot=None,
                                all_nonfinite_at=bad_at, active=int(self._active(state)),
                                records=records))
        return state, blocks

    def checkpoint(self, state, it: int, evals: int, finished: bool) -> None:
        arrays, side, files = statecodec.to_checkpoint(state)
        self.recorder.checkpoint(it, arrays, self._meta(it, evals, finished), side=side,
                                 files=files)

    def restore(self, report):
        arrays, meta = self.recorder.restore(statecodec.array_template, report)
        state = statecodec.from_checkpoint(arrays, meta)
        self.evals = int(meta["evaluations"])
        return state, self._loop_from(meta), meta

    def final(self, state, last_metrics: dict) -> dict:
        out = {}
        if hasattr(self.s, "finalize"):
            def evaluate(genomes: list, phase: int = 0) -> Evaluation:
                # an iteration no search step uses (they stay below 2**31 - 1), as on device
                return self._evaluate(genomes, FINAL_ITERATION, phase)

            out = self.s.finalize(call_rng(self.seed, FINAL), state, evaluate) or {}
            self.recorder.write_files(out)
        # (task.summary reads task metrics of JAX-reported points, which this driver has not)
        return {**self.s.summary(last_metrics), **out.get("summary", {})}

    def close(self) -> None:
        self.host_evaluator.close()
