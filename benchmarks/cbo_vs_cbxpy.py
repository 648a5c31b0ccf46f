"""CBO: evoflow against CBXpy 1.0.4, time per iteration and successes, side by side.

What it measures
----------------
Two configurations of the same CBO dynamics (CBXpy's reference Rastrigin run):

  (a) "rastrigin default": evoflow's `cbo` preset `default` on `rastrigin`, i.e. Rastrigin in the
      standard sum form (A = 10, f = A d + sum[(x-b)^2 - A cos 2 pi (x-b)]), d = 20, anisotropic
      noise, N = 40 particles, sigma = 10.1, alpha0 = 30 multiplied by 1.05 per iteration up to
      1e5, dt = 0.01, lambda = 1, M = 100 independent runs, init U[-3, 3]^d, 5000 iterations,
      no other stopping rule;
  (b) the same dynamics with d = 100, N = 200, M = 10.

For each configuration it runs four implementations, each in its own subprocess (JAX's x64 switch
is process-wide; separate processes also keep the libraries' thread pools apart):

  * CBXpy numpy float64   `cbx.dynamics.CBO(f, f_dim='3D', x=x0, noise='anisotropic', ...)`;
  * CBXpy torch float32   the same class through `cbx.utils.torch_utils.to_torch_dynamic`, on CPU;
  * evoflow float32       `experiment.prepare("cbo", "rastrigin", "default", seed, sets)` and
                          `Engine.advance` (the engine's device loop, no run directory);
  * evoflow float64       the same with `dtype=float64`.

Same problem on both sides: the evoflow float32 worker writes the per-run shifts it drew
(`engine.task_data["shift"]`, the optimum x* of each run) and its initial particles; both CBXpy
runs use exactly these (cast to their dtype). CBXpy's `Rastrigin(b=shift[:, None, :])` broadcasts
a per-run shift over (M, N, d) (its `apply` is `A d + ((x - b)^2 - A cos(2 pi (x - b))).sum(-1)`),
so numpy uses CBXpy's own objective; the torch backend gets the same formula written in torch.
The evoflow float64 run draws its own shifts and particles (see the printed note).

How it is timed
---------------
* CBXpy: `dyn.optimize()` itself, with its default scheduler (`multiply(alpha, factor=1.05)`,
  maximum 1e5, checked at run time), called in segments of `--segment` iterations by raising the
  `max_it` termination criterion between calls; every segment's wall time (and process CPU time)
  is recorded. Nothing to compile; the first segment is kept.
* evoflow: the first `engine.advance(state, 0, W)` call (W = warm-up iterations) compiles and is
  not timed; then `engine.advance(state, k, k + S)` segments, each ended by
  `jax.block_until_ready(state)`. The engine's per-log-block metrics (every `log_every` = 50
  iterations, as in a real run) are included: that is what a run costs.
* "ms/it" is the MEDIAN over segments of (segment wall time / its iterations), which is robust to
  other processes briefly competing for the two cores; "mean" is the total timed wall time over all
  timed iterations; "cpu" is the median of process CPU time per iteration (all threads summed).
  Load averages are printed before and after: compare them when reading the figures.
  numpy runs on one thread; XLA (evoflow) and torch may use both cores, so the CPU-time ratio is
  printed beside the wall-time ratio.
* Successes: runs whose best evaluated particle is within 0.25 of x* in the inf-norm. CBXpy:
  `dyn.best_particle`; evoflow: `strategy.reported(state)` (the best particle), checked against
  the engine's own `success_rate` metric. They always come from the full iteration count.

Usage
-----
    python benchmarks/cbo_vs_cbxpy.py [--device cpu|gpu] [--seed 0] [--quick] [--profile]

`--device gpu` runs the evoflow workers with JAX_PLATFORMS=cuda; CBXpy stays on the CPU.
`--quick` shrinks every run to a few hundred iterations (a smoke check; successes meaningless).
`--profile` adds, for evoflow float32, where the time goes: the compiled chunk's HLO size, the
engine with one log block per segment, a bare `lax.scan` of the engine's iteration (no loop
machinery), a minimal hand-written CBO step with and without the random normal draws, and the
normal draw and the Rastrigin energy each alone.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

from _machine import cpu_model

SUCCESS_TOL = 0.25

# name -> (evoflow --set overrides on the rastrigin/cbo "default" preset, iterations, quick iters)
CONFIGS = {
    "rastrigin default": ({}, 5000, 300),
    "d=100 N=200 M=10": ({"dim": 100, "n_particles": 200, "n_runs": 10}, 5000, 300),
}
# Dynamics shared by both libraries (the preset's values; the evoflow worker asserts they match).
DYNAMICS = {"sigma": 10.1, "alpha": 30.0, "alpha_factor": 1.05, "alpha_max": 1e5, "dt": 0.01,
            "lam": 1.0, "noise": "anisotropic"}


# ------------------------------------------------------------------------------------------------
# helpers


def _segments(total: int, start: int, size: int) -> list[tuple[int, int]]:
    return [(k, min(k + size, total)) for k in range(start, total, size)]


def _timing(segs: list[dict]) -> dict:
    """segs: [{"n": iterations, "wall": s, "cpu": s}] -> per-iteration figures in ms."""
    n = sum(s["n"] for s in segs)
    return {"timed_iterations": n,
            "ms_per_it_median": 1e3 * statistics.median(s["wall"] / s["n"] for s in segs),
            "ms_per_it_mean": 1e3 * sum(s["wall"] for s in segs) / n,
            "cpu_ms_per_it_median": 1e3 * statistics.median(s["cpu"] / s["n"] for s in segs),
            "segments": len(segs)}


def _successes(best, shifts) -> int:
    import numpy as np

    dist = np.max(np.abs(np.asarray(best, np.float64) - np.asarray(shifts, np.float64)), axis=1)
    return int(np.sum(dist < SUCCESS_TOL))


# ------------------------------------------------------------------------------------------------
# evoflow worker


def _min_time(fn, repeats: int = 3) -> float:
    best = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def worker_evoflow(args) -> dict:
    import jax
    import numpy as np

    from evoflow import experiment

    sets, iters, warmup, seg = json.loads(args.sets), args.iters, args.warmup, args.segment
    prep = experiment.prepare("cbo", "rastrigin", "default", args.seed,
                              {**sets, "dtype": args.dtype})
    cfg = prep.cfg
    mismatch = {k: (cfg[k], v) for k, v in DYNAMICS.items() if cfg[k] != v}
    assert not mismatch and cfg["alpha_schedule"] == "multiply" and cfg["init"] == "uniform", \
        f"preset differs from the CBXpy reference: {mismatch}"
    engine = experiment.build_engine(prep, run=None, out=print, quiet=True)
    m = prep.strategy.n_runs
    state = engine.initial_state()
    # Copies: the state is donated to the first advance() call.
    shifts = np.array(engine.task_data["shift"], copy=True)[:m]
    x0 = np.array(state.runs.x, copy=True)[:m]
    if args.init_out:
        np.savez(args.init_out, shifts=shifts, x0=x0)

    t0 = time.perf_counter()
    state, blocks = engine.advance(state, 0, warmup)
    jax.block_until_ready(state)
    first_call_s = time.perf_counter() - t0
    segs = []
    for a, b in _segments(iters, warmup, seg):
        t0, c0 = time.perf_counter(), time.process_time()
        state, blocks = engine.advance(state, a, b)
        jax.block_until_ready(state)
        segs.append({"n": b - a, "wall": time.perf_counter() - t0,
                     "cpu": time.process_time() - c0})
    best = np.asarray(prep.strategy.reported(state))[:m]
    out = {"impl": "evoflow", "dtype": args.dtype, "iterations": iters, "M": m,
           "N": prep.strategy.n, "d": prep.task.dim, "successes": _successes(best, shifts),
           "success_rate_metric": blocks[-1].metrics["success_rate"],
           "compile_s": engine.loop.compile_s, "first_call_s": first_call_s,
           "warmup_iterations": warmup, "devices": [str(d) for d in jax.devices()],
           "shifts": shifts.tolist(), **_timing(segs)}
    if args.profile:
        out["profile"] = _profile_evoflow(args, engine, prep)
    return out


def _profile_evoflow(args, engine, prep) -> dict:
    """Where evoflow's time per iteration goes (float32 worker, --profile)."""
    import jax
    import jax.numpy as jnp

    from evoflow import experiment

    prof: dict = {}
    k = 500
    # 1. Size of the compiled chunk (one jitted call = up to checkpoint_every/log_every blocks).
    chunk = getattr(engine, "_chunk_fn", None)
    if chunk is not None and hasattr(chunk, "as_text"):
        text = chunk.as_text()
        prof["chunk_hlo_chars"] = len(text)
        prof["chunk_hlo_lines"] = text.count("\n")
        prof["chunk_hlo_while_loops"] = text.count(" while(")
        prof["chunk_hlo_sorts"] = text.count(" sort(")
    # 2. The engine with one log block per segment and no snapshots (log/observe overhead).
    sets = {**json.loads(args.sets), "dtype": args.dtype, "log_every": k,
            "checkpoint_every": k, "snapshot_every": 0}
    p2 = experiment.prepare("cbo", "rastrigin", "default", args.seed, sets)
    e2 = experiment.build_engine(p2, run=None, out=print, quiet=True)
    st = e2.initial_state()
    st, _ = e2.advance(st, 0, k)
    box = [st, k]

    def run_logless():
        box[0], _ = e2.advance(box[0], box[1], box[1] + k)
        jax.block_until_ready(box[0])
        box[1] += k

    prof["engine_log_every_500_ms_per_it"] = 1e3 * _min_time(run_logless) / k
    # 3. The engine's own iteration (strategy ask/tell + task evaluation), scanned bare.
    st = engine.initial_state()
    iteration = jax.jit(lambda s, its: jax.lax.scan(
        lambda c, i: (engine._iteration(c, i)[0], None), s, its)[0])
    its = jnp.arange(k, dtype=jnp.int32)
    st = jax.block_until_ready(iteration(st, its))
    box2 = [st]

    def run_iteration():
        box2[0] = jax.block_until_ready(iteration(box2[0], its))

    prof["bare_scan_engine_iteration_ms_per_it"] = 1e3 * _min_time(run_iteration) / k
    # 4. A minimal CBO step in plain JAX, same math and shapes, three ways to get the noise.
    m, n, d = prep.strategy.n_runs, prep.strategy.n, prep.task.dim
    dt_ = jnp.float64 if args.dtype == "float64" else jnp.float32
    shift = jnp.asarray(engine.task_data["shift"], dt_)[:m]

    def make(noise):
        def step(carry, it):
            x, alpha, bx, be, key, xi_fixed = carry
            z = x - shift[:, None, :]
            e = 10.0 * d + jnp.sum(z * z - 10.0 * jnp.cos(2.0 * math.pi * z), axis=-1)
            c = jnp.einsum("mn,mnd->md", jax.nn.softmax(-alpha[:, None] * e, axis=-1), x)
            i = jnp.argmin(e, axis=1)
            emin = jnp.min(e, axis=1)
            bx = jnp.where((emin < be)[:, None], x[jnp.arange(m), i], bx)
            be = jnp.minimum(emin, be)
            diff = x - c[:, None, :]
            k_it = jax.random.fold_in(key, it)
            if noise == "per_run_keys":  # as evoflow: fold_in(key, run) then normal per run
                xi = jax.vmap(lambda r: jax.random.normal(jax.random.fold_in(k_it, r), (n, d),
                                                          dt_))(jnp.arange(m))
            elif noise == "one_draw":
                xi = jax.random.normal(k_it, x.shape, dt_)
            else:  # no random numbers: one precomputed draw reused (costs nothing per step)
                xi = xi_fixed
            x = x - 0.01 * diff + 10.1 * 0.1 * diff * xi
            return (x, jnp.minimum(alpha * 1.05, 1e5), bx, be, key, xi_fixed), None
        return jax.jit(lambda c: jax.lax.scan(step, c, jnp.arange(k))[0])

    x0 = jax.random.uniform(jax.random.key(1), (m, n, d), dt_, -3.0, 3.0)
    for noise in ("per_run_keys", "one_draw", "fixed"):
        fn = make(noise)
        carry = (x0, jnp.full((m,), 30.0, dt_), x0[:, 0], jnp.full((m,), jnp.inf, dt_),
                 jax.random.key(0), jax.random.normal(jax.random.key(2), x0.shape, dt_))
        carry = jax.block_until_ready(fn(carry))
        prof[f"bare_cbo_noise_{noise}_ms_per_it"] = 1e3 * _min_time(
            lambda: jax.block_until_ready(fn(carry))) / k
    # 5. The pieces alone, K times in a fori_loop: the standard normal draw, Rastrigin's energy.
    pieces = {
        "normal_draw_per_run_keys": lambda x, i: x + 1e-9 * jax.vmap(
            lambda r: jax.random.normal(jax.random.fold_in(jax.random.fold_in(
                jax.random.key(0), i), r), (n, d), dt_))(jnp.arange(m)),
        "rastrigin_energy": lambda x, i: x + 1e-9 * (10.0 * d + jnp.sum(
            x * x - 10.0 * jnp.cos(2.0 * math.pi * x), axis=-1))[..., None],
        "loop_floor_x_scale": lambda x, i: x * 0.999,
    }
    for name, body in pieces.items():
        fn = jax.jit(lambda x, body=body: jax.lax.fori_loop(0, k, lambda i, y: body(y, i), x))
        jax.block_until_ready(fn(x0))
        prof[f"piece_{name}_ms_per_it"] = 1e3 * _min_time(
            lambda fn=fn: jax.block_until_ready(fn(x0))) / k
    return prof


