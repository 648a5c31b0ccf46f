"""Algorithm registry: name -> (module, class). Modules load on first use."""

from __future__ import annotations

import importlib

ALGORITHMS: dict[str, tuple[str, str]] = {
    "cbo": ("evoflow.algorithms.cbo", "CBO"),
    "cbo_memory": ("evoflow.algorithms.cbo", "CBOMemory"),
    "consensus_hopping": ("evoflow.algorithms.cbo", "ConsensusHopping"),
    "me": ("evoflow.algorithms.map_elites.me", "MAPElites"),
    "pga_me": ("evoflow.algorithms.map_elites.critic_me", "PGAME"),
    "dcg_me": ("evoflow.algorithms.map_elites.critic_me", "DCGME"),
    "dcrl_me": ("evoflow.algorithms.map_elites.critic_me", "DCRLME"),
}


def get_algorithm(name: str):
    module, cls = ALGORITHMS[name]
    return getattr(importlib.import_module(module), cls)
