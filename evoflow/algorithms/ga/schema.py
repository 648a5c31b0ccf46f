"""Config keys of the Deep GA family (plain data: `evoflow list` reads them without importing
JAX). Defaults are the paper's Atari values (Such et al. 2017; `ga_atari_config.json`); the
family's presets set each env's own."""

from __future__ import annotations

from evoflow.config import Param

_COMMON: dict[str, Param] = {
    "pop_size": Param(1001, "int", "N: individuals per generation, the elite included",
                      check="positive"),
    "elite_candidates": Param(10, "int", "top individuals (the previous elite replacing the "
                              "last) re-evaluated to pick the elite; 0: the single-episode best",
                              check="nonnegative"),
    "elite_episodes": Param(30, "int", "episodes per elite candidate", check="positive"),
    "episodes": Param(1, "int", "episodes per evaluation (their mean is the fitness)",
                      check="positive"),
    "test_episodes": Param(10, "int", "episodes of the final elite's test, from reset seeds "
                           "training never draws", check="positive"),
    "episode_cutoff": Param("fixed", "str", "episode step limit: fixed (the task's "
                            "episode_length) or adaptive (Uber's: from cutoff_start, times "
                            "cutoff_ratio after a generation in which more than "
                            "cutoff_threshold of the episodes hit it, up to cutoff_max)",
                            choices=("fixed", "adaptive")),
    "cutoff_start": Param(100, "int", "adaptive cutoff: the first limit", check="positive"),
    "cutoff_threshold": Param(0.2, "float", "adaptive cutoff: fraction of the population's "
                              "episodes at the limit that raises it", check="unit"),
    "cutoff_ratio": Param(1.5, "float", "adaptive cutoff: growth factor (> 1)",
                          check="positive"),
    "cutoff_max": Param(None, "int", "adaptive cutoff: the largest limit (default: the task's "
                        "episode_length)", check="positive", nullable=True),
    "chain_capacity": Param(1024, "int", "mutations a seed chain can hold (bounds the "
                            "generations; the budget is checked against it)", check="positive"),
}

GA: dict[str, Param] = {
    **_COMMON,
    "truncation": Param(20, "int", "T: parents per generation, the elite and the top T-1 "
                        "(1 <= T < N)", check="nonnegative"),
    "sigma": Param(0.002, "float", "mutation power: child = parent + sigma * N(0, I)",
                   check="positive"),
    "sigma_schedule": Param("constant", "str", "sigma over generations: constant, linear or "
                            "exp (geometric) from sigma to sigma_final at the last generation",
                            choices=("constant", "linear", "exp")),
    "sigma_final": Param(None, "float", "sigma at the budget's last generation (linear, exp)",
                         check="positive", nullable=True),
}

RANDOM_SEARCH: dict[str, Param] = dict(_COMMON)

ES: dict[str, Param] = {
    "strategy": Param("Open_ES", "str", "an evosax 0.3 strategy (a key of "
                      "evosax.algorithms.algorithms); Open_ES is OpenAI-ES"),
    "pop_size": Param(256, "int", "population size", check="positive"),
    "test_episodes": _COMMON["test_episodes"],
}

GA_NS: dict[str, Param] = {
    **GA,
    "novelty_k": Param(10, "int", "nearest neighbours (population and archive) of the novelty",
                       check="positive"),
    "archive_prob": Param(0.01, "float", "probability that an individual enters the novelty "
                          "archive"),
    "archive_size": Param(5000, "int", "novelty archive capacity (the oldest entries are "
                          "overwritten once full)", check="positive"),
    "novelty_weight": Param(1.0, "float", "truncation ranks w*rank(novelty) + (1-w)*rank("
                            "reward); 1: pure novelty search"),
}

_MAZE_TINY = {"pop_size": 64, "elite_candidates": 4, "elite_episodes": 2, "iterations": 20,
              "episode_length": 100, "policy_hidden": [16, 16], "log_every": 2,
              "checkpoint_every": 5, "test_episodes": 4}
# default: ga and ga_ns at equal evaluations (300 x (201 + 10)), about 40 s each on 2 cores
_MAZE_DEFAULT = {"pop_size": 201, "elite_episodes": 1, "iterations": 300, "log_every": 10,
                 "checkpoint_every": 50}
_MAZE_GPU = {"pop_size": 20001, "elite_episodes": 1, "iterations": 400, "log_every": 10,
             "checkpoint_every": 50}
PRESETS = {
    "deceptive_maze": {
        "tiny": {**_MAZE_TINY, "truncation": 8, "sigma": 0.05},
        "default": {**_MAZE_DEFAULT, "truncation": 20, "sigma": 0.02},  # measured: docs/ga.md
        "gpu": {**_MAZE_GPU, "truncation": 61, "sigma": 0.005},
    },
    "point_omni": {
        "tiny": {**_MAZE_TINY, "truncation": 8, "sigma": 0.05},
        "default": {"pop_size": 257, "truncation": 16, "sigma": 0.02, "iterations": 100,
                    "log_every": 10, "checkpoint_every": 50},
    },
}
# Brax locomotion (Brax's reward, 1000-step episodes, 64x64 tanh MLP, obs_norm). Default: a
# 3M-env-step hopper run on a laptop CPU, re-evaluation counted; gpu: the paper's humanoid shape.
_BRAX_TINY = {"pop_size": 32, "truncation": 4, "sigma": 0.02, "elite_candidates": 2,
              "elite_episodes": 2, "iterations": 6, "episode_length": 100,
              "policy_hidden": [16, 16], "log_every": 2, "checkpoint_every": 3,
              "test_episodes": 2}
