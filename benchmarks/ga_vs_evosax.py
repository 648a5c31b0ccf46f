"""Deep GA: evoflow's `ga` vs evosax 0.3.2's SimpleGA + BraxProblem on Brax `ant`, s/generation.

What runs
---------
evoflow: `experiment.prepare("ga", "ant", "default", seed, sets)` with pop_size N (256),
truncation T (default N/2, SimpleGA's elite ratio 0.5; `--truncation 20` for the paper's
Atari/MuJoCo value; printed), elite_candidates 0, episode_length 100, policy_hidden [64, 64]
(tanh MLP, tanh actions), obs_norm on (the ant default), sigma of the `default` preset (0.05),
brax 0.14 `spring`, stochastic resets, Brax's own reward. An episode stops at its first `done`
(the ant falls) or at the step limit: the rollouts are a vmapped `lax.while_loop`, so a
generation costs its longest episode, and `env_steps` counts the steps each episode ran.

evosax: `SimpleGA(population_size=N, solution=..., std_schedule=optax.constant_schedule(sigma))`
(the same sigma; crossover_rate 0.0, its default; elite ratio 0.5) with `BraxProblem(
env_name="ant", policy=MLP((64, 64, act_dim), output_fn=tanh_output_fn), episode_length=100,
num_rollouts=1, use_normalize_obs=True, env_kwargs={"backend": "spring"})`: the same network
(LeCun-uniform kernels, zero biases, tanh hidden and output; the parameter counts are checked
equal), the same brax env (`brax.envs.create` adds EpisodeWrapper + AutoResetWrapper to the
`get_environment` env evoflow uses). Its rollouts are a `lax.scan` of all 100 steps; after a
`done` the env auto-resets and keeps stepping, the reward masked. Fitness is negated for evosax
(it minimizes).

Re-evaluation, printed apart: the evoflow side again with elite_candidates 10, elite_episodes 30
(Uber's default): 10 x 30 = 300 more episodes per generation to pick the elite.

What a generation is on each side
---------------------------------
evoflow: `engine.advance(state, i, i + 1)`: the engine's jitted device loop for one iteration
(ask: the elite + N - 1 mutated children of T parents, rollouts, tell: ranking, the next T
parents materialized with their seed chains, the normalizer merged, metrics), with log_every=1,
i.e. one log block (a small device_get of the metrics) per generation, as a run with log_every=1
pays it. evosax: one `jax.jit` of `es.ask` + `problem.eval` + `es.tell` (metrics dropped; state
donated), and a scalar count of the steps before each episode's first done (for the table).
Generation 0 of evoflow evaluates N fresh initializations; evosax's state is initialized from N
fresh `problem.sample` policies with fitness +inf (not evaluated), so its first generation
evaluates N mutants of them. Both are in the warm-up.

How it is timed
---------------
All sides run in this one process, under the same JAX settings: `prepare` sets evoflow's
process-wide `jax_threefry_partitionable` (false by default) before the evosax side is built, so
evosax draws its random bits under the same flag; one process also shares one XLA CPU client
and thread pool, and only one side computes at a time (the others are idle on the host), so
separate processes would buy nothing but a pipe protocol. Each side is built and warmed up
(`--warmup` generations, untimed; the first compiles), then `--rounds` rounds: in round r each
side runs `--generations` generations, each timed alone (wall and process CPU, ended by
`jax.block_until_ready` of the state), the side order alternating (evoflow, evosax, re-eval for
even r; reversed for odd r) so drifts in the load of a shared machine hit all sides alike.
Reported: the median s/generation over all timed generations of each side, the ratio
evoflow/evosax of those medians (acceptance: <= 1.0) and the range of the per-round ratios;
env steps/s = timed env steps / timed wall seconds (evoflow: from its `env_steps` counter, the
steps actually run; evosax: N x episode_length per generation, all of which it steps, and
separately the steps up to each episode's first done); the re-evaluation variant's s/generation
and its extra fraction over elite_candidates 0.

Usage
-----
    python benchmarks/ga_vs_evosax.py                      # pop 256, ant, 100 steps, 3 x 10
    python benchmarks/ga_vs_evosax.py --generations 2 --rounds 1 --pop 16 --episode-length 20
        [--truncation 20] [--warmup 2] [--seed 0] [--skip-reeval] [--out DIR]

The markdown table goes to stdout and OUT/table.md, raw figures to OUT/results.json (default
OUT: benchmarks/_out/ga_vs_evosax).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
from _machine import commit, cpu_flags, cpu_model  # noqa: E402

ENV = "ant"
def _load() -> str:
    return "load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def _versions() -> str:
    from importlib.metadata import version

    import evoflow

    out = [f"python {platform.python_version()}", f"evoflow {evoflow.__version__}"]
    for k in ("jax", "jaxlib", "brax", "evosax", "flax", "optax", "mujoco", "numpy"):
        try:
            out.append(f"{k} {version(k)}")
        except Exception:  # noqa: BLE001
            out.append(f"{k} ?")
    return ", ".join(out)


def _machine() -> list[str]:
    import jax

    return [f"machine: {os.cpu_count()} CPUs ({cpu_model()}), {platform.platform()}",
            f"cpu flags: {cpu_flags() or '?'}",
            f"versions: {_versions()}",
            f"jax: devices {[str(d) for d in jax.devices()]}, jax_threefry_partitionable="
            f"{jax.config.jax_threefry_partitionable}, XLA_FLAGS="
            f"{os.environ.get('XLA_FLAGS', '(unset)')}, JAX_PLATFORMS="
            f"{os.environ.get('JAX_PLATFORMS', '(unset)')}",
            commit()]


# ------------------------------------------------------------------------------------------------
# the sides: each runs one generation per call and records the env steps it ran


class EvoflowSide:
    """evoflow's `ga` on `ant` through the engine's device loop (no run directory)."""

    def __init__(self, name: str, args, k: int, e: int):
        from evoflow import experiment

        self.name = name
        iterations = args.warmup + args.rounds * args.generations + 1
        sets = {"pop_size": args.pop, "truncation": args.truncation, "elite_candidates": k,
                "elite_episodes": e, "episode_length": args.episode_length,
                "policy_hidden": [64, 64], "iterations": iterations, "env_steps": None,
                "log_every": 1, "checkpoint_every": 1000}
        if iterations > 1024:  # the default chain capacity bounds the generations
            sets["chain_capacity"] = iterations
        self.prep = experiment.prepare("ga", ENV, "default", args.seed, sets)
        cfg = self.prep.cfg
        assert cfg["obs_norm"] and cfg["brax_backend"] == "spring", cfg
        assert cfg["episode_cutoff"] == "fixed" and cfg["episodes"] == 1, cfg
        self.cfg = cfg
        self.engine = experiment.build_engine(self.prep, None, lambda _: None, quiet=True)
        self.state = self.engine.initial_state()
        self.it = 0
        self.counter = 0  # env_steps so far (the state's counter, via the metric)
        self.steps: list[int] = []  # env steps of each generation run
        self.best: list[float] = []  # phase-0 max return of each generation
        t = self.prep.task
        self.obs_dim, self.act_dim, self.dim = t.obs_dim, t.act_dim, t.dim
        s = self.prep.strategy
        self.episodes = s.evaluations_per_generation()

    def generation(self):
        self.state, blocks = self.engine.advance(self.state, self.it, self.it + 1)
        self.it += 1
        m = blocks[-1].metrics
        self.steps.append(int(m["env_steps"]) - self.counter)
        self.counter = int(m["env_steps"])
        self.best.append(float(m["fitness/max"]))
        return self.state

    def collect(self) -> None:  # advance already brought the generation's metrics to the host
        pass

    def describe(self) -> str:
        c = self.cfg
        return (f"{self.name}: ga on {ENV}, pop_size {c['pop_size']}, truncation "
                f"{c['truncation']}, sigma {c['sigma']}, elite_candidates {c['elite_candidates']}"
                + (f", elite_episodes {c['elite_episodes']}" if c["elite_candidates"] else "")
                + f", episode_length {c['episode_length']}, policy {c['policy_hidden']} tanh, "
                f"obs_norm {c['obs_norm']}, brax {c['brax_backend']}, resets {c['resets']}; "
                f"{self.episodes} episodes/generation, dim {self.dim}")


class EvosaxSide:
    """evosax 0.3.2: SimpleGA + BraxProblem, one jitted ask + eval + tell per generation."""

    def __init__(self, args, sigma: float, hidden, act_dim: int, backend: str):
        import jax
        import jax.numpy as jnp
        import optax
        from evosax.algorithms import SimpleGA
        from evosax.problems import BraxProblem
        from evosax.problems.networks import MLP, tanh_output_fn

        self.name = "evosax"
        n, t = args.pop, args.episode_length
        policy = MLP(layer_sizes=(*hidden, act_dim), output_fn=tanh_output_fn)
        self.problem = BraxProblem(env_name=ENV, policy=policy, episode_length=t,
                                   num_rollouts=1, use_normalize_obs=True,
                                   env_kwargs={"backend": backend})
        k_sol, k_pop, k_init, k_pb, self.key = jax.random.split(jax.random.key(args.seed), 5)
        solution = self.problem.sample(k_sol)
        es = SimpleGA(population_size=n, solution=solution,
                      std_schedule=optax.constant_schedule(sigma))
        params = es.default_params
        pop0 = jax.vmap(self.problem.sample)(jax.random.split(k_pop, n))
        self.es_state = es.init(k_init, pop0, jnp.full((n,), jnp.inf), params)
        self.pb_state = self.problem.init(k_pb)
        self.es, self.sigma, self.backend = es, sigma, backend
        self.hidden = tuple(hidden)
        self.obs_dim = self.problem.observation_shape[0]
        self.act_dim, self.dim = act_dim, es.num_dims
        self.nominal = n * t  # steps the scan runs per generation (num_rollouts 1)
        self.steps: list[int] = []
        self.to_done: list[int] = []  # steps up to each episode's first done, summed
        self.best: list[float] = []
        self.crossover = float(params.crossover_rate)
        problem = self.problem

        def generation(key, es_state, pb_state):
            key, k_ask, k_eval, k_tell = jax.random.split(key, 4)
            pop, es_state = es.ask(k_ask, es_state, params)
            fitness, pb_state, info = problem.eval(k_eval, pop, pb_state)
            es_state, _ = es.tell(k_tell, pop, -fitness, es_state, params)
            done = info["env_states"].done  # (N, rollouts, T)
            alive = jnp.cumprod(1.0 - done, axis=-1)  # no done up to and including step t
            to_done = jnp.sum(1.0 + jnp.sum(alive[..., :-1], axis=-1)).astype(jnp.int32)
            return key, es_state, pb_state, to_done, jnp.max(fitness)

        self._gen = jax.jit(generation, donate_argnums=(0, 1, 2))

    def generation(self):
        self.key, self.es_state, self.pb_state, to_done, best = self._gen(
            self.key, self.es_state, self.pb_state)
        self.steps.append(self.nominal)
        self._pending = (to_done, best)  # read by collect(), after the timed block
        return self.es_state, self.pb_state, to_done

    def collect(self) -> None:
        to_done, best = self._pending
        self.to_done.append(int(to_done))
        self.best.append(float(best))

    def describe(self) -> str:
        return (f"evosax: SimpleGA(population_size {self.es.population_size}, std "
                f"{self.sigma} constant, elite ratio {self.es.elite_ratio}, crossover_rate "
                f"{self.crossover}) + BraxProblem({ENV}, episode_length "
                f"{self.problem.episode_length}, num_rollouts {self.problem.num_rollouts}, "
                f"use_normalize_obs {self.problem.use_normalize_obs}, policy MLP "
                f"{(*self.hidden, self.act_dim)} tanh, backend {self.backend}); "
                f"{self.es.population_size} episodes/generation, dim {self.dim}")


def run_gens(side, n: int) -> dict:
    """n generations of a side, each timed alone (wall and process CPU, all threads, ended by
    `block_until_ready`, as `_timing.timed` does), then its scalars read untimed."""
    import jax

    wall, cpu = [], []
    before = len(side.steps)
    for _ in range(n):
        t0, c0 = time.perf_counter(), time.process_time()
        jax.block_until_ready(side.generation())
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        side.collect()
    return {"wall": wall, "cpu": cpu, "steps": side.steps[before:]}


# ------------------------------------------------------------------------------------------------
# report


def _med(xs):
    return statistics.median(xs) if xs else float("nan")


def summarize(rounds: list[dict]) -> dict:
    wall = [w for r in rounds for w in r["wall"]]
    cpu = [c for r in rounds for c in r["cpu"]]
    steps = [s for r in rounds for s in r["steps"]]
    return {"median_s": _med(wall), "median_cpu_s": _med(cpu),
            "per_round_median_s": [_med(r["wall"]) for r in rounds],
            "steps_per_gen": sum(steps) / max(len(steps), 1),
            "steps_per_s": sum(steps) / sum(wall) if wall else float("nan"),
            "generations": len(wall)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--generations", type=int, default=10, help="timed generations per round")
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds per side")
    ap.add_argument("--warmup", type=int, default=2, help="untimed generations (compile) first")
    ap.add_argument("--pop", type=int, default=256, help="population size N")
    ap.add_argument("--episode-length", type=int, default=100)
    ap.add_argument("--truncation", default="half",
                    help="evoflow's T: an int, or 'half' (N/2, SimpleGA's elite ratio; default)")
    ap.add_argument("--elite-candidates", type=int, default=10,
                    help="re-evaluation variant: candidates (Uber's default 10)")
    ap.add_argument("--elite-episodes", type=int, default=30,
                    help="re-evaluation variant: episodes each (Uber's default 30)")
    ap.add_argument("--skip-reeval", action="store_true", help="no re-evaluation variant")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "_out" / "ga_vs_evosax"))
    args = ap.parse_args()
    if min(args.generations, args.rounds, args.pop - 1, args.episode_length) < 1 \
            or args.warmup < 1:
        ap.error("--generations, --rounds, --warmup, --episode-length >= 1 and --pop >= 2")
    half = args.truncation == "half"
    args.truncation = max(1, args.pop // 2) if half else int(args.truncation)
    t_note = (f"truncation {args.truncation} = N/2 (mirrors SimpleGA's elite ratio 0.5)" if half
              else f"truncation {args.truncation} (SimpleGA keeps N/2 = {args.pop // 2})")
    k_re = min(args.elite_candidates, args.pop)

    import jax

    t_start = time.perf_counter()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print(f"Deep GA benchmark: evoflow ga vs evosax SimpleGA on brax {ENV} "
          f"({time.strftime('%Y-%m-%d %H:%M:%S %Z')})", flush=True)
    print(f"pop {args.pop}, episode_length {args.episode_length}, MLP 64x64 tanh, obs norm, "
          f"{t_note}; {args.warmup} warm-up + {args.rounds} rounds x {args.generations} "
          f"generations per side; {_load()} (start)", flush=True)

    sides = {}
    t0 = time.perf_counter()
    sides["evoflow"] = EvoflowSide("evoflow", args, 0, 1)
    print(f"[build] evoflow (elite_candidates 0): {time.perf_counter() - t0:.0f} s", flush=True)
    ef = sides["evoflow"]
    t0 = time.perf_counter()
    sides["evosax"] = EvosaxSide(args, ef.cfg["sigma"], ef.cfg["policy_hidden"], ef.act_dim,
                                 ef.cfg["brax_backend"])
    ex = sides["evosax"]
    print(f"[build] evosax: {time.perf_counter() - t0:.0f} s", flush=True)
    if (ex.obs_dim, ex.act_dim, ex.dim) != (ef.obs_dim, ef.act_dim, ef.dim):
        raise SystemExit(f"the two policies differ: evoflow (obs, act, dim) "
                         f"{(ef.obs_dim, ef.act_dim, ef.dim)}, evosax "
                         f"{(ex.obs_dim, ex.act_dim, ex.dim)}")
    if not args.skip_reeval:
        t0 = time.perf_counter()
        sides["reeval"] = EvoflowSide("evoflow re-eval", args, k_re, args.elite_episodes)
        print(f"[build] evoflow (elite_candidates {k_re}, elite_episodes "
              f"{args.elite_episodes}): {time.perf_counter() - t0:.0f} s", flush=True)
    head = _machine()
    for line in head:
        print(line)
    for s in sides.values():
        print("- " + s.describe())

    warm = {}
    for name, s in sides.items():
        t0 = time.perf_counter()
        for _ in range(args.warmup):
            jax.block_until_ready(s.generation())
            s.collect()
        warm[name] = time.perf_counter() - t0
        extra = (f" (compile {s.engine.loop.compile_s:.0f} s)" if hasattr(s, "engine") else "")
        print(f"[warm-up] {name}: {args.warmup} generations {warm[name]:.0f} s{extra}, "
              f"{_load()}", flush=True)

    rounds: dict[str, list[dict]] = {n: [] for n in sides}
    for r in range(args.rounds):
        order = list(sides) if r % 2 == 0 else list(reversed(sides))
        for name in order:
            res = run_gens(sides[name], args.generations)
            rounds[name].append(res)
            print(f"[round {r + 1}/{args.rounds}] {name}: median {_med(res['wall']):.4f} "
                  f"s/generation, {sum(res['steps']) / sum(res['wall']):,.0f} env steps/s, "
                  f"{_load()}", flush=True)

    summ = {n: summarize(rs) for n, rs in rounds.items()}
    ratio = summ["evoflow"]["median_s"] / summ["evosax"]["median_s"]
    per_round = [a / b for a, b in zip(summ["evoflow"]["per_round_median_s"],
                                       summ["evosax"]["per_round_median_s"])]
    to_done = ex.to_done[-summ["evosax"]["generations"]:]
    to_done_gen = sum(to_done) / max(len(to_done), 1)

    n, t = args.pop, args.episode_length
    lines = ["", f"# Deep GA on brax {ENV}: evoflow vs evosax SimpleGA + BraxProblem", ""]
    lines += [f"- {h}" for h in head]
    lines += [f"- {s.describe()}" for s in sides.values()]
    lines += [f"- timing: {args.warmup} warm-up generations, then {args.rounds} alternating "
              f"rounds x {args.generations} generations per side; median wall s/generation",
              "- load average at end {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()), ""]
    lines += ["| side | s/generation (median) | per-round medians | cpu s/generation | "
              "env steps/generation | env steps/s | warm-up s | last max return |",
              "|---|---|---|---|---|---|---|---|"]
    labels = {"evoflow": "evoflow ga, elite_candidates 0",
              "evosax": "evosax SimpleGA + BraxProblem",
              "reeval": f"evoflow ga, elite_candidates {k_re} x {args.elite_episodes} episodes"}
    for name, sm in summ.items():
        pr = ", ".join(f"{x:.4g}" for x in sm["per_round_median_s"])
        last = sides[name].best[-1] if sides[name].best else float("nan")
        lines.append(f"| {labels[name]} | {sm['median_s']:.4g} | {pr} | {sm['median_cpu_s']:.4g} "
                     f"| {sm['steps_per_gen']:,.0f} | {sm['steps_per_s']:,.0f} | "
                     f"{warm[name]:.0f} | {last:.1f} |")
    rr = f"{min(per_round):.3f}-{max(per_round):.3f}" if len(per_round) > 1 else \
        f"{per_round[0]:.3f}"
    ok = ratio <= 1.0
    e = summ["evoflow"]
    lines += ["", f"- **s/generation evoflow/evosax = {ratio:.3f}** (per-round {rr}): "
              f"{'<=' if ok else '>'} 1.0 -> {'PASS' if ok else 'FAIL'}",
              f"- env steps: evoflow counts the steps its episodes ran (to the first done or "
              f"{t}): {e['steps_per_gen']:,.0f}/generation of {n * t:,} "
              f"({e['steps_per_gen'] / (n * t):.1%}), {e['steps_per_s']:,.0f}/s; at N x T "
              f"it would be {n * t / e['median_s']:,.0f}/s",
              f"- evosax steps all {n} x {t} = {n * t:,} per generation "
              f"({summ['evosax']['steps_per_s']:,.0f}/s); {to_done_gen:,.0f} of them "
              f"({to_done_gen / (n * t):.1%}) up to each episode's first done "
              f"({to_done_gen / summ['evosax']['median_s']:,.0f}/s)"]
    if "reeval" in summ:
        re = summ["reeval"]
        lines.append(f"- re-evaluation (printed apart): elite_candidates {k_re} x "
                     f"{args.elite_episodes} episodes = {k_re * args.elite_episodes} more "
                     f"episodes/generation: {re['median_s']:.4g} s/generation, "
                     f"+{re['median_s'] / e['median_s'] - 1:.1%} over elite_candidates 0 "
                     f"({re['steps_per_gen']:,.0f} env steps/generation, "
                     f"{re['steps_per_s']:,.0f}/s); "
                     f"{re['median_s'] / summ['evosax']['median_s']:.3f} x evosax")
    lines.append(f"\nscript wall time {time.perf_counter() - t_start:.0f} s")
    text = "\n".join(lines)
    print(text)
    (out / "table.md").write_text(text + "\n")
    results = {"args": vars(args), "machine": head, "summary": summ, "ratio": ratio,
               "per_round_ratio": per_round, "warmup_s": warm,
               "evosax_steps_to_done_per_gen": to_done_gen,
               "rounds": rounds, "config": {"evoflow": ef.cfg}}
    (out / "results.json").write_text(json.dumps(results, indent=1, default=str))


if __name__ == "__main__":
    main()
