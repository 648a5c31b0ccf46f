"""DCRL-ME: evoflow against QDax 0.5.0 on ant_omni, time per phase and QD score, side by side.

The peer (QDax) runs in its own venv, outside the repository, because QDax 0.5.0 needs an old
JAX stack. Create it once (about 1 GB; PyPI must be reachable):

    python3.11 -m venv ../peer/qdax-venv        # next to the checkout: <checkout>/../peer
    PIP_CONSTRAINT= ../peer/qdax-venv/bin/pip install "qdax==0.5.0" "jax==0.4.30" \\
        "jaxlib==0.4.30" "brax==0.10.5" "flax==0.8.5" "mujoco<3.2" "chex<0.1.88" \\
        "optax<0.2.4" "numpy<2"

(`PIP_CONSTRAINT=` empty only switches off a machine-wide pip constraint file, if there is one.)
`--peer-python PY` points at another interpreter with that stack.

What runs
---------
evoflow: `dcrl_me` on `ant_omni`, preset `default` (`--quick`: `tiny`): GA 32 / PG 16 / AI 16
offspring per generation, 250-step episodes, 512 CVT cells from 25,600 samples, 300 critic steps
(actor every 2nd) and 50 PG steps per generation, minibatch 100, replay 1e5, policy and DC actor
tanh MLPs (128, 128), twin critic ReLU (256, 256), lr policy 5e-3 / critic 3e-4 / actor 3e-4,
discount 0.99, tau 0.005, target noise 0.2 clipped at 0.5, lengthscale 0.1, sigma_iso 0.005,
sigma_line 0.05, 10,240 evaluations, stochastic resets, brax 0.14 `spring`.

QDax: `benchmarks/_qdax_peer.py` under the peer python: `DCRLMEEmitter(DCRLMEConfig(...))` and
`MAPElites` on `qdax.tasks.brax.v2` `ant_omni` (brax 0.10.5 `spring`), every setting above copied
from evoflow's resolved config (the evoflow worker reports it; nothing is typed twice), the same
CVT centroids (evoflow's, passed as a .npy file), tanh policies and DC actor (QDax's MLP default
is ReLU), QDax's own `OffsetRewardWrapper(3.0)` + `ClipRewardWrapper` so that every step's reward
is offset by 3.0 and clipped at 0 as in evoflow, stochastic resets (`play_reset_fn = env.reset`),
QD score without `qd_offset`.

How it is timed
---------------
Both sides run as persistent worker processes that build, compile and run `--warmup` generations
first (untimed), then serve timing rounds. The parent alternates them (round r: evoflow then QDax
for even r, QDax then evoflow for odd r), so slow drifts in the load of this shared machine hit
both sides alike; the worker not being timed is idle (blocked on a pipe). In each round, each side
times `--calls` calls (each ended by `block_until_ready`) of:

  rollout      one generation's offspring (64 policies x 250 steps) through the task's
               jitted evaluation (evoflow: `vmap(task.evaluate)` as the engine calls it; QDax:
               `scoring_function_brax_envs`), transitions included;
  critic       the per-generation critic/actor training, 300 critic + 150 actor steps (evoflow:
               `strategy.train_critic`; QDax: `lax.scan` of `DCRLEmitter._scan_actor_critic_training`
               over its 150 iterations, exactly as in its `state_update`);
  pg           the PG variation of 16 parents x 50 Adam steps (evoflow: `strategy.pg_variation`;
               QDax: `DCRLEmitter.emit_pg`);
  add          inserting the 64 offspring into the archive (`archive.add` / `repertoire.add`)
               in place: jitted with the archive donated, a fresh copy of it made (untimed)
               before each call, so no copy of the archive is timed (as in a run, where the
               state is donated; inside the generation's program XLA may still do better);
  add_copy     the same jitted without donation, as a user calling `jax.jit(add)` on a live
               archive sees it: it also copies the archive (512 x 21,128 float32 genotypes);
  generation   one whole generation as a run executes it (evoflow: `engine.advance(state, i, i+1)`,
               the engine's jitted device loop with its metrics; QDax: `jax.jit(MAPElites.update,
               donate_argnums=(0, 1))`, i.e. ask + score + add + replay insert + training + metrics).

The pieces are timed on the state reached after the warm-up (and previous rounds); `generation`
advances it. The table gives the median over all rounds x calls, the evoflow/QDax ratio of those
medians, and the range of the per-round ratios (a measure of how much load moved the result).
`cpu` is the median process CPU time per call (all threads), so one can see whether a side uses
both cores.

QD score: `evoflow run dcrl_me --env ant_omni --seed S --out OUT/evoflow/sS` (a subprocess; a run
with a summary.json is reused, an interrupted one resumed) and the peer's `--mode score` (result
in OUT/qdax/sS.json, reused when present), S = 0..K-1; medians and the ratio evoflow/QDax.

Usage
-----
    python benchmarks/dcg_me_vs_qdax.py [--peer-python PY] [--seeds 3] [--rounds 3] [--calls 10]
        [--skip-timing] [--skip-score] [--out benchmarks/_out/dcg_me_vs_qdax] [--quick]

`--quick`: evoflow's `tiny` preset (and the same shapes for QDax), 1 round of 3 calls, 1 seed: a
smoke check of the machinery; its numbers mean nothing. Results and logs go under `--out`
(`--quick`: `--out`/quick). The final table (markdown) is written to stdout and `OUT/table.md`.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _machine import commit, cpu_model
from _timing import timed

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DEFAULT_PEER = REPO.parent / "peer" / "qdax-venv" / "bin" / "python"
INSTALL = (
    'python3.11 -m venv {venv} && PIP_CONSTRAINT= {venv}/bin/pip install "qdax==0.5.0" '
    '"jax==0.4.30" "jaxlib==0.4.30" "brax==0.10.5" "flax==0.8.5" "mujoco<3.2" "chex<0.1.88" '
    '"optax<0.2.4" "numpy<2"')
PHASES = ("rollout", "critic", "pg", "add", "add_copy", "generation")


def phase_label(ph: str, c: dict) -> str:
    b = c["n_ga"] + c["n_pg"] + c["n_ai"]
    return {"rollout": f"rollout ({b} offspring x {c['episode_length']} steps)",
            "critic": f"critic training ({c['critic_steps']} critic + "
                      f"{c['critic_steps'] // c['policy_delay']} actor steps)",
            "pg": f"PG variation ({c['n_pg']} offspring x {c['pg_steps']} steps)",
            "add": f"archive add ({b} offspring, in place)",
            "add_copy": f"archive add ({b} offspring, jit without donation: + archive copy)",
            "generation": "whole generation"}[ph]
# evoflow config keys copied to the peer (same names there)
SHARED_KEYS = ("episode_length", "policy_hidden", "critic_hidden", "n_cells", "cvt_samples",
               "cvt_seed", "n_ga", "n_pg", "n_ai", "pg_steps", "critic_steps", "replay_size",
               "minibatch", "policy_lr", "critic_lr", "actor_lr", "discount", "tau",
               "policy_noise", "noise_clip", "policy_delay", "lengthscale", "iso_sigma",
               "line_sigma", "evaluations", "brax_backend")


# ------------------------------------------------------------------------------------------------
# evoflow worker (runs under this venv's python)


def _emit(obj) -> None:
    print("MSG " + json.dumps(obj), flush=True)


def _evoflow_setup(preset: str, seed: int, centroids_out: str | None):
    import numpy as np

    from evoflow import experiment
    from evoflow.tasks.brax_qd import SPECS

    prep = experiment.prepare("dcrl_me", "ant_omni", preset, seed, {})
    cfg, task, s = prep.cfg, prep.task, prep.strategy
    problems = {k: v for k, v in {"resets": (cfg["resets"], "stochastic"),
                                  "n_actor": (cfg["n_actor"], 0), "archive": (cfg["archive"], "cvt"),
                                  "dtype": (cfg["dtype"], "float32")}.items() if v[0] != v[1]}
    assert not problems, f"preset differs from what the peer implements: {problems}"
    lo, hi = task.descriptor_box()
    peer_cfg = {k: cfg[k] for k in SHARED_KEYS}
    peer_cfg.update(reward_offset=SPECS["ant_omni"].offset,
                    descriptor_low=[float(v) for v in lo], descriptor_high=[float(v) for v in hi])
    if centroids_out:
        np.save(centroids_out, np.asarray(s.centroids, np.float32))
    return prep, peer_cfg


def _versions_evoflow() -> dict:
    from importlib.metadata import version

    import evoflow

    out = {"evoflow": evoflow.__version__}
    for k in ("jax", "jaxlib", "brax", "flax", "mujoco", "optax", "numpy"):
        try:
            out[k] = version(k)
        except Exception:  # noqa: BLE001
            out[k] = "?"
    return out


def worker_evoflow(args) -> None:
    import jax

    from evoflow import experiment
    from evoflow.algorithms.map_elites import archive as arc

    prep, peer_cfg = _evoflow_setup(args.preset, args.seed, args.centroids_out)
    if args.worker == "evoflow-config":
        _emit({"config": peer_cfg, "versions": _versions_evoflow()})
        return
    s, task = prep.strategy, prep.task
    engine = experiment.build_engine(prep, run=None, out=lambda _: None, quiet=True)
    t0 = time.perf_counter()
    state = engine.initial_state()
    state, _ = engine.advance(state, 0, args.warmup)  # compiles the device loop
    jax.block_until_ready(state)
    warm_s = time.perf_counter() - t0
    it = args.warmup
    key = [jax.random.key(args.seed + 1000)]

    def next_key():
        key[0], sub = jax.random.split(key[0])
        return sub

    ask = jax.jit(lambda k, st: s.ask(k, st))
    rollout = jax.jit(lambda pop, k: jax.vmap(task.evaluate)(engine.task_data, pop,
                                                             engine._eval_keys(k)))
    critic = jax.jit(s.train_critic)
    pg = jax.jit(s.pg_variation)
    add = jax.jit(arc.add)
    add_inplace = jax.jit(arc.add, donate_argnums=(0,))
    copy = jax.jit(lambda a: jax.tree_util.tree_map(lambda x: x + 0, a))
    parents = jax.jit(lambda k, a: arc.sample_parents(k, a, s.counts["pg"]))

    def pieces(state):
        k = next_key()
        pop, st = ask(k, state)
        ev = rollout(pop, jax.random.fold_in(k, 2))
        x, cells = parents(jax.random.fold_in(k, 1), state.archive)
        d_p = s.normalize(state.archive.descriptor[cells])
        return {
            "rollout": lambda: rollout(pop, jax.random.fold_in(k, 3)),
            "critic": lambda: critic(jax.random.fold_in(k, 4), state),
            "pg": lambda: pg(jax.random.fold_in(k, 5), x, d_p, state),
            # in place (archive donated; a fresh copy made untimed before each call): no archive
            # copy is timed, as in a run; add_copy: jit(add) on a live archive (plus a copy)
            "add": (lambda: copy(state.archive),
                    lambda a: add_inplace(a, pop[0], ev.descriptor[0], ev.fitness[0],
                                          st.emitter, state.generation, st.parent)),
            "add_copy": lambda: add(state.archive, pop[0], ev.descriptor[0], ev.fitness[0],
                                    st.emitter, state.generation, st.parent),
        }

    t1 = time.perf_counter()
    for fn in pieces(state).values():
        timed(fn, 1)
    pieces_s = time.perf_counter() - t1
    _emit({"ready": {"impl": "evoflow", "versions": _versions_evoflow(), "config": peer_cfg,
                     "warmup_generations": args.warmup, "warmup_s": warm_s,
                     "compile_s": engine.loop.compile_s, "pieces_first_call_s": pieces_s,
                     "obs_dim": task.obs_dim, "act_dim": task.act_dim, "batch": s.b,
                     "devices": [str(d) for d in jax.devices()]}})
    for line in sys.stdin:
        cmd = line.strip()
        if cmd == "quit":
            break
        if cmd != "round":
            _emit({"error": f"unknown command {cmd!r}"})
            continue
        times = {name: timed(fn, args.calls) for name, fn in pieces(state).items()}
        box = [state, it]

        def generation(box=box):
            box[0], _ = engine.advance(box[0], box[1], box[1] + 1)
            box[1] += 1
            return box[0]

        times["generation"] = timed(generation, args.calls)
        state, it = box
        _emit({"round": {"impl": "evoflow", "times": times, "load": os.getloadavg()}})


# ------------------------------------------------------------------------------------------------
# driver


class Worker:
    """A persistent worker process speaking `MSG <json>` lines on stdout."""

    def __init__(self, name: str, cmd: list[str], log: Path):
        self.name = name
        self.log = open(log, "a")  # noqa: SIM115 (open for the worker's lifetime)
        self.log.write(f"\n$ {' '.join(cmd)}\n")
        self.log.flush()
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.log, text=True, bufsize=1, cwd=REPO)

    def read(self) -> dict:
        for line in self.proc.stdout:
            if line.startswith("MSG "):
                return json.loads(line[4:])
            self.log.write(line)
        self.log.flush()
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


def _load() -> str:
    return "load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def _machine() -> list[str]:
    model = cpu_model()
    return [(f"machine: {os.cpu_count()} CPUs ({model}), {platform.platform()}, "
             f"python {platform.python_version()}")]


def _peer_cmd(peer: str, *extra: str) -> list[str]:
    return [peer, str(HERE / "_qdax_peer.py"), *extra]


def _ef_cmd(*extra: str) -> list[str]:
    return [sys.executable, str(Path(__file__).resolve()), *extra]


def run_timing(args, out: Path, preset: str, centroids: Path) -> dict:
    logs = out / "logs"
    print(f"\n[timing] starting the evoflow worker (preset {preset}; compiles, then "
          f"{args.warmup} warm-up generations) ... {_load()}", flush=True)
    ef = Worker("evoflow", _ef_cmd("--worker", "evoflow-timing", "--preset", preset,
                                   "--seed", "0", "--warmup", str(args.warmup), "--calls",
                                   str(args.calls), "--centroids-out", str(centroids)),
                logs / "timing_evoflow.log")
    workers = [ef]
    try:
        ready_ef = ef.read()["ready"]
        print(f"[timing] evoflow ready: warm-up {ready_ef['warmup_s']:.0f} s (compile "
              f"{ready_ef['compile_s']:.0f} s) ... starting QDax", flush=True)
        qd = Worker("qdax", _peer_cmd(args.peer_python, "--mode", "timing", "--seed", "0",
                                      "--config", json.dumps(ready_ef["config"]), "--centroids",
                                      str(centroids), "--warmup", str(args.warmup), "--calls",
                                      str(args.calls)), logs / "timing_qdax.log")
        workers.append(qd)
        ready_qd = qd.read()["ready"]
        print(f"[timing] QDax ready: warm-up {ready_qd['warmup_s']:.0f} s", flush=True)
        rounds = {"evoflow": [], "qdax": []}
        for r in range(args.rounds):
            order = [("evoflow", ef), ("qdax", qd)]
            if r % 2:
                order.reverse()
            for name, w in order:
                t0 = time.perf_counter()
                res = w.ask("round")["round"]
                rounds[name].append(res)
                gen = statistics.median(res["times"]["generation"]["wall"])
                print(f"[timing] round {r + 1}/{args.rounds} {name}: {time.perf_counter() - t0:.0f}"
                      f" s, generation median {gen:.3f} s, {_load()}", flush=True)
    finally:
        for w in workers:
            w.close()
    return {"ready": {"evoflow": ready_ef, "qdax": ready_qd}, "rounds": rounds,
            "calls": args.calls, "warmup": args.warmup}


def _summaries(d: Path) -> list[Path]:
    return sorted(Path(p) for p in glob.glob(str(d / "*" / "summary.json")))


def run_evoflow_score(args, out: Path, preset: str, seed: int) -> dict:
    d = out / "evoflow" / f"s{seed}"
    done = _summaries(d)
    log = out / "logs" / f"score_evoflow_s{seed}.log"
    if not done:
        d.mkdir(parents=True, exist_ok=True)
        partial = [p for p in sorted(d.iterdir()) if p.is_dir() and (p / "checkpoints").is_dir()
                   and any((p / "checkpoints").iterdir())]
        evoflow = str(Path(sys.executable).with_name("evoflow"))
        if partial:
            cmd = [evoflow, "resume", str(partial[-1])]
        else:
            cmd = [evoflow, "run", "dcrl_me", "--env", "ant_omni", "--preset", preset, "--seed",
                   str(seed), "--out", str(d)]
        print(f"[score] evoflow seed {seed}: {' '.join(cmd[1:])} ... {_load()}", flush=True)
        t0 = time.perf_counter()
        rc = _run_logged(cmd, log)
        if rc != 0:
            raise SystemExit(f"evoflow run failed (exit {rc}); see {log}")
        print(f"[score] evoflow seed {seed}: {time.perf_counter() - t0:.0f} s", flush=True)
        done = _summaries(d)
    summary = json.loads(done[-1].read_text())
    return {"impl": "evoflow", "seed": seed, "run": str(done[-1].parent),
            "generations": summary.get("generations", summary.get("iterations")),
            **{k: summary.get(k) for k in ("evaluations", "qd_score", "coverage", "max_fitness",
                                           "time/wall_s", "time/compile_s")}}


def _run_logged(cmd: list[str], log: Path) -> int:
    """Run cmd with its output appended to log (after the command line); its exit code."""
    with open(log, "a") as f:
        f.write(f"\n$ {' '.join(cmd)}\n")
        f.flush()
        return subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, cwd=REPO,
                              check=False).returncode


def run_qdax_score(args, out: Path, seed: int, cfg: dict, centroids: Path) -> dict:
    res_file = out / "qdax" / f"s{seed}.json"
    if not res_file.exists():
        res_file.parent.mkdir(parents=True, exist_ok=True)
        log = out / "logs" / f"score_qdax_s{seed}.log"
        cmd = _peer_cmd(args.peer_python, "--mode", "score", "--seed", str(seed), "--config",
                        json.dumps(cfg), "--centroids", str(centroids), "--result", str(res_file))
        print(f"[score] QDax seed {seed} ... {_load()}", flush=True)
        t0 = time.perf_counter()
        rc = _run_logged(cmd, log)
        if rc != 0 or not res_file.exists():
            raise SystemExit(f"QDax run failed (exit {rc}); see {log}")
        print(f"[score] QDax seed {seed}: {time.perf_counter() - t0:.0f} s", flush=True)
    res = json.loads(res_file.read_text())
    return {k: res[k] for k in ("impl", "seed", "evaluations", "generations", "qd_score",
                                "coverage", "max_fitness", "wall_s", "compile_s")}


def _med(xs):
    return statistics.median(xs) if xs else float("nan")


def timing_table(t: dict, cfg: dict) -> list[str]:
    rows = [("| phase | evoflow median (s) | QDax median (s) | evoflow/QDax | per-round ratios "
             "| evoflow cpu (s) | QDax cpu (s) |"), "|---|---|---|---|---|---|---|"]
    ratios = {}
    for ph in PHASES:
        med, cpu, per_round = {}, {}, {}
        for side in ("evoflow", "qdax"):
            rs = t["rounds"][side]
            med[side] = _med([x for r in rs for x in r["times"][ph]["wall"]])
            cpu[side] = _med([x for r in rs for x in r["times"][ph]["cpu"]])
            per_round[side] = [_med(r["times"][ph]["wall"]) for r in rs]
        ratio = med["evoflow"] / med["qdax"]
        ratios[ph] = ratio
        rr = [a / b for a, b in zip(per_round["evoflow"], per_round["qdax"])]
        rr_s = f"{min(rr):.2f}-{max(rr):.2f}" if len(rr) > 1 else f"{rr[0]:.2f}"
        rows.append(f"| {phase_label(ph, cfg)} | {med['evoflow']:.4g} | {med['qdax']:.4g} | "
                    f"**{ratio:.2f}** | {rr_s} | {cpu['evoflow']:.4g} | {cpu['qdax']:.4g} |")
    t["ratios"] = ratios
    return rows


def score_table(res: dict) -> list[str]:
    rows = [("| seed | evoflow QD score | evoflow coverage % | evoflow max fitness "
             "| QDax QD score | QDax coverage % | QDax max fitness |"),
            "|---|---|---|---|---|---|---|"]
    by = {(r["impl"], r["seed"]): r for r in res["runs"]}
    seeds = sorted({r["seed"] for r in res["runs"]})
    def f(r, k, p):
        return f"{r[k]:,.{p}f}" if r.get(k) is not None else "-"

    for s in seeds:
        e, q = by.get(("evoflow", s), {}), by.get(("qdax", s), {})
        rows.append(f"| {s} | {f(e, 'qd_score', 0)} | {f(e, 'coverage', 1)} | "
                    f"{f(e, 'max_fitness', 1)} | {f(q, 'qd_score', 0)} | {f(q, 'coverage', 1)} | "
                    f"{f(q, 'max_fitness', 1)} |")
    med = {side: {k: _med([r[k] for r in res["runs"] if r["impl"] == side])
                  for k in ("qd_score", "coverage", "max_fitness")} for side in ("evoflow", "qdax")}
    res["medians"] = med
    rows.append(f"| **median** | **{med['evoflow']['qd_score']:,.0f}** | "
                f"{med['evoflow']['coverage']:.1f} | {med['evoflow']['max_fitness']:.1f} | "
                f"**{med['qdax']['qd_score']:,.0f}** | {med['qdax']['coverage']:.1f} | "
                f"{med['qdax']['max_fitness']:.1f} |")
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--peer-python", default=None,
                    help=f"python of the QDax 0.5.0 venv (default {DEFAULT_PEER})")
    ap.add_argument("--seeds", type=int, default=3, help="QD-score seeds 0..K-1 per side")
    ap.add_argument("--rounds", type=int, default=3, help="alternating timing rounds per side")
    ap.add_argument("--calls", type=int, default=10, help="timed calls per phase per round")
    ap.add_argument("--warmup", type=int, default=3, help="untimed generations before timing")
    ap.add_argument("--skip-timing", action="store_true")
    ap.add_argument("--skip-score", action="store_true")
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "_out" / "dcg_me_vs_qdax"),
                    help="work directory (results, logs, runs)")
    ap.add_argument("--quick", action="store_true",
                    help="tiny shapes, 1 round of 3 calls, 1 seed: a smoke check")
    # worker-only options
    ap.add_argument("--worker", choices=("evoflow-timing", "evoflow-config"),
                    help=argparse.SUPPRESS)
    ap.add_argument("--preset", default="default", help=argparse.SUPPRESS)
    ap.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--centroids-out", help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.worker:
        worker_evoflow(args)
        return

    peer = Path(args.peer_python) if args.peer_python else DEFAULT_PEER
    if not peer.exists():
        venv = peer.parent.parent if args.peer_python is None else Path("PATH/TO/qdax-venv")
        print(f"error: --peer-python {peer}: not found. Create the QDax 0.5.0 venv with\n  "
              f"{INSTALL.format(venv=venv)}\nor pass --peer-python PY", file=sys.stderr)
        raise SystemExit(2)
    args.peer_python = str(peer)
    if args.quick:
        args.rounds, args.calls, args.warmup = 1, 3, 1
        args.seeds = min(args.seeds, 1)
    preset = "tiny" if args.quick else "default"
    out = Path(args.out) / ("quick" if args.quick else "")
    (out / "logs").mkdir(parents=True, exist_ok=True)
    centroids = out / "centroids.npy"

    t_start = time.perf_counter()
    title = (f"DCRL-ME benchmark: evoflow vs QDax 0.5.0 on ant_omni "
             f"({time.strftime('%Y-%m-%d %H:%M:%S %Z')}, preset {preset}"
             f"{', QUICK' if args.quick else ''})")
    head = [title, *_machine(), commit(), f"peer python: {peer}"]
    for line in head:
        print(line)
    print(_load() + " (start)", flush=True)

    results: dict = {"preset": preset, "machine": head[1:], "load_start": os.getloadavg()}
    cfg: dict = {}
    versions: dict = {}
    if not args.skip_timing:
        results["timing"] = run_timing(args, out, preset, centroids)
        (out / "timing.json").write_text(json.dumps(results["timing"], indent=1))
        ready = results["timing"]["ready"]
        cfg, versions = ready["evoflow"]["config"], ready
    if not args.skip_score:
        if args.skip_timing:  # config and centroids from a short evoflow worker
            w = Worker("evoflow", _ef_cmd("--worker", "evoflow-config", "--preset", preset,
                                          "--centroids-out", str(centroids)),
                       out / "logs" / "config_evoflow.log")
            msg = w.read()
            w.close()
            cfg = msg["config"]
            versions = {"evoflow": {"versions": msg["versions"]}}
        runs = []
        for s in range(args.seeds):
            runs.append(run_evoflow_score(args, out, preset, s))
            runs.append(run_qdax_score(args, out, s, cfg, centroids))
        results["score"] = {"runs": runs}
    results["load_end"] = os.getloadavg()

    # ---- report -------------------------------------------------------------------------------
    lines = ["", f"# DCRL-ME: evoflow vs QDax 0.5.0 on ant_omni (preset {preset})", ""]
    lines += [f"- {h}" for h in head[1:]]
    if not args.skip_timing or not args.skip_score:
        v = versions.get("evoflow", {}).get("versions", {})
        lines.append("- evoflow side: " + ", ".join(f"{k} {x}" for k, x in v.items()))
        if "qdax" in versions:
            q = versions["qdax"]["versions"]
            lines.append("- QDax side: " + ", ".join(f"{k} {x}" for k, x in q.items()))
    lines.append("- load average at start {:.2f} {:.2f} {:.2f}, at end {:.2f} {:.2f} {:.2f}"
                 .format(*results["load_start"], *results["load_end"]))
    verdict = []
    if "timing" in results:
        t = results["timing"]
        n = len(t["rounds"]["evoflow"])
        title = (f"## Time per call ({n} alternating rounds x {t['calls']} calls per side, "
                 f"after {t['warmup']} warm-up generations; median wall seconds)")
        lines += ["", title, ""]
        lines += timing_table(t, cfg)
        g = t["ratios"]["generation"]
        verdict.append(f"generation time evoflow/QDax = {g:.2f} "
                       f"({'<=' if g <= 1.0 else '>'} 1.0 -> {'PASS' if g <= 1.0 else 'FAIL'})")
        slow = [f"{ph} {r:.2f}x" for ph, r in t["ratios"].items() if r > 1.0]
        if slow:
            verdict.append("evoflow slower than QDax in: " + ", ".join(slow))
    if "score" in results:
        sc = results["score"]
        lines += ["", f"## QD score at {cfg['evaluations']:,} evaluations (no qd_offset)", ""]
        lines += score_table(sc)
        m = sc["medians"]
        ratio = m["evoflow"]["qd_score"] / m["qdax"]["qd_score"]
        sc["ratio"] = ratio
        lines += ["", f"median QD score evoflow/QDax = **{ratio:.3f}**"]
        walls = [f"{r['impl']} s{r['seed']} {r.get('time/wall_s') or r.get('wall_s') or 0:.0f} s"
                 for r in sc["runs"]]
        lines.append("run wall times (each side's own count): " + ", ".join(walls))
        verdict.append(f"median QD score evoflow/QDax = {ratio:.3f} "
                       f"({'>=' if ratio >= 0.9 else '<'} 0.9 -> "
                       f"{'PASS' if ratio >= 0.9 else 'FAIL'})")
    if verdict:
        lines += ["", "## Acceptance 6" + (" (QUICK: meaningless)" if args.quick else ""), ""]
        lines += [f"- {v}" for v in verdict]
    lines.append(f"\nscript wall time {time.perf_counter() - t_start:.0f} s")
    text = "\n".join(lines)
    print(text)
    (out / "table.md").write_text(text + "\n")
    (out / "results.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
