"""`evoflow list`: the algorithms of every registered family, and one algorithm's config keys.

Reads family declarations and `envs/*.json` only (plain data): it imports no JAX, brax or torch,
so it answers in well under a second. `--env` adds the keys a task declares, which does import
the task's module.
"""

from __future__ import annotations

import shutil
import textwrap

from evoflow.algorithms.registry import algorithm, algorithms, family_of
from evoflow.config import ENGINE_SCHEMA, Param, closest
from evoflow.errors import UsageError
from evoflow.experiment import accepted_envs, algo_presets, aliases, resolve_env

__all__ = ["UsageError", "print_keys", "print_table", "rows", "table"]


def _presets(algo: str) -> list[str]:
    """Every preset of `algo` on any env, in first-seen order."""
    seen: dict[str, None] = {}
    for env in accepted_envs(algo):
        seen.update(dict.fromkeys(algo_presets(algo, env)))
    return list(seen)


def _envs_column(algo: str) -> str:
    """Accepted envs, an alias folded in as `ant=ant_omni`; an env whose presets are not all of
    the algorithm's lists its own in brackets."""
    alias_of = {env: alias for alias, env in aliases(algo).items()}
    every = set(_presets(algo))
    parts = []
    for env in accepted_envs(algo):
        name = f"{alias_of[env]}={env}" if env in alias_of else env
        presets = list(algo_presets(algo, env))
        parts.append(name if set(presets) == every else f"{name}[{','.join(presets) or '-'}]")
    if any(env.startswith("gym/") for env in accepted_envs(algo)):
        parts.append("gym/<any gymnasium ID> (host loop)")
    return " ".join(parts)


def rows() -> list[dict[str, str]]:
    """One row per algorithm, in registry order."""
    return [{"algorithm": algo, "family": family_of(algo).name, "driver": spec.driver,
             "description": spec.description, "envs": _envs_column(algo),
             "presets": ",".join(_presets(algo)) or "-"}
            for algo, spec in algorithms().items()]


def _wrap(text: str, width: int) -> list[str]:
    return textwrap.wrap(text, width, break_on_hyphens=False) or [""]


def table(width: int | None = None) -> str:
    """The `evoflow list` table: fixed columns, then the envs wrapped under each row."""
    width = width or max(80, shutil.get_terminal_size((100, 24)).columns)
    data = rows()
    cols = ("algorithm", "family", "driver", "presets", "description")
    w = {c: max(len(c), *(len(r[c]) for r in data)) for c in cols[:-1]}
    head_w = sum(w.values()) + 2 * len(w)
    desc_w = max(24, width - head_w)
    lines = ["".join(f"{c.upper():<{w[c] + 2}}" for c in cols[:-1]) + "DESCRIPTION"]
    for r in data:
        desc = _wrap(r["description"], desc_w)
        lines.append("".join(f"{r[c]:<{w[c] + 2}}" for c in cols[:-1]) + desc[0])
        lines += [" " * head_w + d for d in desc[1:]]
        lines += ["    envs: " + e if i == 0 else "          " + e
                  for i, e in enumerate(_wrap(r["envs"], width - 10))]
    lines.append("")
    lines.append("An alias is shown as alias=env; env[p,q]: that env has only presets p, q. "
                 "`evoflow list ALGO` shows an algorithm's config keys.")
    return "\n".join(lines)


def print_table() -> None:
    print(table())


def _show_default(p: Param) -> str:
    if p.default is None:
        return "null"
    if isinstance(p.default, bool):
        return "true" if p.default else "false"
    return str(p.default)


def _kind(p: Param) -> str:
    kind = p.kind + (f" ({p.check})" if p.check else "")
    if p.choices:
        kind = "|".join(str(c) for c in p.choices)
    return kind + (" or null" if p.nullable and p.default is not None else "")


def _section(title: str, schema: dict[str, Param]) -> list[str]:
    if not schema:
        return []
    kw = max(len(k) for k in schema)
    tw = min(28, max(len(_kind(p)) for p in schema.values()))
    dw = min(16, max(len(_show_default(p)) for p in schema.values()))
    lines = [title]
    for key, p in schema.items():
        lines.append(f"  {key:<{kw}}  {_kind(p):<{tw}}  {_show_default(p):<{dw}}  {p.help}")
    return lines + [""]


def keys(algo: str, env: str | None = None) -> str:
    """An algorithm's config keys (type, default, help), its family's budget keys, the engine's;
    with `env`, the task's too (resolving aliases as `evoflow run` does)."""
    names = algorithms()
    if algo not in names:
        raise UsageError(f"unknown algorithm {algo!r}{closest(algo, names)}; choose one of "
                         f"{', '.join(names)}")
    spec, fam = algorithm(algo), family_of(algo)
    lines = [f"{algo} ({fam.name} family, {spec.driver} driver): {spec.description}", ""]
    lines += _section(f"{algo} keys (--set KEY=VALUE)", spec.load_schema())
    if fam.budget_keys:
        lines += _section(f"{fam.name} budget keys",
                          {b.key: Param(None, "int", b.help, check="positive", nullable=True)
                           for b in fam.budget_keys})
    if env is not None:
        from evoflow.tasks import TASKS

        resolved, _ = resolve_env(algo, env)
        if resolved not in accepted_envs(algo):
            raise UsageError(f"--env {env}: not an env of {algo}; envs it accepts: "
                             f"{', '.join(accepted_envs(algo))}")
        lines += _section(f"{resolved} task keys", TASKS[resolved].load().SCHEMA)
        presets = algo_presets(algo, resolved)
        lines += [f"presets on {resolved}: {', '.join(presets) or 'none'}", ""]
    lines += _section("engine keys", ENGINE_SCHEMA)
    lines.append(f"envs: {_envs_column(algo)}")
    return "\n".join(lines)


def print_keys(algo: str, env: str | None = None) -> None:
    print(keys(algo, env))