_BRAX_DEFAULT = {"pop_size": 64, "truncation": 8, "sigma": 0.05, "elite_candidates": 3,
                 "elite_episodes": 3, "env_steps": 3_000_000, "log_every": 1,
                 "checkpoint_every": 10}
for _robot in ("ant", "hopper", "walker2d", "halfcheetah", "humanoid"):
    PRESETS[_robot] = {"tiny": dict(_BRAX_TINY), "default": dict(_BRAX_DEFAULT)}
PRESETS["humanoid"]["gpu"] = {"pop_size": 12501, "truncation": 625, "sigma": 0.00224,
                              "elite_candidates": 10, "elite_episodes": 30,
                              "env_steps": 2_000_000_000, "log_every": 1,
                              "checkpoint_every": 5}

# gymnasium on the host loop (64x64 tanh MLP, argmax of logits for discrete actions, 100 test
# episodes). Populations and re-evaluations fill whole `eval_chunk`s (a padded row costs an
# episode). "gym/*" is the preset of an ID without its own.
_GYM_TINY = {"pop_size": 16, "truncation": 4, "sigma": 0.05, "elite_candidates": 2,
             "elite_episodes": 4, "iterations": 4, "eval_chunk": 8, "episode_length": 100,
             "policy_hidden": [16, 16], "log_every": 1, "checkpoint_every": 2,
             "test_episodes": 8}
_GYM_DEFAULT = {"pop_size": 64, "truncation": 8, "sigma": 0.05, "elite_candidates": 4,
                "elite_episodes": 8, "eval_chunk": 32, "iterations": 100, "log_every": 1,
                "checkpoint_every": 10, "test_episodes": 100}
PRESETS["gym/*"] = {"tiny": dict(_GYM_TINY), "default": dict(_GYM_DEFAULT)}
PRESETS["gym/CartPole-v1"] = {"tiny": dict(_GYM_TINY),
                              "default": {**_GYM_DEFAULT, "iterations": 25}}
PRESETS["gym/LunarLander-v3"] = {"tiny": dict(_GYM_TINY),
                                 "default": {**_GYM_DEFAULT, "pop_size": 128, "truncation": 16,
                                             "sigma": 0.05, "episodes": 2, "eval_chunk": 64,
                                             "elite_candidates": 8, "elite_episodes": 8,
                                             "iterations": 150}}
# Atari (Uber's network, 4,052,658 parameters): the paper's shape on a GPU (N 1,001, T 20,
# σ 0.002, 10 candidates x 30 episodes, 5,000-step episodes, 1B frames = 250M agent steps at
# frame skip 4); tiny: a CPU smoke run of the same network.
PRESETS["gym/ALE/*"] = {
    "tiny": {"pop_size": 4, "truncation": 2, "sigma": 0.002, "elite_candidates": 1,
             "elite_episodes": 2, "iterations": 2, "eval_chunk": 2, "episode_length": 20,
             "log_every": 1, "checkpoint_every": 1, "test_episodes": 2},
    "gpu": {"pop_size": 1001, "truncation": 20, "sigma": 0.002, "elite_candidates": 10,
            "elite_episodes": 30, "eval_chunk": 100, "episode_length": 5000,
            "env_steps": 250_000_000, "log_every": 1, "checkpoint_every": 5,
            "test_episodes": 100},
}

PRESETS_RS = {env: {name: {k: v for k, v in p.items() if k not in ("truncation", "sigma")}
                    for name, p in by.items()} for env, by in PRESETS.items()}

# GA-NS on the maze (acceptance 8 compares it with `ga` at equal evaluations: same N, T, sigma
# and generations); gpu: the paper's Image Hard Maze shape (N 20,001, T 61, sigma 0.005).
# With N = 201 (not 20,001) an individual enters the archive with probability 0.05, not the
# paper's 0.01: about 10 entries per generation (measured: 0.01 reached the goal in 2/5 seeds).
PRESETS_NS = {"deceptive_maze": {name: dict(p) for name, p in PRESETS["deceptive_maze"].items()}}
PRESETS_NS["deceptive_maze"]["default"]["archive_prob"] = 0.05

# es: the same budgets as ga on each env (its presets' sizes, made even, without the GA's keys)
_ES_KEYS = set(ES) | {"iterations", "env_steps", "evaluations", "log_every", "checkpoint_every",
                      "eval_chunk", "episode_length", "policy_hidden"}
PRESETS_ES = {env: {name: {k: v for k, v in p.items() if k in _ES_KEYS}
                    for name, p in by.items()} for env, by in PRESETS.items()}
for _by in PRESETS_ES.values():  # Open_ES samples antithetic pairs: an even population
    for _p in _by.values():
        _p["pop_size"] += _p["pop_size"] % 2
