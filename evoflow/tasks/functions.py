"""Benchmark functions in any dimension, in JAX (device loop) and NumPy (host loop).

Each function is minimized; its fitness is -f. Every run gets its own shift s drawn from the seed
(`shift_low..shift_high` per coordinate), so f_run(x) = f(x - s), x* = x*_0 + s, f* unchanged.
The shift ranges keep x* inside the domain. The table is in docs/cbo.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from evoflow.config import Param
from evoflow.tasks.base import Task

# Schwefel's optimum and offset to full float64 precision, so that f(x*) = 0 to rounding.
_SCHWEFEL_X = 420.968746359982
_SCHWEFEL_C = 418.982887272433799


def _sphere(xp, x):
    return xp.sum(x * x, axis=-1)


def _rastrigin(xp, x):
    # The standard sum form, as CBXpy's `Rastrigin(A=10)`: A d + sum(x^2 - A cos(2 pi x)).
    d = x.shape[-1]
    return 10.0 * d + xp.sum(x * x - 10.0 * xp.cos(2.0 * math.pi * x), axis=-1)


def _ackley(xp, x):
    d = x.shape[-1]
    r = xp.sqrt(xp.sum(x * x, axis=-1) / d)
    c = xp.sum(xp.cos(2.0 * math.pi * x), axis=-1) / d
    return -20.0 * xp.exp(-0.2 * r) - xp.exp(c) + 20.0 + math.e


def _rosenbrock(xp, x):
    a, b = x[..., :-1], x[..., 1:]
    return xp.sum(100.0 * (b - a * a) ** 2 + (1.0 - a) ** 2, axis=-1)


def _griewank(xp, x):
    d = x.shape[-1]
    i = xp.sqrt(xp.arange(1, d + 1, dtype=x.dtype))
    return 1.0 + xp.sum(x * x, axis=-1) / 4000.0 - xp.prod(xp.cos(x / i), axis=-1)


def _schwefel(xp, x):
    d = x.shape[-1]
    return _SCHWEFEL_C * d - xp.sum(x * xp.sin(xp.sqrt(xp.abs(x))), axis=-1)


def _levy(xp, x):
    w = 1.0 + (x - 1.0) / 4.0
    head = xp.sin(math.pi * w[..., 0]) ** 2
    mid = xp.sum((w[..., :-1] - 1.0) ** 2 * (1.0 + 10.0 * xp.sin(math.pi * w[..., :-1] + 1.0) ** 2),
                 axis=-1)
    tail = (w[..., -1] - 1.0) ** 2 * (1.0 + xp.sin(2.0 * math.pi * w[..., -1]) ** 2)
    return head + mid + tail


@dataclass(frozen=True)
class FunctionSpec:
    fn: Callable
    domain: tuple[float, float]
    init: tuple[float, float]
    x_star: float  # per coordinate, before the shift
    shift: tuple[float, float]
    f_star: float = 0.0


FUNCTIONS: dict[str, FunctionSpec] = {
    "sphere": FunctionSpec(_sphere, (-5.12, 5.12), (-3.0, 3.0), 0.0, (-1.0, 1.0)),
    "rastrigin": FunctionSpec(_rastrigin, (-5.12, 5.12), (-3.0, 3.0), 0.0, (-1.0, 1.0)),
    "ackley": FunctionSpec(_ackley, (-32.768, 32.768), (-3.0, 3.0), 0.0, (-1.0, 1.0)),
    "rosenbrock": FunctionSpec(_rosenbrock, (-5.0, 10.0), (-2.0, 2.0), 1.0, (-1.0, 1.0)),
    "griewank": FunctionSpec(_griewank, (-600.0, 600.0), (-3.0, 3.0), 0.0, (-1.0, 1.0)),
    "schwefel": FunctionSpec(_schwefel, (-500.0, 500.0), (-500.0, 500.0), _SCHWEFEL_X,
                             (-20.0, 20.0)),
    "levy": FunctionSpec(_levy, (-10.0, 10.0), (-5.0, 5.0), 1.0, (-1.0, 1.0)),
}

SUCCESS_TOL = 0.25  # a run succeeds when ||x_best - x*||_inf < 0.25 (CBXpy's dist_to_min)


class FunctionTask(Task):
    """A shifted benchmark function; `evaluator=numpy` evaluates it on the host loop."""

    sense = "min"
    kinds = ("function",)
    numpy_evaluator = True
    progress_keys = ("success_rate", "best_gap")
    SCHEMA = {
        "dim": Param(20, "int", "dimension d", check="positive"),
        "evaluator": Param("jax", "str", "jax: device loop; numpy: host loop (the path gymnasium "
                           "and PyTorch tasks take)", choices=("jax", "numpy")),
        "shift": Param(True, "bool", "shift the optimum per run (uniform in the shift range)"),
    }

    def __init__(self, name: str, cfg):
        super().__init__(cfg)
        self.name = name
        self.spec = FUNCTIONS[name]
        self._dim = cfg["dim"]
        if name in ("rosenbrock", "levy") and self._dim < 2:
            from evoflow.errors import UsageError
            raise UsageError(f"--set dim={self._dim}: {name} needs dim >= 2")

    @property
    def dim(self) -> int:
        return self._dim

    def _box(self, lo_hi):
        return (np.full(self.dim, lo_hi[0], np.float64), np.full(self.dim, lo_hi[1], np.float64))

    def init_box(self):
        return self._box(self.spec.init)

    def domain(self):
        return self._box(self.spec.domain)

    def setup(self, key, run):
        lo, hi = self.spec.shift
        if not self.cfg["shift"]:
            lo = hi = 0.0
        # Drawn in float32 whatever the run's dtype: the same seed is the same problem in float64.
        shift = jax.random.uniform(jax.random.fold_in(key, run), (self.dim,), jnp.float32,
                                   minval=lo, maxval=hi)
        return {"shift": shift}

    def x_star(self, run_data):
        return self.spec.x_star + run_data["shift"]

    def value(self, run_data, params):
        """f(x) for params (..., dim), the natural (minimized) objective."""
        shift = run_data["shift"].astype(params.dtype)
        return self.spec.fn(jnp, params - shift)

    def evaluate(self, run_data, params, key):
        return -self.value(run_data, params)

    def evaluate_numpy(self, run_data, params):
        shift = np.asarray(run_data["shift"], params.dtype)
        return -self.spec.fn(np, params - shift)

    def metrics(self, run_data, points, valid):
        x_star = jax.vmap(self.x_star)(run_data)
        dist = jnp.max(jnp.abs(points - x_star), axis=-1)
        success = (dist < SUCCESS_TOL) & valid
        gap = jnp.where(valid, jax.vmap(self.value)(run_data, points) - self.spec.f_star, jnp.inf)
        n_valid = jnp.sum(valid)
        # Integer counts and a min: exact under any sharding of the runs axis.
        return {"success_rate": jnp.sum(success) / n_valid, "best_gap": jnp.min(gap)}

    def summary(self, metrics):
        return {"success_rate": metrics["success_rate"], "best_gap": metrics["best_gap"]}
