"""CBO on scikit-learn's digits, next to Adam on the same network, data and seeds.

What it measures:

1. CBO through the CLI, exactly as a user runs it: for each seed S (default 0, 1, 2) a subprocess
   `evoflow run cbo --env digits --seed S --preset P --out DIR --quiet [--set k=v ...]`. From each
   run's summary.json it prints `test_accuracy` (the consensus point on the fixed 360-sample test
   split) and `time/wall_s` (the engine's wall clock for the run, compilation included, Python
   start-up excluded), then the means.
2. A gradient baseline on the SAME problem: the network (`hidden`), the initial distribution
   (`init`, `init_std` / `init_scale`) and the data mini-batch size (`data_batch`) are read back
   from the CBO run's own config.json, and the split and the model come from
   `evoflow.tasks.digits` (`digits_split`, `logits`, `cross_entropy`, `n_params`), so both methods
   see identical data and identical model code. Adam (optax) with a fixed learning rate
   (default 1e-2) runs a fixed number of epochs (default 100); an epoch reshuffles the 1,437
   training samples and takes floor(1437 / data_batch) mini-batches (the remainder is dropped
   that epoch). No early stopping, no tuning on the test split; the final parameters are scored.
   Adam's initial parameters and shuffles come from `jax.random.key(seed)`.

Usage:
    python benchmarks/cbo_digits.py                     # default preset, seeds 0 1 2
    python benchmarks/cbo_digits.py --set sigma_floor=0 # the same without the noise floor
    python benchmarks/cbo_digits.py --out runs/bench --seeds 0 1 2 3 4 --lr 3e-3 --epochs 50

Runs one CBO process at a time, so the wall times are not inflated by each other.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

from evoflow.tasks.digits import cross_entropy, digits_split, logits, n_params


def evoflow_command() -> list[str]:
    """The `evoflow` console script of this interpreter's environment (PATH as a fallback)."""
    local = os.path.join(os.path.dirname(sys.executable), "evoflow")
    if os.path.exists(local):
        return [local]
    found = shutil.which("evoflow")
    if found is None:
        sys.exit("cbo_digits: no `evoflow` command; install the package (pip install -e .)")
    return [found]


def run_cbo(seed: int, preset: str, sets: list[str], out: str) -> dict:
    """One CLI run; returns its summary.json plus the config it ran with."""
    parent = os.path.join(out, f"seed{seed}")
    os.makedirs(parent, exist_ok=True)
    cmd = [*evoflow_command(), "run", "cbo", "--env", "digits", "--seed", str(seed),
           "--preset", preset, "--out", parent, "--quiet"]
    for s in sets:
        cmd += ["--set", s]
    before = set(glob.glob(os.path.join(parent, "*", "summary.json")))
    proc = subprocess.run(cmd, capture_output=True, text=True)
    after = set(glob.glob(os.path.join(parent, "*", "summary.json"))) - before
    if proc.returncode != 0 or len(after) != 1:
        sys.exit(f"cbo_digits: `{' '.join(cmd)}` failed (exit {proc.returncode}):\n"
                 f"{proc.stderr[-2000:]}")
    path = after.pop()
    with open(path) as f:
        summary = json.load(f)
    with open(os.path.join(os.path.dirname(path), "config.json")) as f:
        summary["_config"] = json.load(f)["config"]
    summary["_dir"] = os.path.dirname(path)
    return summary


def init_params(key, cfg: dict, dim: int) -> jax.Array:
    """CBO's initial distribution for one particle (the task's init box is [-s, s]^d)."""
    if cfg["init"] == "gaussian":
        return cfg["init_std"] * jax.random.normal(key, (dim,), jnp.float32)
    s = cfg["init_scale"]
    return jax.random.uniform(key, (dim,), jnp.float32, -s, s)


