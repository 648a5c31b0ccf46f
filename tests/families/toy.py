"""A test-only family with one algorithm per non-JAX driver, over real tasks:

- `toy_ea` (python driver): a (1+lambda) EA over JSON genomes `{"x": [floats], "k": int}` on a
  benchmark function (sphere, rastrigin, ...), evaluated through the host evaluator; it appends
  each generation's best to `candidates.jsonl` (an append-only run file) and counts the genes
  it mutated as the family's own budget key `mutations`.
  `evoflow eval RUN --gen N` re-evaluates generation N's best genome; its viz view plots
  `candidates.jsonl`.
- `toy_sgd` (trainer driver): a PyTorch MLP trained by SGD with momentum on scikit-learn's
  digits; its state (model, optimizer, batch generator) is saved as safetensors plus JSON.

Registered with `EVOFLOW_FAMILIES=tests.families.toy`. The family ships its own `tiny` presets
(`Algorithm.presets`, no envs/*.json edit); the schemas take cbo's keys for `n_runs` and friends.
"""

from __future__ import annotations

import json

import numpy as np

from evoflow.algorithms.base import PythonAlgorithm, Trainer
from evoflow.algorithms.cbo.schema import CBO as _CBO_KEYS
from evoflow.algorithms.registry import (Algorithm, BudgetKey, EvalOption, Family,
                                         RunFile)
from evoflow.config import Param

CANDIDATES = "candidates.jsonl"

EA_SCHEMA = {**_CBO_KEYS,
             "offspring": Param(8, "int", "lambda: children per generation", check="positive"),
             "mutation_sigma": Param(0.3, "float", "mutation step", check="positive")}

SGD_SCHEMA = {**_CBO_KEYS,
              "lr": Param(0.1, "float", "SGD learning rate", check="positive"),
              "momentum": Param(0.9, "float", "SGD momentum", check="nonnegative"),
              "batch": Param(32, "int", "samples per step", check="positive"),
              "width": Param(16, "int", "hidden units", check="positive")}

PRESETS = {
    "sphere": {"tiny": {"dim": 5, "n_runs": 1, "iterations": 1000, "log_every": 20,
                        "checkpoint_every": 200, "snapshot_every": 0}},
    "rastrigin": {"tiny": {"dim": 5, "n_runs": 1, "iterations": 1000, "log_every": 20,
                           "checkpoint_every": 200, "snapshot_every": 0}},
    "digits": {"tiny": {"n_runs": 1, "hidden": [], "data_batch": 60, "iterations": 2400,
                        "log_every": 240, "checkpoint_every": 1200}},
}

_PRESETS = "tests.families.toy:PRESETS"

FAMILY = Family(
    name="toy",
    description="test-only family: a python-driver EA and a trainer-driver SGD loop",
    algorithms=(
        Algorithm("toy_ea", "tests.families.toy:OnePlusLambda",
                  "(1+lambda) EA over JSON genomes (test only)", accepts=("function",),
                  schema="tests.families.toy:EA_SCHEMA", driver="python", presets=_PRESETS),
        Algorithm("toy_sgd", "tests.families.toy:DigitsSGD",
                  "torch SGD on digits (test only)", accepts=("supervised",),
                  schema="tests.families.toy:SGD_SCHEMA", driver="trainer", presets=_PRESETS),
    ),
    run_files=(RunFile(CANDIDATES, "jsonl", "each generation's best genome", append_only=True,
                       record_key="gen"),),
    budget_keys=(BudgetKey("mutations", "budget: genes mutated (toy family)", "mutations"),),
    eval_options=(EvalOption("--gen", "int", "N", "toy_ea: re-evaluate the best genome of "
                             "generation N (a line of candidates.jsonl)"),),
    evaluator="tests.families.toy",
    views=("tests.families.toy:views",),
)


# --- `evoflow eval` (this module is the family's evaluator) and the viz view ------------------
def plan(run, record, opts):
    from evoflow.errors import UsageError

    if record["algo"] != "toy_ea":
        raise UsageError(f"{record['algo']} runs have nothing to evaluate")
    if "--gen" not in opts:
        raise UsageError("--gen N is required")
    path = run / CANDIDATES
    lines = path.read_text().splitlines() if path.exists() else []
    recs = {r["gen"]: r for r in map(json.loads, lines)}
    if opts["--gen"] not in recs:
        raise UsageError(f"--gen {opts['--gen']}: not a generation of {path} "
                         f"(0..{len(recs) - 1})")
    return {"candidate": recs[opts["--gen"]]}


