"""QDax 0.5.0 DCRL-ME on ant_omni: the peer side of `benchmarks/dcg_me_vs_qdax.py`.

Runs under the QDax venv's python (jax 0.4.30, brax 0.10.5, flax 0.8.5; see the parent script's
docstring for the install command) and imports only qdax, jax, brax, numpy and the standard
library. It never imports evoflow: the parent passes every setting (`--config`, JSON with
evoflow's resolved `dcrl_me` preset values) and, optionally, evoflow's CVT centroids (`--centroids`,
a .npy file), so both sides run the same shapes on the same tessellation.

Task: `qdax.tasks.brax.v2.create("ant_omni", episode_length=T, backend="spring")` (brax v2 `ant`,
`NoForwardRewardWrapper`, `XYPositionWrapper` clipped to [-30, 30]^2, `EpisodeWrapper`,
`AutoResetWrapper`), then QDax's own `OffsetRewardWrapper(offset=reward_offset["ant_omni"] = 3.0)`
and `ClipRewardWrapper` (reward >= 0 at every step), exactly as QDax's DCRL-ME example and test
wrap it; resets are stochastic (`play_reset_fn = env.reset`). Fitness is QDax's
`scoring_function_brax_envs` (sum of rewards up to and including the first `done`), the descriptor
`get_final_xy_position`. QD score = sum of fitness over filled cells with `qd_offset = 0`.

Algorithm: `DCRLMEEmitter(DCRLMEConfig(...))` + `MAPElites`, with the policy a tanh MLP
(`MLP(activation=tanh, final_activation=tanh)`, LeCun-uniform kernels, zero biases) and the DC
actor the same `MLPDC` (evoflow's policies and actor use tanh hidden layers; QDax's default is
ReLU). Every numeric setting comes from `--config`.

Modes (one JSON line per message on stdout, prefixed `MSG `):
  --mode score    init + generations until `evaluations`; writes and prints the result.
  --mode timing   builds, compiles and warms up, prints `MSG {"ready": ...}`, then serves
                  commands read from stdin: `round` (time every phase `--calls` times, print
                  `MSG {"round": ...}`) and `quit`.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
import time
from importlib.metadata import version

from _timing import timed

DEFAULTS = {  # evoflow's envs/ant_omni.json `dcrl_me` `default` + CriticME/MAPElites schema
    "episode_length": 250, "policy_hidden": [128, 128], "critic_hidden": [256, 256],
    "n_cells": 512, "cvt_samples": 25600, "cvt_seed": 0, "n_ga": 32, "n_pg": 16, "n_ai": 16,
    "pg_steps": 50, "critic_steps": 300, "replay_size": 100000, "minibatch": 100,
    "policy_lr": 5e-3, "critic_lr": 3e-4, "actor_lr": 3e-4, "discount": 0.99, "tau": 0.005,
    "policy_noise": 0.2, "noise_clip": 0.5, "policy_delay": 2, "lengthscale": 0.1,
    "iso_sigma": 0.005, "line_sigma": 0.05, "evaluations": 10240, "reward_offset": 3.0,
    "descriptor_low": [-30.0, -30.0], "descriptor_high": [30.0, 30.0], "brax_backend": "spring",
}


def emit(obj) -> None:
    print("MSG " + json.dumps(obj), flush=True)


def versions() -> dict:
    return {k: version(k) for k in ("qdax", "jax", "jaxlib", "brax", "flax", "mujoco", "chex",
                                    "optax", "numpy")}


class Peer:
    """QDax DCRL-ME on ant_omni, built from one config dict."""

    def __init__(self, cfg: dict, seed: int, centroids_file: str | None):
        import jax
        import jax.numpy as jnp
        import numpy as np
        from qdax.core.containers.mapelites_repertoire import compute_cvt_centroids
        from qdax.core.emitters.dcrl_me_emitter import DCRLMEConfig, DCRLMEEmitter
        from qdax.core.emitters.mutation_operators import isoline_variation
        from qdax.core.map_elites import MAPElites
        from qdax.core.neuroevolution.buffers.buffer import DCRLTransition
        from qdax.core.neuroevolution.networks.networks import MLP, MLPDC
        from qdax.tasks.brax import v2 as environments
        from qdax.tasks.brax.v2.env_creators import scoring_function_brax_envs
        from qdax.tasks.brax.v2.wrappers.reward_wrappers import (
            ClipRewardWrapper,
            OffsetRewardWrapper,
        )
        from qdax.utils.metrics import default_qd_metrics

        self.cfg, self.jax, self.jnp = cfg, jax, jnp
        name = "ant_omni"
        T = cfg["episode_length"]
        assert environments.reward_offset[name] == cfg["reward_offset"], \
            (environments.reward_offset[name], cfg["reward_offset"])
        env = environments.create(name, episode_length=T, backend=cfg["brax_backend"])
        assert list(map(float, env.descriptor_limits[0])) == cfg["descriptor_low"]
        assert list(map(float, env.descriptor_limits[1])) == cfg["descriptor_high"]
        env = OffsetRewardWrapper(env, offset=environments.reward_offset[name])
        env = ClipRewardWrapper(env)
        self.env = env
        self.key = jax.random.key(seed)

        if centroids_file:
            centroids = jnp.asarray(np.load(centroids_file), jnp.float32)
            self.centroid_source = f"file {os.path.basename(centroids_file)}"
        else:
            self.key, sub = jax.random.split(self.key)
            centroids = compute_cvt_centroids(
                num_descriptors=env.descriptor_length,
                num_init_cvt_samples=cfg["cvt_samples"], num_centroids=cfg["n_cells"],
                minval=cfg["descriptor_low"][0], maxval=cfg["descriptor_high"][0], key=sub)
            self.centroid_source = "qdax compute_cvt_centroids"
        assert centroids.shape == (cfg["n_cells"], env.descriptor_length), centroids.shape
        self.centroids = centroids

        sizes = tuple(cfg["policy_hidden"]) + (env.action_size,)
        init = jax.nn.initializers.lecun_uniform()
        policy = MLP(layer_sizes=sizes, activation=jnp.tanh, kernel_init=init,
                     final_activation=jnp.tanh)
        actor = MLPDC(layer_sizes=sizes, activation=jnp.tanh, kernel_init=init,
                      final_activation=jnp.tanh)
        self.policy = policy

        def play_step_fn(env_state, policy_params, key):  # QDax's DCRL-ME example, verbatim
            actions = policy.apply(policy_params, env_state.obs)
            state_desc = env_state.info["state_descriptor"]
            next_state = env.step(env_state, actions)
            transition = DCRLTransition(
                obs=env_state.obs, next_obs=next_state.obs, rewards=next_state.reward,
                dones=next_state.done, truncations=next_state.info["truncation"],
                actions=actions, state_desc=state_desc,
                next_state_desc=next_state.info["state_descriptor"],
                desc=jnp.zeros(env.descriptor_length) * jnp.nan,
                desc_prime=jnp.zeros(env.descriptor_length) * jnp.nan)
            return next_state, policy_params, key, transition

        self.scoring_fn = functools.partial(
            scoring_function_brax_envs, episode_length=T, play_reset_fn=env.reset,
            play_step_fn=play_step_fn,
            descriptor_extractor=environments.descriptor_extractor[name])
        dcfg = DCRLMEConfig(
            ga_batch_size=cfg["n_ga"], dcrl_batch_size=cfg["n_pg"], ai_batch_size=cfg["n_ai"],
            lengthscale=cfg["lengthscale"], critic_hidden_layer_size=tuple(cfg["critic_hidden"]),
            num_critic_training_steps=cfg["critic_steps"], num_pg_training_steps=cfg["pg_steps"],
            batch_size=cfg["minibatch"], replay_buffer_size=cfg["replay_size"],
            discount=cfg["discount"], reward_scaling=1.0, critic_learning_rate=cfg["critic_lr"],
            actor_learning_rate=cfg["actor_lr"], policy_learning_rate=cfg["policy_lr"],
            noise_clip=cfg["noise_clip"], policy_noise=cfg["policy_noise"],
            soft_tau_update=cfg["tau"], policy_delay=cfg["policy_delay"])
        variation = functools.partial(isoline_variation, iso_sigma=cfg["iso_sigma"],
                                      line_sigma=cfg["line_sigma"])
        self.emitter = DCRLMEEmitter(config=dcfg, policy_network=policy, actor_network=actor,
                                     env=env, variation_fn=variation)
        self.dcrl = self.emitter.emitters[0]
        self.map_elites = MAPElites(
            scoring_function=self.scoring_fn, emitter=self.emitter,
            metrics_function=functools.partial(default_qd_metrics, qd_offset=0.0))
        self.batch = cfg["n_ga"] + cfg["n_pg"] + cfg["n_ai"]
        self.obs_dim, self.act_dim = env.observation_size, env.action_size

    def _next_key(self):
        self.key, sub = self.jax.random.split(self.key)
        return sub

    def initial(self):
        """Generation 0: `batch` fresh policies, scored and inserted (MAPElites.init)."""
        jax, jnp = self.jax, self.jnp
        keys = jax.random.split(self._next_key(), self.batch)
        fake = jnp.zeros((self.batch, self.obs_dim))
        genotypes = jax.vmap(self.policy.init)(keys, fake)
        init = jax.jit(self.map_elites.init)
        rep, es, metrics = init(genotypes, self.centroids, self._next_key())
        return rep, es, metrics

    def update_fn(self):
        # Donating the carried state lets XLA update the replay buffer and archive in place,
        # as inside the lax.scan that QDax's examples run the generations in.
        return self.jax.jit(self.map_elites.update, donate_argnums=(0, 1))


def metrics_dict(metrics) -> dict:
    return {k: float(v) for k, v in metrics.items()}


def run_score(args, cfg) -> dict:
    import jax

    t_start = time.perf_counter()
    peer = Peer(cfg, args.seed, args.centroids)
    rep, es, m = peer.initial()
    jax.block_until_ready(rep)
    evaluations, generations = peer.batch, 1
    update = peer.update_fn()
    t0 = time.perf_counter()
    compiled = update.lower(rep, es, peer._next_key()).compile()
    compile_s = time.perf_counter() - t0
    n_gen = -(-cfg["evaluations"] // peer.batch)  # ceil: generations incl. the initial one
    log_every = max(1, (n_gen - 1) // 10)
    while evaluations < cfg["evaluations"]:
        rep, es, m = compiled(rep, es, peer._next_key())
        evaluations += peer.batch
        generations += 1
        if (generations - 1) % log_every == 0:
            mm = metrics_dict(m)
            print(f"qdax seed {args.seed}: generation {generations}/{n_gen}, evaluations "
                  f"{evaluations}, qd_score {mm['qd_score']:.1f}, coverage "
                  f"{mm['coverage']:.1f}%", file=sys.stderr, flush=True)
    mm = metrics_dict(m)
    # QD score recomputed from the repertoire (no offset) as a check of the metric function.
    import numpy as np

    fit = np.asarray(rep.fitnesses).reshape(-1)
    filled = np.isfinite(fit)
    assert abs(float(fit[filled].sum()) - mm["qd_score"]) <= 1e-3 * max(1.0, abs(mm["qd_score"]))
    return {"impl": "qdax", "seed": args.seed, "evaluations": evaluations,
            "generations": generations, "qd_score": mm["qd_score"], "coverage": mm["coverage"],
            "max_fitness": mm["max_fitness"], "filled": int(filled.sum()),
            "wall_s": time.perf_counter() - t_start, "compile_s": compile_s,
            "centroids": peer.centroid_source, "versions": versions(), "config": cfg}


def run_timing(args, cfg) -> None:
    import jax

    peer = Peer(cfg, args.seed, args.centroids)
    t0 = time.perf_counter()
    rep, es, _ = peer.initial()
    update = peer.update_fn()
    for _ in range(args.warmup):  # the first call compiles
        rep, es, _ = update(rep, es, peer._next_key())
    jax.block_until_ready(rep)
    warm_s = time.perf_counter() - t0
    dcrl, n_pg = peer.dcrl, cfg["n_pg"]

    score = jax.jit(peer.scoring_fn)
    critic = jax.jit(lambda st: jax.lax.scan(dcrl._scan_actor_critic_training, st, None,
                                             length=dcrl._actor_critic_iterations)[0])
    pg = jax.jit(dcrl.emit_pg)
    add = jax.jit(lambda r, g, d, f: r.add(g, d, f, {}))
    add_inplace = jax.jit(lambda r, g, d, f: r.add(g, d, f, {}), donate_argnums=(0,))
    copy = jax.jit(lambda r: jax.tree.map(lambda x: x + 0, r))
    ask = jax.jit(peer.map_elites.ask)

    def pieces(rep, es):
        k = peer._next_key()
        offspring, _ = ask(rep, es, k)
        sub = rep.select(jax.random.fold_in(k, 1), n_pg)
        fit, desc, _ = score(offspring, jax.random.fold_in(k, 2))
        d_state = es.emitter_states[0]
        return {
            "rollout": lambda: score(offspring, jax.random.fold_in(k, 3)),
            "critic": lambda: critic(d_state),
            "pg": lambda: pg(d_state, sub.genotypes, sub.descriptors),
            # in place (the repertoire donated, a fresh copy made untimed before each call): no
            # repertoire copy is timed, as in a run; add_copy: jit(add) on a live repertoire,
            # i.e. plus a copy of it (512 x 21,128 floats of genotypes)
            "add": (lambda: copy(rep), lambda r: add_inplace(r, offspring, desc, fit)),
            "add_copy": lambda: add(rep, offspring, desc, fit),
        }

    t1 = time.perf_counter()
    for fn in pieces(rep, es).values():  # compile every piece once
        timed(fn, 1)
    pieces_compile_s = time.perf_counter() - t1
    emit({"ready": {"impl": "qdax", "versions": versions(), "warmup_generations": args.warmup,
                    "warmup_s": warm_s, "pieces_first_call_s": pieces_compile_s,
                    "centroids": peer.centroid_source, "obs_dim": peer.obs_dim,
                    "act_dim": peer.act_dim, "batch": peer.batch,
                    "actor_critic_iterations": dcrl._actor_critic_iterations}})
    for line in sys.stdin:
        cmd = line.strip()
        if cmd == "quit":
            break
        if cmd != "round":
            emit({"error": f"unknown command {cmd!r}"})
            continue
        times = {}
        for name, fn in pieces(rep, es).items():
            times[name] = timed(fn, args.calls)
        box = [rep, es]

        def generation(box=box):
            box[0], box[1], m = update(box[0], box[1], peer._next_key())
            return box[0], box[1], m

        times["generation"] = timed(generation, args.calls)
        rep, es = box
        emit({"round": {"impl": "qdax", "times": times, "load": os.getloadavg()}})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mode", choices=("score", "timing"), required=True)
    ap.add_argument("--config", default="{}", help="JSON: settings overriding DEFAULTS")
    ap.add_argument("--centroids", help=".npy (n_cells, 2) centroids (default: QDax's CVT)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--result", help="score mode: write the result JSON here")
    ap.add_argument("--warmup", type=int, default=3, help="timing: warm-up generations")
    ap.add_argument("--calls", type=int, default=10, help="timing: calls per phase per round")
    args = ap.parse_args()
    cfg = {**DEFAULTS, **json.loads(args.config)}
    unknown = set(cfg) - set(DEFAULTS)
    if unknown:
        raise SystemExit(f"unknown config keys: {sorted(unknown)}")
    if args.mode == "score":
        res = run_score(args, cfg)
        if args.result:
            tmp = args.result + ".tmp"
            with open(tmp, "w") as f:
                json.dump(res, f, indent=1)
            os.replace(tmp, args.result)
        emit({"score": res})
    else:
        run_timing(args, cfg)


if __name__ == "__main__":
    main()
