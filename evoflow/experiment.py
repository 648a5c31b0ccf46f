"""From a command line to a running engine: resolve the config, validate everything, then create.

Config resolves declared defaults -> env preset (`envs/<env>.json`) -> `--set`. All validation
(names, keys, types, ranges, env/algorithm fit, `--out` writable) finishes before anything is
created, so bad input creates and overwrites nothing.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Callable

from evoflow.algorithms import algorithm, algorithms
from evoflow.config import ENGINE_SCHEMA, Param, closest, resolve
from evoflow.errors import RunStateError, UsageError
from evoflow.tasks import BRAX_LOCOMOTION, QD_ALIASES, TASKS



def env_presets(env: str) -> dict[str, dict[str, dict]]:
    try:
        text = resources.files("evoflow.envs").joinpath(f"{env}.json").read_text()
    except FileNotFoundError:
        return {}
    return json.loads(text)


def algo_presets(algo: str, env: str) -> dict[str, dict]:
    """The presets of `algo` on `env`: envs/<env>.json's (an algorithm may share another's, e.g.
    cbo_memory), then those its family ships (`Algorithm.presets`)."""
    from evoflow.algorithms.registry import load_ref

    spec = algorithm(algo)
    presets = dict(env_presets(env).get(spec.presets_of or algo, {}))
    if spec.presets:
        table = load_ref(spec.presets)
        # a family's presets for a namespace of envs ("gym/ALE/*", "gym/*") apply where none is
        # named; the longest namespace wins
        names = [env] + ["/".join(env.split("/")[:i]) + "/*" for i in
                         range(env.count("/"), 0, -1)]
        presets.update(next((table[n] for n in names if n in table), {}))
    return presets


def accepted_envs(algo: str) -> list[str]:
    accepts = set(algorithm(algo).accepts)
    return [env for env, entry in TASKS.items() if set(entry.kinds) & accepts]


def aliases(algo: str) -> dict[str, str]:
    """Env aliases an algorithm accepts: for QD algorithms `ant` means `ant_omni`, ..."""
    return QD_ALIASES if "descriptor" in algorithm(algo).accepts else {}


def resolve_env(algo: str, env: str) -> tuple[str, str | None]:
    """(resolved env, the alias the user gave or None)."""
    if algo in algorithms() and env in aliases(algo):
        return aliases(algo)[env], env
    return env, None


# Brax locomotion robots: single-objective envs by these names; for QD algorithms the four in
# QD_ALIASES mean a paper task, the others have no QD task.
LOCOMOTION_ROBOTS = BRAX_LOCOMOTION


def check_names(algo: str, env: str, preset: str) -> None:
    names = algorithms()
    if algo not in names:
        raise UsageError(f"unknown algorithm {algo!r}{closest(algo, names)}; choose one of "
                         f"{', '.join(names)}")
    qd = "descriptor" in algorithm(algo).accepts
    no_descriptor = env not in TASKS or "descriptor" not in TASKS[env].kinds
    if qd and no_descriptor and (env.startswith("gym/") or env in LOCOMOTION_ROBOTS):
        # Names of the single-objective families (DESIGN.md "Env names"): no descriptor.
        raise UsageError(f"env {env!r} has no descriptor, which {algo} needs; QD envs: "
                         f"{', '.join(accepted_envs(algo))}; robot aliases: "
                         f"{', '.join(f'{a}={e}' for a, e in aliases(algo).items())}")
    if env not in TASKS:
        raise UsageError(f"unknown env {env!r}{closest(env, TASKS)}; envs for {algo}: "
                         f"{', '.join(accepted_envs(algo))}")
    TASKS[env].check(env)  # an env namespace's own names (gym/<ID>: a registered ID)
    fits = accepted_envs(algo)
    if env not in fits and not set(TASKS[env].kinds) & set(algorithm(algo).accepts):
        raise UsageError(f"env {env!r} does not fit {algo}; envs it accepts: {', '.join(fits)}")
    presets = algo_presets(algo, env)
    if preset not in presets:
        raise UsageError(f"unknown preset {preset!r} for {algo} on {env}; presets: "
                         f"{', '.join(presets) or 'none'}")


@dataclass
class Prepared:
    """A validated run, nothing created yet."""

    algo: str
    env: str
    preset: str
    seed: int
    cfg: dict[str, Any]
    schema: dict[str, Param]
    strategy: Any
    task: Any
    env_alias: str | None = None

    def config_record(self) -> dict:
        import evoflow

        return {"algo": self.algo, "env": self.env, "env_alias": self.env_alias,
                "preset": self.preset, "seed": self.seed, "evoflow": evoflow.__version__,
                "config": self.cfg}


def config_schema(algo: str, env: str) -> dict[str, Param]:
    """Every key of a run of `algo` on `env`: the engine's, the task's, the algorithm's and its
    family's budget keys (imports the task's module)."""
    from evoflow.algorithms.registry import family_of

    return {**ENGINE_SCHEMA, **TASKS[env].load().SCHEMA, **algorithm(algo).load_schema(),
            **{b.key: Param(None, "int", b.help, check="positive", nullable=True)
               for b in family_of(algo).budget_keys}}


def read_run_config(run) -> tuple[str, str, str, int, dict[str, Any]]:
    """(algo, env, preset, seed, config) of a run directory's config.json, every field checked
    against what this evoflow declares: a missing, unknown or wrong-typed field is one error
    naming it (a resume never fills a field in with a default)."""
    path = run / "config.json"
    rec = run.read_json("config.json")
    fields = ("algo", "env", "preset", "seed", "config")
    if not isinstance(rec, dict) or any(k not in rec for k in fields) \
            or not isinstance(rec["config"], dict):
        raise RunStateError(f"{path}: not written by evoflow run (needs the fields "
                            f"{', '.join(fields)})")
    for k in ("algo", "env", "preset"):
        if not isinstance(rec[k], str):
            raise RunStateError(f"{path}: {k}={json.dumps(rec[k])}: must be a string")
    seed = rec["seed"]
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise RunStateError(f"{path}: seed={json.dumps(seed)}: must be an integer >= 0")
    algo, env, preset = rec["algo"], rec["env"], rec["preset"]
    if algo not in algorithms():
        raise RunStateError(f"{path}: algorithm {algo!r} is not registered in this evoflow "
                            f"(evoflow list shows the algorithms)")
    if env not in TASKS:
        raise RunStateError(f"{path}: env {env!r} is not an env of this evoflow")
    schema, cfg = config_schema(algo, env), dict(rec["config"])
    missing = [k for k in schema if k not in cfg]
    unknown = [k for k in cfg if k not in schema]
    if missing or unknown:
        what = "; ".join(p for p in (missing and f"lacks {', '.join(missing)}",
                                     unknown and f"has unknown keys {', '.join(unknown)}") if p)
        raise RunStateError(f"{path}: config {what}")
    for key, value in cfg.items():
        try:
            cfg[key] = schema[key].validate(key, value)
        except UsageError as e:
            why = str(e).split(": ", 1)[-1]
            raise RunStateError(f"{path}: config {key}={json.dumps(value)}: {why}") from None
    return algo, env, preset, seed, cfg


def prepare(algo: str, env: str, preset: str, seed: int, sets: dict[str, Any]) -> Prepared:
    from evoflow.algorithms.base import TaskInfo
    from evoflow.algorithms.registry import family_of
    from evoflow.engine.budget import check_budget

    env, env_alias = resolve_env(algo, env)
    check_names(algo, env, preset)
    if seed < 0:
        raise UsageError(f"--seed {seed}: the seed must be >= 0")
    spec = algorithm(algo)
    cls = spec.load()
    entry = TASKS[env]
    family = family_of(algo)
    schema = config_schema(algo, env)
    cfg = resolve(schema, [(f"envs/{env}.json preset {preset!r}", algo_presets(algo, env)[preset]),
                           ("--set", sets)])
    import jax

    from evoflow.engine.prng import apply_run_settings

    apply_run_settings(cfg)  # process-wide JAX settings of the run; recorded in versions.json
    from evoflow.engine import footprint

    task = entry.make(cfg)
    footprint.check_task(task, cfg, sets, schema)  # before the task's (dim,) vectors exist
    check_budget(cfg, task, family.budget_keys)
    if cfg["snapshot_every"] and cfg["snapshot_every"] % cfg["log_every"]:
        raise UsageError(f"--set snapshot_every={cfg['snapshot_every']}: must be a multiple of "
                         f"log_every ({cfg['log_every']})")
    from evoflow.engine.hosteval import check_host_config

    check_host_config(cfg)
    driver = algorithm(algo).driver
    if cfg["workers"] and driver == "trainer":
        raise UsageError(f"--set workers={cfg['workers']}: {algo} trains one model in-process "
                         f"(trainer driver); use workers=0")
    host_loop = bool(getattr(task, "host_loop", False))
    if cfg["workers"] and driver == "device" and cfg.get("evaluator", "jax") != "numpy" \
            and not host_loop:
        raise UsageError(f"--set workers={cfg['workers']}: worker processes evaluate on the host "
                         f"loop; add --set evaluator=numpy (or use workers=0)")
    lo, hi = task.init_box()
    dom = task.domain()
    desc = task.descriptor_box() if "descriptor" in task.kinds else (None, None)
    info = TaskInfo(task.dim, lo, hi, None if dom is None else dom[0],
                    None if dom is None else dom[1],
                    sample_genotypes=getattr(task, "sample_genotypes", None),
                    genotype_leaves=getattr(task, "genotype_leaves", None),
                    obs_dim=getattr(task, "obs_dim", 0), act_dim=getattr(task, "act_dim", 0),
                    episode_length=getattr(task, "T", 0),
                    policy_hidden=tuple(task.policy.sizes[1:-1]) if hasattr(task, "policy")
                    else (),
                    policy_kind=getattr(getattr(task, "policy", None), "kind", "mlp"),
                    policy_batch=tuple(getattr(task, "policy_batch", ())),
                    host_loop=host_loop,
                    descriptor_low=desc[0], descriptor_high=desc[1],
                    descriptor_names=tuple(getattr(task, "descriptor_names", ())),
                    descriptor_units=tuple(getattr(task, "descriptor_units", ())))
    strategy = cls(cfg, info)
    if driver in ("device", "host"):
        footprint.check_state(strategy, cfg, sets, schema,
                              jax.numpy.float64 if cfg["dtype"] == "float64" else jax.numpy.float32)
    return Prepared(algo, env, preset, seed, cfg, schema, strategy, task, env_alias)


def _printer(quiet: bool) -> Callable[[str], None]:
    return (lambda s: None) if quiet else (lambda s: print(s, flush=True))


def _host_evaluator(prep: Prepared):
    from evoflow.engine.hosteval import HostEvaluator

    return HostEvaluator(prep.env, prep.cfg, prep.task,
                         decoder=getattr(prep.strategy, "host_decoder", None))


def build_engine(prep: Prepared, run, out, quiet: bool):
    """The engine of the algorithm's declared driver (registry Algorithm.driver)."""
    import jax.numpy as jnp

    from evoflow.algorithms.registry import family_of
    from evoflow.engine.budget import Budget

    family = family_of(prep.algo)
    driver = algorithm(prep.algo).driver
    # a task that only evaluates on the host (gymnasium), or a JAX task asked to (evaluator)
    host = prep.cfg.get("evaluator", "jax") == "numpy" or getattr(prep.task, "host_loop", False)
    kw = dict(seed=prep.seed, out=out, quiet=quiet,
              progress_keys=tuple(prep.task.progress_keys) + tuple(prep.strategy.progress_keys),
              budget=Budget.from_config(prep.cfg, prep.task, family.budget_keys),
              append_only=family.append_only_files())
    if driver == "python":
        from evoflow.engine.drivers.python import PythonEngine

        return PythonEngine(prep.strategy, prep.task, prep.cfg, run, env=prep.env,
                            host_evaluator=_host_evaluator(prep), **kw)
    if driver == "trainer":
        from evoflow.engine.drivers.trainer import TrainerEngine

        return TrainerEngine(prep.strategy, prep.task, prep.cfg, run, **kw)
    from evoflow.engine.devices import make_mesh
    from evoflow.engine.loop import Engine

    return Engine(prep.strategy, prep.task, prep.cfg, run, make_mesh(),
                  host_evaluator=_host_evaluator(prep) if host or driver == "host" else None,
                  dtype=jnp.float64 if prep.cfg["dtype"] == "float64" else jnp.float32, **kw)


