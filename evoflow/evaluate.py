"""`evoflow eval RUN [family options]`: roll out what a run found and record it under `evals/`.

Each call writes a new `evals/<YYYYmmdd-HHMMSS>-<4 hex>.json` in the run directory (never an
existing one) and returns its path. Which options a run takes depends on its algorithm's *family*
(`FAMILY`); `FAMILIES` is the one table of each family's options and evaluator. An option the
family does not take is an error listing the ones it does. As for `run`, all validation (run
directory, options, archive cells, targets) finishes before anything is written, and JAX is not
imported until then (`plan` is cheap; `execute` builds the task and rolls out).

QD (`--policy cell:N | distilled --target X,Y`, `--episodes K`): the task (and algorithm) are
rebuilt from `config.json` exactly as the run built them; the policy is the elite genotype of cell
N from `archive.npz`, or the run's descriptor-conditioned actor (`artifacts/distilled.safetensors`,
DCG-ME / DCRL-ME) fixed at the target descriptor by the algorithm's own `distilled_policies`. K
episodes are rolled out with the task's own JAX `evaluate`; episode e resets from
`fold_in(key(EVAL_SEED), e)` (so its reset does not depend on K); the file records the seed.
`distance` is the mean over episodes of the Euclidean distance from the achieved descriptor to
the target (null for cell:N).
"""

from __future__ import annotations

import datetime as _dt
import os
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from evoflow.engine.rundir import CONFIG, RunDir, atomic_write_json, load_npz
from evoflow.errors import RunStateError, UsageError

# Algorithm -> family. A family shares a run-directory layout and so its eval options.
FAMILY: dict[str, str] = {
    "me": "qd", "pga_me": "qd", "dcg_me": "qd", "dcrl_me": "qd",
    "cbo": "cbo", "cbo_memory": "cbo", "consensus_hopping": "cbo",
}

EVAL_SEED = 2**31 - 1  # reset keys of evaluation episodes; fixed, independent of the run's seed
ARCHIVE = "archive.npz"
DISTILLED = "artifacts/distilled.safetensors"
EVALS = "evals"


@dataclass
class Plan:
    """A validated evaluation: nothing imported from JAX, nothing written yet."""

    run: RunDir
    record: dict  # config.json
    rollout: Callable[["Plan"], dict]  # the family's rollout: returns the eval record's body
    args: dict[str, Any] = field(default_factory=dict)  # parsed options and what they need


# --- QD --------------------------------------------------------------------------------------
def flat_genotypes(arrays: dict[str, np.ndarray], source: str = ARCHIVE) -> np.ndarray:
    """Flat genotypes (C, P) from archive.npz's `params/<leaf>` arrays: the inverse of
    `Layout.leaves` (`layer_i/kernel` (C, a, b) then `layer_i/bias` (C, b), for i = 0, 1, ...); a
    task without named leaves stores `params/genotype` (C, P) as is. `source` names the file in
    errors."""
    if "params/genotype" in arrays:
        return np.asarray(arrays["params/genotype"])
    parts, i = [], 0
    while f"params/layer_{i}/kernel" in arrays:
        kernel, bias = arrays[f"params/layer_{i}/kernel"], arrays.get(f"params/layer_{i}/bias")
        if bias is None:
            raise RunStateError(f"{source}: layer_{i}/kernel without layer_{i}/bias")
        parts += [kernel.reshape(kernel.shape[0], -1), bias]
        i += 1
    if not parts:
        raise RunStateError(f"{source}: no layer_0/kernel or genotype arrays (policy parameters)")
    return np.concatenate(parts, axis=1)


_CELL = re.compile(r"cell:(-?\d+)")


def _parse_policy(text: str) -> tuple[str, int | None]:
    if text == "distilled":
        return "distilled", None
    m = _CELL.fullmatch(text)
    if not m:
        raise UsageError(f"--policy {text!r}: expected cell:N (the elite of archive cell N) or "
                         f"distilled (with --target X,Y)")
    return "cell", int(m.group(1))


