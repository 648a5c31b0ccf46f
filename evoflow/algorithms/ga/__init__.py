"""Deep neuroevolution (Such et al. 2017): the Deep GA and random search on seed-chain genomes
(`genome.py`), Uber's elite re-evaluation (`selection.py`), observation normalization
(`obs_norm.py`); the strategies are in `ga.py`, `evoflow eval` in `evaluate.py`. This module
declares the family and imports nothing heavy."""

from evoflow.algorithms.registry import Algorithm, EvalOption, Family, RunFile

_IMPL = "evoflow.algorithms.ga.ga"
_SCHEMA = "evoflow.algorithms.ga.schema"
_POLICY = ("policy",)

FAMILY = Family(
    name="ga",
    description="deep neuroevolution: the Deep GA (seed-chain genomes), GA-NS, random search, "
                "evosax strategies",
    algorithms=(
        Algorithm("ga", f"{_IMPL}:DeepGA", "Deep GA: truncation, Gaussian mutation, one elite "
                  "re-evaluated (Such et al. 2017)", accepts=_POLICY, schema=f"{_SCHEMA}:GA",
                  presets=f"{_SCHEMA}:PRESETS"),
        Algorithm("random_search", f"{_IMPL}:RandomSearch", "random search: fresh "
                  "initializations, the best re-evaluated kept", accepts=_POLICY,
                  schema=f"{_SCHEMA}:RANDOM_SEARCH", presets=f"{_SCHEMA}:PRESETS_RS"),
        Algorithm("ga_ns", "evoflow.algorithms.ga.ns:NoveltyGA", "GA-NS: the Deep GA selecting "
                  "by novelty of the behaviour (descriptor), with an archive",
                  accepts=("descriptor",), schema=f"{_SCHEMA}:GA_NS",
                  presets=f"{_SCHEMA}:PRESETS_NS"),
        Algorithm("es", "evoflow.algorithms.ga.es:EvosaxES", "any evosax 0.3 strategy "
                  "(--set strategy=NAME, default Open_ES) on the same tasks", accepts=_POLICY,
                  schema=f"{_SCHEMA}:ES", presets=f"{_SCHEMA}:PRESETS_ES"),
    ),
    run_files=(
        RunFile("best.genome", "bytes", "the elite as a seed-chain genome (header, 8 bytes per "
                "mutation); rewritten at each checkpoint"),
        RunFile("best.json", "json", "the elite's chain, return, network and (at the end) its "
                "test episodes"),
        RunFile("best_params.npz", "npz", "es: the best individual evaluated (params) and its "
                "return"),
        RunFile("novelty_archive.npz", "npz", "ga_ns: the novelty archive, oldest first: "
                "behaviour (A, d), generation (A,), fitness (A,)"),
    ),
    eval_options=(
        EvalOption("--episodes", "int", "N", "episodes to replay best.genome (default: the "
                   "run's test_episodes)"),
        EvalOption("--reset-seed", "int", "K", "first reset seed (default: the run's test "
                   "seeds); episode i resets from K + i"),
        EvalOption("--render", "flag", "", "also draw episode 0 into evals/: an animated GIF "
                   "(gym/), brax's HTML viewer (Brax robots), an SVG of the path (maze)"),
    ),
    evaluator="evoflow.algorithms.ga.evaluate",
    views=("evoflow.algorithms.ga.views:views",),
)
