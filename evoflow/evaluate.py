"""`evoflow eval RUN [family options]`: evaluate what a run found and record it under `evals/`.

Each call writes a new `evals/<YYYYmmdd-HHMMSS>-<4 hex>.json` in the run directory (never an
existing one) and returns its path. The options a run takes are its family's (`Family.
eval_options`), and its family's `evaluator` module does the work: `plan(run, record, opts)`
validates and returns the arguments, `rollout(plan)` evaluates and returns the record's body. An
option the family does not take is an error listing the ones it does. As for `run`, all
validation (run directory, options, the family's own checks) finishes before anything is written,
and JAX is not imported until then (`plan` is cheap; `execute` builds the task and evaluates).
"""

from __future__ import annotations

import datetime as _dt
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evoflow.engine.rundir import CONFIG, RunDir, atomic_write_bytes, atomic_write_json, read_json
from evoflow.errors import RunStateError, UsageError

EVAL_SEED = 2**31 - 1  # reset keys of evaluation episodes; fixed, independent of the run's seed
EVALS = "evals"
MAX_EPISODES = 1_000_000  # per policy: more is a typo, not an evaluation (1e6 rollouts ~ days)


@dataclass
class Plan:
    """A validated evaluation: nothing imported from JAX, nothing written yet."""

    run: RunDir
    record: dict  # config.json
    evaluator: Any  # the family's evaluator module: rollout(plan) -> the eval record's body
    args: dict[str, Any] = field(default_factory=dict)  # parsed options and what they need


def read_record(run: RunDir) -> dict:
    """config.json of a run made by `evoflow run`, every field checked (a registered algorithm,
    a known env, each config key declared and well typed)."""
    from evoflow.experiment import read_run_config

    read_run_config(run)
    return run.read_json(CONFIG)


def parse_options(family, tokens: list[str], options=None, command: str = "eval"
                  ) -> dict[str, Any]:
    """`--flag VALUE` / `--flag=VALUE` tokens -> {flag: typed value}, checked against the
    family's declared options (`options`, default its eval options)."""
    by_flag = {o.flag: o for o in (family.eval_options if options is None else options)}
    takes = ", ".join(by_flag) or "none"
    out: dict[str, Any] = {}
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        flag, eq, value = tok.partition("=")
        if flag not in by_flag:
            what = f"an {command} option" if flag.startswith("-") else \
                "an option (expected --flag VALUE)"
            raise UsageError(f"{flag}: not {what} of {family.name} runs; they take {takes}")
        if by_flag[flag].kind == "flag":
            if eq:
                raise UsageError(f"{tok}: {flag} takes no value")
            out[flag] = True
            i += 1
            continue
        if not eq:
            if i + 1 >= len(tokens):
                raise UsageError(f"{flag}: needs a value ({by_flag[flag].metavar})")
            value = tokens[i + 1]
            i += 1
        opt = by_flag[flag]
        if opt.kind in ("int", "float"):
            try:
                value = int(value) if opt.kind == "int" else float(value)
            except ValueError:
                raise UsageError(f"{flag} {value!r}: expected a{'n integer' if opt.kind == 'int' else ' number'} "
                                 f"({opt.metavar})") from None
        out[flag] = value
        i += 1
    return out


def check_count(flag: str, value: int, limit: int = MAX_EPISODES) -> None:
    """Episode-like counts: at least 1, at most `limit`."""
    if not 1 <= value <= limit:
        raise UsageError(f"{flag} {value}: must be in 1..{limit:,}")


def plan(path: Path, opts: dict[str, Any] | list[str]) -> Plan:
    """Validate RUN and the options (typed {flag: value}, or raw CLI tokens); write nothing."""
    from evoflow.algorithms import family_of

    run = RunDir.open(path)
    rec = read_record(run)
    fam = family_of(rec["algo"])
    if isinstance(opts, list):
        opts = parse_options(fam, opts)
    else:
        for flag in opts:
            if flag not in {o.flag for o in fam.eval_options}:
                takes = ", ".join(o.flag for o in fam.eval_options) or "none"
                raise UsageError(f"{flag}: not an eval option of {rec['algo']} runs; family "
                                 f"{fam.name} takes {takes}")
    evaluator = fam.load_evaluator()
    if evaluator is None:
        raise UsageError(f"{run.path}: nothing to evaluate for {rec['algo']} runs (family "
                         f"{fam.name} has no evaluator); see its summary.json")
    return Plan(run, rec, evaluator, evaluator.plan(run, rec, opts))


def execute(plan: Plan, now: _dt.datetime | None = None) -> Path:
    """Roll out and write a new `evals/<YYYYmmdd-HHMMSS>-<4 hex>.json`; return its path."""
    body = plan.evaluator.rollout(plan)
    now = (now or _dt.datetime.now()).astimezone()
    stamp = now.strftime("%Y%m%d-%H%M%S")
    # files beside the record (a rendered episode): {name suffix: bytes}, each written whole
    # under a new name, which the record lists
    for suffix, data in body.pop("_files", {}).items():
        (plan.run / EVALS).mkdir(exist_ok=True)
        name = f"{stamp}-{secrets.token_hex(4)}-{suffix}"
        atomic_write_bytes(plan.run / EVALS / name, data)
        body.setdefault("files", []).append(f"{EVALS}/{name}")
    rec = plan.record
    body.update(run=plan.run.path.name, algo=rec["algo"], env=rec["env"], seed=rec["seed"],
                created=now.isoformat(timespec="seconds"))
    return write_new(plan.run / EVALS, stamp, body)


def headline(path: Path) -> str:
    """One line of a written record's mean over its episodes (DESIGN.md's fields), or ""."""
    body = read_json(path)
    if not isinstance(body.get("mean_return"), (int, float)):
        return ""
    std = body.get("std_return")
    std = f" (std {std:.6g})" if isinstance(std, (int, float)) else ""
    n = body.get("episodes")
    return f"mean_return {body['mean_return']:.6g}{std}" + (f" over {n} episodes" if n else "")


def write_new(folder: Path, stamp: str, obj: Any) -> Path:
    """Write obj to a new `folder/<stamp>-<4 hex>.json`, never replacing a file: the JSON is
    written whole to a temp name, then hard-linked to a name that must not exist yet."""
    folder.mkdir(exist_ok=True)
    tmp = folder / f".pending-{secrets.token_hex(8)}.json"
    atomic_write_json(tmp, obj)
    try:
        while True:
            path = folder / f"{stamp}-{secrets.token_hex(2)}.json"
            try:
                os.link(tmp, path)
                return path
            except FileExistsError:
                continue
    finally:
        tmp.unlink()


def rebuild(plan: "Plan", **overrides):
    """The run's task and algorithm rebuilt from config.json (task keys may be overridden), its
    dtype, and the task's data for run 0 as the engine builds it (key(seed) folded with 0)."""
    import jax
    import jax.numpy as jnp

    from evoflow.experiment import prepare_resolved
    from evoflow.tasks.base import task_data

    rec = plan.record
    cfg = dict(rec["config"])
    cfg.update({k: v for k, v in overrides.items() if k in cfg})
    prep = prepare_resolved(rec["algo"], rec["env"], rec["preset"], rec["seed"], cfg)
    dtype = jnp.float64 if prep.cfg["dtype"] == "float64" else jnp.float32
    run_data = jax.tree_util.tree_map(lambda a: a[0], task_data(prep.task, prep.seed, 1))
    return prep, dtype, run_data
