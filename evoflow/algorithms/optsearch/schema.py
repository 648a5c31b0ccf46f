"""Config keys and presets of `optsearch` (plain data: `evoflow list` reads them)."""

from evoflow.config import Param

CANDIDATES = "candidates.jsonl"
START = "adamw_nobc"  # the warm start (Program 3)
MODES = ("evolve", "hparam_tune", "random", "adamw_tune")
ADAMW_FILE = "artifacts/best_adamw.json"  # adamw_tune's result: an AdamW setting

SCHEMA = {
    "mode": Param("evolve", "str", "evolve (regularized evolution), hparam_tune (constants "
                  "only), random (random programs), adamw_tune (optax.adamw over lr x weight "
                  "decay)", choices=MODES),
    "population": Param(100, "int", "P: programs kept (the oldest leaves)", check="positive"),
    "tournament": Param(10, "int", "T: programs drawn per parent choice (1 <= T <= P)",
                        check="positive"),
    "batch": Param(16, "int", "candidates trained per iteration (made and applied in order)",
                   check="positive"),
    "restart_every": Param(0, "int", "trained candidates between restarts (from the start "
                           "program and from the best, alternately); 0: never",
                           check="nonnegative"),
    "funnel": Param(8, "int", "the fittest programs retrained at funnel_size at the end (and "
                    "the start program); 0: none, the best at the search's size is kept",
                    check="nonnegative"),
    "funnel_size": Param("m", "str", "proxy size of the funnel (m: 10x the model and steps)",
                         choices=("s", "m")),
    "max_generated": Param(50, "int", "per trained candidate, at most this many cache hits "
                           "before an iteration stops looking for new programs",
                           check="positive"),
}


def _preset(population, tournament, batch, evaluations, checkpoint_every, **kw):
    return {"population": population, "tournament": tournament, "batch": batch,
            "evaluations": evaluations, "log_every": 1, "checkpoint_every": checkpoint_every,
            **kw}


PRESETS = {"digits_mlp": {
    "tiny": _preset(8, 2, 8, 24, 1, funnel=3, funnel_size="s"),
    "default": _preset(100, 10, 16, 1000, 5, restart_every=500),
    "gpu": _preset(1000, 2, 64, 25000, 10, restart_every=10000),  # the paper's P and T
}}
