"""Config keys of the CBO family (plain data: `evoflow list` reads them without importing JAX)."""

from __future__ import annotations

from evoflow.config import Param

CBO: dict[str, Param] = {
    "n_runs": Param(1, "int", "M independent runs in one call (the sharded axis)",
                    check="positive"),
    "n_particles": Param(50, "int", "N particles per run", check="positive"),
    "noise": Param("anisotropic", "str", "diffusion type",
                   choices=("anisotropic", "isotropic")),
    "sigma_convention": Param("cbxpy", "str", "cbxpy: sigma sqrt(dt) D(x-c) xi; sqrt2: "
                              "sqrt(2) sigma (CBX.jl)", choices=("cbxpy", "sqrt2")),
    "correction": Param("none", "str", "heaviside: only particles worse than the consensus "
                        "drift (N+1 evaluations)", choices=("none", "heaviside")),
    "sigma": Param(1.0, "float", "noise strength sigma", check="positive"),
    "lam": Param(1.0, "float", "drift strength lambda", check="positive"),
    "dt": Param(0.01, "float", "time step", check="positive"),
    "alpha": Param(30.0, "float", "initial inverse temperature alpha", check="positive"),
    "alpha_schedule": Param("multiply", "str", "fixed | multiply (x alpha_factor per "
                            "iteration, capped) | ess (effective sample size = eta B)",
                            choices=("fixed", "multiply", "ess")),
    "alpha_factor": Param(1.05, "float", "multiply schedule factor", check="positive"),
    "alpha_max": Param(1e5, "float", "cap of alpha (schedules and cooling)", check="positive"),
    "ess_eta": Param(0.5, "float", "ess schedule target fraction eta", check="unit"),
    "batch_size": Param(0, "int", "particles per step (0: all N); random batches without "
                        "replacement per run", check="nonnegative"),
    "partial": Param(False, "bool", "move only the batch's particles"),
    "sigma_floor": Param(0.0, "float", "noise floor: + sigma_floor sqrt(dt) xi each step",
                         check="nonnegative"),
    "stall_tol": Param(0.0, "float", "Brownian kick sigma sqrt(dt) xi when the consensus "
                       "moves less than this (inf-norm); 0: off", check="nonnegative"),
    "cooling": Param(False, "bool", "per epoch: sigma *= log2(e+1)/log2(e+2), alpha *= 2"),
    "epoch_iterations": Param(0, "int", "iterations per cooling epoch", check="nonnegative"),
    "init": Param("uniform", "str", "initial particles: uniform in the task's init box, or "
                  "gaussian around its centre", choices=("uniform", "gaussian")),
    "init_std": Param(1.0, "float", "std of the gaussian init", check="positive"),
    "box": Param("none", "str", "constraint to the task's domain",
                 choices=("none", "clip", "reflect")),
    "clip_abs": Param(1e8, "float", "after each step, NaN coordinates -> clip_abs and all "
                      "clipped to [-clip_abs, clip_abs], as CBXpy's post-processing (0: off)",
                      check="nonnegative"),
    "update": Param("sde", "str", "sde: CBO step; hopping: x <- c + sigma xi",
                    choices=("sde", "hopping")),
    "memory": Param(False, "bool", "CBOMemory (Grassi & Pareschi; Riedl 2023): consensus of "
                    "the particles' best positions y, plus a drift and noise toward y"),
    "lam_memory": Param(0.4, "float", "memory drift strength (CBXpy: 0.4)",
                        check="nonnegative"),
    "sigma_memory": Param(None, "float", "memory noise (null: lam_memory * sigma, as CBXpy)",
                          check="nonnegative", nullable=True),
    "report": Param("best", "str", "a run's result: its best evaluated particle, or the "
                    "consensus point", choices=("best", "consensus")),
    "run_iterations": Param(0, "int", "stop a run after this many iterations (0: off)",
                            check="nonnegative"),
    "run_evaluations": Param(0, "int", "stop a run before its evaluations would exceed this "
                             "(0: off)", check="nonnegative"),
    "energy_tol": Param(None, "float", "stop a run when its best energy of an iteration is "
                        "below this (null: off)", nullable=True),
    "stagnation_patience": Param(0, "int", "stop a run after this many iterations without "
                                 "improving its best energy by stagnation_tol (0: off)",
                                 check="nonnegative"),
    "stagnation_tol": Param(1e-9, "float", "improvement that resets stagnation",
                            check="nonnegative"),
}

CBO_MEMORY: dict[str, Param] = {
    **CBO, "memory": Param(True, "bool", "memory effects", choices=(True,))}

CONSENSUS_HOPPING: dict[str, Param] = {
    **CBO,
    "update": Param("hopping", "str", "hopping: x <- c + sigma xi", choices=("hopping",)),
    "sigma": Param(0.7, "float", "hopping radius sigma", check="positive"),
    "alpha": Param(100.0, "float", "inverse temperature alpha", check="positive"),
    "alpha_schedule": Param("fixed", "str", "fixed | multiply | ess",
                            choices=("fixed", "multiply", "ess"))}