def _parse_target(text: str, low: np.ndarray, high: np.ndarray, names) -> np.ndarray:
    d = len(low)
    axes = ", ".join(names) if len(names) == d else f"{d} numbers"
    try:
        target = np.array([float(v) for v in text.split(",")])
    except ValueError:
        raise UsageError(f"--target {text!r}: expected {d} comma-separated numbers ({axes})") \
            from None
    if len(target) != d:
        raise UsageError(f"--target {text!r}: {len(target)} values, but the descriptor has {d} "
                         f"dimensions ({axes})")
    for i in range(d):
        if not (low[i] <= target[i] <= high[i]):  # also rejects nan
            name = names[i] if len(names) == d else f"dimension {i}"
            raise UsageError(f"--target {text!r}: {name}={target[i]:g} is outside the descriptor "
                             f"box [{low[i]:g}, {high[i]:g}]")
    return target


def _plan_qd(run: RunDir, opts: dict[str, Any]) -> dict[str, Any]:
    policy = opts.get("--policy")
    if policy is None:
        raise UsageError("--policy is required: cell:N (the elite of archive cell N) or "
                         "distilled --target X,Y")
    episodes = opts.get("--episodes", 1)
    if episodes < 1:
        raise UsageError(f"--episodes {episodes}: must be >= 1")
    kind, cell = _parse_policy(policy)
    target = opts.get("--target")
    if kind == "cell" and target is not None:
        raise UsageError(f"--target {target}: only with --policy distilled (cell:N evaluates "
                         f"that cell's elite)")
    if kind == "distilled" and target is None:
        raise UsageError("--policy distilled needs --target X,Y (a descriptor to reach)")
    if not (run / ARCHIVE).is_file():
        raise RunStateError(f"{run / ARCHIVE}: missing; the run has not written its archive yet "
                            f"(it is written at each checkpoint)")
    arrays = load_npz(run / ARCHIVE)
    fitness = arrays["fitness"]
    if kind == "cell":
        n = len(fitness)
        if not 0 <= cell < n:
            raise UsageError(f"--policy cell:{cell}: out of range; this archive has cells "
                             f"0..{n - 1}")
        if not np.isfinite(fitness[cell]):
            filled = np.flatnonzero(np.isfinite(fitness))
            some = ", ".join(map(str, filled[:10])) + (", ..." if len(filled) > 10 else "")
            raise UsageError(f"--policy cell:{cell}: the cell is empty (no elite); filled cells "
                             f"({len(filled)} of {n}): {some or 'none'}")
        return {"policy": policy, "cell": cell, "target": None, "episodes": episodes,
                "genotype": flat_genotypes(arrays, str(run / ARCHIVE))[cell]}
    low, high = arrays["descriptor_low"], arrays["descriptor_high"]
    names = [str(s) for s in arrays.get("descriptor_names", ())]
    point = _parse_target(target, low, high, names)
    if not (run / DISTILLED).is_file():
        raise UsageError(f"--policy distilled: this run has no distilled policy "
                         f"({run / DISTILLED} is missing)")
    from safetensors.numpy import load_file  # tensors only: loading runs no code

    try:
        leaves = load_file(run / DISTILLED)
    except Exception as e:  # truncated or foreign file
        raise RunStateError(f"{run / DISTILLED}: unreadable ({type(e).__name__}: {e})") from None
    actor = flat_genotypes({f"params/{k}": v[None] for k, v in leaves.items()},
                           str(run / DISTILLED))[0]
    return {"policy": policy, "cell": None, "target": point, "episodes": episodes,
            "actor": actor}


