"""`evoflow eval RUN` for optsearch runs (the family's `evaluator`): the run's result (its
`artifacts/best_program.json`, or for `mode=adamw_tune` its `artifacts/best_adamw.json`) trains at
its `default_lr` (the funnel's tuned lr) on training seeds 1000-1004 of

- `digits_mlp` at the funnel's size (the run's `funnel_size`; its `size` when `funnel=0`), and
- `digits_cnn` (meta-validation: neither the search nor the funnel saw it), at the same lr,

and the test-split loss of each (the 360 test digits, never used by the run) is recorded:
`{"digits_mlp": {"test_loss": [5 floats], "mean": m, "size": "m", "lr": lr}, "digits_cnn": ...}`.
A diverged seed records null and makes the mean null. Seeds are fixed, so two runs' evals are
paired (`benchmarks/optsearch_baselines.py`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from evoflow.engine.rundir import SUMMARY, RunDir, read_json
from evoflow.errors import RunStateError

from evoflow.algorithms.optsearch.schema import ADAMW_FILE

PROGRAM_FILE = "artifacts/best_program.json"
EVAL_SEEDS = tuple(range(1000, 1005))
TASKS = ("digits_mlp", "digits_cnn")


def result_file(record: dict) -> str:
    return ADAMW_FILE if record["config"].get("mode") == "adamw_tune" else PROGRAM_FILE


def plan(run: RunDir, record: dict, opts: dict[str, Any]) -> dict:
    from evoflow.algorithms.optsearch.proxy import parse_genome
    from evoflow.algorithms.optsearch.ir import ProgramError

    if not (run / SUMMARY).is_file():
        raise RunStateError(f"{run.path}: not finished (no {SUMMARY}); `evoflow resume` it, "
                            f"then evaluate")
    name = result_file(record)
    try:
        genome = parse_genome(read_json(run / name))
    except ProgramError as e:
        raise RunStateError(f"{run / name}: {e}") from None
    cfg = record["config"]
    size = cfg["funnel_size"] if cfg.get("funnel") else cfg["size"]
    return {"genome": genome, "file": name, "size": size}


def test_losses(genome, env: str, size: str, cfg: dict, seeds=EVAL_SEEDS) -> np.ndarray:
    """Test loss per seed (inf where training diverged), training at the genome's default_lr."""
    from evoflow.algorithms.optsearch.proxy import ProgramTask

    task = ProgramTask(env, cfg)
    loss, _ = task.executor(size, "test").train(genome, [genome.default_lr],
                                                np.asarray(seeds, np.uint32))
    return loss[0]


def rollout(plan) -> dict:
    import jax

    cfg = dict(plan.record["config"])
    # the run's PRNG setting draws the mini-batches, as in the run (experiment.prepare)
    jax.config.update("jax_threefry_partitionable", cfg["threefry_partitionable"])
    genome, size = plan.args["genome"], plan.args["size"]
    body: dict[str, Any] = {"genome": plan.args["file"], "seeds": list(EVAL_SEEDS)}
    for env in TASKS:
        loss = test_losses(genome, env, size, cfg)
        finite = [float(v) if math.isfinite(v) else None for v in loss]
        body[env] = {"test_loss": finite,
                     "mean": float(np.mean(loss)) if np.all(np.isfinite(loss)) else None,
                     "lr": float(genome.default_lr),
                     **({"size": size} if env == "digits_mlp" else {})}
    return body
