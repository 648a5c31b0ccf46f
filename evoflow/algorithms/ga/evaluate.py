"""`evoflow eval RUN [--episodes N] [--reset-seed K]` for Deep GA runs (the family's `evaluator`):
`best.genome` is decoded and rebuilt from its seed chain under the run's PRNG setting (a genome
from another setting or network, or one failing its checksum, is refused), then replayed for N
episodes (default: the run's `test_episodes`) from reset seeds K, K+1, ... (default: the run's
test seeds, so the mean equals summary.json's `test/mean_return` bitwise). The record holds
`mean_return`, `std_return`, `episodes`, `first_reset_seed` and each episode's return.
"""

from __future__ import annotations

from typing import Any

from evoflow.engine.rundir import RunDir
from evoflow.errors import RunStateError, UsageError
from evoflow.evaluate import Plan, check_count, rebuild as _rebuild

from evoflow.algorithms.ga.ga import GENOME_FILE, TEST_RESET_SEED

SEED_LIMIT = 2**32  # reset seeds are uint32


def plan(run: RunDir, record: dict, opts: dict[str, Any]) -> dict[str, Any]:
    path = run / GENOME_FILE
    if not path.is_file():
        raise RunStateError(f"{run.path}: no {GENOME_FILE} yet (it is written at the first "
                            f"checkpoint)")
    episodes = opts.get("--episodes", record["config"]["test_episodes"])
    check_count("--episodes", episodes)
    first = opts.get("--reset-seed", TEST_RESET_SEED)
    if not 0 <= first <= SEED_LIMIT - episodes:
        raise UsageError(f"--reset-seed {first}: must be in 0..{SEED_LIMIT - episodes:,} "
                         f"(uint32 seeds K..K+episodes-1)")
    return {"episodes": episodes, "first_reset_seed": first, "genome": path.read_bytes()}


def rollout(plan: Plan) -> dict:
    import jax
    import numpy as np

    from evoflow.algorithms.ga import genome
    from evoflow.algorithms.ga.ga import test_episodes

    prep, _, run_data = _rebuild(plan)  # sets the run's PRNG flag, as the run did
    task, strategy = prep.task, prep.strategy
    init = lambda key: task.sample_genotypes(key, 1)[0]  # noqa: E731
    _, theta = genome.rebuild(plan.args["genome"], init, strategy.spec(),
                              source=str(plan.run / GENOME_FILE))

    @jax.jit
    def evaluate(genotypes, key):
        return task.evaluate(run_data, genotypes, key)

    first, n = plan.args["first_reset_seed"], plan.args["episodes"]
    ev = test_episodes(evaluate, theta, np.arange(first, first + n, dtype=np.int64))
    ret = np.asarray(ev["return"], np.float64)
    body = {"genome": GENOME_FILE, "episodes": n, "first_reset_seed": first,
            "mean_return": float(ret.mean()), "std_return": float(ret.std()),
            "returns": ret.tolist()}
    if "goal_reached" in ev:
        body["goal_reached"] = np.asarray(ev["goal_reached"]).tolist()
    return body