def run_adam(seed: int, cfg: dict, lr: float, epochs: int) -> tuple[float, float, float]:
    """(test_accuracy, train_accuracy, seconds) of Adam on the same network and split."""
    hidden, batch = list(cfg["hidden"]), int(cfg["data_batch"])
    x_tr, y_tr, x_te, y_te = (jnp.asarray(a) for a in digits_split())
    n_batches = x_tr.shape[0] // batch
    opt = optax.adam(lr)
    k_init, k_data = jax.random.split(jax.random.key(seed))

    def step(carry, idx):
        w, st = carry
        loss, g = jax.value_and_grad(cross_entropy)(w, x_tr[idx], y_tr[idx], hidden)
        upd, st = opt.update(g, st, w)
        return (optax.apply_updates(w, upd), st), loss

    def epoch(carry, k):
        perm = jax.random.permutation(k, x_tr.shape[0])[:n_batches * batch]
        return jax.lax.scan(step, carry, perm.reshape(n_batches, batch))[0], None

    @jax.jit
    def train(k_init, k_data):
        w = init_params(k_init, cfg, n_params(hidden))
        (w, _), _ = jax.lax.scan(epoch, (w, opt.init(w)), jax.random.split(k_data, epochs))
        return w

    def accuracy(w, x, y):
        return float(jnp.mean(jnp.argmax(logits(w, x, hidden), -1) == y))

    t0 = time.perf_counter()
    w = jax.block_until_ready(train(k_init, k_data))
    seconds = time.perf_counter() - t0
    return accuracy(w, x_te, y_te), accuracy(w, x_tr, y_tr), seconds


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--preset", default="default")
    ap.add_argument("--set", dest="sets", action="append", default=[], metavar="K=V",
                    help="passed to evoflow run as --set K=V (repeatable)")
    ap.add_argument("--out", default=None, help="parent of the run directories "
                    "(default: a temporary directory, deleted at the end)")
    ap.add_argument("--lr", type=float, default=1e-2, help="Adam learning rate")
    ap.add_argument("--epochs", type=int, default=100, help="Adam epochs")
    args = ap.parse_args(argv)

    t_start = time.perf_counter()
    out = args.out or tempfile.mkdtemp(prefix="cbo_digits_")
    sets = "".join(f" --set {s}" for s in args.sets)
    print(f"CBO: evoflow run cbo --env digits --seed S --preset {args.preset}{sets} --quiet "
          f"(S = {' '.join(map(str, args.seeds))}; --out {out})")
    try:
        runs = []
        print(f"{'seed':>4}  {'test_accuracy':>13}  {'train_accuracy':>14}  {'time/wall_s':>11}")
        for seed in args.seeds:
            s = run_cbo(seed, args.preset, args.sets, out)
            runs.append(s)
            print(f"{seed:>4}  {s['test_accuracy']:>13.4f}  {s['train_accuracy']:>14.4f}  "
                  f"{s['time/wall_s']:>11.1f}", flush=True)
        acc = [s["test_accuracy"] for s in runs]
        wall = [s["time/wall_s"] for s in runs]
        print(f"{'mean':>4}  {np.mean(acc):>13.4f}  "
              f"{np.mean([s['train_accuracy'] for s in runs]):>14.4f}  {np.mean(wall):>11.1f}"
              f"   (min test {min(acc):.4f}, max wall {max(wall):.1f} s)")

        cfg = runs[0]["_config"]
        init = (f"N(0, {cfg['init_std']}^2)" if cfg["init"] == "gaussian"
                else f"U(-{cfg['init_scale']}, {cfg['init_scale']})")
        print(f"\nAdam (optax.adam lr={args.lr:g}), {args.epochs} epochs of shuffled mini-batches "
              f"of {cfg['data_batch']} (floor(1437/{cfg['data_batch']}) = "
              f"{1437 // cfg['data_batch']} steps/epoch), same network hidden={cfg['hidden']} "
              f"({n_params(cfg['hidden'])} parameters), init {init}:")
        print(f"{'seed':>4}  {'test_accuracy':>13}  {'train_accuracy':>14}  {'seconds':>11}")
        adam = []
        for seed in args.seeds:
            te, tr, sec = run_adam(seed, cfg, args.lr, args.epochs)
            adam.append((te, tr, sec))
            print(f"{seed:>4}  {te:>13.4f}  {tr:>14.4f}  {sec:>11.1f}", flush=True)
        print(f"{'mean':>4}  {np.mean([a[0] for a in adam]):>13.4f}  "
              f"{np.mean([a[1] for a in adam]):>14.4f}  {np.mean([a[2] for a in adam]):>11.1f}")
    finally:
        if args.out is None:
            shutil.rmtree(out, ignore_errors=True)
    print(f"\ntotal {time.perf_counter() - t_start:.0f} s")


if __name__ == "__main__":
    main()
