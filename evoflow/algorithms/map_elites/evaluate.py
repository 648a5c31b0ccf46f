"""`evoflow eval` for MAP-Elites runs (the family's `evaluator`): `plan(run, record, opts)`
validates the options against the run's files and writes nothing; `rollout(plan)` rolls out.

QD (`--policy cell:N | distilled --target X,Y`, `--episodes K`): the task (and algorithm) are
rebuilt from `config.json` exactly as the run built them; the policy is the elite genotype of cell
N from `archive.npz`, or the run's descriptor-conditioned actor (`artifacts/distilled.safetensors`,
DCG-ME / DCRL-ME) fixed at the target descriptor by the algorithm's own `distilled_policies`. K
episodes are rolled out with the task's own JAX `evaluate`; episode e resets from
`fold_in(key(EVAL_SEED), e)` (so its reset does not depend on K); the file records the seed.
`distance` is the mean over episodes of the Euclidean distance from the achieved descriptor to
the target (null for cell:N).

QD `--reproducibility K` (the DCRL-ME reproducibility study): every elite, and the distilled
policy (when the run has one) conditioned on each filled cell's centroid, rolled out K times
under stochastic resets (episode e of cell c resets from `fold_in(fold_in(key(EVAL_SEED), e),
c)`). Per policy set: `expected_qd_score` = sum over cells of the mean fitness,
`expected_distance` = mean over cells of the mean ||achieved descriptor - centroid||,
`expected_max_fitness` = the largest mean fitness.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from evoflow.algorithms.map_elites import FAMILY
from evoflow.engine.rundir import CONFIG, RunDir, load_npz
from evoflow.errors import RunStateError, UsageError
from evoflow.evaluate import EVAL_SEED, Plan, check_count, rebuild as _rebuild
from evoflow.nets import from_leaves

ARCHIVE = "archive.npz"
DISTILLED = "artifacts/distilled.safetensors"
EPISODE_CHUNK = 64  # episodes of one policy per compiled call when K > 64


def flat_genotypes(arrays: dict[str, np.ndarray], source: str = ARCHIVE) -> np.ndarray:
    """Flat genotypes (C, P) from archive.npz's `params/<leaf>` arrays: `nets.from_leaves`, the
    inverse of `Layout.leaves`; a task without named leaves stores `params/genotype` (C, P) as
    is. `source` names the file in errors."""
    if "params/genotype" in arrays:
        return np.asarray(arrays["params/genotype"])
    leaves = {k[len("params/"):]: v for k, v in arrays.items() if k.startswith("params/")}
    try:
        return np.asarray(from_leaves(leaves))
    except ValueError as e:
        raise RunStateError(f"{source}: {e}") from None


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


def _load_archive(run: RunDir) -> dict[str, np.ndarray]:
    if not (run / ARCHIVE).is_file():
        raise RunStateError(f"{run / ARCHIVE}: missing; the run has not written its archive yet "
                            f"(it is written at each checkpoint)")
    return load_npz(run / ARCHIVE)


def _load_actor(run: RunDir) -> np.ndarray:
    from safetensors.numpy import load_file  # tensors only: loading runs no code

    try:
        leaves = load_file(run / DISTILLED)
    except Exception as e:  # truncated or foreign file
        raise RunStateError(f"{run / DISTILLED}: unreadable ({type(e).__name__}: {e})") from None
    return flat_genotypes({f"params/{k}": v[None] for k, v in leaves.items()},
                          str(run / DISTILLED))[0]


def _plan_reproducibility(run: RunDir, opts: dict[str, Any]) -> dict[str, Any]:
    k = opts["--reproducibility"]
    others = [o for o in ("--policy", "--target", "--episodes") if o in opts]
    if others:
        raise UsageError(f"--reproducibility {k}: evaluates every elite (and the distilled "
                         f"policy); drop {', '.join(others)}")
    check_count("--reproducibility", k)
    arrays = _load_archive(run)
    filled = np.flatnonzero(np.isfinite(arrays["fitness"]))
    if len(filled) == 0:
        raise UsageError(f"{run / ARCHIVE}: the archive is empty; nothing to evaluate")
    actor = _load_actor(run) if (run / DISTILLED).is_file() else None
    return {"policy": "reproducibility", "episodes": k, "cells": filled,
            "genotypes": flat_genotypes(arrays, str(run / ARCHIVE))[filled],
            "centroids": np.asarray(arrays["centroid"])[filled], "actor": actor}


def _plan_qd(run: RunDir, opts: dict[str, Any]) -> dict[str, Any]:
    if "--reproducibility" in opts:
        return _plan_reproducibility(run, opts)
    policy = opts.get("--policy")
    if policy is None:
        raise UsageError("--policy is required: cell:N (the elite of archive cell N) or "
                         "distilled --target X,Y")
    episodes = opts.get("--episodes", 1)
    check_count("--episodes", episodes)
    kind, cell = _parse_policy(policy)
    target = opts.get("--target")
    if kind == "cell" and target is not None:
        raise UsageError(f"--target {target}: only with --policy distilled (cell:N evaluates "
                         f"that cell's elite)")
    if kind == "distilled" and target is None:
        raise UsageError("--policy distilled needs --target X,Y (a descriptor to reach)")
    arrays = _load_archive(run)
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
    actor = _load_actor(run)
    return {"policy": policy, "cell": None, "target": point, "episodes": episodes,
            "actor": actor}


def _distilled(plan: Plan, prep, actor, targets, dtype):
    """Plain policies (n, P) equal to the run's descriptor-conditioned actor at `targets`."""
    import jax.numpy as jnp

    strat = prep.strategy
    n = getattr(getattr(strat, "actor_layout", None), "n_params", None)
    if not hasattr(strat, "distilled_policies") or n != actor.size:
        raise RunStateError(f"{plan.run / DISTILLED}: {actor.size} values, not the "
                            f"descriptor-conditioned actor of this {plan.record['algo']} run")
    return strat.distilled_policies(jnp.asarray(actor, dtype), jnp.asarray(targets, dtype))


