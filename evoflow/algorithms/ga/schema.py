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

_MAZE_TINY = {"pop_size": 64, "elite_candidates": 4, "elite_episodes": 2, "iterations": 20,
              "episode_length": 100, "policy_hidden": [16, 16], "log_every": 2,
              "checkpoint_every": 5, "test_episodes": 4}
_MAZE_DEFAULT = {"pop_size": 501, "elite_episodes": 1, "iterations": 200, "log_every": 10,
                 "checkpoint_every": 50}
_MAZE_GPU = {"pop_size": 20001, "elite_episodes": 1, "iterations": 1000, "log_every": 10,
             "checkpoint_every": 50}
PRESETS = {
    "deceptive_maze": {
        "tiny": {**_MAZE_TINY, "truncation": 8, "sigma": 0.05},
        "default": {**_MAZE_DEFAULT, "truncation": 20, "sigma": 0.02},
        "gpu": {**_MAZE_GPU, "truncation": 61, "sigma": 0.005},
    },
    "point_omni": {
        "tiny": {**_MAZE_TINY, "truncation": 8, "sigma": 0.05},
        "default": {"pop_size": 257, "truncation": 16, "sigma": 0.02, "iterations": 100,
                    "log_every": 10, "checkpoint_every": 50},
    },
}
PRESETS_RS = {env: {name: {k: v for k, v in p.items() if k not in ("truncation", "sigma")}
                    for name, p in by.items()} for env, by in PRESETS.items()}
