"""The four QD algorithms at equal evaluations on one env: medians, IQRs and Mann-Whitney tests.

For each algorithm A (default `me pga_me dcg_me dcrl_me`) and seed S (0..K-1) it runs, as a user
would, `evoflow run A --env E --preset P --seed S --out OUT/A --quiet [--set k=v ...]`, one
process at a time. A run already finished under OUT/A (its `summary.json` exists, same env,
preset, seed and `--set`s) is skipped; an unfinished one is continued with `evoflow resume`, so
the script can be stopped and started again (e.g. across GPU sessions). Runs go seed by seed
(seed 0 of every algorithm, then seed 1, ...), so a partial comparison is balanced.

`--time-limit SEC` bounds the script's wall time (a device command's limit): when it passes, the
run in progress gets SIGINT (it writes a checkpoint and exits), no new run starts, and instead of
the comparison the script prints each run's progress (evaluations reached of its budget, wall
seconds so far) and the time the unfinished work would take at the measured rates; the same goes
to OUT/progress.json and the exit status is 3. The next call continues from the checkpoints.

Printed (markdown), per algorithm: n, evaluations, median and IQR (25-75%) of `qd_score`,
`coverage`, `max_fitness`, and for distilling algorithms `distill/target_dist`, `random_dist`,
`elite_dist`; then two-sided Mann-Whitney U p-values of `dcg_me` and `dcrl_me` against `pga_me`
(QD score), and the issue's checks for point_omni (acceptance 4 and 5 of the DCG-ME issue):
median QD score dcg_me >= pga_me >= 0.95 x me; median distill/target_dist <= 0.5 x random and
<= 1.5 x elite. The same numbers go to OUT/compare.json.

Usage:
    python benchmarks/qd_compare.py --env point_omni --seeds 5
    python benchmarks/qd_compare.py --env ant_omni --preset gpu --seeds 5 --out runs/cmp_ant_gpu
    python benchmarks/qd_compare.py --env ant_omni --preset gpu --seeds 5 --time-limit 450
    python benchmarks/qd_compare.py --env point_omni --seeds 3 --algos me dcg_me --set n_cells=128
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from evoflow.engine.rundir import atomic_write_json  # noqa: E402

ALGOS = ("me", "pga_me", "dcg_me", "dcrl_me")
METRICS = ("qd_score", "coverage", "max_fitness")
DISTILL = ("distill/target_dist", "distill/random_dist", "distill/elite_dist")


def evoflow_command() -> list[str]:
    return [sys.executable, "-m", "evoflow.cli"]


def find_run(folder: Path, env: str, preset: str, seed: int, sets: list[str]) -> Path | None:
    """The newest run under `folder` made with this env, preset, seed and --set values."""
    if not folder.is_dir():
        return None
    found = []
    for cfg_path in folder.glob("*/config.json"):
        cfg = json.loads(cfg_path.read_text())
        if (cfg.get("env"), cfg.get("preset"), cfg.get("seed")) != (env, preset, seed):
            continue
        if any(_set_value(s) != cfg["config"].get(s.split("=", 1)[0]) for s in sets):
            continue
        found.append(cfg_path.parent)
    return max(found, key=lambda p: p.name) if found else None


def _set_value(text: str):
    value = text.split("=", 1)[1]
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        return value


def ensure_run(algo: str, env: str, preset: str, seed: int, sets: list[str], out: Path,
               deadline: float = float("inf"), grace_s: float = 120.0) -> Path | None:
    """The finished run of (algo, seed), made or continued here; None if `deadline`
    (time.monotonic()) came first: the run then has a checkpoint to resume from."""
    folder = out / algo
    run = find_run(folder, env, preset, seed, sets)
    if run is not None and (run / "summary.json").exists():
        print(f"  {algo} seed {seed}: finished, {run.name}", flush=True)
        return run
    if time.monotonic() >= deadline:
        return None
    if run is not None:
        print(f"  {algo} seed {seed}: resuming {run.name}", flush=True)
        cmd = [*evoflow_command(), "resume", str(run), "--quiet"]
    else:
        print(f"  {algo} seed {seed}: running", flush=True)
        cmd = [*evoflow_command(), "run", algo, "--env", env, "--preset", preset, "--seed",
               str(seed), "--out", str(folder), "--quiet"]
        for s in sets:
            cmd += ["--set", s]
    proc = subprocess.Popen(cmd, cwd=REPO, env=dict(os.environ))
    try:
        rc = proc.wait(timeout=None if deadline == float("inf")
                       else max(deadline - time.monotonic(), 0.0))
    except subprocess.TimeoutExpired:
        print(f"  {algo} seed {seed}: time limit reached, checkpointing", flush=True)
        proc.send_signal(signal.SIGINT)  # the engine checkpoints after its current chunk
        try:
            proc.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            proc.kill()  # resume then starts from the last periodic checkpoint
            proc.wait()
        return None
    if rc != 0:
        raise SystemExit(f"{algo} seed {seed}: `{' '.join(cmd)}` exited {rc}")
    run = find_run(folder, env, preset, seed, sets)
    if run is None or not (run / "summary.json").exists():
        raise SystemExit(f"{algo} seed {seed}: the run did not finish (no summary.json)")
    return run


def run_progress(run: Path | None) -> dict:
    """Evaluations reached, the budget and wall seconds so far, from the run's files."""
    if run is None:
        return {"evaluations": 0, "wall_s": 0.0, "budget": None}
    budget = json.loads((run / "config.json").read_text())["config"].get("evaluations")
    last = {}
    metrics = run / "metrics.jsonl"
    if metrics.exists():
        for line in metrics.read_text().splitlines():
            try:
                last = json.loads(line)
            except json.JSONDecodeError:  # a line cut by a kill: the one before counts
                break
    return {"evaluations": int(last.get("evaluations", 0)),
            "wall_s": float(last.get("time/wall_s", 0.0)), "budget": budget, "run": run.name}