def _check_dim(plan: Plan, source: str, genotypes, dim: int) -> None:
    if genotypes.shape[-1] != dim:
        raise RunStateError(f"{plan.run / source}: a policy of {genotypes.shape[-1]} values, but "
                            f"the run's task takes {dim}")


def _rollout_qd(plan: Plan) -> dict:
    if plan.args["policy"] == "reproducibility":
        return _rollout_reproducibility(plan)
    import jax
    import jax.numpy as jnp

    from evoflow.tasks.base import as_evaluation, sanitize

    a = plan.args
    prep, dtype, run_data = _rebuild(plan)
    task = prep.task
    if a["target"] is None:
        source, genotype = ARCHIVE, jnp.asarray(a["genotype"], dtype)
    else:  # the plain policy equal to the descriptor-conditioned actor at the target
        source = DISTILLED
        genotype = _distilled(plan, prep, a["actor"], np.asarray(a["target"])[None], dtype)[0]
    _check_dim(plan, source, genotype, task.dim)
    k = a["episodes"]

    @jax.jit
    def episodes(ids):  # only fitness and descriptor leave the jit (extras are dropped unbuilt)
        def episode(e):
            key = jax.random.fold_in(jax.random.key(EVAL_SEED), e)
            ev = sanitize(as_evaluation(task.evaluate(run_data, genotype[None], key)))
            return ev.fitness, ev.descriptor
        return jax.vmap(episode)(ids)

    # All K episodes in one call up to EPISODE_CHUNK; more run in chunks of it (memory bounded).
    chunk = k if k <= EPISODE_CHUNK else EPISODE_CHUNK
    fit, desc = [], []
    for lo in range(0, k, chunk):
        ids = np.minimum(np.arange(lo, lo + chunk), k - 1)  # the last chunk padded
        f, d = episodes(jnp.asarray(ids))
        fit.append(np.asarray(f, np.float64).reshape(chunk))
        desc.append(np.asarray(d, np.float64).reshape(chunk, -1))
    fitnesses = np.concatenate(fit)[:k]
    descriptors = np.concatenate(desc)[:k]
    distances = None if a["target"] is None else np.linalg.norm(descriptors - a["target"], axis=1)
    return {"policy": a["policy"], "target": a["target"],
            "descriptor": descriptors.mean(axis=0), "fitness": fitnesses.mean(),
            "distance": None if distances is None else distances.mean(), "cell": a["cell"],
            "episodes": a["episodes"], "descriptors": descriptors, "fitnesses": fitnesses,
            "distances": distances, "eval_seed": EVAL_SEED}


