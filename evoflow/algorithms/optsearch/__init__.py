"""Lion-style symbolic optimizer search (Chen et al. 2023): programs as JSON data (`ir.py`, the
44 safe ops of `ops.py`), built-in programs (`builtin.py`) and their export to PyTorch and optax
(`export.py`, written by `evoflow export`)."""

from evoflow.algorithms.registry import EvalOption, ExportFormat, Family

_W = "evoflow.algorithms.optsearch.writer"

FAMILY = Family(
    name="optsearch",
    description="symbolic optimizer program search; discovered optimizers export to torch/optax",
    algorithms=(),
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