# ------------------------------------------------------------------------------------------------
# CBXpy worker


def worker_cbxpy(args) -> dict:
    import numpy as np

    import cbx
    from cbx.dynamics import CBO
    from cbx.objectives import Rastrigin
    from cbx.scheduler import multiply

    init = np.load(args.init)
    iters, seg = args.iters, args.segment
    p = DYNAMICS
    a_dim = 10.0
    if args.backend == "numpy":
        dtype_name = "float64"
        shifts = init["shifts"].astype(np.float64)
        x0 = init["x0"].astype(np.float64)
        f = Rastrigin(b=shifts[:, None, :], c=0.0, A=a_dim)  # b broadcasts per run over (M, N, d)
        z = x0 - shifts[:, None, :]
        own = a_dim * z.shape[-1] + np.sum(z * z - a_dim * np.cos(2 * np.pi * z), axis=-1)
        assert np.allclose(f(x0), own), "cbx Rastrigin(b=(M,1,d)) is not the per-run shift"
        dyn_cls, extra, threads = CBO, {"seed": args.seed}, 1
    else:
        import torch
        from cbx.utils.torch_utils import to_torch_dynamic

        torch.manual_seed(args.seed)
        dtype_name = "float32"
        shifts = init["shifts"].astype(np.float32)
        b = torch.tensor(shifts[:, None, :], dtype=torch.float32)

        def f(x):  # same formula as cbx.objectives.Rastrigin, (M, N, d) -> (M, N)
            z = x - b
            return a_dim * z.shape[-1] + (z * z - a_dim * torch.cos(2 * math.pi * z)).sum(-1)

        x0 = torch.tensor(init["x0"], dtype=torch.float32)
        dyn_cls, extra, threads = to_torch_dynamic(CBO), {"device": "cpu"}, torch.get_num_threads()
    m, n, d = x0.shape
    dyn = dyn_cls(f, f_dim="3D", x=x0, M=m, N=n, d=d, sigma=p["sigma"], alpha=p["alpha"],
                  dt=p["dt"], lamda=p["lam"], noise=p["noise"], max_it=iters, verbosity=0,
                  **extra)
    # optimize(sched='default') uses dyn.default_sched(): check it is multiply(alpha, 1.05, 1e5).
    sched = dyn.default_sched().var_params
    assert (len(sched) == 1 and isinstance(sched[0], multiply) and sched[0].name == "alpha"
            and sched[0].factor == p["alpha_factor"] and sched[0].maximum == p["alpha_max"]), \
        "CBXpy's default scheduler is not multiply(alpha, 1.05, max 1e5)"
    term = dyn.term_criteria[0]  # max_it_term(iters): the only stopping rule
    segs = []
    for a, b_ in _segments(iters, 0, seg):
        term.max_it = b_
        t0, c0 = time.perf_counter(), time.process_time()
        dyn.optimize()
        segs.append({"n": b_ - a, "wall": time.perf_counter() - t0,
                     "cpu": time.process_time() - c0})
    assert dyn.it == iters, (dyn.it, iters)
    alpha = np.asarray(dyn.to_numpy(dyn.alpha) if args.backend == "torch" else dyn.alpha)
    expect = min(p["alpha"] * p["alpha_factor"] ** iters, p["alpha_max"])
    assert np.allclose(alpha, expect, rtol=1e-4), (alpha.ravel()[:3], expect)
    best = dyn.to_numpy(dyn.best_particle) if args.backend == "torch" else dyn.best_particle
    return {"impl": f"CBXpy {args.backend}", "dtype": dtype_name, "iterations": iters, "M": m,
            "N": n, "d": d, "successes": _successes(best, init["shifts"]),
            "cbx_version": getattr(cbx, "__version__", "?"), "threads": threads,
            **_timing(segs)}