def _rollout_qd(plan: Plan) -> dict:
    import jax
    import jax.numpy as jnp

    from evoflow.experiment import prepare_resolved
    from evoflow.tasks.base import as_evaluation, sanitize

    rec, a = plan.record, plan.args
    prep = prepare_resolved(rec["algo"], rec["env"], rec["preset"], rec["seed"],
                             dict(rec["config"]))
    task = prep.task
    dtype = jnp.float64 if prep.cfg["dtype"] == "float64" else jnp.float32
    if a["target"] is None:
        source, genotype = ARCHIVE, np.asarray(a["genotype"])
    else:  # the plain policy equal to the descriptor-conditioned actor at the target
        source, strat = DISTILLED, prep.strategy
        n = getattr(getattr(strat, "actor_layout", None), "n_params", None)
        if not hasattr(strat, "distilled_policies") or n != a["actor"].size:
            raise RunStateError(f"{plan.run / DISTILLED}: {a['actor'].size} values, not the "
                                f"descriptor-conditioned actor of this {rec['algo']} run")
        genotype = np.asarray(strat.distilled_policies(jnp.asarray(a["actor"], dtype),
                                                   jnp.asarray(a["target"], dtype)[None])[0])
    if genotype.shape != (task.dim,):
        raise RunStateError(f"{plan.run / source}: a policy of {genotype.shape[-1]} values, but "
                            f"the run's task takes {task.dim}")
    genotype = jnp.asarray(genotype, dtype)
    # The run's data for run 0, as the engine builds it (key(seed) folded with 0, then run 0).
    run_data = task.setup(jax.random.fold_in(jax.random.key(prep.seed), 0), jnp.int32(0))
    keys = jax.vmap(jax.random.fold_in, (None, 0))(jax.random.key(EVAL_SEED),
                                                   jnp.arange(a["episodes"]))

    def episode(key):  # only fitness and descriptor leave the jit (extras are dropped unbuilt)
        ev = sanitize(as_evaluation(task.evaluate(run_data, genotype[None], key)))
        return ev.fitness, ev.descriptor

    fitness, descriptor = jax.jit(jax.vmap(episode))(keys)
    fitnesses = np.asarray(fitness, np.float64).reshape(a["episodes"])
    descriptors = np.asarray(descriptor, np.float64).reshape(a["episodes"], -1)
    distances = None if a["target"] is None else np.linalg.norm(descriptors - a["target"], axis=1)
    return {"policy": a["policy"], "target": a["target"],
            "descriptor": descriptors.mean(axis=0), "fitness": fitnesses.mean(),
            "distance": None if distances is None else distances.mean(), "cell": a["cell"],
            "episodes": a["episodes"], "descriptors": descriptors, "fitnesses": fitnesses,
            "distances": distances, "eval_seed": EVAL_SEED}


# --- the table -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Family:
    options: tuple[str, ...]  # the `evoflow eval` options this family takes
    plan: Callable[[RunDir, dict[str, Any]], dict[str, Any]] | None  # None: nothing to eval yet
    rollout: Callable[[Plan], dict] | None = None


FAMILIES: dict[str, Family] = {
    "qd": Family(("--policy", "--target", "--episodes"), _plan_qd, _rollout_qd),
    "cbo": Family((), None),
}


def plan(path: Path, opts: dict[str, Any]) -> Plan:
    """Validate RUN and the given options (name -> value, only those given); write nothing."""
    run = RunDir.open(path)
    rec = run.read_json(CONFIG)
    if not isinstance(rec, dict) or any(k not in rec for k in ("algo", "env", "preset", "seed",
                                                               "config")):
        raise RunStateError(f"{run / CONFIG}: not written by evoflow run")
    algo = rec["algo"]
    if algo not in FAMILY:
        raise RunStateError(f"{run.path}: algorithm {algo!r} has no evaluations in this evoflow")
    name = FAMILY[algo]
    fam = FAMILIES[name]
    for opt in opts:
        if opt not in fam.options:
            takes = ", ".join(fam.options) if fam.options else "none yet"
            raise UsageError(f"{opt}: not an eval option of {algo} runs; family {name} takes "
                             f"{takes}")
    if fam.plan is None:
        raise UsageError(f"{run.path}: nothing to evaluate for {algo} runs yet (family {name} "
                         f"takes no eval options); see its summary.json")
    return Plan(run, rec, fam.rollout, fam.plan(run, opts))


def execute(plan: Plan, now: _dt.datetime | None = None) -> Path:
    """Roll out and write a new `evals/<YYYYmmdd-HHMMSS>-<4 hex>.json`; return its path."""
    body = plan.rollout(plan)
    now = (now or _dt.datetime.now()).astimezone()
    rec = plan.record
    body.update(run=plan.run.path.name, algo=rec["algo"], env=rec["env"], seed=rec["seed"],
                created=now.isoformat(timespec="seconds"))
    return write_new(plan.run / EVALS, now.strftime("%Y%m%d-%H%M%S"), body)


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