def report_progress(args, out: Path) -> None:
    """Per (algo, seed): evaluations reached and wall so far; the remaining time at each
    algorithm's measured rate (seconds per evaluation over its runs so far)."""
    rows, rate = [], {}
    for algo in args.algos:
        for seed in range(args.seeds):
            p = run_progress(find_run(out / algo, args.env, args.preset, seed, args.sets))
            rows.append({"algo": algo, "seed": seed, **p})
    for algo in args.algos:
        done = [(r["evaluations"], r["wall_s"]) for r in rows if r["algo"] == algo]
        evals, wall = sum(e for e, _ in done), sum(w for _, w in done)
        rate[algo] = wall / evals if evals else None
    budgets = {r["algo"]: r["budget"] for r in rows if r["budget"]}
    print(f"\n{args.env}, preset {args.preset}: unfinished (time limit). Progress:\n")
    print("| algo | seed | evaluations | budget | wall s | left s (at this algo's rate) |")
    print("|---|---|---|---|---|---|")
    left_total, unknown = 0.0, False
    for r in rows:
        budget = r["budget"] or budgets.get(r["algo"])  # its algorithm's other runs' budget
        left = None
        if budget and rate[r["algo"]] is not None:
            left = max(budget - r["evaluations"], 0) * rate[r["algo"]]
            left_total += left
        else:
            unknown = True
        r["left_s"] = left
        print(f"| {r['algo']} | {r['seed']} | {r['evaluations']:,} | "
              f"{budget if budget else '?'} | {r['wall_s']:.0f} | "
              f"{'?' if left is None else f'{left:.0f}'} |")
    print(f"\nwork left: about {left_total / 60:.1f} min at the measured rates"
          + (" (plus runs of algorithms not started yet)" if unknown else "")
          + "; run the same command again to continue")
    atomic_write_json(out / "progress.json", {"env": args.env, "preset": args.preset,
                                              "seeds": args.seeds, "sets": args.sets,
                                              "runs": rows, "seconds_per_evaluation": rate,
                                              "left_s": left_total, "left_unknown": unknown})
    print(f"\n{out / 'progress.json'}")


def quartiles(values) -> tuple[float, float, float]:
    q1, med, q3 = np.percentile(np.asarray(values, float), [25, 50, 75])
    return float(med), float(q1), float(q3)


