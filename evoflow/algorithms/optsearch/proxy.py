"""Proxy tasks of the optimizer search: train a small digits model with a candidate program.

`digits_mlp` (search and funnel) and `digits_cnn` (meta-validation: never seen by the search or
the funnel). Data: scikit-learn's 8x8 digits (1,797 images, shipped with scikit-learn), pixels
scaled to [0, 1], one fixed stratified split of 1,077 train / 360 validation / 360 test
(`train_test_split(..., stratify=y, random_state=0)` twice), independent of `--seed` and of the
`digits` env of CBO, which keeps its own split.

A candidate is a program (evoflow-program/1 JSON), or for the `adamw_tune` baseline an AdamW
setting (`adamw.py`). It trains over an lr grid (its `default_lr`
times `lr_grid`) x `train_seeds` seeds, each for the size's steps on mini-batches of 64 with a
5% linear warm-up then cosine decay feeding `lr`; its fitness is minus the mean validation loss
at the best grid lr, which becomes its `default_lr`. A diverged pair (non-finite loss or
weights) stops early and counts as an infinite loss.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from evoflow.config import Param
from evoflow.tasks.base import Evaluation, Task

N_VAL = N_TEST = 360
# size -> (model, steps); `m` has 10x the parameters and steps of `s` (the funnel's task B)
MLP_SIZES = {"s": ((64, 32, 10), 500), "m": ((64, 330, 10), 5000)}
CNN_STEPS = 1000


@lru_cache(maxsize=1)
def split() -> dict[str, np.ndarray]:
    """x_/y_ train (1,077), val (360), test (360): stratified, fixed."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype(np.float32)
    y = y.astype(np.int32)
    x_rest, x_te, y_rest, y_te = train_test_split(x, y, test_size=N_TEST, stratify=y,
                                                  random_state=0)
    x_tr, x_va, y_tr, y_va = train_test_split(x_rest, y_rest, test_size=N_VAL, stratify=y_rest,
                                              random_state=0)
    return {"x_train": x_tr, "y_train": y_tr, "x_val": x_va, "y_val": y_va,
            "x_test": x_te, "y_test": y_te}


def proxy_for(env: str, size: str):
    from evoflow.algorithms.optsearch.executor import CNN, MLP, Proxy

    if env == "digits_cnn":
        return Proxy(CNN(), CNN_STEPS)
    sizes, steps = MLP_SIZES[size]
    return Proxy(MLP(sizes), steps)


def parse_genome(obj):
    """A candidate's JSON: an `ir.Program` (evoflow-program/1) or an `adamw.AdamWSetting`."""
    from evoflow.algorithms.optsearch import adamw, ir

    return adamw.parse(obj) if adamw.is_setting(obj) else ir.parse(obj)


SCHEMA = {
    "size": Param("s", "str", "proxy size: s, or m (10x the model and steps; the funnel's)",
                  choices=tuple(MLP_SIZES)),
    "executor": Param("interpret", "str", "interpret (one compile per task size, op codes via "
                      "lax.switch) or compile (one executable per program structure)",
                      choices=("interpret", "compile")),
    "lr_grid": Param([1 / 3, 1.0, 3.0], "floats", "multipliers of the candidate's default_lr "
                     "tried; the best becomes its default_lr", check="positive"),
    "train_seeds": Param(2, "int", "training seeds per grid lr", check="positive"),
}


class ProgramTask(Task):
    """Trains candidate programs (JSON payloads) on the host; fitness = -validation loss."""

    sense = "min"
    kinds = ("optimizer",)
    SCHEMA = SCHEMA
    pad_chunks = False  # a duplicate trial costs a training run
    progress_keys = ()

    def __init__(self, env: str, cfg: dict):
        super().__init__(cfg)
        self.name = env
        if not cfg["lr_grid"]:
            from evoflow.errors import UsageError

            raise UsageError("--set lr_grid=[]: give at least one multiplier of default_lr")
        self._executors: dict[tuple[str, str], object] = {}

    @property
    def dim(self) -> int:
        return 0

    def init_box(self):
        return np.zeros(0), np.zeros(0)

    def executor(self, size: str | None = None, split_name: str = "val"):
        from evoflow.algorithms.optsearch.executor import Executor

        size = size or self.cfg["size"]
        key = (size, split_name)
        if key not in self._executors:
            d = split()
            data = {"x_train": d["x_train"], "y_train": d["y_train"],
                    "x_eval": d[f"x_{split_name}"], "y_eval": d[f"y_{split_name}"]}
            self._executors[key] = Executor(proxy_for(self.name, size), data,
                                            self.cfg["executor"])
        return self._executors[key]

    def train_seeds(self, seed: int) -> np.ndarray:
        return (np.uint64(seed) + np.arange(self.cfg["train_seeds"], dtype=np.uint64)
                ).astype(np.uint32)

    def score(self, program: dict, seed: int, size: str | None = None) -> dict:
        """Train one candidate (a program, or an AdamW setting): {val_loss, lr, compiled,
        compile_s}."""
        prog = parse_genome(program)
        ex = self.executor(size)
        before = (ex.compile_count, ex.compile_s)
        lrs = prog.default_lr * np.asarray(self.cfg["lr_grid"], np.float64)
        loss, _ = ex.train(prog, lrs, self.train_seeds(seed))
        mean = loss.mean(axis=1)  # inf if any seed diverged at that lr
        best = int(np.argmin(mean))
        return {"val_loss": float(mean[best]), "lr": float(lrs[best]),
                "compiled": ex.compile_count - before[0], "compile_s": ex.compile_s - before[1]}

    def evaluate_host(self, run_data, population, seeds, broadcast=None):
        """Each payload is a program, or a request {"program": ..., "size": s|m, "seed": n}
        (the funnel's: another size, and one training seed shared by the programs compared)."""
        rows = []
        for p, s in zip(population, np.asarray(seeds)):
            if "format" in p:  # a bare program
                rows.append(self.score(p, int(s)))
            else:
                size = p.get("size")
                if size is not None and size not in MLP_SIZES:
                    raise ValueError(f"request size {size!r}: one of {', '.join(MLP_SIZES)}")
                rows.append(self.score(p["program"], int(p.get("seed", s)), size))
        loss = np.array([r["val_loss"] for r in rows], np.float64)
        return Evaluation(fitness=np.where(np.isfinite(loss), -loss, -np.inf),
                          extras={k: np.array([r[k] for r in rows], np.float64)
                                  for k in ("val_loss", "lr", "compiled", "compile_s")})
