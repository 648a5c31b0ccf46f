"""Family declarations: what a family of algorithms is, in plain data (no JAX, no torch).

A family is a package `evoflow/algorithms/<family>/` whose `__init__` declares `FAMILY = Family(...)`:
its algorithms (name, description, accepted task kinds, driver), its run files, its
`evoflow eval` options and evaluator, its `evoflow export` formats, its viz views and its own
budget keys. The CLI, `evoflow eval`, `evoflow viz` and `evoflow list` read these declarations
and nothing else: adding a family is a package plus one line in `FAMILY_PACKAGES` (or, for a
package outside evoflow, a module name in the `EVOFLOW_FAMILIES` environment variable,
comma-separated).

Code is named by `"module:attribute"` strings and imported only when a command needs it, so
that `evoflow list` and `evoflow --help` import no JAX, brax or torch.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from typing import Any

FAMILY_PACKAGES: tuple[str, ...] = (
    "evoflow.algorithms.cbo",
    "evoflow.algorithms.ga",
    "evoflow.algorithms.map_elites",
    "evoflow.algorithms.optsearch",
)
ENV_FAMILIES = "EVOFLOW_FAMILIES"  # extra family modules, comma-separated

# device: ask/tell/evaluate jitted and scanned on device (JAX tasks);
# host: ask/tell jitted, evaluation on the host (in-process, a process pool or Ray);
# python: plain-Python init/ask/tell over JSON genomes, evaluation as for host;
# trainer: the algorithm owns its step loop (e.g. a PyTorch optimizer on one model).
DRIVERS = ("device", "host", "python", "trainer")
FILE_FORMATS = ("npz", "json", "jsonl", "safetensors", "bytes")


def load_ref(ref: str) -> Any:
    """`"package.module:attr"` -> the object (imports the module)."""
    module, _, attr = ref.partition(":")
    obj = importlib.import_module(module)
    return getattr(obj, attr) if attr else obj


@dataclass(frozen=True)
class Algorithm:
    name: str
    impl: str  # "module:Class" of the strategy (or trainer)
    description: str  # one line, for `evoflow list`
    accepts: tuple[str, ...]  # task kinds it runs on (tasks declare theirs in evoflow.tasks)
    schema: str  # "module:DICT" of its config keys (evoflow.config.Param), plain data
    driver: str = "device"
    presets_of: str | None = None  # run on another algorithm's presets in envs/*.json
    # "module:DICT" of presets shipped by the family, {env: {preset: {key: value}}}; they add to
    # (and for the same name replace) the presets in envs/<env>.json.
    presets: str | None = None

    def load(self):
        return load_ref(self.impl)

    def load_schema(self) -> dict:
        return load_ref(self.schema)


@dataclass(frozen=True)
class RunFile:
    """A file the family writes in a run directory (documented in docs/run-directory.md)."""

    path: str  # relative to the run directory
    format: str  # one of FILE_FORMATS
    help: str
    append_only: bool = False  # jsonl: cut back to the checkpoint's cursor on resume
    record_key: str | None = None  # jsonl: a field every record has (readers skip others)


@dataclass(frozen=True)
class EvalOption:
    """One `evoflow eval` option of the family."""

    flag: str  # "--policy"
    kind: str  # "str" | "int" | "float" | "flag" (no value: present means True)
    metavar: str
    help: str


@dataclass(frozen=True)
class ExportFormat:
    name: str  # `evoflow export RUN --format NAME`
    help: str
    # "module:function" (run_path or None, out_path, options) -> written path; `options` are
    # the parsed `Family.export_options` ({flag: value}), run_path None when a source option
    # (e.g. --program) stands for the run.
    impl: str


@dataclass(frozen=True)
class BudgetKey:
    """A budget the family counts beside iterations / evaluations / wall_s (e.g. env_steps)."""

    key: str
    help: str
    metric: str  # the metrics key (cumulative) that counts it


@dataclass(frozen=True)
class Family:
    name: str
    description: str
    algorithms: tuple[Algorithm, ...]
    run_files: tuple[RunFile, ...] = ()
    eval_options: tuple[EvalOption, ...] = ()
    evaluator: str | None = None  # module with plan(run, record, opts) and rollout(plan)
    exports: tuple[ExportFormat, ...] = ()
    # `evoflow export` options of the family; a `source` option may replace RUN (e.g.
    # `--program lion`): the family is then found by the option.
    export_options: tuple[EvalOption, ...] = ()
    export_sources: tuple[str, ...] = ()  # flags of export_options that stand for RUN
    # viz views, in page order: a built-in view name of evoflow.viz (e.g. "archive",
    # "particles") or "module:function" (run -> list of views) shipped by the family.
    views: tuple[str, ...] = ()
    # "module:function" (run_path, cells, states) -> rollout arrays, for the viz rollouts view.
    rollouts: str | None = None
    budget_keys: tuple[BudgetKey, ...] = ()

    def __post_init__(self):
        for a in self.algorithms:
            if a.driver not in DRIVERS:
                raise ValueError(f"family {self.name}: algorithm {a.name} has driver "
                                 f"{a.driver!r}; drivers: {', '.join(DRIVERS)}")
        for f in self.run_files:
            if f.format not in FILE_FORMATS:
                raise ValueError(f"family {self.name}: run file {f.path} has format "
                                 f"{f.format!r}; formats: {', '.join(FILE_FORMATS)}")
            if f.append_only and f.format != "jsonl":
                raise ValueError(f"family {self.name}: append-only run file {f.path} must be "
                                 f"jsonl")

    def load_evaluator(self):
        return load_ref(self.evaluator) if self.evaluator else None

    def append_only_files(self) -> tuple[str, ...]:
        return tuple(f.path for f in self.run_files if f.append_only)


_FAMILIES: dict[str, Family] = {}
_ALGORITHMS: dict[str, tuple[Family, Algorithm]] = {}


def register(module: str) -> Family:
    """Import `module` and add its `FAMILY` (idempotent); names must not collide."""
    fam = getattr(importlib.import_module(module), "FAMILY", None)
    if not isinstance(fam, Family):
        raise ValueError(f"{module}: no FAMILY = Family(...) declaration")
    if _FAMILIES.get(fam.name) is fam:
        return fam
    if fam.name in _FAMILIES:
        raise ValueError(f"{module}: family name {fam.name!r} is taken")
    clash = [a.name for a in fam.algorithms if a.name in _ALGORITHMS]
    if clash:
        raise ValueError(f"{module}: algorithm names {clash} are taken")
    _FAMILIES[fam.name] = fam
    for a in fam.algorithms:
        _ALGORITHMS[a.name] = (fam, a)
    return fam


def _load_all() -> None:
    extra = [m.strip() for m in os.environ.get(ENV_FAMILIES, "").split(",") if m.strip()]
    for module in (*FAMILY_PACKAGES, *extra):
        register(module)


def families() -> dict[str, Family]:
    if not _FAMILIES:
        _load_all()
    return _FAMILIES


def algorithms() -> dict[str, Algorithm]:
    families()
    return {name: a for name, (_, a) in _ALGORITHMS.items()}


def algorithm(name: str) -> Algorithm:
    families()
    return _ALGORITHMS[name][1]


def family_of(algo: str) -> Family:
    families()
    return _ALGORITHMS[algo][0]