def _summary_extra(prep: Prepared, n_devices: int) -> dict:
    extra = {"env_alias": prep.env_alias} if prep.env_alias else {}
    return {"algo": prep.algo, "env": prep.env, **extra, "seed": prep.seed,
            "n_runs": prep.strategy.n_runs, "devices": n_devices}


def start(prep: Prepared, out_dir: Path, quiet: bool = False) -> tuple[Path, dict]:
    """Create the run directory and run to the budget."""
    import jax

    from evoflow.engine.drivers.base import LoopState
    from evoflow.engine.prng import versions_record
    from evoflow.engine.rundir import RunDir, run_name

    out = _printer(quiet)
    run = RunDir.create(out_dir, run_name(prep.algo, prep.env, prep.seed))
    run.write_json("config.json", prep.config_record())
    run.write_json("versions.json", versions_record())
    alias = f" (--env {prep.env_alias} means {prep.env})" if prep.env_alias else ""
    out(f"evoflow run {prep.algo} on {prep.env}{alias} (preset {prep.preset}, seed {prep.seed}) "
        f"-> {run.path}")
    engine = build_engine(prep, run, out, quiet)
    try:
        summary = engine.run_loop(engine.initial_state(), LoopState(),
                                  _summary_extra(prep, jax.device_count()))
    except KeyboardInterrupt:
        raise Interrupted(run.path) from None
    return run.path, summary


