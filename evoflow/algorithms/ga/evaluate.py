"""`evoflow eval RUN [--episodes N] [--reset-seed K]` for Deep GA runs (the family's `evaluator`):
`best.genome` is decoded and rebuilt from its seed chain under the run's PRNG setting (a genome
from another setting or network, or one failing its checksum, is refused), then replayed, on
observations normalized by the elite's normalizer in `best.json` (Brax), for N
episodes (default: the run's `test_episodes`) from reset seeds K, K+1, ... (default: the run's
test seeds, so the mean equals summary.json's `test/mean_return` bitwise); gym/ runs replay on
the host in the run's `eval_chunk`s, as the run's test did. `--render` also draws episode 0 into
`evals/` (the task's drawing: a GIF, brax's HTML viewer or an SVG) and records its return. The record holds
`mean_return`, `std_return`, `episodes`, `first_reset_seed` and each episode's return.
"""

from __future__ import annotations

from typing import Any

from evoflow.engine.rundir import RunDir, load_npz, read_json
from evoflow.errors import RunStateError, UsageError
from evoflow.evaluate import Plan, check_count, rebuild as _rebuild

from evoflow.algorithms.ga.ga import BEST_FILE, GENOME_FILE, TEST_RESET_SEED

SEED_LIMIT = 2**32  # reset seeds are uint32


def plan(run: RunDir, record: dict, opts: dict[str, Any]) -> dict[str, Any]:
    out = _plan_es(run, record, opts) if record["algo"] == "es" else _plan_ga(run, record, opts)
    return {**out, "render": bool(opts.get("--render", False))}


def _plan_ga(run: RunDir, record: dict, opts: dict[str, Any]) -> dict[str, Any]:
    path = run / GENOME_FILE
    if not path.is_file():
        raise RunStateError(f"{run.path}: no {GENOME_FILE} yet (it is written at the first "
                            f"checkpoint)")
    episodes, first = _episodes(record, opts)
    best = run / BEST_FILE
    if not best.is_file():
        raise RunStateError(f"{run.path}: {GENOME_FILE} without {BEST_FILE}")
    normalizer = read_json(best).get("normalizer")
    return {"episodes": episodes, "first_reset_seed": first, "genome": path.read_bytes(),
            "normalizer": normalizer}


def _episodes(record: dict, opts: dict) -> tuple[int, int]:
    episodes = opts.get("--episodes", record["config"]["test_episodes"])
    check_count("--episodes", episodes)
    first = opts.get("--reset-seed", TEST_RESET_SEED)
    if not 0 <= first <= SEED_LIMIT - episodes:
        raise UsageError(f"--reset-seed {first}: must be in 0..{SEED_LIMIT - episodes:,} "
                         f"(uint32 seeds K..K+episodes-1)")
    return episodes, first


def _plan_es(run: RunDir, record: dict, opts: dict) -> dict[str, Any]:
    from evoflow.algorithms.ga.es import BEST_PARAMS

    path = run / BEST_PARAMS
    if not path.is_file():
        raise RunStateError(f"{run.path}: no {BEST_PARAMS} yet (it is written at the first "
                            f"checkpoint)")
    episodes, first = _episodes(record, opts)
    return {"episodes": episodes, "first_reset_seed": first, "params": load_npz(path)["params"],
            "normalizer": None}


def rollout(plan: Plan) -> dict:
    import jax
    import numpy as np

    from evoflow.algorithms.ga import genome
    from evoflow.algorithms.ga.ga import replay_episodes

    prep, _, run_data = _rebuild(plan)  # sets the run's PRNG flag, as the run did
    task, strategy = prep.task, prep.strategy
    if "params" in plan.args:  # es: the best individual's parameters
        theta = jax.numpy.asarray(plan.args["params"])
        source = "best_params.npz"
    else:
        init = lambda key: task.sample_genotypes(key, 1)[0]  # noqa: E731
        _, theta = genome.rebuild(plan.args["genome"], init, strategy.spec(),
                                  source=str(plan.run / GENOME_FILE))
        source = GENOME_FILE

    if getattr(task, "host_loop", False):  # gymnasium: the episodes the run's test ran
        def evaluate(genotypes, seeds):
            return task.episodes(np.asarray(genotypes, np.float32), np.asarray(seeds))

        evaluate.host = True
    else:
        @jax.jit
        def evaluate(genotypes, key):
            return task.evaluate(run_data, genotypes, key)

    first, n = plan.args["first_reset_seed"], plan.args["episodes"]
    norm = plan.args["normalizer"]
    ev = replay_episodes(evaluate, theta, np.arange(first, first + n, dtype=np.int64),
                       None if norm is None else (norm["mean"], norm["std"]))
    ret = np.asarray(ev["return"], np.float64)
    body = {"policy": source, "episodes": n, "first_reset_seed": first,
            "mean_return": float(ret.mean()), "std_return": float(ret.std()),
            "returns": ret.tolist()}
    if "goal_reached" in ev:
        body["goal_reached"] = np.asarray(ev["goal_reached"]).tolist()
    if plan.args["render"]:
        body.update(_render(task, run_data, theta, first, norm))
    return body


def _render(task, run_data, theta, first: int, norm) -> dict:
    """Episode 0 drawn by the task: {"render": {episode, return}, "_files": {name: bytes}}."""
    import jax
    import numpy as np

    suffix = getattr(task, "render_suffix", None)
    if suffix is None:
        raise UsageError(f"--render: {task.name or 'this env'} does not draw its episodes")
    if getattr(task, "host_loop", False):
        ret, data = task.render_episode(np.asarray(theta), first)
    else:
        ret, data = task.render_episode(run_data, theta, jax.random.key(first),
                                        None if norm is None else (norm["mean"], norm["std"]))
    return {"render": {"episode": 0, "reset_seed": first, "return": ret},
            "_files": {f"episode0.{suffix}": data}}
