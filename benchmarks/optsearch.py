"""Optimizer search speed: candidates per minute per executor, and the exported Lion's step time.

    python benchmarks/optsearch.py                 # digits_mlp size s, the default preset's task
    python benchmarks/optsearch.py --run RUN       # also the cache rates of a finished search

Candidates are a chain of mutations of adamw_nobc (the search's own operators, seed 0), each
trained as a search candidate is (lr grid x 2 seeds, 500 steps). Executors:
- `interpret`: one executable for every program (op codes through lax.switch);
- `compile`: one executable per program structure (constants traced), cached;
- `naive`: one executable per program (what compiling each candidate would cost).
First-call compile time is included for every executor, as in a search.

Lion: ms per `step()` of the exported module (`evoflow export --program lion --format torch`)
against `lion_pytorch.Lion` on a ~100k-parameter MLP (float32, CPU), alternating, median of
rounds.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _machine import cpu_model  # noqa: E402


def candidates(n: int):
    import numpy as np

    from evoflow.algorithms.optsearch import ir
    from evoflow.algorithms.optsearch.mutation import mutate

    rng = np.random.default_rng(0)
    prog, out = ir.load("adamw_nobc"), []
    for _ in range(n):
        prog = mutate(prog, rng).program
        out.append(prog)
    return out


def rate(kind: str, progs, task) -> dict:
    import numpy as np

    from evoflow.algorithms.optsearch.executor import Executor

    ex = Executor(task["proxy"], task["data"], "compile" if kind == "naive" else kind)
    grid = np.array([1 / 3, 1.0, 3.0])  # the task's default lr_grid
    t0 = time.perf_counter()
    for p in progs:
        if kind == "naive":
            ex._compiled.clear()  # no reuse: one executable per program
        ex.train(p, p.default_lr * grid, [0, 1])
    dt = time.perf_counter() - t0
    return {"executor": kind, "candidates": len(progs), "seconds": dt,
            "per_minute": 60 * len(progs) / dt, "compiles": ex.compile_count,
            "compile_s": ex.compile_s}


def lion_step_ms(rounds: int = 9, steps: int = 200) -> dict:
    import torch
    from lion_pytorch import Lion as RefLion

    from evoflow.algorithms.optsearch import export, ir

    torch.set_num_threads(os.cpu_count() or 1)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "lion_opt.py"
        path.write_text(export.torch_source(ir.load("lion")))
        spec = importlib.util.spec_from_file_location("lion_opt", path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        torch.manual_seed(0)
        net = torch.nn.Sequential(torch.nn.Linear(256, 256), torch.nn.ReLU(),
                                  torch.nn.Linear(256, 128), torch.nn.ReLU(),
                                  torch.nn.Linear(128, 10))
        for p in net.parameters():
            p.grad = torch.randn_like(p)
        makers = {"evoflow": lambda ps: mod.Lion(ps, lr=1e-4, weight_decay=0.1),
                  "evoflow foreach": lambda ps: mod.Lion(ps, lr=1e-4, weight_decay=0.1,
                                                         foreach=True),
                  "lion_pytorch": lambda ps: RefLion(ps, lr=1e-4, weight_decay=0.1)}
        times = {k: [] for k in makers}
        opts = {k: make(net.parameters()) for k, make in makers.items()}
        for _ in range(rounds):
            for k, opt in opts.items():
                opt.step()  # warm
                t0 = time.perf_counter()
                for _ in range(steps):
                    opt.step()
                times[k].append(1e3 * (time.perf_counter() - t0) / steps)
        n = sum(p.numel() for p in net.parameters())
    return {"params": n, **{k: statistics.median(v) for k, v in times.items()}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=60, help="candidates for interpret and compile")
    ap.add_argument("--n-naive", type=int, default=12, help="candidates for naive")
    ap.add_argument("--run", help="a finished optsearch run: print its cache rates")
    args = ap.parse_args()
    os.environ.setdefault("JAX_PLATFORMS", "cpu")

    from evoflow.algorithms.optsearch import proxy as px

    d = px.split()
    task = {"proxy": px.proxy_for("digits_mlp", "s"),
            "data": {"x_train": d["x_train"], "y_train": d["y_train"], "x_eval": d["x_val"],
                     "y_eval": d["y_val"]}}
    print(f"optsearch benchmark ({time.strftime('%Y-%m-%d %H:%M:%S %Z')}); machine: "
          f"{os.cpu_count()} CPUs ({cpu_model()})", flush=True)
    progs = candidates(args.n)
    rows = [rate("interpret", progs, task), rate("compile", progs, task),
            rate("naive", progs[:args.n_naive], task)]
    print("\n| executor | candidates | s | candidates/min | compiles | compile s |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['executor']} | {r['candidates']} | {r['seconds']:.1f} | "
              f"{r['per_minute']:.1f} | {r['compiles']} | {r['compile_s']:.1f} |")
    ratio = rows[0]["per_minute"] / rows[2]["per_minute"]
    print(f"\ninterpret / naive candidates per minute: {ratio:.1f}x")
    lion = lion_step_ms()
    print(f"\nLion step, {lion['params']:,} params, float32: exported "
          f"{lion['evoflow']:.3f} ms (foreach {lion['evoflow foreach']:.3f} ms), lion_pytorch "
          f"{lion['lion_pytorch']:.3f} ms; ratio {lion['evoflow'] / lion['lion_pytorch']:.2f} "
          f"(foreach {lion['evoflow foreach'] / lion['lion_pytorch']:.2f})")
    if args.run:
        run = Path(args.run)
        if not (run / "summary.json").exists():  # the --out folder of one run
            run = next(run.glob("*/summary.json")).parent
        s = json.loads((run / "summary.json").read_text())
        print("\nrun rates: " + ", ".join(f"{k} {s.get(k)}" for k in (
            "candidates", "evaluations", "cache_hit_rate", "fec_hit_rate", "invalid_rate",
            "nonfinite_rate", "redundant_rate", "time/wall_s")))


if __name__ == "__main__":
    main()
