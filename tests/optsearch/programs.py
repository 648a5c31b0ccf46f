"""Programs that exercise every op through the exports, and a float64 numpy reference."""

from __future__ import annotations

import numpy as np

from evoflow.algorithms.optsearch import ir
from evoflow.algorithms.optsearch.ops import OPS

SHAPES = ((4, 3), (5,), (2, 1, 3))


def _prog(name: str, first: list, hparams=None) -> ir.Program:
    """`a = <first statements>; m = interp(a, m, 0.5); update = lr * (m + 0.1 g)`: the op's
    value reaches the update through a state slot (stored each step)."""
    body = [{"out": o, "op": op, "args": list(args)} for o, op, *args in first]
    body += [{"out": "m", "op": "interp", "args": ["a", "m", 0.5]},
             {"out": "t", "op": "mul", "args": ["g", 0.1]},
             {"out": "t", "op": "add", "args": ["t", "m"]},
             {"out": "update", "op": "mul", "args": ["t", "lr"]}]
    return ir.parse({"format": ir.FORMAT, "name": name, "state": ["m"],
                     "hparams": {"hb": 0.3, **(hparams or {})}, "default_lr": 0.01,
                     "body": body})


def op_programs() -> dict[str, ir.Program]:
    """One program per (op, argument kinds): list/list, list/scalar, scalar/list, scalars."""
    out = {}
    for name, op in OPS.items():
        if op.arity == 0:
            out[name] = _prog(f"op_{name}", [("c", name), ("a", "mul", "g", "c")])
        elif op.arity == 1:
            out[name] = _prog(f"op_{name}", [("a", name, "g")])
            if op.tag == "elementwise":  # a scalar-only statement (an hparam)
                out[f"{name}_s"] = _prog(f"op_{name}_s", [("c", name, "hb"),
                                                          ("a", "mul", "g", "c")])
        elif name == "interp":
            out[name] = _prog("op_interp", [("a", "interp", "g", "w", "hb")])
            out["interp_l"] = _prog("op_interp_l", [("c", "cosine_sim", "g", "w"),
                                                    ("a", "interp", "g", "w", "c")])
        elif name == "clip_by_global_norm":
            out[name] = _prog("op_clip", [("a", name, "g", 0.5)])
            out[f"{name}_h"] = _prog("op_clip_h", [("a", name, "g", "hb")])
        else:
            out[name] = _prog(f"op_{name}", [("a", name, "g", "w")])
            if op.tag == "elementwise":
                out[f"{name}_ls"] = _prog(f"op_{name}_ls", [("a", name, "g", 0.7)])
                out[f"{name}_sl"] = _prog(f"op_{name}_sl", [("a", name, 0.7, "g")])
                out[f"{name}_ss"] = _prog(f"op_{name}_ss", [("c", name, "hb", 0.7),
                                                            ("a", "mul", "g", "c")])
    return out


def problem(seed: int = 0, steps: int = 3):
    """Weights in (-0.9, 0.9) (inside every op's comfortable domain) and gradients per step."""
    rng = np.random.default_rng(seed)
    w = [rng.uniform(0.1, 0.9, s) * rng.choice([-1.0, 1.0], s) for s in SHAPES]
    gs = [[rng.uniform(0.1, 0.9, s) * rng.choice([-1.0, 1.0], s) for s in SHAPES]
          for _ in range(steps)]
    return w, gs


def reference(prog: ir.Program, w, gs, lr: float = 0.01):
    """The weights after len(gs) steps, by the IR's own interpreter (numpy float64)."""
    w = [np.array(x) for x in w]
    slots = tuple(tuple(np.zeros_like(x) for x in w) for _ in prog.state)
    for g in gs:
        update, slots = ir.run(prog, tuple(w), tuple(g), lr, slots, np, np.float64)
        slots = tuple(tuple(np.broadcast_to(v, x.shape).copy() for v, x in zip(sl, w))
                      for sl in slots)
        w = [x - np.broadcast_to(u, x.shape) for x, u in zip(w, update)]
    return w
