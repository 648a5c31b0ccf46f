"""Does the discovered optimizer beat its baselines? (issue 19, acceptance 6)

    python benchmarks/optsearch_baselines.py                   # the default preset, seed 0
    python benchmarks/optsearch_baselines.py --runs DIR        # reuse finished runs in DIR
    python benchmarks/optsearch_baselines.py --preset tiny     # a quick check of the script

Runs `evoflow run optsearch --env digits_mlp --seed 0 --set mode=M` for the four modes (equal
`evaluations`: each trains the same number of candidates, each candidate the same lr grid x 2
seeds), then `evoflow eval` on each: the result trained at its funnel-tuned lr on training seeds
1000-1004, test loss on `digits_mlp` (the funnel's size) and `digits_cnn` (held out: never seen
by any search or funnel). The seeds are shared, so the comparison is paired: per task and
baseline B, mean over seeds of (loss_B - loss_evolve) and its standard error (sd / sqrt(5)).
Positive means the discovered program is better. A diverged seed makes a difference undefined
(printed as such).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _machine import cpu_model  # noqa: E402

MODES = ("evolve", "hparam_tune", "random", "adamw_tune")
TASKS = ("digits_mlp", "digits_cnn")


def evoflow(*args) -> str:
    proc = subprocess.run([sys.executable, "-m", "evoflow.cli", *map(str, args)],
                          capture_output=True, text=True, env={**os.environ,
                                                               "JAX_PLATFORMS": "cpu"})
    if proc.returncode:
        sys.exit(f"evoflow {' '.join(map(str, args))} failed:\n{proc.stderr}")
    return proc.stdout


def finished_run(folder: Path, mode: str, preset: str, seed: int) -> Path | None:
    for run in sorted(folder.glob(f"optsearch-digits_mlp-*-s{seed}")):
        try:
            cfg = json.loads((run / "config.json").read_text())
        except (OSError, ValueError):
            continue
        if (cfg["config"]["mode"] == mode and cfg["preset"] == preset
                and (run / "summary.json").is_file()):
            return run
    return None


def latest_eval(run: Path) -> dict:
    files = sorted((run / "evals").glob("*.json")) if (run / "evals").is_dir() else []
    if not files:
        evoflow("eval", run)
        files = sorted((run / "evals").glob("*.json"))
    return json.loads(files[-1].read_text())


def paired(base: list, disc: list) -> tuple[float, float] | None:
    if any(v is None for v in (*base, *disc)):
        return None
    d = [b - a for a, b in zip(disc, base)]
    n = len(d)
    mean = sum(d) / n
    sd = math.sqrt(sum((x - mean) ** 2 for x in d) / (n - 1))
    return mean, sd / math.sqrt(n)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=Path, default=Path("runs/optsearch_baselines"),
                    help="folder of the runs (finished runs of a mode are reused)")
    ap.add_argument("--preset", default="default")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path, help="write the table as JSON here")
    args = ap.parse_args()
    args.runs.mkdir(parents=True, exist_ok=True)

    runs, evals, summaries = {}, {}, {}
    for mode in MODES:
        run = finished_run(args.runs, mode, args.preset, args.seed)
        if run is None:
            print(f"running mode={mode} ...", flush=True)
            evoflow("run", "optsearch", "--env", "digits_mlp", "--preset", args.preset,
                    "--seed", args.seed, "--set", f"mode={mode}", "--out", args.runs,
                    "--quiet")
            run = finished_run(args.runs, mode, args.preset, args.seed)
        runs[mode] = run
        summaries[mode] = json.loads((run / "summary.json").read_text())
        evals[mode] = latest_eval(run)

    print(f"\n{cpu_model()}; preset {args.preset}, seed {args.seed}, eval seeds "
          f"{evals['evolve']['seeds']}")
    print(f"\n| mode | evaluations | wall_s | funnel val loss | {' | '.join(TASKS)} test loss |")
    print("|---|---|---|---|" + "---|" * len(TASKS))
    for mode in MODES:
        s, e = summaries[mode], evals[mode]
        means = [e[t]["mean"] for t in TASKS]
        print(f"| {mode} | {s['evaluations']} | {s['time/wall_s']:.0f} | "
              f"{s.get('funnel/val_loss') or float('nan'):.4f} | "
              + " | ".join("diverged" if m is None else f"{m:.4f}" for m in means) + " |")

    table = []
    print("\nmean(baseline - discovered) of test loss over the paired seeds, +- s.e.; "
          "positive: the discovered program is better")
    print("\n| task | baseline | difference | s.e. | difference / s.e. |")
    print("|---|---|---|---|---|")
    for task in TASKS:
        for mode in MODES[1:]:
            r = paired(evals[mode][task]["test_loss"], evals["evolve"][task]["test_loss"])
            row = {"task": task, "baseline": mode, "difference": None, "se": None}
            if r is None:
                print(f"| {task} | {mode} | undefined (a seed diverged) | | |")
            else:
                row["difference"], row["se"] = r
                z = r[0] / r[1] if r[1] > 0 else math.inf * (1 if r[0] > 0 else -1)
                print(f"| {task} | {mode} | {r[0]:+.4f} | {r[1]:.4f} | {z:+.1f} |")
            table.append(row)
    print("\nthe discovered program (artifacts/best_program.txt of the evolve run):\n")
    print((runs["evolve"] / "artifacts" / "best_program.txt").read_text())
    for mode in ("hparam_tune", "random"):
        print(f"{mode}:\n{(runs[mode] / 'artifacts' / 'best_program.txt').read_text()}")
    print("adamw_tune:", json.loads((runs["adamw_tune"] / "artifacts" /
                                     "best_adamw.json").read_text()))
    if args.json:
        args.json.write_text(json.dumps({"runs": {m: str(r) for m, r in runs.items()},
                                         "evals": evals, "table": table}, indent=2))


if __name__ == "__main__":
    main()
