"""The `adamw_tune` baseline's genome: an `optax.adamw` setting (bias correction and ε, which
the IR cannot express: it has no step count), tuned over learning rate × weight decay.

    {"format": "evoflow-adamw/1", "default_lr": 0.001, "weight_decay": 0.0001,
     "b1": 0.9, "b2": 0.999, "eps": 1e-08}

It trains like a program (`executor.py`: the same schedule feeds the learning rate, the same lr
grid around `default_lr`) and is searched by the same regularized evolution, with one mutation:
rescale `default_lr` or `weight_decay` by 2^N(0,1). It is the "tuned AdamW" that the discovered
programs must beat (Chen et al. 2023 compare with AdamW tuned per task).
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, replace

import numpy as np

from evoflow.algorithms.optsearch.ir import ProgramError

FORMAT = "evoflow-adamw/1"
FIELDS = ("default_lr", "weight_decay", "b1", "b2", "eps")
TUNED = ("default_lr", "weight_decay")
# Rescaled values stay inside these ranges, reflected at their ends (a weight decay or a rate
# above 10 only diverges; below 1e-8 the term is numerically absent).
BOUNDS = {"default_lr": (1e-7, 10.0), "weight_decay": (1e-8, 10.0)}


@dataclass(frozen=True)
class AdamWSetting:
    default_lr: float = 1e-3
    weight_decay: float = 1e-4
    b1: float = 0.9
    b2: float = 0.999
    eps: float = 1e-8

    def to_json(self) -> dict:
        return {"format": FORMAT, **{k: getattr(self, k) for k in FIELDS}}

    def replace(self, **kw) -> "AdamWSetting":
        return replace(self, **kw)


START = AdamWSetting()


def is_setting(obj) -> bool:
    return isinstance(obj, dict) and obj.get("format") == FORMAT


def parse(obj) -> AdamWSetting:
    """A setting from its JSON object; every field checked (one-line ProgramError)."""
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        raise ProgramError(f"an AdamW setting needs format {FORMAT!r}")
    extra = set(obj) - {"format", *FIELDS}
    if extra:
        raise ProgramError(f"AdamW setting: unknown field {sorted(extra)[0]!r}; fields: "
                           f"{', '.join(FIELDS)}")
    values = {}
    for k in FIELDS:
        v = obj.get(k, getattr(START, k))
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise ProgramError(f"AdamW setting: {k}={v!r} is not a finite number")
        values[k] = float(v)
    if values["default_lr"] <= 0 or values["weight_decay"] < 0 or values["eps"] <= 0:
        raise ProgramError("AdamW setting: default_lr and eps must be > 0, weight_decay >= 0")
    if not (0 <= values["b1"] < 1 and 0 <= values["b2"] < 1):
        raise ProgramError("AdamW setting: b1 and b2 must be in [0, 1)")
    return AdamWSetting(**values)


def program_hash(s: AdamWSetting) -> str:
    """The setting's values, exactly (repr), hashed: two settings are one candidate iff equal."""
    text = json.dumps({k: repr(float(getattr(s, k))) for k in FIELDS}, sort_keys=True)
    return hashlib.md5(text.encode()).hexdigest()


fingerprint = program_hash  # a setting has no other functional identity


def mutate(s: AdamWSetting, rng: np.random.Generator) -> AdamWSetting:
    """`default_lr` or `weight_decay` (chosen uniformly) times 2^N(0,1), reflected at BOUNDS in
    log space (a clip would return the bound again and again: cache hits, no progress)."""
    key = TUNED[int(rng.integers(len(TUNED)))]
    low, high = (math.log2(b) for b in BOUNDS[key])
    x = math.log2(min(max(getattr(s, key), 2.0**low), 2.0**high)) + float(rng.normal())
    while not low <= x <= high:
        x = 2 * low - x if x < low else 2 * high - x
    return s.replace(**{key: float(2.0**x)})


def text(s: AdamWSetting) -> str:
    return (f"optax.adamw(learning_rate=schedule * {s.default_lr!r}, b1={s.b1!r}, b2={s.b2!r}, "
            f"eps={s.eps!r}, weight_decay={s.weight_decay!r})\n")

