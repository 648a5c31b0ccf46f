"""`evoflow export [RUN] --format NAME --out FILE [--force] [family options]`: a run's result,
or what a family's source option names (`--program lion`), in one of the family's declared
formats (`Family.exports`). Everything is checked before the family's exporter is imported;
the file is written atomically and an existing one only with `--force`."""

from __future__ import annotations

import json
from pathlib import Path

from evoflow.algorithms.registry import algorithms, families, family_of, load_ref
from evoflow.errors import RunStateError, UsageError


def _run_family(run: Path):
    cfg_path = run / "config.json"
    if not run.is_dir():
        raise UsageError(f"{run}: not a run directory (no such directory)")
    if not cfg_path.is_file():
        raise UsageError(f"{run}: not a run directory (no config.json)")
    try:
        algo = json.loads(cfg_path.read_text())["algo"]
    except (json.JSONDecodeError, KeyError, TypeError, UnicodeDecodeError):
        raise RunStateError(f"{cfg_path}: not written by evoflow run") from None
    if algo not in algorithms():
        raise RunStateError(f"{cfg_path}: algorithm {algo!r} is not registered; algorithms: "
                            f"{', '.join(algorithms())}")
    return algo, family_of(algo)


def split_tokens(tokens: list[str]) -> tuple[list[str], list[str]]:
    """(positionals, option tokens): `--flag VALUE` and `--flag=VALUE` pairs kept together."""
    positional, options = [], []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok.startswith("-"):
            options.append(tok)
            if "=" not in tok and i + 1 < len(tokens):
                options.append(tokens[i + 1])
                i += 1
        else:
            positional.append(tok)
        i += 1
    return positional, options


def _source_family(options: list[str]):
    flags = {t.partition("=")[0] for t in options if t.startswith("-")}
    found = [f for f in families().values() if flags & set(f.export_sources)]
    sources = ", ".join(f"{s} ({f.name})" for f in families().values() for s in f.export_sources)
    if not found:
        raise UsageError(f"give RUN (a run directory){' or one of ' + sources if sources else ''}")
    return found[0]


def export(tokens: list[str], format_: str | None, out: Path | None, force: bool = False
           ) -> Path:
    from evoflow.evaluate import parse_options

    positional, option_tokens = split_tokens(list(tokens))
    if len(positional) > 1:
        raise UsageError(f"one RUN at most; got {', '.join(positional)}")
    run = Path(positional[0]) if positional else None
    if run is not None:
        where, fam = run, _run_family(run)[1]
    else:
        fam = _source_family(option_tokens)
        where = f"family {fam.name}"
    opts = parse_options(fam, option_tokens, fam.export_options, command="export")
    given = [s for s in fam.export_sources if s in opts]
    if run is not None and given:
        raise UsageError(f"{given[0]} stands for RUN: give one of RUN and {given[0]}, not both")
    names = [f.name for f in fam.exports]
    if not names:
        raise UsageError(f"{where}: the {fam.name} family has no export formats")
    if format_ is None:
        raise UsageError(f"--format is required; {fam.name} formats: {', '.join(names)}")
    if format_ not in names:
        raise UsageError(f"--format {format_}: the {fam.name} family has no such format; "
                         f"formats: {', '.join(names)}")
    if out is None:
        raise UsageError("--out FILE is required (the file written)")
    out = Path(out)
    if out.is_dir():
        raise UsageError(f"--out {out}: is a directory; give a file path")
    if out.exists() and not force:
        raise UsageError(f"--out {out}: exists; add --force to overwrite it")
    if not out.parent.is_dir():
        raise UsageError(f"--out {out}: folder {out.parent} does not exist")
    spec = next(f for f in fam.exports if f.name == format_)
    return Path(load_ref(spec.impl)(run, out, opts))
