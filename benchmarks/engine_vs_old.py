"""No-slowdown check: this checkout's engine against an older commit's, timed alternately.

Each tree runs its *own* benchmark workers (the protocol of `dcg_me_vs_qdax.py --worker
evoflow-timing` and `cbo_vs_cbxpy.py --worker evoflow`), with `PYTHONPATH` set to that tree so
each imports its own `evoflow`; the old tree is a detached git worktree made here (or passed with
--old-tree). Timings alternate old/new round by round, so drift in the machine's load hits both.

    python benchmarks/engine_vs_old.py                 # old = b191818 (before the engine issue)
    python benchmarks/engine_vs_old.py --old-commit X --rounds 4

Printed: the DCRL-ME (ant_omni, default preset) whole-generation median per side and CBO
(rastrigin default, float32) ms/it per side, with new/old ratios; results are also checked equal
where they must be (CBO successes and drawn shifts).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
from _machine import cpu_model  # noqa: E402

OLD_COMMIT = "b191818"  # the last commit before the engine issue (its behaviour digests' commit)


def _env(tree: Path) -> dict:
    return {**os.environ, "PYTHONPATH": str(tree), "JAX_PLATFORMS": "cpu"}


def _which_evoflow(tree: Path) -> str:
    out = subprocess.run([sys.executable, "-c", "import evoflow; print(evoflow.__file__)"],
                         env=_env(tree), cwd=tree, capture_output=True, text=True, check=True)
    return out.stdout.strip()


def _old_tree(args) -> Path:
    if args.old_tree:
        return Path(args.old_tree).resolve()
    tree = REPO / "benchmarks" / "_out" / f"old_tree_{args.old_commit}"
    if not tree.exists():
        tree.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["git", "worktree", "add", "--detach", str(tree), args.old_commit],
                       cwd=REPO, check=True, capture_output=True)
    return tree


class Worker:
    """A tree's persistent dcg_me timing worker (`MSG <json>` lines on stdout)."""

    def __init__(self, name: str, tree: Path, args, log: Path):
        cmd = [sys.executable, str(tree / "benchmarks" / "dcg_me_vs_qdax.py"), "--worker",
               "evoflow-timing", "--preset", "default", "--seed", "0", "--warmup",
               str(args.warmup), "--calls", str(args.calls)]
        self.name, self.log = name, open(log, "a")  # noqa: SIM115 (open for the worker's life)
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.log, text=True, bufsize=1, cwd=tree,
                                     env=_env(tree))

    def read(self) -> dict:
        for line in self.proc.stdout:
            if line.startswith("MSG "):
                return json.loads(line[4:])
        raise SystemExit(f"{self.name} worker ended (exit {self.proc.wait()}); see {self.log.name}")

    def ask(self, cmd: str) -> dict:
        self.proc.stdin.write(cmd + "\n")
        self.proc.stdin.flush()
        return self.read()

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write("quit\n")
                self.proc.stdin.flush()
                self.proc.wait(timeout=60)
            except (BrokenPipeError, subprocess.TimeoutExpired):
                self.proc.kill()
        self.log.close()


def time_dcg_me(trees: dict[str, Path], args, logs: Path) -> dict[str, list[dict]]:
    workers = {}
    try:
        for name, tree in trees.items():  # started one after the other: compiles don't overlap
            workers[name] = Worker(name, tree, args, logs / f"dcg_me_{name}.log")
            ready = workers[name].read()["ready"]
            print(f"[dcg_me] {name} ready (compile {ready['compile_s']:.0f} s)", flush=True)
        rounds: dict[str, list[dict]] = {n: [] for n in trees}
        for r in range(args.rounds):
            order = list(trees) if r % 2 == 0 else list(reversed(trees))
            for name in order:
                times = workers[name].ask("round")["round"]["times"]
                rounds[name].append(times)
                print(f"[dcg_me] round {r + 1}/{args.rounds} {name}: generation median "
                      f"{statistics.median(times['generation']['wall']):.3f} s", flush=True)
    finally:
        for w in workers.values():
            w.close()
    return rounds


