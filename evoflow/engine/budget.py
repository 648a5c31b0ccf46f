"""Budgets: the first reached stops the run (DESIGN.md "CLI and config").

Shared keys: `iterations`, `evaluations` (summed over runs and individuals), `env_steps` (for
tasks with episodes: evaluations x the task's steps per evaluation; a task whose episodes end
early and that reports its steps, `counts_env_steps = True`, is counted by the cumulative metric
`env_steps` its algorithm reports, with steps per evaluation as the bound) and `wall_s`; a family may
declare its own keys (`registry.BudgetKey(key, help, metric)`), each counted by the algorithm as
a cumulative metric and enforced here. A run's chunks (host syncs) end at checkpoint boundaries,
at each 10% of the budget and where a budget could be reached; `done` names the key that
stopped the run. `resume --more N` adds N to the run's budget key (`Budget.key`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from evoflow.errors import UsageError


def env_steps_per_evaluation(task) -> int | None:
    """Environment steps one evaluation costs: the task's `env_steps_per_evaluation` if it
    reports one, else its episode length `T` (policy tasks); None for tasks without episodes."""
    n = getattr(task, "env_steps_per_evaluation", None)
    if n is None and "policy" in getattr(task, "kinds", ()):
        n = getattr(task, "T", None)
    return int(n) if n else None


@dataclass
class Counter:
    """A budget counted in units other than iterations: its limit and how it advances."""

    key: str
    limit: int
    metric: str | None = None  # family key: the cumulative metric that counts it
    per_evaluation: int = 0  # env_steps: units per evaluation
    value: float = 0

    def rate(self, max_evals: int) -> int | None:
        """Most units one iteration can add (None: unknown, check after every iteration)."""
        return self.per_evaluation * max_evals if self.per_evaluation else None


@dataclass
class Budget:
    iterations: int | None = None
    evaluations: int | None = None
    wall_s: float | None = None
    counters: list[Counter] = field(default_factory=list)  # env_steps, then family keys

    @classmethod
    def from_config(cls, cfg: dict, task=None, family_keys=()) -> "Budget":
        counters = []
        if cfg.get("env_steps") is not None:
            counters.append(Counter("env_steps", cfg["env_steps"],
                                    metric="env_steps" if getattr(task, "counts_env_steps",
                                                                  False) else None,
                                    per_evaluation=env_steps_per_evaluation(task) or 1))
        for b in family_keys:
            if cfg.get(b.key) is not None:
                counters.append(Counter(b.key, cfg[b.key], metric=b.metric))
        return cls(cfg.get("iterations"), cfg.get("evaluations"), cfg.get("wall_s"), counters)

    def key(self) -> str:
        """The run's budget key (what `--more N` extends)."""
        if self.iterations is not None:
            return "iterations"
        if self.evaluations is not None:
            return "evaluations"
        if self.counters:
            return self.counters[0].key
        return "wall_s"

    # --- counting ---------------------------------------------------------------------------
    def count(self, evals: int, metrics: dict) -> None:
        """Update the counters from the cumulative evaluations and a block's metrics."""
        for c in self.counters:
            if c.metric is not None and c.metric in metrics:
                c.value = metrics[c.metric]
            elif c.per_evaluation:
                c.value = evals * c.per_evaluation

    def values(self) -> dict:
        return {c.key: c.value for c in self.counters}

    def restore(self, values: dict) -> None:
        for c in self.counters:
            if c.key in values:
                c.value = values[c.key]

    # --- chunks and stops -------------------------------------------------------------------
    def chunk_end(self, it: int, evals: int, checkpoint_every: int, max_evals: int) -> int:
        """The end of the next chunk from iteration `it` (exclusive)."""
        end = (it // checkpoint_every + 1) * checkpoint_every
        if self.iterations is not None:
            end = min(end, _next_stop(it, self.iterations, 1, it))
        if self.evaluations is not None:
            end = min(end, _next_stop(evals, self.evaluations, max_evals, it))
        for c in self.counters:
            r = c.rate(max_evals)
            end = min(end, it + 1 if r is None else _next_stop(c.value, c.limit, r, it))
        return max(end, it + 1)

    def done(self, it: int, evals: int, active: int, wall: float) -> str | None:
        if self.iterations is not None and it >= self.iterations:
            return "iterations"
        if self.evaluations is not None and evals >= self.evaluations:
            return "evaluations"
        for c in self.counters:
            if c.value >= c.limit:
                return c.key
        if self.wall_s is not None and wall >= self.wall_s:
            return "wall_s"
        if active == 0:
            return "all runs stopped"
        return None

    def progress_total(self) -> tuple[float, str]:
        if self.iterations is not None:
            return self.iterations, "iterations"
        if self.evaluations is not None:
            return self.evaluations, "evaluations"
        if self.counters:
            return self.counters[0].limit, self.counters[0].key
        return self.wall_s, "seconds"

    def progress_done(self, unit: str, it: int, evals: int, wall: float) -> float:
        if unit == "iterations":
            return it
        if unit == "evaluations":
            return evals
        if unit == "seconds":
            return wall
        return self.values()[unit]


def _next_stop(value: float, limit: float, rate: int, it: int) -> int:
    """The iteration at which a counter at `value`, rising by at most `rate` per iteration,
    may reach its next 10% boundary or its limit."""
    tenth = next((t for t in (math.ceil(limit * j / 10) for j in range(1, 11)) if t > value),
                 limit)
    return min(it + max(1, math.ceil((tenth - value) / rate)),
               it + max(1, math.ceil((limit - value) / rate)))


def budget_key_of(cfg: dict, family_keys=()) -> str:
    """The budget key a config uses: the first set of iterations, evaluations, env_steps,
    the family's keys, wall_s."""
    order = ("iterations", "evaluations", "env_steps", *(getattr(b, "key", b) for b in family_keys),
             "wall_s")
    for k in order:
        if cfg.get(k) is not None:
            return k
    raise AssertionError("no budget")


def check_budget(cfg: dict, task, family_keys=()) -> None:
    keys = ("iterations", "evaluations", "wall_s", "env_steps", *(b.key for b in family_keys))
    if all(cfg.get(k) is None for k in keys):
        raise UsageError(f"no budget: set one of {', '.join(keys)} (e.g. --set iterations=1000)")
    if cfg.get("env_steps") is not None and env_steps_per_evaluation(task) is None:
        raise UsageError(f"--set env_steps={cfg['env_steps']}: {task.name} has no environment "
                         f"steps; use iterations, evaluations or wall_s")
