"""`optsearch`: regularized evolution over optimizer programs (Chen et al. 2023, §2.2).

A population of P programs, warm-started from `adamw_nobc` (Program 3). Each child's parent is
the best of T programs drawn from the population as it stood when the batch began; the child is
a mutation (`mutation.py`) retried until valid and functionally new; children join in index
order and the oldest program leaves once the population holds P. Restarts (every
`restart_every` trained candidates) reset the population to the start program and to the best so
far, alternately.

Caches (checkpoint state, so a resumed search reuses them): by `program_hash` (HERO: blind to
dead code and renaming) and by `fingerprint` (AutoML-Zero's FEC: equal updates on a fixed
problem). A hit costs no training and no budget: `evaluations` counts trained candidates.

Modes: `evolve`; `hparam_tune` (constants only: the structure never changes); `random` (every
candidate a random program); `adamw_tune` (`optax.adamw` with bias correction and eps, its
learning rate and weight decay rescaled by the same evolution: `adamw.py`). Each generated
candidate, invalid tries included, is one line of the append-only `candidates.jsonl`.

Plain Python over JSON genomes (the engine's `python` driver); training runs on the host
evaluator (the task, `proxy.py`), in-process or on workers, with the engine's per-individual seeds.
"""

from __future__ import annotations

import math

import numpy as np

from evoflow.algorithms.base import PythonAlgorithm
from evoflow.algorithms.optsearch.schema import ADAMW_FILE, CANDIDATES, START
from evoflow.algorithms.optsearch.simplify import PRUNE_TOLERANCE
from evoflow.errors import UsageError

STATUSES = ("ok", "invalid", "cache_hit", "fec_hit", "nonfinite")


def _top(top: list, member: dict, k: int) -> list:
    """The k fittest trained programs, one per program_hash, fittest first (ties: earliest)."""
    if any(m["program_hash"] == member["program_hash"] for m in top):
        return top
    return sorted([*top, member], key=lambda m: (-m["fitness"], m["index"]))[:k]


def _finite(v) -> float | None:
    return float(v) if v is not None and math.isfinite(v) else None


