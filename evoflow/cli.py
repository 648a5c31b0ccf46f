"""`evoflow run | resume | list | eval`: the command line. Choices come from the registries.

Every error the user can cause prints one line and exits 2, with no traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional

import typer

from evoflow.errors import EvoflowError
from evoflow.runtime import setup_jax

app = typer.Typer(
    name="evoflow", add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
    rich_markup_mode=None,
    help="Evolutionary and gradient-free optimization on one vectorized JAX engine.\n\n"
         "Examples:\n\n"
         "  evoflow run cbo --env rastrigin\n\n"
         "  evoflow run cbo --env rastrigin --preset tiny --seed 1 --set sigma=5 --set dim=10\n\n"
         "  evoflow resume runs/cbo-rastrigin-20261130-120000-ab12-s0 --more 1000\n\n"
         "  evoflow list\n\n"
         "  evoflow eval runs/me-point_omni-20261130-120000-ab12-s0 --policy cell:3")


def _fail(e: EvoflowError) -> None:
    print(f"error: {e}", file=sys.stderr)
    raise typer.Exit(e.exit_code)


@app.command(help="Start a run: evoflow run ALGO --env ENV [--preset P] [--seed S] "
                  "[--set k=v ...] [--out DIR].\n\nExample: evoflow run cbo --env rastrigin "
                  "--set iterations=2000 --set checkpoint_every=500")
def run(
    algo: str = typer.Argument(..., help="algorithm (see `evoflow list`)"),
    env: str = typer.Option(..., "--env", help="task / environment name"),
    preset: str = typer.Option("default", "--preset", help="tiny | default | gpu"),
    seed: int = typer.Option(0, "--seed", help="random seed"),
    set_: Optional[List[str]] = typer.Option(None, "--set", help="override a config key: k=v "
                                             "(v parsed as JSON, else a string); repeatable"),
    out: Path = typer.Option(Path("runs"), "--out", help="parent of the new run directory"),
    quiet: bool = typer.Option(False, "--quiet", help="no progress output"),
):
    from evoflow import experiment
    from evoflow.config import parse_set

    try:
        sets = parse_set(set_ or [])
        experiment.writable_out(out)
        setup_jax()
        prep = experiment.prepare(algo, env, preset, seed, sets)
        path, summary = experiment.start(prep, out, quiet=quiet)
    except experiment.Interrupted as e:
        print(f"interrupted; checkpoint written. Resume with: evoflow resume {e.path}",
              file=sys.stderr)
        raise typer.Exit(130)
    except EvoflowError as e:
        _fail(e)
    _print_summary(path, summary, quiet)


@app.command(help="Continue a run from its last complete checkpoint; --more N extends its "
                  "budget by N units of its budget key.\n\nExample: evoflow resume RUN --more 1000")
def resume(
    run_dir: Path = typer.Argument(..., metavar="RUN", help="a run directory"),
    more: Optional[int] = typer.Option(None, "--more", help="add N units of the run's budget"),
    quiet: bool = typer.Option(False, "--quiet", help="no progress output"),
):
    from evoflow import experiment

    try:
        if more is not None and more <= 0:
            raise experiment.UsageError(f"--more {more}: must be a positive number")
        setup_jax()
        path, summary = experiment.resume(run_dir, more, quiet=quiet)
    except experiment.Interrupted as e:
        print(f"interrupted; checkpoint written. Resume with: evoflow resume {e.path}",
              file=sys.stderr)
        raise typer.Exit(130)
    except EvoflowError as e:
        _fail(e)
    _print_summary(path, summary, quiet)


@app.command(name="list", help="Without ALGO: a table of every algorithm (family, description, "
                               "driver, envs with their aliases, presets). With ALGO: its config "
                               "keys (type, default, help); --env ENV adds that task's keys.\n\n"
                               "Example: evoflow list dcg_me --env ant")
def list_(
    algo: Optional[str] = typer.Argument(None, help="an algorithm: show its config keys"),
    env: Optional[str] = typer.Option(None, "--env", help="with ALGO: also the task's keys"),
) -> None:
    from evoflow import listing

    try:
        if algo is None:
            if env is not None:
                raise listing.UsageError("--env: only with ALGO (evoflow list ALGO --env ENV)")
            listing.print_table()
        else:
            listing.print_keys(algo, env)
    except EvoflowError as e:
        _fail(e)


def _eval_help() -> str:
    from evoflow.algorithms import families

    lines = []
    for fam in families().values():
        opts = "; ".join(f"{o.flag}{' ' + o.metavar if o.metavar else ''}: {o.help}"
                         for o in fam.eval_options)
        lines.append(f"{fam.name}: {opts or 'no options (nothing to evaluate yet)'}")
    return "\n\n".join(lines)


@app.command(name="eval", context_settings={"allow_extra_args": True,
                                            "ignore_unknown_options": True},
             help="Evaluate what a run found; each call writes a new "
                  "evals/<YYYYmmdd-HHMMSS>-<4 hex>.json in RUN and prints its path. The options "
                  "are the run's family's:\n\n" + _eval_help() + "\n\nExample: evoflow eval "
                  "RUN --policy cell:3 --episodes 5")
def eval_(
    ctx: typer.Context,
    run_dir: Path = typer.Argument(..., metavar="RUN [OPTIONS]", help="a run directory, then "
                                   "its family's options"),
):
    from evoflow import evaluate

    try:
        plan = evaluate.plan(run_dir, list(ctx.args))
        setup_jax()
        path = evaluate.execute(plan)
    except EvoflowError as e:
        _fail(e)
    line = evaluate.headline(path)
    if line:
        print(line)
    print(path)  # the last line: scripts read the record's path


def _export_help() -> str:
    from evoflow.algorithms import families

    lines = []
    for fam in families().values():
        if not fam.exports:
            continue
        fmts = "; ".join(f"{f.name}: {f.help}" for f in fam.exports)
        opts = "; ".join(f"{o.flag} {o.metavar}: {o.help}" for o in fam.export_options)
        lines.append(f"{fam.name} formats: {fmts}" + (f"\n\n{fam.name} options: {opts}"
                                                         if opts else ""))
    return "\n\n".join(lines) or "No family has export formats yet."


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
             options_metavar="[RUN] [OPTIONS]",
             help="Export what a run found (or what a family option names, e.g. --program "
                  "lion) in one of its family's formats; the file is written atomically.\n\n"
                  + _export_help() + "\n\nExample: evoflow export --program lion --format "
                  "torch --out lion_opt.py")
def export(
    ctx: typer.Context,
    format_: Optional[str] = typer.Option(None, "--format", help="one of the family's formats"),
    out: Optional[Path] = typer.Option(None, "--out", help="the file written"),
    force: bool = typer.Option(False, "--force", help="overwrite --out if it exists"),
):
    from evoflow import exporting

    try:
        path = exporting.export(list(ctx.args), format_, out, force)
    except EvoflowError as e:
        _fail(e)
    print(path)


@app.command(help="Draw runs: writes RUN/report.html (self-contained, opens offline), "
                  "RUN/figures/<view>.png and, for QD runs, RUN/archive.csv. With --compare, "
                  "DIR/report.html and DIR/figures/ summarize the runs by (algo, config).\n\n"
                  "Example: evoflow viz RUN; evoflow viz A B C --compare --out cmp")
def viz(
    runs: List[Path] = typer.Argument(..., metavar="RUN [RUN ...]", help="run directories"),
    compare: bool = typer.Option(False, "--compare", help="one comparison page for all RUNs "
                                 "(needs --out)"),
    out: Optional[Path] = typer.Option(None, "--out", metavar="DIR", help="--compare: the "
                                       "directory of the comparison"),
    watch: Optional[float] = typer.Option(None, "--watch", metavar="SEC", help="rewrite the "
                                          "report every SEC s until the run finishes"),
    top_k: int = typer.Option(16, "--top-k", metavar="K", help="QD: elites whose rollouts "
                              "play on the page"),
    no_rollouts: bool = typer.Option(False, "--no-rollouts", help="QD: no rollouts view"),
):
    try:
        try:  # lazy: `evoflow --help` and `import evoflow` never load plotly or matplotlib
            import matplotlib  # noqa: F401
            import plotly  # noqa: F401
        except ImportError as e:
            from evoflow.errors import UsageError

            raise UsageError(f"evoflow viz needs the viz extra ({e.name} is missing): "
                             f'pip install "evoflow[viz]"') from None
        from evoflow.viz.cli import main as viz_main

        code = viz_main(runs, compare=compare, out=out, watch=watch, top_k=top_k,
                        rollouts=not no_rollouts)
    except KeyboardInterrupt:
        raise typer.Exit(130)
    except EvoflowError as e:
        _fail(e)
    raise typer.Exit(code)


def _print_summary(path: Path, summary: dict, quiet: bool) -> None:
    if quiet:
        return
    keys = [k for k in summary if k not in ("algo", "env", "seed")]
    body = "  ".join(f"{k}={_fmt(summary[k])}" for k in keys)
    print(f"done: {path}\n  {body}")


def _fmt(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