# ------------------------------------------------------------------------------------------------
# driver


def _run_worker(kind: str, argv: list[str], env: dict) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", kind, *argv]
    proc = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, text=True)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        raise SystemExit(f"worker failed ({proc.returncode}): {' '.join(argv)}\n{proc.stdout}")
    return json.loads(lines[-1][len("RESULT "):])


def _machine() -> list[str]:
    import jax
    import numpy
    import torch

    import cbx  # noqa: F401
    import evoflow

    model = cpu_model()
    from importlib.metadata import version
    return [f"machine: {os.cpu_count()} CPUs ({model}), {platform.platform()}",
            f"versions: python {platform.python_version()}, evoflow {evoflow.__version__}, "
            f"jax {jax.__version__}, cbx {version('cbx')}, numpy {numpy.__version__}, "
            f"torch {torch.__version__}",
            f"env: OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}, "
            f"JAX_PLATFORMS={os.environ.get('JAX_PLATFORMS', '(unset)')}, "
            f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '(unset)')}"]


def _load() -> str:
    return "load average %.2f %.2f %.2f" % os.getloadavg()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", choices=("cpu", "gpu"), default="cpu",
                    help="where evoflow runs (CBXpy always runs on the CPU)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="a few hundred iterations per run")
    ap.add_argument("--profile", action="store_true",
                    help="also break down evoflow float32's time per iteration")
    ap.add_argument("--segment", type=int, default=250, help="iterations per timed segment")
    ap.add_argument("--warmup", type=int, default=100,
                    help="evoflow: iterations of the first (compiling, untimed) advance() call")
    # worker-only options
    ap.add_argument("--worker", choices=("evoflow", "cbxpy"), help=argparse.SUPPRESS)
    ap.add_argument("--backend", choices=("numpy", "torch"), help=argparse.SUPPRESS)
    ap.add_argument("--dtype", default="float32", help=argparse.SUPPRESS)
    ap.add_argument("--sets", default="{}", help=argparse.SUPPRESS)
    ap.add_argument("--iters", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--init", help=argparse.SUPPRESS)
    ap.add_argument("--init-out", help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.worker:
        res = worker_evoflow(args) if args.worker == "evoflow" else worker_cbxpy(args)
        print("RESULT " + json.dumps(res), flush=True)
        return

    t_start = time.perf_counter()
    print(f"CBO benchmark: evoflow vs CBXpy  ({time.strftime('%Y-%m-%d %H:%M:%S %Z')}, "
          f"seed {args.seed}, evoflow on {args.device}{', QUICK' if args.quick else ''})")
    for line in _machine():
        print(line)
    print(_load() + " (start)", flush=True)

    base_env = dict(os.environ)
    ef_env = {**base_env, "JAX_PLATFORMS": "cuda" if args.device == "gpu" else "cpu"}
    results: dict[str, list[dict]] = {}
    notes: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, (sets, iters, quick_iters) in CONFIGS.items():
            iters = quick_iters if args.quick else iters
            warmup = min(args.warmup, iters // 3)
            init = os.path.join(tmp, f"init_{len(results)}.npz")
            common = ["--seed", str(args.seed), "--sets", json.dumps(sets), "--iters", str(iters),
                      "--segment", str(args.segment)]
            rows = []
            print(f"\n[{name}] evoflow float32 ...", flush=True)
            ef32 = _run_worker("evoflow", common + ["--dtype", "float32", "--warmup", str(warmup),
                                                    "--init-out", init]
                               + (["--profile"] if args.profile else []), ef_env)
            for backend in ("numpy", "torch"):
                print(f"[{name}] CBXpy {backend} ...", flush=True)
                rows.append(_run_worker("cbxpy", common + ["--backend", backend, "--init", init],
                                        base_env))
            rows.append(ef32)
            print(f"[{name}] evoflow float64 ...", flush=True)
            ef64 = _run_worker("evoflow", common + ["--dtype", "float64", "--warmup", str(warmup)],
                               ef_env)
            rows.append(ef64)
            import numpy as np
            dshift = float(np.max(np.abs(np.asarray(ef64["shifts"]) - np.asarray(ef32["shifts"]))))
            if dshift > 0:
                notes.append(f"{name}: evoflow float64 draws other shifts than float32 (max "
                             f"|diff| {dshift:.3g}); CBXpy uses the float32 run's shifts and "
                             f"initial particles")
            for r in (ef32, ef64):
                metric = round(r["success_rate_metric"] * r["M"])
                if metric != r["successes"]:
                    notes.append(f"{name}: evoflow {r['dtype']} success_rate metric says "
                                 f"{metric}/{r['M']}, best particles say {r['successes']}")
            results[name] = rows
            print(_load(), flush=True)

    # ---- report -------------------------------------------------------------------------------
    hdr = (f"{'config':<18} {'implementation':<15} {'dtype':<8} {'M':>4} {'N':>4} {'d':>4} "
           f"{'iters':>6} {'ms/it':>8} {'mean':>8} {'cpu':>8} {'compile':>8} {'successes':>10}")
    print("\n" + hdr + "\n" + "-" * len(hdr))
    for name, rows in results.items():
        for i, r in enumerate(rows):
            comp = f"{r['compile_s']:.2f}s" if "compile_s" in r else "-"
            print(f"{name if i == 0 else '':<18} {r['impl']:<15} {r['dtype']:<8} {r['M']:>4} "
                  f"{r['N']:>4} {r['d']:>4} {r['iterations']:>6} {r['ms_per_it_median']:>8.3f} "
                  f"{r['ms_per_it_mean']:>8.3f} {r['cpu_ms_per_it_median']:>8.3f} {comp:>8} "
                  f"{r['successes']:>4}/{r['M']:<5}")
    print("ms/it: median over segments of wall time per iteration; mean: total timed wall / "
          "timed iterations; cpu: median process CPU time per iteration (all threads); "
          "compile: evoflow's XLA compile time (excluded from ms/it)")
    print()
    verdict = []
    for name, rows in results.items():
        by = {(r["impl"], r["dtype"]): r for r in rows}
        ref = by[("CBXpy numpy", "float64")]["ms_per_it_median"]
        ref_cpu = by[("CBXpy numpy", "float64")]["cpu_ms_per_it_median"]
        for key in (("evoflow", "float32"), ("evoflow", "float64"), ("CBXpy torch", "float32")):
            ratio = by[key]["ms_per_it_median"] / ref
            cpu = by[key]["cpu_ms_per_it_median"] / ref_cpu
            print(f"{name}: {key[0]} {key[1]} / CBXpy numpy float64 = {ratio:.2f}x "
                  f"(CPU time: {cpu:.2f}x)")
        if name == "rastrigin default" and not args.quick:
            r32 = by[("evoflow", "float32")]
            ratio = r32["ms_per_it_median"] / ref
            verdict.append(f"acceptance (rastrigin default): time ratio {ratio:.2f}x "
                           f"{'<=' if ratio <= 0.3 else '>'} 0.3x -> "
                           f"{'PASS' if ratio <= 0.3 else 'FAIL'}; successes "
                           f"{r32['successes']}/{r32['M']} -> "
                           f"{'PASS' if r32['successes'] >= 97 else 'FAIL'}")
    for line in verdict:
        print(line)
    for line in notes:
        print("note: " + line)
    if args.profile:
        print("\nevoflow float32 profile (ms per iteration; min of 3 x 500 iterations):")
        for name, rows in results.items():
            prof = next(r for r in rows if r["impl"] == "evoflow" and r["dtype"] == "float32")
            print(f"  {name}: engine.advance as timed above: {prof['ms_per_it_median']:.3f}")
            for k, v in prof.get("profile", {}).items():
                print(f"  {name}: {k}: {v:.3f}" if isinstance(v, float) else
                      f"  {name}: {k}: {v}")
    print(f"\n{_load()} (end); script wall time {time.perf_counter() - t_start:.0f} s")


if __name__ == "__main__":
    main()