def time_cbo(trees: dict[str, Path], args) -> dict[str, list[dict]]:
    rounds: dict[str, list[dict]] = {n: [] for n in trees}
    for r in range(args.rounds):
        order = list(trees) if r % 2 == 0 else list(reversed(trees))
        for name in order:
            tree = trees[name]
            cmd = [sys.executable, str(tree / "benchmarks" / "cbo_vs_cbxpy.py"), "--worker",
                   "evoflow", "--dtype", "float32", "--sets", "{}", "--iters",
                   str(args.cbo_iters), "--segment", "250", "--warmup", "100", "--seed", "0"]
            proc = subprocess.run(cmd, cwd=tree, env=_env(tree), capture_output=True, text=True)
            lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
            if proc.returncode or not lines:
                raise SystemExit(f"cbo worker of {name} failed ({proc.returncode}):\n"
                                 f"{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
            res = json.loads(lines[-1][len("RESULT "):])
            rounds[name].append(res)
            print(f"[cbo] round {r + 1}/{args.rounds} {name}: {res['ms_per_it_median']:.3f} ms/it"
                  f", {res['successes']}/{res['M']} successes", flush=True)
    return rounds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--old-commit", default=OLD_COMMIT)
    ap.add_argument("--old-tree", help="an existing checkout of the old commit")
    ap.add_argument("--new-tree", default=str(REPO), help="the checkout timed as new (this one)")
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds per side")
    ap.add_argument("--calls", type=int, default=10, help="timed dcg_me calls per round")
    ap.add_argument("--warmup", type=int, default=3, help="untimed dcg_me generations")
    ap.add_argument("--cbo-iters", type=int, default=5000)
    ap.add_argument("--skip-dcg-me", action="store_true")
    ap.add_argument("--skip-cbo", action="store_true")
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "_out" / "engine_vs_old"))
    args = ap.parse_args()

    out = Path(args.out)
    (out / "logs").mkdir(parents=True, exist_ok=True)
    trees = {"old": _old_tree(args), "new": Path(args.new_tree).resolve()}
    for name, tree in trees.items():
        where = _which_evoflow(tree)
        if not Path(where).resolve().is_relative_to(tree.resolve()):
            raise SystemExit(f"{name}: evoflow imports from {where}, not from {tree}")
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=trees["new"],
                          capture_output=True, text=True).stdout.strip()
    print(f"engine_vs_old ({time.strftime('%Y-%m-%d %H:%M:%S %Z')}): new {head} ({trees['new']}) vs old "
          f"{args.old_commit} ({trees['old']})")
    print(f"machine: {os.cpu_count()} CPUs ({cpu_model()})", flush=True)
    result: dict = {"old_commit": args.old_commit, "new_commit": head, "cpu": cpu_model()}
    rows = []
    if not args.skip_dcg_me:
        rounds = time_dcg_me(trees, args, out / "logs")
        gen = {n: statistics.median(w for t in rs for w in t["generation"]["wall"])
               for n, rs in rounds.items()}
        result["dcg_me"] = rounds
        rows.append(("dcrl_me ant_omni generation (s)", gen["old"], gen["new"]))
        paired = [statistics.median(n["generation"]["wall"]) / statistics.median(o["generation"]["wall"])
                  for o, n in zip(rounds["old"], rounds["new"])]
        print("[dcg_me] per-round new/old: " + ", ".join(f"{r:.3f}" for r in paired)
              + f" (median {statistics.median(paired):.3f})")
    if not args.skip_cbo:
        rounds = time_cbo(trees, args)
        for key in ("successes", "shifts"):
            if rounds["old"][0][key] != rounds["new"][0][key]:
                raise SystemExit(f"cbo: old and new differ in {key}: the computation changed")
        ms = {n: statistics.median(r["ms_per_it_median"] for r in rs) for n, rs in rounds.items()}
        result["cbo"] = {n: [{k: v for k, v in r.items() if k != "shifts"} for r in rs]
                         for n, rs in rounds.items()}
        rows.append(("cbo rastrigin float32 (ms/it)", ms["old"], ms["new"]))
    print(f"\n| measure | old {args.old_commit} | new {head} | new/old |\n|---|---|---|---|")
    for label, old, new in rows:
        print(f"| {label} | {old:.4g} | {new:.4g} | {new / old:.3f} |")
    (out / "result.json").write_text(json.dumps(result, indent=1))
    print(f"\nraw figures: {out / 'result.json'}")


if __name__ == "__main__":
    main()
