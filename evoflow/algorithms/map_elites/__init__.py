"""MAP-Elites family: the archive (`archive`), variation operators (`variation`) and, on top of
them, the algorithms (ME, PGA-ME, DCG-ME, DCRL-ME); `evaluate` is `evoflow eval` for its runs.
Modules are imported by path; this package declares the family and imports nothing heavy."""

from evoflow.algorithms.registry import Algorithm, EvalOption, Family, RunFile

_SCHEMA = "evoflow.algorithms.map_elites.schema"
_CRITIC = "evoflow.algorithms.map_elites.critic_me"
_QD = ("descriptor",)

FAMILY = Family(
    name="map_elites",
    description="MAP-Elites with GA and policy-gradient variation, archive distillation",
    algorithms=(
        Algorithm("me", "evoflow.algorithms.map_elites.me:MAPElites",
                  "MAP-Elites with isoline (iso + line) variation", accepts=_QD,
                  schema=f"{_SCHEMA}:ME"),
        Algorithm("pga_me", f"{_CRITIC}:PGAME", "PGA-MAP-Elites: GA + TD3 policy-gradient "
                  "variation", accepts=_QD, schema=f"{_SCHEMA}:PGA_ME"),
        Algorithm("dcg_me", f"{_CRITIC}:DCGME", "DCG-MAP-Elites: descriptor-conditioned critic "
                  "PG variation, distilled DC policy", accepts=_QD, schema=f"{_SCHEMA}:DCG_ME"),
        Algorithm("dcrl_me", f"{_CRITIC}:DCRLME", "DCRL-MAP-Elites: DCG-ME plus actor "
                  "injection", accepts=_QD, schema=f"{_SCHEMA}:DCRL_ME"),
    ),
    run_files=(
        RunFile("archive.npz", "npz", "per cell: fitness, descriptor, centroid, emitter, "
                "generation, parent and the elite's policy parameters"),
        RunFile("artifacts/distilled.safetensors", "safetensors", "the descriptor-conditioned "
                "actor (DCG-ME, DCRL-ME)"),
        RunFile("artifacts/distilled.json", "json", "the distilled actor's layout"),
        RunFile("distilled_eval.npz", "npz", "the distilled policy at filled cells' centroids: "
                "fitness and achieved descriptor"),
        RunFile("viz/rollouts.npz", "npz", "the top-k elites' rollouts (written for evoflow viz)"),
    ),
    eval_options=(
        EvalOption("--policy", "str", "cell:N|distilled", "cell:N (the elite of archive cell N) "
                   "| distilled (with --target)"),
        EvalOption("--target", "str", "X,Y", "with --policy distilled: the descriptor to reach"),
        EvalOption("--episodes", "int", "K", "episodes to roll out (default 1)"),
        EvalOption("--reproducibility", "int", "K", "every elite and the distilled policy at "
                   "each filled cell's centroid, K stochastic resets each: expected QD score, "
                   "distance and max fitness"),
    ),
    evaluator="evoflow.algorithms.map_elites.evaluate",
    views=("archive", "parallel_axes", "distilled", "rollouts"),
    rollouts="evoflow.algorithms.map_elites.rollouts:write_rollouts",
)
