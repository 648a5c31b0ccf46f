"""Lion-style symbolic optimizer search (Chen et al. 2023): programs as JSON data (`ir.py`, the
44 safe ops of `ops.py`), built-in programs (`builtin.py`) and their export to PyTorch and optax
(`export.py`, written by `evoflow export`)."""

from evoflow.algorithms.registry import Algorithm, EvalOption, ExportFormat, Family, RunFile

_W = "evoflow.algorithms.optsearch.writer"
_S = "evoflow.algorithms.optsearch.schema"

FAMILY = Family(
    name="optsearch",
    description="symbolic optimizer program search; discovered optimizers export to torch/optax",
    algorithms=(
        Algorithm("optsearch", "evoflow.algorithms.optsearch.search:ProgramSearch",
                  "regularized evolution of optimizer programs from AdamW (Lion's method)",
                  accepts=("optimizer",), schema=f"{_S}:SCHEMA", driver="python",
                  presets=f"{_S}:PRESETS"),
    ),
    run_files=(
        RunFile("candidates.jsonl", "jsonl", "one line per generated candidate (index, parent, "
                "mutation, program_hash, fingerprint, status, fitness, lr)", append_only=True,
                record_key="index"),
        RunFile("artifacts/best_program.json", "json", "the best program (evoflow-program/1), "
                "dead code and repeated values removed"),
        RunFile("artifacts/funnel.json", "json", "the funnel: programs retrained at the funnel "
                "size, the winner, pruning"),
        RunFile("artifacts/best_program_raw.json", "json", "the best program as the search "
                "found it"),
        RunFile("artifacts/best_program.txt", "bytes", "the best program as a listing"),
        RunFile("artifacts/best_adamw.json", "json", "mode=adamw_tune: the best AdamW setting "
                "(evoflow-adamw/1) instead of a program"),
    ),
    evaluator="evoflow.algorithms.optsearch.evaluate",
    views=("evoflow.algorithms.optsearch.views:views",),
    exports=(
        ExportFormat("torch", "a module with one torch.optim.Optimizer subclass (torch and the "
                     "standard library only)", f"{_W}:write_torch"),
        ExportFormat("optax", "a function returning an optax.inject_hyperparams transformation",
                     f"{_W}:write_optax"),
        ExportFormat("json", "the program (evoflow-program/1)", f"{_W}:write_json"),
        ExportFormat("text", "the program as a listing (def train(w, g, ..., lr))",
                     f"{_W}:write_text"),
    ),
    export_options=(EvalOption("--program", "str", "NAME|FILE.json",
                               "a built-in program (lion, adamw_nobc, sgd_momentum, signsgd) or "
                               "a program file, instead of RUN"),),
    export_sources=("--program",),
)