class ProgramSearch(PythonAlgorithm):
    progress_keys = ("best/val_loss",)

    def __init__(self, cfg, task):
        super().__init__(cfg, task)
        p, t = cfg["population"], cfg["tournament"]
        if p < 2:
            raise UsageError(f"--set population={p}: needs at least 2 programs")
        if t > p:
            raise UsageError(f"--set tournament={t}: must be <= population ({p})")

    @property
    def _genome(self):
        """The module over this mode's genomes: parse, program_hash, fingerprint."""
        from evoflow.algorithms.optsearch import adamw, ir

        return adamw if self.cfg["mode"] == "adamw_tune" else ir

    def max_evaluations_per_iteration(self) -> int:
        return self.cfg["batch"]

    # --- state ---------------------------------------------------------------------------------
    def init(self, rng):
        from evoflow.algorithms.optsearch import adamw, ir

        start = adamw.START if self.cfg["mode"] == "adamw_tune" else ir.load(START)
        # the funnel's baseline: the start program at its search-tuned lr (set by tell); for
        # adamw_tune, adamw_nobc at its own default lr (the funnel tunes lr around it)
        baseline = None
        if self.cfg["mode"] == "adamw_tune":
            nobc = ir.load(START)
            baseline = {"index": None, "fitness": None, "program": nobc.to_json(),
                        "program_hash": ir.program_hash(nobc)}
        return {"population": [], "hash_cache": {}, "fec_cache": {}, "pending": [],
                "next_index": 0, "trained": 0, "since_restart": 0, "restarts": 0,
                "counts": {s: 0 for s in STATUSES} | {"redundant": 0},
                "compile_count": 0, "compile_s": 0.0, "start": start.to_json(),
                "best": None, "baseline_val_loss": None, "baseline": baseline, "top": []}

    # --- ask: make the batch -------------------------------------------------------------------
    def ask(self, rng, state):
        g = self._genome
        state = dict(state, counts=dict(state["counts"]))
        pending: list[dict] = []
        pop = state["population"]
        seen_hash = dict(state["hash_cache"])  # hash -> fitness/lr, or the pending index
        seen_fp = dict(state["fec_cache"])
        index = state["next_index"]
        trainees = 0
        want = self.cfg["batch"]
        if self.cfg.get("evaluations") is not None:  # never train past the budget
            want = max(1, min(want, self.cfg["evaluations"] - state["trained"]))
        cap = self.cfg["max_generated"] * want
        while trainees < want and len(pending) < cap:
            if not pop and not state["trained"] and not pending:  # the warm start
                prog, parent, kind, invalid, redundant = (g.parse(state["start"]), None,
                                                          "start", 0, 0)
            elif not pop and self.cfg["mode"] != "random":
                break  # wait for the start program's fitness
            else:
                prog, parent, kind, invalid, redundant = self._child(rng, pop)
            for _ in range(invalid):
                pending.append(self._line(index, parent, kind, None, None, "invalid"))
                index += 1
            state["counts"]["redundant"] = state["counts"]["redundant"] + redundant
            h, fp = g.program_hash(prog), g.fingerprint(prog)
            line = self._line(index, parent, kind, h, fp, None)
            line["program"] = prog.to_json()
            if h in seen_hash:
                line["status"], line["ref"] = "cache_hit", seen_hash[h]
            elif fp in seen_fp:
                line["status"], line["ref"] = "fec_hit", seen_fp[fp]
            else:
                line["status"] = "train"
                seen_hash[h] = seen_fp[fp] = {"pending": index}
                trainees += 1
            pending.append(line)
            index += 1
        state["pending"], state["next_index"] = pending, index
        return [c["program"] for c in pending if c["status"] == "train"], state

    def _child(self, rng, pop):
        from evoflow.algorithms.optsearch import adamw, ir
        from evoflow.algorithms.optsearch.mutation import mutate, random_program

        if self.cfg["mode"] == "random":
            return random_program(rng), None, "random", 0, 0
        t = min(self.cfg["tournament"], len(pop))
        drawn = rng.choice(len(pop), size=t, replace=False)
        parent = pop[max(drawn, key=lambda i: (pop[i]["fitness"], -i))]
        if self.cfg["mode"] == "adamw_tune":
            child = adamw.mutate(adamw.parse(parent["program"]), rng)
            return child, parent["index"], "rescale_constant", 0, 0
        m = mutate(ir.parse(parent["program"]), rng,
                   mode="hparam_tune" if self.cfg["mode"] == "hparam_tune" else "evolve")
        return (m.program, parent["index"], m.kind, m.invalid, m.redundant)

    @staticmethod
    def _line(index, parent, mutation, h, fp, status) -> dict:
        return {"index": index, "parent": parent, "mutation": mutation, "program_hash": h,
                "fingerprint": fp, "status": status, "fitness": None, "lr": None}

    # --- tell: apply the batch in order ----------------------------------------------------------
    def tell(self, rng, genomes, evaluation, state):
        state = dict(state)
        hash_cache, fec_cache = dict(state["hash_cache"]), dict(state["fec_cache"])
        counts = dict(state["counts"])
        pop = list(state["population"])
        fit = np.asarray(evaluation.fitness, np.float64)
        ex = evaluation.extras
        results: dict[int, dict] = {}
        k = 0
        records = []
        for c in state["pending"]:
            c = dict(c)
            if c["status"] == "train":
                f = _finite(fit[k])
                lr = float(ex["lr"][k])
                state["compile_count"] += int(ex["compiled"][k])
                state["compile_s"] += float(ex["compile_s"][k])
                k += 1
                c["status"] = "ok" if f is not None else "nonfinite"
                c["fitness"], c["lr"] = f, (lr if f is not None else None)
                results[c["index"]] = {"fitness": c["fitness"], "lr": c["lr"]}
                hash_cache[c["program_hash"]] = results[c["index"]]
                fec_cache[c["fingerprint"]] = results[c["index"]]
                state["trained"] += 1
                state["since_restart"] += 1
                start_ok = c["mutation"] == "start" and f is not None
                if state["baseline_val_loss"] is None and start_ok:
                    state["baseline_val_loss"] = -f
                if state["baseline"] is None and start_ok:
                    state["baseline"] = {"index": c["index"], "fitness": f,
                                         "program": dict(c["program"], default_lr=lr),
                                         "program_hash": c["program_hash"]}
            elif c["status"] in ("cache_hit", "fec_hit"):
                ref = c.pop("ref")
                res = results[ref["pending"]] if "pending" in ref else ref
                c["fitness"], c["lr"] = res["fitness"], res["lr"]
            counts[c["status"]] += 1
            program = c.pop("program", None)
            if c["status"] != "invalid" and c["fitness"] is not None:
                member = {"index": c["index"], "program": dict(program, default_lr=c["lr"]),
                          "fitness": c["fitness"], "program_hash": c["program_hash"]}
                pop.append(member)
                if len(pop) > self.cfg["population"]:
                    pop.pop(0)
                best = state["best"]
                if best is None or member["fitness"] > best["fitness"]:
                    state["best"] = member
                if c["status"] == "ok":
                    state["top"] = _top(state["top"], member, self.cfg["funnel"])
            records.append(c)
        state.update(population=pop, hash_cache=hash_cache, fec_cache=fec_cache,
                     counts=counts, pending=[])
        every = self.cfg["restart_every"]
        if every and state["since_restart"] >= every and self.cfg["mode"] != "random":
            self._restart(state)
        return state, self._metrics(state), {CANDIDATES: records}

    def _restart(self, state) -> None:
        """Population back to one program: the start program, then the best, alternately."""
        state["restarts"] += 1
        state["since_restart"] = 0
        if state["restarts"] % 2 and state["best"] is not None:
            state["population"] = [state["best"]]
        else:
            g = self._genome
            h = g.program_hash(g.parse(state["start"]))
            start = next((m for m in [state["best"], *state["population"]]
                          if m and m["program_hash"] == h), None)
            state["population"] = [start or state["best"]]

    def _metrics(self, state) -> dict:
        c = state["counts"]
        lines = sum(c[s] for s in STATUSES)
        valid = lines - c["invalid"]
        best = state["best"]
        base = state["baseline_val_loss"]
        return {
            "candidates": lines, "trained": state["trained"],
            "invalid_rate": c["invalid"] / lines if lines else 0.0,
            "cache_hit_rate": (c["cache_hit"] + c["fec_hit"]) / valid if valid else 0.0,
            "fec_hit_rate": c["fec_hit"] / valid if valid else 0.0,
            "nonfinite_rate": c["nonfinite"] / valid if valid else 0.0,
            "redundant_rate": c["redundant"] / (lines + c["redundant"]) if lines else 0.0,
            "restarts": state["restarts"],
            "best/val_loss": -best["fitness"] if best else None,
            "best/index": best["index"] if best else None,
            "baseline/val_loss": base,
            "time/compile_count": state["compile_count"],
            "time/compile_s": state["compile_s"],
        }

    # --- end of run ----------------------------------------------------------------------------
    def summary(self, metrics):
        keys = ("candidates", "invalid_rate", "cache_hit_rate", "fec_hit_rate", "nonfinite_rate",
                "redundant_rate", "time/compile_count", "time/compile_s", "best/val_loss",
                "baseline/val_loss")
        return {k: metrics.get(k) for k in keys}

    def finalize(self, rng, state, evaluate):
        """The funnel (Chen et al. §2.3), then simplification.

        The `funnel` fittest programs and the baseline (the start program at its search-tuned
        lr) retrain at `funnel_size` (each over its lr grid, one training seed shared by all: a
        paired comparison). The best is simplified: exactly (`simplify_exact`: dead code,
        repeated values), then greedily by training (`simplify.deletions` at the search's size,
        the same seed: the deletion costing least is kept while the loss stays within
        PRUNE_TOLERANCE of the exact program's), and the pruned program is kept only if it
        holds that tolerance at `funnel_size` too. `best/beats_baseline`: its funnel loss is
        below the baseline's. `hparam_tune` keeps its structure; `adamw_tune` (a setting, not a
        program) is funnelled but not simplified.
        """
        from evoflow.algorithms.optsearch.simplify import simplify_exact

        best = state["best"]
        if best is None:
            return {"summary": {"best/program_hash": None, "best/beats_baseline": False}}
        is_program = self.cfg["mode"] != "adamw_tune"
        parse = self._genome.parse
        top = state.get("top") or [best]
        if not self.cfg["funnel"] or state.get("baseline") is None:
            raw = parse(best["program"])
            return self._artifacts(raw, simplify_exact(raw) if is_program else raw, best, state,
                                   None)
        size, seed = self.cfg["funnel_size"], int(rng.integers(2**31 - 1))
        state = dict(state)  # the funnel's compiles count in time/compile_*

        def losses(programs, at):
            req = [{"program": p if isinstance(p, dict) else p.to_json(), "seed": seed,
                    **({"size": at} if at else {})} for p in programs]
            ev = evaluate(req)
            state["compile_count"] += int(np.sum(ev.extras["compiled"]))
            state["compile_s"] += float(np.sum(ev.extras["compile_s"]))
            return -np.asarray(ev.fitness, np.float64), np.asarray(ev.extras["lr"], np.float64)

        loss, lrs = losses([m["program"] for m in top] + [state["baseline"]["program"]], size)
        rows = [{"index": m["index"], "program_hash": m["program_hash"],
                 "search_val_loss": None if m["fitness"] is None else -m["fitness"],
                 "funnel_val_loss": _finite(l), "grid_lr": m["program"]["default_lr"],
                 "lr": float(r)}
                for m, l, r in zip([*top, state["baseline"]], loss, lrs)]
        rows[-1]["baseline"] = True
        win = int(np.argmin(loss[:-1]))  # first of equals: the fitter in the search
        raw = parse(dict(top[win]["program"], default_lr=float(lrs[win])))
        final, final_loss = raw, loss[win]
        funnel = {"size": size, "seed": seed, "programs": rows, "winner": top[win]["index"]}
        if is_program:
            exact = simplify_exact(raw)
            final = exact
            pruned, tried = exact, 0
            if self.cfg["mode"] != "hparam_tune":  # that baseline keeps its structure
                pruned, tried = self._prune(exact, lambda ps: losses(ps, None)[0])
            if pruned is not exact:
                pl, plr = losses([pruned], size)
                if np.isfinite(pl[0]) and pl[0] <= loss[win] * (1 + PRUNE_TOLERANCE):
                    final, final_loss = pruned.replace(default_lr=float(plr[0])), pl[0]
            funnel["pruning"] = {"tried": tried, "statements": [len(exact.body),
                                                                len(pruned.body)],
                                 "kept": final is not exact}
        return self._artifacts(raw, final, top[win], state,
                               (funnel, float(final_loss), float(loss[-1])))

    @staticmethod
    def _prune(exact, losses):
        """Greedy deletion: (the pruned program, deletions trained)."""
        from evoflow.algorithms.optsearch.simplify import deletions

        ref = losses([exact])[0]
        pruned, tried = exact, 0
        while True:
            cands = deletions(pruned)
            if not cands:
                return pruned, tried
            cl = losses(cands)
            tried += len(cands)
            j = int(np.argmin(cl))
            if not (np.isfinite(cl[j]) and cl[j] <= ref * (1 + PRUNE_TOLERANCE)):
                return pruned, tried
            pruned = cands[j]

    def _artifacts(self, raw, final, member, state, funnel):
        from evoflow.algorithms.optsearch import adamw, ir

        if funnel is None:  # no funnel: compared at the search's size
            base = state["baseline_val_loss"]
            beats = base is not None and -member["fitness"] < base
            extra = {}
        else:
            doc, final_loss, base_loss = funnel
            beats = bool(np.isfinite(final_loss) and final_loss < base_loss)
            extra = {"funnel/val_loss": _finite(final_loss),
                     "funnel/baseline_val_loss": _finite(base_loss)}
        if isinstance(final, adamw.AdamWSetting):
            out = {"summary": {"best/program_hash": None, "best/statements": None},
                   "json": {ADAMW_FILE: final.to_json()}, "bytes": {}}
        else:
            out = {"summary": {"best/program_hash": ir.program_hash(final),
                               "best/statements": len(final.body)},
                   "json": {"artifacts/best_program.json": final.to_json(),
                            "artifacts/best_program_raw.json": raw.to_json()},
                   "bytes": {"artifacts/best_program.txt": ir.text(final).encode()}}
        out["summary"].update({"best/beats_baseline": bool(beats),
                               "time/compile_count": state["compile_count"],
                               "time/compile_s": state["compile_s"], **extra})
        if funnel is not None:
            out["json"]["artifacts/funnel.json"] = funnel[0]
        return out