class Interrupted(Exception):
    def __init__(self, path: Path):
        super().__init__(str(path))
        self.path = path


def resume(path: Path, more: int | None, quiet: bool = False) -> tuple[Path, dict]:
    import jax

    from evoflow.engine.rundir import SUMMARY, RunDir

    out = _printer(quiet)
    if more is not None and more <= 0:
        raise UsageError(f"--more {more}: must be a positive number of budget units")
    run = RunDir.open(path)
    rec = run.read_json("config.json")
    algo, env, preset, seed, cfg = read_run_config(run)
    from evoflow.algorithms.registry import family_of
    from evoflow.engine.budget import budget_key_of
    from evoflow.engine.prng import check_prng

    try:
        budget_key = budget_key_of(cfg, family_of(algo).budget_keys if algo in algorithms()
                                   else ())
    except AssertionError:
        raise RunStateError(f"{run / 'config.json'}: no budget key is set") from None
    if (run / SUMMARY).exists():  # a finished run: --more extends the key that stopped it
        stopped_by = run.read_json(SUMMARY).get("stopped_by")
        if isinstance(stopped_by, str) and cfg.get(stopped_by) is not None:
            budget_key = stopped_by
    if more is not None:
        cfg[budget_key] = cfg[budget_key] + more
    prep = prepare_resolved(algo, env, preset, seed, cfg)
    recorded = run.read_json("versions.json").get("prng") if (run / "versions.json").exists() \
        else None
    if recorded is not None:
        check_prng(recorded)
    engine = build_engine(prep, run, out, quiet)
    state, loop, meta = engine.restore(report=lambda s: out(f"warning: {s}"))
    if meta.get("finished") and more is None:
        raise UsageError(f"{run.path}: the run is finished; add --more N to extend its "
                         f"{budget_key} budget")
    if more is not None:
        rec["config"] = cfg
        run.write_json("config.json", rec)
    if (run / SUMMARY).exists():
        (run / SUMMARY).unlink()
    out(f"evoflow resume {run.path}: {algo} on {env} from iteration {loop.iteration}")
    try:
        summary = engine.run_loop(state, loop, _summary_extra(prep, jax.device_count()))
    except KeyboardInterrupt:
        raise Interrupted(run.path) from None
    return run.path, summary


def prepare_resolved(algo, env, preset, seed, cfg) -> Prepared:
    """Rebuild a run's objects from its fully resolved config (config.json)."""
    check_names(algo, env, preset)
    return prepare(algo, env, preset, seed, {**cfg})


def writable_out(out: Path) -> None:
    from evoflow.engine.rundir import check_writable_parent

    check_writable_parent(out)
    if os.path.exists(out) and not os.path.isdir(out):
        raise UsageError(f"--out {out}: not a directory")
