"""Task registry: env name -> factory. `evoflow run ALGO --env NAME` resolves NAME here."""

from __future__ import annotations

import importlib
from dataclasses import dataclass


@dataclass(frozen=True)
class TaskEntry:
    module: str
    cls: str
    kinds: tuple[str, ...]
    args: tuple = ()
    # "module:function" raising UsageError for a name of the namespace that does not exist
    check_name: str | None = None

    def load(self):
        return getattr(importlib.import_module(self.module), self.cls)

    def make(self, cfg):
        return self.load()(*self.args, cfg)

    def check(self, env: str) -> None:
        if self.check_name is not None:
            module, _, fn = self.check_name.partition(":")
            getattr(importlib.import_module(module), fn)(env)


GYM_PREFIX = "gym/"


def _gym_entry(env: str) -> TaskEntry:
    return TaskEntry("evoflow.tasks.gym", "GymTask", ("policy",), (env,),
                     check_name="evoflow.tasks.gym:check_env")


class _TaskTable(dict):
    """The registered envs, and any `gym/<ID>` (checked against gymnasium's registry by
    `TaskEntry.check`, which imports gymnasium only then)."""

    def __contains__(self, env) -> bool:
        return dict.__contains__(self, env) or (isinstance(env, str) and env.startswith(GYM_PREFIX)
                                                and len(env) > len(GYM_PREFIX))

    def __missing__(self, env):
        if isinstance(env, str) and env in self:
            return _gym_entry(env)
        raise KeyError(env)

    def get(self, env, default=None):
        return self[env] if env in self else default


_BRAX_QD = ("ant_omni", "anttrap_omni", "humanoid_omni", "ant_uni", "walker2d_uni",
            "halfcheetah_uni", "humanoid_uni")
# Brax robots with their own reward (evoflow.tasks.brax_rl), for single-objective policy search
BRAX_LOCOMOTION = ("ant", "hopper", "walker2d", "halfcheetah", "humanoid")
_FUNCTIONS = ("sphere", "rastrigin", "ackley", "rosenbrock", "griewank", "schwefel", "levy")

TASKS: dict[str, TaskEntry] = _TaskTable({
    **{name: TaskEntry("evoflow.tasks.functions", "FunctionTask", ("function",), (name,))
       for name in _FUNCTIONS},
    "digits": TaskEntry("evoflow.tasks.digits", "DigitsTask", ("supervised",)),
    # optimizer programs train a digits MLP (the optsearch family's proxy task)
    "digits_mlp": TaskEntry("evoflow.algorithms.optsearch.proxy", "ProgramTask", ("optimizer",),
                            ("digits_mlp",)),
    "point_omni": TaskEntry("evoflow.tasks.point_mass", "PointOmni", ("descriptor", "policy")),
    **{name: TaskEntry("evoflow.tasks.brax_qd", "BraxQD", ("descriptor", "policy"), (name,))
       for name in _BRAX_QD},
    "deceptive_maze": TaskEntry("evoflow.tasks.maze", "DeceptiveMaze", ("descriptor", "policy")),
    # Brax's own reward, single-objective (for QD algorithms the names in QD_ALIASES win)
    **{name: TaskEntry("evoflow.tasks.brax_rl", "BraxLocomotion", ("policy",), (name,))
       for name in BRAX_LOCOMOTION},
    # gymnasium on the host loop (evoflow.tasks.gym); these are listed, any other ID works too
    **{f"{GYM_PREFIX}{gid}": _gym_entry(f"{GYM_PREFIX}{gid}")
       for gid in ("CartPole-v1", "LunarLander-v3", "Acrobot-v1", "ALE/Frostbite-v5")},
})

# For QD algorithms a robot name means one paper task (DESIGN.md "Env names").
QD_ALIASES: dict[str, str] = {"ant": "ant_omni", "humanoid": "humanoid_omni",
                              "walker2d": "walker2d_uni", "halfcheetah": "halfcheetah_uni"}
