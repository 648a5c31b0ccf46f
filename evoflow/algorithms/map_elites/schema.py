"""Config keys of the MAP-Elites family (plain data: `evoflow list` reads them without importing
JAX)."""

from __future__ import annotations

from evoflow.config import Param

ME: dict[str, Param] = {
    "batch_size": Param(64, "int", "offspring per generation (GA)", check="positive"),
    "iso_sigma": Param(0.005, "float", "isotropic Gaussian mutation sigma",
                       check="nonnegative"),
    "line_sigma": Param(0.05, "float", "line (x2 - x1) mutation sigma", check="nonnegative"),
    "archive": Param("cvt", "str", "cvt: centroids by k-means; grid: a regular grid",
                     choices=("cvt", "grid")),
    "n_cells": Param(256, "int", "cells of a CVT archive", check="positive"),
    "cvt_samples": Param(25600, "int", "uniform samples for the CVT's k-means",
                         check="positive"),
    "cvt_seed": Param(0, "int", "seed of the CVT (fixed across run seeds, so runs compare "
                      "cell by cell)", check="nonnegative"),
    "grid_shape": Param([16, 16], "ints", "cells per descriptor dimension (grid)",
                        check="positive"),
}

PGA_ME: dict[str, Param] = {
    **ME,
    "n_ga": Param(32, "int", "GA offspring per generation", check="nonnegative"),
    "n_pg": Param(31, "int", "policy-gradient offspring per generation", check="nonnegative"),
    "n_ai": Param(0, "int", "actor-injection offspring (DCRL-ME)", check="nonnegative"),
    "n_actor": Param(1, "int", "actor rollouts: PGA-ME's greedy actor (archived) or DCG-ME's "
                     "DC-actor rollouts (replay only)", check="nonnegative"),
    "pg_steps": Param(50, "int", "Adam steps per PG offspring", check="positive"),
    "critic_steps": Param(300, "int", "TD3 critic steps per generation", check="positive"),
    "policy_lr": Param(5e-3, "float", "Adam lr of the PG variation", check="positive"),
    "critic_lr": Param(3e-4, "float", "critic Adam lr", check="positive"),
    "actor_lr": Param(3e-4, "float", "(DC) actor Adam lr", check="positive"),
    "minibatch": Param(100, "int", "transitions per critic / PG step", check="positive"),
    "replay_size": Param(100000, "int", "replay buffer capacity (transitions)",
                         check="positive"),
    "critic_hidden": Param([256, 256], "ints", "critic hidden layers", check="positive"),
    "discount": Param(0.99, "float", "TD3 discount", check="unit"),
    "tau": Param(0.005, "float", "target network soft update", check="unit"),
    "policy_noise": Param(0.2, "float", "TD3 target policy noise", check="nonnegative"),
    "noise_clip": Param(0.5, "float", "TD3 target noise clip", check="nonnegative"),
    "policy_delay": Param(2, "int", "critic steps per actor step", check="positive"),
    "lengthscale": Param(0.1, "float", "reward rescaling exp(-||d - d'|| / l)",
                         check="positive"),
    "distill_cells": Param(256, "int", "filled cells (at most) at whose centroids the "
                           "distilled policy is evaluated at the end", check="positive"),
}

DCG_ME: dict[str, Param] = {
    **PGA_ME,
    "n_pg": Param(32, "int", "policy-gradient offspring", check="nonnegative"),
    "n_actor": Param(16, "int", "DC-actor rollouts (replay only)", check="nonnegative")}

DCRL_ME: dict[str, Param] = {
    **PGA_ME,
    "n_pg": Param(16, "int", "policy-gradient offspring", check="nonnegative"),
    "n_ai": Param(16, "int", "actor-injection offspring", check="nonnegative"),
    "n_actor": Param(0, "int", "actor rollouts", check="nonnegative")}