def mann_whitney(a, b) -> float:
    from scipy.stats import mannwhitneyu

    return float(mannwhitneyu(a, b, alternative="two-sided").pvalue)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--env", required=True)
    ap.add_argument("--preset", default="default")
    ap.add_argument("--seeds", type=int, default=5, help="seeds 0..K-1")
    ap.add_argument("--algos", nargs="+", default=list(ALGOS), choices=ALGOS)
    ap.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--out", type=Path, default=None,
                    help="runs and compare.json (default runs/qd_compare/ENV-PRESET)")
    ap.add_argument("--time-limit", type=float, default=None, metavar="SEC",
                    help="stop (checkpointed) after SEC seconds and report progress; exit 3")
    ap.add_argument("--grace", type=float, default=120.0, metavar="SEC",
                    help="seconds a run gets to checkpoint after SIGINT before it is killed")
    args = ap.parse_args(argv)
    if args.time_limit is not None and args.time_limit <= 0:
        ap.error(f"--time-limit {args.time_limit}: must be > 0 seconds")
    out = args.out or REPO / "runs" / "qd_compare" / f"{args.env}-{args.preset}"
    deadline = (float("inf") if args.time_limit is None
                else time.monotonic() + args.time_limit)

    finished: dict[tuple[str, int], Path | None] = {}
    for seed in range(args.seeds):
        for algo in args.algos:
            finished[algo, seed] = ensure_run(algo, args.env, args.preset, seed, args.sets, out,
                                              deadline, args.grace)
    if any(run is None for run in finished.values()):
        report_progress(args, out)
        return 3
    results = {algo: [json.loads((finished[algo, seed] / "summary.json").read_text())
                      for seed in range(args.seeds)] for algo in args.algos}

    table: dict[str, dict] = {}
    print(f"\n{args.env}, preset {args.preset}, seeds 0..{args.seeds - 1}"
          + (f", --set {' '.join(args.sets)}" if args.sets else ""))
    print("\n| algo | n | evaluations | QD score median [IQR] | coverage % | max fitness |"
          " distill target / random / elite dist |")
    print("|---|---|---|---|---|---|---|")
    for algo, summaries in results.items():
        row = {"n": len(summaries), "evaluations": sorted({s["evaluations"] for s in summaries})}
        for key in METRICS + DISTILL:
            vals = [s[key] for s in summaries if s.get(key) is not None]
            if vals:
                row[key] = dict(zip(("median", "q1", "q3"), quartiles(vals), strict=True),
                                values=vals)
        table[algo] = row

        def cell(key, fmt):
            if key not in row:
                return "-"
            r = row[key]
            return f"{r['median']:{fmt}} [{r['q1']:{fmt}}, {r['q3']:{fmt}}]"

        dist = " / ".join(f"{row[k]['median']:.3g}" for k in DISTILL if k in row) or "-"
        print(f"| {algo} | {row['n']} | {', '.join(map(str, row['evaluations']))} | "
              f"{cell('qd_score', '.6g')} | {cell('coverage', '.3g')} | "
              f"{cell('max_fitness', '.4g')} | {dist} |")

    evals = {e for row in table.values() for e in row["evaluations"]}
    if len(evals) > 1:
        print(f"\nwarning: evaluations differ across runs ({sorted(evals)}): this preset does "
              f"not compare the algorithms at equal evaluations")

    tests = {}
    if "pga_me" in results:
        base = [s["qd_score"] for s in results["pga_me"]]
        for algo in ("dcg_me", "dcrl_me"):
            if algo in results and len(base) > 1:
                p = mann_whitney([s["qd_score"] for s in results[algo]], base)
                tests[f"{algo} vs pga_me"] = p
                print(f"\nMann-Whitney U (two-sided), QD score, {algo} vs pga_me: p = {p:.3g}")

    checks = {}
    med = {a: table[a]["qd_score"]["median"] for a in table if "qd_score" in table[a]}
    if {"me", "pga_me", "dcg_me"} <= med.keys():
        checks["dcg_me >= pga_me >= 0.95 me (median QD score)"] = bool(
            med["dcg_me"] >= med["pga_me"] >= 0.95 * med["me"])
    dcg = table.get("dcg_me", {})
    if all(k in dcg for k in DISTILL):
        t, r, e = (dcg[k]["median"] for k in DISTILL)
        checks["dcg_me target_dist <= 0.5 random_dist"] = bool(t <= 0.5 * r)
        checks["dcg_me target_dist <= 1.5 elite_dist"] = bool(t <= 1.5 * e)
    for name, ok in checks.items():
        print(f"check: {name}: {'yes' if ok else 'NO'}")

    atomic_write_json(out / "compare.json", {"env": args.env, "preset": args.preset,
                                             "seeds": args.seeds, "sets": args.sets,
                                             "table": table, "mann_whitney": tests,
                                             "checks": checks})
    print(f"\n{out / 'compare.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
