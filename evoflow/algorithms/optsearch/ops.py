"""The op set of optimizer programs: HERO's 45 functions (Chen et al. 2023, `hero/fn_lib.py`),
made safe, `invert` dropped (bitwise, it fails on floats) and `cbrt` fixed (HERO returns the
function): 44 ops.

A value is a tuple of leaves, one per tensor of the parameter tree (a global scalar is the same
0-d leaf repeated). `apply(name, args, xp)` evaluates an op with `xp` = numpy or jax.numpy, so
the fingerprint (numpy), the search's executor (JAX) and the export templates share one
definition. Tags: `elementwise` (leaf by leaf), `per_tensor` (`norm`: one scalar per leaf) and
`global` (couple every leaf: `global_norm`, `dot`, `cosine_sim`, `clip_by_global_norm`).

Safety: `div(a, b) = a / (b + eps)` and `reciprocal(x) = 1 / (x + eps)` (HERO's tree_div),
`log*` and `sqrt` of |x|, `log1p(x) = log(|1 + x|)`, inverse trigonometric and hyperbolic
functions clipped to their domains, `power(x, y) = |x| ** y`; eps = 1e-8. Overflow to inf is
allowed: a candidate whose loss turns non-finite stops early.
"""

from __future__ import annotations

from dataclasses import dataclass

EPS = 1e-8


@dataclass(frozen=True)
class Op:
    name: str
    arity: int
    tag: str  # elementwise | per_tensor | global
    scalar_args: tuple[int, ...] = ()  # argument positions that must be scalars
    help: str = ""


def _ops() -> dict[str, Op]:
    e = "elementwise"
    table = [
        Op("add", 2, e, help="a + b"), Op("sub", 2, e, help="a - b"),
        Op("mul", 2, e, help="a * b"), Op("div", 2, e, help="a / (b + eps)"),
        Op("max", 2, e, help="elementwise maximum"), Op("min", 2, e, help="elementwise minimum"),
    ]
    unary = {
        "abs": "|x|", "cos": "cos x", "sin": "sin x", "tan": "tan x",
        "arcsin": "arcsin(clip(x, -1, 1))", "arccos": "arccos(clip(x, -1, 1))",
        "arctan": "arctan x", "sinh": "sinh x", "cosh": "cosh x", "tanh": "tanh x",
        "arcsinh": "arcsinh x", "arccosh": "arccosh(max(|x|, 1))",
        "arctanh": "arctanh(clip(x, -1 + 1e-7, 1 - 1e-7))", "exp": "e^x", "exp2": "2^x",
        "exp10": "10^x", "expm1": "e^x - 1", "log": "log |x|", "log10": "log10 |x|",
        "log2": "log2 |x|", "log1p": "log |1 + x|", "square": "x^2", "sqrt": "sqrt |x|",
        "cube": "x^3", "cbrt": "cube root", "sign": "sign x (0 at 0)",
        "reciprocal": "1 / (x + eps)", "negative": "-x",
    }
    table += [Op(n, 1, e, help=h) for n, h in unary.items()]
    table += [
        Op("norm", 1, "per_tensor", help="L2 norm of each tensor (a scalar per tensor)"),
        Op("interp", 3, e, (2,), "(1 - a) x + a y, a a scalar"),
        Op("power", 2, e, help="|x| ** y"),
        Op("global_norm", 1, "global", help="L2 norm over every tensor"),
        Op("dot", 2, "global", help="sum over every tensor of a * b"),
        Op("cosine_sim", 2, "global", help="dot(a, b) / (|a| |b| + eps)"),
        Op("clip_by_global_norm", 2, "global", (1,),
           "x * min(1, c / (global_norm(x) + eps)), c a scalar"),
        Op("pi", 0, e, help="3.14159..."), Op("e", 0, e, help="2.71828..."),
        Op("eps", 0, e, help="1e-8"),
    ]
    return {op.name: op for op in table}


OPS: dict[str, Op] = _ops()
assert len(OPS) == 44


def _leafwise(f, *args):
    return tuple(f(*xs) for xs in zip(*args))


def _unary(name: str, x, xp):
    if name == "abs":
        return xp.abs(x)
    if name in ("cos", "sin", "tan", "arctan", "sinh", "cosh", "tanh", "arcsinh", "exp",
                "exp2", "expm1", "sign", "negative", "square", "cbrt"):
        return getattr(xp, name)(x)
    if name in ("arcsin", "arccos"):
        return getattr(xp, name)(xp.clip(x, -1.0, 1.0))
    if name == "arccosh":
        return xp.arccosh(xp.maximum(xp.abs(x), 1.0))
    if name == "arctanh":
        return xp.arctanh(xp.clip(x, -1.0 + 1e-7, 1.0 - 1e-7))
    if name == "exp10":
        return xp.power(10.0, x)
    if name in ("log", "log10", "log2"):
        return getattr(xp, name)(xp.abs(x))
    if name == "log1p":
        return xp.log(xp.abs(1.0 + x))
    if name == "sqrt":
        return xp.sqrt(xp.abs(x))
    if name == "cube":
        return x * x * x
    if name == "reciprocal":
        return 1.0 / (x + EPS)
    raise KeyError(name)


def _sum_all(leaves, xp):
    total = 0.0
    for v in leaves:
        total = total + xp.sum(v)
    return total


def apply(name: str, args: list[tuple], xp, n_leaves: int, dtype) -> tuple:
    """The op `name` on values (tuples of leaves); numbers are already 0-d leaves."""
    op = OPS[name]
    if op.arity == 0:
        c = {"pi": 3.141592653589793, "e": 2.718281828459045, "eps": EPS}[name]
        return tuple(xp.asarray(c, dtype) for _ in range(n_leaves))
    if op.tag == "global":
        if name == "global_norm":
            s = xp.sqrt(_sum_all([v * v for v in args[0]], xp))
            return tuple(s for _ in range(n_leaves))
        if name == "dot":
            s = _sum_all([a * b for a, b in zip(*args)], xp)
            return tuple(s for _ in range(n_leaves))
        if name == "cosine_sim":
            a, b = args
            d = _sum_all([x * y for x, y in zip(a, b)], xp)
            na = xp.sqrt(_sum_all([x * x for x in a], xp))
            nb = xp.sqrt(_sum_all([y * y for y in b], xp))
            s = d / (na * nb + EPS)
            return tuple(s for _ in range(n_leaves))
        if name == "clip_by_global_norm":
            x, c = args
            gn = xp.sqrt(_sum_all([v * v for v in x], xp))
            return tuple(v * xp.minimum(1.0, ci / (gn + EPS)) for v, ci in zip(x, c))
    if name == "norm":
        return tuple(xp.sqrt(xp.sum(v * v)) for v in args[0])
    if op.arity == 1:
        return tuple(_unary(name, v, xp) for v in args[0])
    if name == "interp":
        return _leafwise(lambda x, y, a: (1.0 - a) * x + a * y, *args)
    binary = {"add": lambda a, b: a + b, "sub": lambda a, b: a - b,
              "mul": lambda a, b: a * b, "div": lambda a, b: a / (b + EPS),
              "max": xp.maximum, "min": xp.minimum,
              "power": lambda a, b: xp.power(xp.abs(a), b)}
    return _leafwise(binary[name], *args)
