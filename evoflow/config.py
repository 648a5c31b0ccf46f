"""Typed configuration: declared parameters, `--set` parsing and validation with clear errors.

Every component (engine, algorithm, task) declares its keys as a dict of `Param`. A run's config is
one flat dict resolved as: declared defaults -> env preset -> `--set k=v`. Every value is checked
against its declaration before anything is created; errors name the key, the bad value and what
is allowed, and suggest the closest key for a misspelling.
"""

from __future__ import annotations

import difflib
import json
import math
from dataclasses import dataclass
from typing import Any, Callable

from evoflow.errors import UsageError

# Budget keys shared by every family (DESIGN.md "CLI and config"); aliases map onto them.
BUDGET_KEYS = ("iterations", "evaluations", "env_steps", "wall_s")
ALIASES = {"generations": "iterations"}


@dataclass(frozen=True)
class Param:
    """One config key. `kind` is int|float|bool|str|floats|ints; `check` names a constraint."""

    default: Any
    kind: str
    help: str
    choices: tuple | None = None
    check: str | None = None  # positive | nonnegative | unit | probability
    nullable: bool = False

    def validate(self, key: str, value: Any) -> Any:
        if value is None:
            if self.nullable:
                return None
            raise UsageError(f"--set {key}=null: {key} needs a {self._what()}")
        value = _coerce(key, value, self.kind, self._what())
        if self.choices is not None and value not in self.choices:
            allowed = ", ".join(str(c) for c in self.choices)
            raise UsageError(f"--set {key}={_show(value)}: {key} must be one of {allowed}")
        if self.check is not None:
            values = value if isinstance(value, list) else [value]
            for v in values:
                _CHECKS[self.check][0](key, v)
        return value

    def _what(self) -> str:
        base = {"int": "integer", "float": "number", "bool": "boolean (true/false)",
                "str": "string", "floats": "list of numbers", "ints": "list of integers"}[self.kind]
        if self.check:
            base = f"{_CHECKS[self.check][1]} {base}"
        return base


def _show(value: Any) -> str:
    return json.dumps(value) if not isinstance(value, str) else value


def _coerce(key: str, value: Any, kind: str, what: str) -> Any:
    bad = UsageError(f"--set {key}={_show(value)}: {key} must be a {what}")
    if kind == "int":
        if isinstance(value, bool):
            raise bad
        if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
            return int(value)  # 1e5 in JSON is a float; accept integral values
        if not isinstance(value, int):
            raise bad
        return value
    if kind == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad
        if not math.isfinite(float(value)):
            raise bad
        return float(value)
    if kind == "bool":
        if not isinstance(value, bool):
            raise bad
        return value
    if kind == "str":
        if not isinstance(value, str):
            raise bad
        return value
    if kind in ("floats", "ints"):
        if not isinstance(value, (list, tuple)):
            raise bad
        sub = "float" if kind == "floats" else "int"
        return [_coerce(key, v, sub, what) for v in value]
    raise AssertionError(kind)


def _positive(key, v):
    if not v > 0:
        raise UsageError(f"--set {key}={_show(v)}: {key} must be > 0")


def _nonnegative(key, v):
    if not v >= 0:
        raise UsageError(f"--set {key}={_show(v)}: {key} must be >= 0")


def _unit(key, v):
    if not 0 < v <= 1:
        raise UsageError(f"--set {key}={_show(v)}: {key} must be in (0, 1]")


def _probability(key, v):
    if not 0 <= v <= 1:
        raise UsageError(f"--set {key}={_show(v)}: {key} must be in [0, 1]")


_CHECKS: dict[str, tuple[Callable, str]] = {
    "positive": (_positive, "positive"),
    "nonnegative": (_nonnegative, "non-negative"),
    "unit": (_unit, "(0, 1]"),
    "probability": (_probability, "[0, 1]"),
}


def parse_set(items: list[str]) -> dict[str, Any]:
    """Parse `k=v` strings: v as JSON (`3`, `0.5`, `[10, 20]`, `true`, `"x"`), else a string."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UsageError(f"--set {item!r}: expected KEY=VALUE, e.g. --set sigma=0.5")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        out[ALIASES.get(key, key)] = value
    return out


def closest(name: str, choices) -> str:
    """A ' (did you mean X?)' hint, or ''."""
    match = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.5)
    return f" (did you mean {match[0]}?)" if match else ""


def resolve(schema: dict[str, Param], layers: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """Defaults, then each (source, values) layer in order; every value validated."""
    cfg = {k: p.default for k, p in schema.items()}
    for source, values in layers:
        for key, value in values.items():
            key = ALIASES.get(key, key)
            if key not in schema:
                raise UsageError(f"unknown config key {key!r} in {source}{closest(key, schema)}")
            cfg[key] = schema[key].validate(key, value)
    return cfg


# Keys every run has, whatever its family (the engine reads them).
ENGINE_SCHEMA: dict[str, Param] = {
    "iterations": Param(None, "int", "budget: iterations (alias generations)", check="positive",
                        nullable=True),
    "evaluations": Param(None, "int", "budget: evaluations summed over runs and individuals",
                         check="positive", nullable=True),
    "env_steps": Param(None, "int", "budget: environment steps", check="positive", nullable=True),
    "wall_s": Param(None, "float", "budget: wall-clock seconds (not reproducible)",
                    check="positive", nullable=True),
    "log_every": Param(10, "int", "iterations between metrics.jsonl lines", check="positive"),
    "checkpoint_every": Param(1000, "int", "iterations between checkpoints", check="positive"),
    "keep_checkpoints": Param(3, "int", "checkpoints kept (newest)", check="positive"),
    "snapshot_every": Param(0, "int", "iterations between particles.npz snapshots (0: off)",
                            check="nonnegative"),
    "eval_chunk": Param(256, "int", "individuals per evaluation chunk (fixes numerics)",
                        check="positive"),
    "workers": Param(0, "int", "0: evaluate in-process; K: K worker processes (host loop)",
                     check="nonnegative"),
    "backend": Param("local", "str", "host evaluation workers: local (spawned processes) or "
                     "ray (Ray workers; a local Ray unless ray_address)", choices=("local", "ray")),
    "ray_address": Param(None, "str", "HOST:PORT of a running Ray cluster to join (needs "
                         "backend=ray); null: start and stop a local Ray", nullable=True),
    "dtype": Param("float32", "str", "floating point precision", choices=("float32", "float64")),
    "threefry_partitionable": Param(False, "bool", "JAX's jax_threefry_partitionable for the run "
                                    "(false: about 2x faster random bits on CPU; either way "
                                    "results do not depend on the device count)"),
}
