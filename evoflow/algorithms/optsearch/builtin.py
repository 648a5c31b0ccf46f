"""Built-in programs (Chen et al. 2023): Lion (Program 1), AdamW without bias correction or eps
(Program 3, the search's starting point), SGD with momentum and signSGD."""

from __future__ import annotations

F = "evoflow-program/1"


def _s(out: str, op: str, *args) -> dict:
    return {"out": out, "op": op, "args": list(args)}


BUILTINS: dict[str, dict] = {
    # c = b1 m + (1 - b1) g; update = lr (sign(c) + wd w); m = b2 m + (1 - b2) g
    "lion": {"format": F, "name": "lion", "state": ["m"],
             "hparams": {"beta1": 0.9, "beta2": 0.99, "weight_decay": 0.0},
             "default_lr": 0.0001,
             "body": [_s("c", "interp", "g", "m", "beta1"), _s("c", "sign", "c"),
                      _s("m", "interp", "g", "m", "beta2"),
                      _s("wd", "mul", "w", "weight_decay"), _s("c", "add", "c", "wd"),
                      _s("update", "mul", "c", "lr")]},
    # Program 3: m, v EMAs of g and g^2, update = lr (m / sqrt(v) + wd w); no bias correction or
    # eps beyond the safe division's 1e-8.
    "adamw_nobc": {"format": F, "name": "adamw_nobc", "state": ["m", "v"],
                   "hparams": {"beta1": 0.9, "beta2": 0.999, "weight_decay": 0.01},
                   "default_lr": 0.001,
                   "body": [_s("g2", "square", "g"), _s("m", "interp", "g", "m", "beta1"),
                            _s("v", "interp", "g2", "v", "beta2"), _s("sqrt_v", "sqrt", "v"),
                            _s("u", "div", "m", "sqrt_v"),
                            _s("wd", "mul", "w", "weight_decay"), _s("u", "add", "u", "wd"),
                            _s("update", "mul", "u", "lr")]},
    # torch.optim.SGD's momentum (dampening 0): m = mu m + g; update = lr m
    "sgd_momentum": {"format": F, "name": "sgd_momentum", "state": ["m"],
                     "hparams": {"momentum": 0.9}, "default_lr": 0.01,
                     "body": [_s("m", "mul", "m", "momentum"), _s("m", "add", "m", "g"),
                              _s("update", "mul", "m", "lr")]},
    "signsgd": {"format": F, "name": "signsgd", "state": [], "hparams": {},
                "default_lr": 0.001,
                "body": [_s("s", "sign", "g"), _s("update", "mul", "s", "lr")]},
}