REPRO_CHUNK = 64  # policies per compiled call (fixed: one compile, memory bounded)



def _expected(fitness: np.ndarray, distance: np.ndarray, cells: np.ndarray) -> dict:
    """fitness, distance (cells, K) -> the reproducibility study's expectations per policy set."""
    f, d = fitness.mean(axis=1), distance.mean(axis=1)
    return {"expected_qd_score": float(f.sum()), "expected_distance": float(d.mean()),
            "expected_max_fitness": float(f.max()), "cells": cells, "fitness": f,
            "distance": d}


def _rollout_reproducibility(plan: Plan) -> dict:
    import jax
    import jax.numpy as jnp

    from evoflow.tasks.base import as_evaluation, sanitize

    a = plan.args
    prep, dtype, run_data = _rebuild(plan, resets="stochastic")
    task, k, cells = prep.task, a["episodes"], a["cells"]
    base = jax.random.key(EVAL_SEED)

    @jax.jit
    def chunk(genotypes, ids, e):  # (REPRO_CHUNK, P), (REPRO_CHUNK,) cell ids, episode
        def one(g, c):
            key = jax.random.fold_in(jax.random.fold_in(base, e), c)
            ev = sanitize(as_evaluation(task.evaluate(run_data, g[None], key)))
            return ev.fitness[0], ev.descriptor[0]
        return jax.vmap(one)(genotypes, ids)

    def rollouts(genotypes):
        """(cells, K) fitness and (cells, K) distance to the cells' centroids."""
        n = len(cells)
        pad = -n % REPRO_CHUNK
        g = jnp.concatenate([jnp.asarray(genotypes, dtype),
                             jnp.zeros((pad, task.dim), dtype)])
        ids = np.concatenate([cells, np.zeros(pad, cells.dtype)])
        fit, dist = np.zeros((n, k)), np.zeros((n, k))
        for e in range(k):
            for lo in range(0, n + pad, REPRO_CHUNK):
                f, d = chunk(g[lo:lo + REPRO_CHUNK], jnp.asarray(ids[lo:lo + REPRO_CHUNK]), e)
                hi = min(lo + REPRO_CHUNK, n)
                if hi > lo:
                    fit[lo:hi, e] = np.asarray(f, np.float64)[:hi - lo]
                    dist[lo:hi, e] = np.linalg.norm(np.asarray(d, np.float64)[:hi - lo]
                                                    - a["centroids"][lo:hi], axis=1)
        return fit, dist

    _check_dim(plan, ARCHIVE, a["genotypes"], task.dim)
    elites = _expected(*rollouts(a["genotypes"]), cells)
    distilled = None
    if a["actor"] is not None:
        policies = _distilled(plan, prep, a["actor"], a["centroids"], dtype)
        distilled = _expected(*rollouts(policies), cells)
    return {"policy": "reproducibility", "target": None, "descriptor": None, "fitness": None,
            "distance": None, "episodes": k, "resets": "stochastic",
            **{key: elites[key] for key in ("expected_qd_score", "expected_distance",
                                            "expected_max_fitness")},
            "elites": elites, "distilled": distilled, "eval_seed": EVAL_SEED}


# --- the table -------------------------------------------------------------------------------


def plan(run: RunDir, record: dict, opts: dict[str, Any]) -> dict[str, Any]:
    """Validate the options against the run's files; the arguments `rollout` needs."""
    return _plan_qd(run, opts)


def rollout(plan: Plan) -> dict:
    return _rollout_qd(plan)