def rollout(plan):
    from evoflow.evaluate import rebuild

    prep, _, run_data = rebuild(plan)
    cand = plan.args["candidate"]
    x = np.asarray([cand["genome"]["x"]], np.float64)
    fitness = float(prep.task.evaluate_numpy(run_data, x)[0])
    return {"gen": cand["gen"], "fitness": fitness, "recorded_fitness": cand["fitness"]}


def views(run):
    from evoflow.viz.views import View, b64

    recs = run.files.get(CANDIDATES) or []
    return [View("toy_candidates", "Best candidate per generation (toy family)",
                 f'<p id="toy-count">{len(recs)} generations</p>',
                 {"gen": [int(r["gen"]) for r in recs],
                  "fitness": b64([r["fitness"] for r in recs], "f8")})]


class OnePlusLambda(PythonAlgorithm):
    progress_keys = ("best_fitness",)

    def init(self, rng):
        lo, hi = np.asarray(self.task.init_low), np.asarray(self.task.init_high)
        x = rng.uniform(lo, hi)
        return {"parent": {"x": [float(v) for v in x], "k": 0}, "fitness": float("-inf"),
                "gen": 0, "mutations": 0, "history": np.zeros(0)}

    def ask(self, rng, state):
        d = self.task.dim
        parent = np.asarray(state["parent"]["x"])
        children = []
        for _ in range(self.cfg["offspring"]):
            k = 1 + int(rng.binomial(d - 1, 1.0 / d))
            genes = rng.choice(d, size=k, replace=False)
            x = parent.copy()
            x[genes] += self.cfg["mutation_sigma"] * rng.standard_normal(k)
            children.append({"x": [float(v) for v in x], "k": k})
        return children, state

    def payload(self, genomes):
        return np.array([g["x"] for g in genomes])

    def max_evaluations_per_iteration(self):
        return self.cfg["offspring"]

    def tell(self, rng, genomes, evaluation, state):
        f = np.asarray(evaluation.fitness, np.float64)
        best = int(np.argmax(f))
        state = dict(state)
        if f[best] >= state["fitness"]:
            state["parent"], state["fitness"] = genomes[best], float(f[best])
        state["mutations"] += sum(g["k"] for g in genomes)
        state["history"] = np.append(state["history"], f[best])
        gen = state["gen"]
        state["gen"] = gen + 1
        metrics = {"best_fitness": state["fitness"], "mutations": state["mutations"]}
        return state, metrics, {CANDIDATES: [{"gen": gen, "fitness": float(f[best]),
                                              "genome": genomes[best]}]}

    def summary(self, metrics):
        return {"best_fitness": metrics.get("best_fitness")}


class DigitsSGD(Trainer):
    progress_keys = ("loss",)

    def setup(self, seed, task):
        import torch

        from evoflow.tasks.digits import digits_split

        torch.set_num_threads(1)
        x_tr, y_tr, x_te, y_te = digits_split()
        self.x, self.y = torch.from_numpy(x_tr), torch.from_numpy(y_tr).long()
        self.x_te, self.y_te = torch.from_numpy(x_te), torch.from_numpy(y_te).long()
        torch.manual_seed(seed)
        w = self.cfg["width"]
        self.model = torch.nn.Sequential(torch.nn.Linear(64, w), torch.nn.Tanh(),
                                         torch.nn.Linear(w, 10))
        self.opt = torch.optim.SGD(self.model.parameters(), lr=self.cfg["lr"],
                                   momentum=self.cfg["momentum"])
        self.gen = torch.Generator().manual_seed(seed + 1)

    def state(self):
        return {"model": self.model.state_dict(), "opt": self.opt.state_dict(),
                "gen": self.gen.get_state()}

    def load_state(self, state):
        self.model.load_state_dict(state["model"])
        self.opt.load_state_dict(state["opt"])
        self.gen.set_state(state["gen"])

    def train(self, loop):
        import torch

        b = self.cfg["batch"]
        while loop.running():
            idx = torch.randint(0, len(self.x), (b,), generator=self.gen)
            loss = torch.nn.functional.cross_entropy(self.model(self.x[idx]), self.y[idx])
            self.opt.zero_grad()
            loss.backward()
            self.opt.step()
            loop.step_done({"loss": float(loss.detach())}, evaluations=b)

    def _test_accuracy(self):
        import torch

        with torch.no_grad():
            return float((self.model(self.x_te).argmax(1) == self.y_te).float().mean())

    def summary(self, metrics):
        return {"test_accuracy": self._test_accuracy(), "loss": metrics.get("loss")}
