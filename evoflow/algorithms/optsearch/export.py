"""Source code for a program: a PyTorch optimizer module, an optax transformation, JSON, a listing.

The generated code is straight-line Python, one line per live statement, over lists of tensors
(one per parameter; a global op's scalar is the same 0-d tensor repeated, a per-tensor op's one
0-d tensor per parameter) and Python floats (hparams, numbers, `lr`). Every name in it is either
the program's own (checked by `ir.parse`: no keyword, builtin or generated-code name) or one of
`ir.RESERVED`; numbers are written with `repr` of a float, so no text from a program file is
ever pasted into code except names that match `[A-Za-z_][A-Za-z0-9_]*`.

torch: `torch._foreach_*` wherever an op and its argument kinds allow it (`foreach=True`, the
default on CUDA); otherwise (the default elsewhere) one loop over the parameters that runs the
whole body on each tensor in turn, or, for a program with global ops, a comprehension per
statement. The step is planned first (`_Step`): the update folded into the weight update
where it is `a * w + b * t` (`p.mul_(1 - a); p.add_(t, alpha=-b)`), each statement a chain of
calls that works in place on a tensor nothing reads afterwards (a slot's own storage
included), scalars as Python floats computed once per param group. Both forms compute the
ops' reference formulas in the parameter's dtype, equal up to rounding where every value is
finite (interp rounds its sum once, as `add(alpha=)` does; the folded update rounds
`w * (1 - a) - b * t` instead of `w - (a * w + b * t)`); the built-in `lion` is
lion_pytorch's arithmetic call for call. optax: `jax.numpy` per leaf, under
`optax.inject_hyperparams`.
"""

from __future__ import annotations

from evoflow.algorithms.optsearch import ir
from evoflow.algorithms.optsearch.ops import EPS, OPS

S, L = "scalar", "list"  # the kind of a value: a Python float, or a list of tensors

# One tensor at a time, `X` the array namespace; the ops' reference semantics (ops.py).
_ELEM = {
    "add": "{0} + {1}", "sub": "{0} - {1}", "mul": "{0} * {1}", "div": "{0} / ({1} + EPS)",
    "max": "X.maximum({0}, {1})", "min": "X.minimum({0}, {1})",
    "abs": "X.abs({0})", "cos": "X.cos({0})", "sin": "X.sin({0})", "tan": "X.tan({0})",
    "arcsin": "X.arcsin(X.clip({0}, -1.0, 1.0))", "arccos": "X.arccos(X.clip({0}, -1.0, 1.0))",
    "arctan": "X.arctan({0})", "sinh": "X.sinh({0})", "cosh": "X.cosh({0})",
    "tanh": "X.tanh({0})", "arcsinh": "X.arcsinh({0})",
    "arccosh": "X.arccosh(X.clip(X.abs({0}), 1.0, None))",
    "arctanh": "X.arctanh(X.clip({0}, -1.0 + 1e-7, 1.0 - 1e-7))", "exp": "X.exp({0})",
    "exp2": "X.exp2({0})", "exp10": "10.0 ** {0}", "expm1": "X.expm1({0})",
    "log": "X.log(X.abs({0}))", "log10": "X.log10(X.abs({0}))", "log2": "X.log2(X.abs({0}))",
    "log1p": "X.log(X.abs(1.0 + {0}))", "square": "X.square({0})", "sqrt": "X.sqrt(X.abs({0}))",
    "cube": "{0} * {0} * {0}", "cbrt": "X.cbrt({0})", "sign": "X.sign({0})",
    "reciprocal": "1.0 / ({0} + EPS)", "negative": "-{0}",
    "interp": "(1.0 - {2}) * {0} + {2} * {1}", "power": "X.abs({0}) ** {1}",
}
# torch spells a few differently, and its maximum/minimum/abs want tensors on both sides.
_TORCH_ELEM = {**_ELEM, "cbrt": "torch.sign({0}) * torch.abs({0}) ** (1.0 / 3.0)",
               "arccosh": "torch.arccosh(torch.clamp(torch.abs({0}), min=1.0))"}
_CONSTANTS = {"pi": 3.141592653589793, "e": 2.718281828459045, "eps": EPS}

# foreach forms: (op, argument kinds) -> template over the argument expressions
_F = "torch._foreach_"
_FOREACH = {
    ("add", (L, L)): _F + "add({0}, {1})", ("add", (L, S)): _F + "add({0}, {1})",
    ("add", (S, L)): _F + "add({1}, {0})",
    ("sub", (L, L)): _F + "sub({0}, {1})", ("sub", (L, S)): _F + "sub({0}, {1})",
    ("sub", (S, L)): _F + "add(" + _F + "neg({1}), {0})",
    ("mul", (L, L)): _F + "mul({0}, {1})", ("mul", (L, S)): _F + "mul({0}, {1})",
    ("mul", (S, L)): _F + "mul({1}, {0})",
    ("div", (L, L)): _F + "div({0}, " + _F + "add({1}, EPS))",
    ("div", (L, S)): _F + "div({0}, {1} + EPS)",
    ("max", (L, L)): _F + "maximum({0}, {1})", ("max", (L, S)): _F + "maximum({0}, {1})",
    ("max", (S, L)): _F + "maximum({1}, {0})",
    ("min", (L, L)): _F + "minimum({0}, {1})", ("min", (L, S)): _F + "minimum({0}, {1})",
    ("min", (S, L)): _F + "minimum({1}, {0})",
    ("interp", (L, L, S)): _F + "add(" + _F + "mul({0}, 1.0 - {2}), " + _F + "mul({1}, {2}))",
    ("interp", (L, L, L)): (_F + "add(" + _F + "mul({0}, " + _F + "add(" + _F + "neg({2}), "
                            "1.0)), " + _F + "mul({1}, {2}))"),
    ("power", (L, S)): _F + "pow(" + _F + "abs({0}), {1})",
    ("power", (L, L)): _F + "pow(" + _F + "abs({0}), {1})",
    ("norm", (L,)): _F + "norm({0})",
}
for _op, _fn in {"abs": "abs", "cos": "cos", "sin": "sin", "tan": "tan", "arctan": "atan",
                 "sinh": "sinh", "cosh": "cosh", "tanh": "tanh", "exp": "exp",
                 "expm1": "expm1", "sign": "sign", "negative": "neg"}.items():
    _FOREACH[(_op, (L,))] = _F + _fn + "({0})"
_FOREACH.update({
    ("log", (L,)): _F + "log(" + _F + "abs({0}))",
    ("log10", (L,)): _F + "log10(" + _F + "abs({0}))",
    ("log2", (L,)): _F + "log2(" + _F + "abs({0}))",
    ("log1p", (L,)): _F + "log(" + _F + "abs(" + _F + "add({0}, 1.0)))",
    ("sqrt", (L,)): _F + "sqrt(" + _F + "abs({0}))",
    ("square", (L,)): _F + "mul({0}, {0})",
    ("cube", (L,)): _F + "mul(" + _F + "mul({0}, {0}), {0})",
    ("reciprocal", (L,)): _F + "reciprocal(" + _F + "add({0}, EPS))",
    ("arcsin", (L,)): _F + "asin(" + _F + "clamp_max(" + _F + "clamp_min({0}, -1.0), 1.0))",
    ("arccos", (L,)): _F + "acos(" + _F + "clamp_max(" + _F + "clamp_min({0}, -1.0), 1.0))",
})

# Global ops: helpers of the generated `_ops` namespace (one scalar per param group / tree).
_TORCH_GLOBAL = '''
    @staticmethod
    def total(values):
        """The sum over every tensor of a list (a 0-d tensor)."""
        return torch.stack([torch.sum(v) for v in values]).sum()

    @staticmethod
    def global_norm(x):
        return [torch.sqrt(_ops.total([v * v for v in x]))] * len(x)

    @staticmethod
    def dot(a, b):
        return [_ops.total([x * y for x, y in zip(a, b)])] * len(a)

    @staticmethod
    def cosine_sim(a, b):
        d = _ops.total([x * y for x, y in zip(a, b)])
        na = torch.sqrt(_ops.total([x * x for x in a]))
        nb = torch.sqrt(_ops.total([y * y for y in b]))
        return [d / (na * nb + EPS)] * len(a)

    @staticmethod
    def clip_by_global_norm(x, c):
        n = torch.sqrt(_ops.total([v * v for v in x]))
        cs = c if isinstance(c, (list, tuple)) else [c] * len(x)
        return [v * torch.clamp(ci / (n + EPS), max=1.0) for v, ci in zip(x, cs)]
'''
_JAX_GLOBAL = '''
    @staticmethod
    def total(values):
        return sum(jnp.sum(v) for v in values)

    @staticmethod
    def global_norm(x):
        return [jnp.sqrt(_ops.total([v * v for v in x]))] * len(x)

    @staticmethod
    def dot(a, b):
        return [_ops.total([x * y for x, y in zip(a, b)])] * len(a)

    @staticmethod
    def cosine_sim(a, b):
        d = _ops.total([x * y for x, y in zip(a, b)])
        na = jnp.sqrt(_ops.total([x * x for x in a]))
        nb = jnp.sqrt(_ops.total([y * y for y in b]))
        return [d / (na * nb + EPS)] * len(a)

    @staticmethod
    def clip_by_global_norm(x, c):
        n = jnp.sqrt(_ops.total([v * v for v in x]))
        cs = c if isinstance(c, (list, tuple)) else [c] * len(x)
        return [v * jnp.minimum(1.0, ci / (n + EPS)) for v, ci in zip(x, cs)]
'''


# --- names ------------------------------------------------------------------------------------
def class_name(prog: ir.Program) -> str:
    """CamelCase: lion -> Lion, adamw_nobc -> AdamwNobc."""
    return "".join(p[:1].upper() + p[1:] for p in prog.name.split("_") if p) or "Program"


def _uses_betas(prog: ir.Program) -> bool:
    return "beta1" in prog.hparams and "beta2" in prog.hparams


def _hp_kwargs(prog: ir.Program) -> list[tuple[str, str]]:
    """The constructor's keyword options after lr: (name, default source)."""
    out, hp = [], dict(prog.hparams)
    if _uses_betas(prog):
        out.append(("betas", f"({hp.pop('beta1')!r}, {hp.pop('beta2')!r})"))
    out += [(k, repr(v)) for k, v in hp.items()]
    return out


def _live(prog: ir.Program) -> list[tuple[int, ir.Statement]]:
    return [(i, prog.body[i]) for i in ir.live_statements(prog)]


def _reads(prog: ir.Program, name: str) -> bool:
    return any(name in st.args for _, st in _live(prog))


def notes(prog: ir.Program) -> list[str]:
    """What a user of the export should know: ops that do not act element by element."""
    out = []
    for i, st in _live(prog):
        tag = OPS[st.op].tag
        if tag == "per_tensor":
            out.append(f"statement {i} ({st.op}) is per tensor: its value depends on how the "
                       f"model's weights are split into tensors")
        elif tag == "global":
            out.append(f"statement {i} ({st.op}) is global: it couples every parameter of a "
                       f"torch param group (optax: of the whole update tree)")
    return out


# --- statement code ---------------------------------------------------------------------------
def _arg(a, kinds: dict) -> tuple[str, str]:
    if isinstance(a, str):
        return a, kinds[a]
    return repr(float(a)), S


def _comprehension(template: str, args: list[tuple[str, str]]) -> str:
    """`[expr for x0, x1 in zip(a, b)]` over the list arguments; scalars used as they are."""
    names, lists, parts = [], [], []
    for k, (src, kind) in enumerate(args):
        if kind == L:
            names.append(f"x{k}")
            lists.append(src)
            parts.append(f"x{k}")
        else:
            parts.append(src)
    expr = template.format(*parts)
    if len(lists) == 1:
        return f"[{expr} for {names[0]} in {lists[0]}]"
    return f"[{expr} for {', '.join(names)} in zip({', '.join(lists)})]"


def _torch_elem(op: str, args: list[tuple[str, str]]) -> str:
    kinds = [k for _, k in args]
    if op in ("max", "min") and S in kinds:  # torch.maximum wants two tensors
        t, s = (0, 1) if kinds[1] == S else (1, 0)
        bound = "min" if op == "max" else "max"
        return f"torch.clamp({{{t}}}, {bound}={{{s}}})"
    if op == "power" and kinds[0] == S:
        return "abs({0}) ** {1}"
    return _TORCH_ELEM[op].replace("X.", "torch.")


def _scalar_expr(op: str, srcs: list[str]) -> str:
    elem = _TORCH_ELEM[op].replace("X.", "torch.")
    args = ", ".join(f"x{k}" for k in range(len(srcs)))
    body = elem.format(*(f"x{k}" for k in range(len(srcs))))
    return f"_ops.scalar(lambda {args}: {body}, {', '.join(srcs)})"


def _jax_statement(st: ir.Statement, kinds: dict) -> tuple[str, str]:
    op = OPS[st.op]
    args = [_arg(a, kinds) for a in st.args]
    ks = tuple(k for _, k in args)
    if op.arity == 0:
        return repr(_CONSTANTS[st.op]), S
    if op.tag == "global" or st.op == "norm":
        srcs = [src if k == L or (op.tag == "global" and i in op.scalar_args) else
                f"_ops.like({src}, w)" for i, (src, k) in enumerate(args)]
        if st.op == "norm":
            return f"[jnp.sqrt(jnp.sum(x * x)) for x in {srcs[0]}]", L
        return f"_ops.{st.op}({', '.join(srcs)})", L
    elem = _ELEM[st.op].replace("X.", "jnp.")
    if L not in ks:
        return elem.format(*(src for src, _ in args)), S
    return _comprehension(elem, args), L


def _body(prog: ir.Program, statement, indent: str) -> list[str]:
    kinds = {"w": L, "g": L, "lr": S, **{s: L for s in prog.state},
             **{h: S for h in prog.hparams}}
    lines = []
    for i, st in _live(prog):
        code, kinds[st.out] = statement(st, kinds)
        lines.append(f"{indent}# {i}: {ir._show(st)}")
        lines.append(f"{indent}{st.out} = {code}")
    return lines


def _docstring(prog: ir.Program, what: str) -> str:
    listing = ir.text(prog).rstrip().replace("\\", "\\\\")
    flagged = notes(prog)
    lines = [f'"""{class_name(prog) if what == "torch" else prog.name}: an optimizer found or '
             f"written as an evoflow program, exported by `evoflow export --format {what}`.",
             "", f"program_hash {ir.program_hash(prog)}", "", listing]
    if flagged:
        lines += ["", "Notes:"] + [f"- {n}" for n in flagged]
    return "\n".join(lines) + '\n"""'


# --- torch -----------------------------------------------------------------------------------
# The step is planned before it is written: values in SSA form (a statement's index, or an
# input's name: w, g, lr, an hparam, a slot's value at the start of the step), the update
# folded into the weight update where it is a * w + b * t (a and b products of scalars), and
# per statement a chain of torch calls that works in place on an argument whose value is read
# by nothing after it and that the step itself made (or a slot's storage, for that slot's end
# value), or makes one new tensor otherwise.

_FN = {"abs": "abs", "cos": "cos", "sin": "sin", "tan": "tan", "arctan": "atan",
       "sinh": "sinh", "cosh": "cosh", "tanh": "tanh", "arcsinh": "asinh", "exp": "exp",
       "exp2": "exp2", "expm1": "expm1", "sign": "sign", "negative": "neg", "square": "square"}
# the calls a foreach chain may use: torch._foreach_<fn> and torch._foreach_<fn>_
_FOREACH_FNS = frozenset({"add", "sub", "mul", "div", "abs", "cos", "sin", "tan", "atan",
                          "sinh", "cosh", "tanh", "exp", "expm1", "sign", "neg", "sqrt", "log",
                          "log10", "log2", "reciprocal", "asin", "acos", "clamp_min",
                          "clamp_max", "maximum", "minimum", "pow"})
_END = 1 << 30  # "read at the end of the step": the weight update and the slots' stores


def _chains(op: str, ks: tuple, foreach: bool) -> list[tuple[int, list[tuple[str, str]]]]:
    """The ways to compute an op as calls on one list argument, the base: [(base, [(fn,
    arguments)])], preferred first. The first call makes a new tensor (`base.fn(...)`) or works
    in place (`base.fn_(...)`); the others work in place on its result. Each is the op's
    reference formula (ops.py) with the same roundings, except that interp's
    `(1 - a) x + a y` rounds its sum once (`add(alpha=)`, as torch's own optimizers do)."""
    LL, LS, SL = (L, L), (L, S), (S, L)
    if op in ("add", "mul"):
        return {LL: [(0, [(op, "{1}")]), (1, [(op, "{0}")])], LS: [(0, [(op, "{1}")])],
                SL: [(1, [(op, "{0}")])]}.get(ks, [])
    if op == "sub":
        return [(0, [("sub", "{1}")])] if ks in (LL, LS) else []
    if op == "div":  # a / (b + eps); a float over a tensor is torch's reciprocal times it
        if ks == LL:  # rdiv: {0} over the result so far, in place only
            return [(1, [("add", "EPS"), ("rdiv", "{0}")]),
                    (0, [("div", _F + "add({1}, EPS)" if foreach else "{1} + EPS")])]
        if ks == LS:
            return [(0, [("div", "{1} + EPS")])]
        return [(1, [("add", "EPS"), ("reciprocal", ""), ("mul", "{0}")])] if ks == SL else []
    if op in ("max", "min"):
        fn = "maximum" if op == "max" else "minimum"
        if ks == LL:  # torch.maximum has no in-place method; foreach has
            return [(0, [(fn, "{1}")])] if foreach else []
        if ks in (LS, SL):
            t, s = (0, 1) if ks == LS else (1, 0)
            if foreach:
                return [(t, [(fn, f"{{{s}}}")])]
            return [(t, [("clamp", ("min=" if op == "max" else "max=") + f"{{{s}}}")])]
        return []
    if op == "interp":  # (1 - a) x + a y
        if ks != (L, L, S):
            return []
        return [(1, [("mul", "{2}"), ("add", "{0}, alpha=1.0 - {2}")]),
                (0, [("mul", "1.0 - {2}"), ("add", "{1}, alpha={2}")])]
    if op == "power":
        return [(0, [("abs", ""), ("pow", "{1}")])] if ks in (LS, LL) else []
    if ks != (L,):
        return []
    if op in _FN:
        return [(0, [(_FN[op], "")])]
    if op in ("sqrt", "log", "log10", "log2"):
        return [(0, [("abs", ""), (op, "")])]
    if op == "log1p":
        return [(0, [("add", "1.0"), ("abs", ""), ("log", "")])]
    if op == "reciprocal":
        return [(0, [("add", "EPS"), ("reciprocal", "")])]
    if op in ("arcsin", "arccos"):
        fn = "asin" if op == "arcsin" else "acos"
        if foreach:
            return [(0, [("clamp_min", "-1.0"), ("clamp_max", "1.0"), (fn, "")])]
        return [(0, [("clamp", "-1.0, 1.0"), (fn, "")])]
    if op == "arctanh":
        return [(0, [("clamp", "-1.0 + 1e-7, 1.0 - 1e-7"), ("atanh", "")])]
    if op == "arccosh":
        return [(0, [("abs", ""), ("clamp", "min=1.0"), ("acosh", "")])]
    if op == "cube":  # (x * x) * x: reads its base after the first call, never in place
        return [(0, [("mul", "{0}"), ("mul", "{0}")])]
    return []


def _factor(src: str) -> str:
    return f"({src})" if src.startswith("-") else src


def _coef(monomials, negate: bool = False) -> str:
    """A sum of signed products of scalar sources as Python: [(1, ("lr", "wd"))] -> lr * wd."""
    out = ""
    for sign, factors in monomials:
        sign = -sign if negate else sign
        body = " * ".join(_factor(f) for f, _ in reversed(factors)) or "1.0"
        if not out:
            out = ("-" if sign < 0 else "") + body
        else:
            out += (" - " if sign < 0 else " + ") + body
    return out


class _Step:
    """The plan of one program's torch step (see above); `plan(foreach)` chooses the calls."""

    def __init__(self, prog: ir.Program):
        self.prog, self.live = prog, _live(prog)
        self.kind = {"w": L, "g": L, "lr": S, **{s: L for s in prog.state},
                     **{h: S for h in prog.hparams}}
        self.full = {"w": True, "g": True, **{s: True for s in prog.state}}  # shaped like w
        self.shared = {}  # a global op's list: one 0-d tensor repeated
        self.stmt, self.args = {}, {}
        cur = {n: n for n in self.kind}
        for i, st in self.live:
            vals = [cur[a] if isinstance(a, str) else None for a in st.args]
            self.stmt[i], self.args[i] = st, vals
            op = OPS[st.op]
            lists = [v for v in vals if v is not None and self.kind[v] == L]
            if op.arity == 0 or (not lists and op.tag == "elementwise"):
                self.kind[i] = S
            else:
                self.kind[i] = L
                if op.tag == "global" and st.op != "clip_by_global_norm":
                    self.full[i], self.shared[i] = False, True
                elif st.op == "clip_by_global_norm":
                    self.full[i] = vals[0] is not None and self.kind[vals[0]] == L and \
                        self.full[vals[0]]
                else:  # elementwise: shaped like w if an argument is; norm: 0-d
                    self.full[i] = st.op != "norm" and any(self.full[v] for v in lists)
            cur[st.out] = i
        self.final = cur
        self.uses = {}
        for vals in self.args.values():
            for v in vals:
                if v is not None:
                    self.uses[v] = self.uses.get(v, 0) + 1
        self._fold()
        self.emitted = [(i, st) for i, st in self.live if i not in self.folded]
        self.last_use = {}
        for i, _ in self.emitted:
            for v in self.args[i]:
                if v is not None:
                    self.last_use[v] = i
        ends = [self.term[0]] if self.term else []
        ends += [self.final[s] for s in prog.state]
        for v in ends:
            self.last_use[v] = _END

    def src(self, i: int, k: int) -> str:
        a = self.stmt[i].args[k]
        return a if isinstance(a, str) else repr(float(a))

    def kinds(self, i: int) -> tuple:
        return tuple(S if v is None else self.kind[v] for v in self.args[i])

    # update = a * w + b * t: w - update is w * (1 - a) - b * t
    def _fold(self):
        slot_ends = {v for v in (self.final[s] for s in self.prog.state) if isinstance(v, int)}

        def term(v):
            return [], (v, [(1, ())]), set()

        def scaled(r, factor):
            if factor == -1:
                return ([(-s, f) for s, f in r[0]],
                        r[1] and (r[1][0], [(-s, f) for s, f in r[1][1]]), r[2])
            return ([(s, f + (factor,)) for s, f in r[0]],
                    r[1] and (r[1][0], [(s, f + (factor,)) for s, f in r[1][1]]), r[2])

        def lin(v, uses):
            if v == "w":
                return [(1, ())], None, set()
            if not isinstance(v, int) or v in slot_ends or self.uses.get(v, 0) != uses \
                    or self.kind[v] != L:
                return term(v)
            op, vals, ks = self.stmt[v].op, self.args[v], self.kinds(v)
            if op == "mul" and set(ks) == {L, S}:
                k = ks.index(L)
                wc, t, folded = scaled(lin(vals[k], 1), (self.src(v, 1 - k), vals[1 - k]))
                return wc, t, folded | {v}
            if op == "negative" and ks == (L,):
                wc, t, folded = scaled(lin(vals[0], 1), -1)
                return wc, t, folded | {v}
            if op in ("add", "sub") and ks == (L, L):
                a, b = lin(vals[0], 1), lin(vals[1], 1)
                if op == "sub":
                    b = scaled(b, -1)
                if a[1] and b[1]:  # two tensors: computed as the program says
                    return term(v)
                return a[0] + b[0], a[1] or b[1], a[2] | b[2] | {v}
            return term(v)

        root = self.final[ir.OUTPUT]
        wc, t, folded = lin(root, 0)
        # every name the weight update reads must still hold that value at the end
        last = {}
        for i, st in self.live:
            if i not in folded:
                last[st.out] = i
        reads = ([t[0]] if t else []) + [v for _, fs in wc + (t[1] if t else [])
                                         for _, v in fs if v is not None]
        for v in reads:
            name = self.stmt[v].out if isinstance(v, int) else v
            if last.get(name, v) != v:
                wc, t, folded = term(root)
                break
        self.wcoef, self.term, self.folded = wc, t, folded

    def plan(self, foreach: bool) -> dict:
        """statement index -> (base, calls, in_place) for the statements a chain computes;
        also `self.buf`: the buffer that holds each value (a slot's storage: ("slot", s))."""
        buf = {"w": "w", "g": "g", **{s: ("slot", s) for s in self.prog.state}}
        out = {}
        for i, st in self.emitted:
            buf[i] = i
            if self.kind[i] != L or OPS[st.op].tag != "elementwise":
                continue
            vals, ks = self.args[i], self.kinds(i)
            fresh = None
            for base, calls in _chains(st.op, ks, foreach):
                if foreach and any(fn not in _FOREACH_FNS for fn, _ in calls if fn != "rdiv"):
                    continue
                u = vals[base]
                if self.full[i] and not self.full[u]:
                    continue
                if self._writable(i, base, calls, buf):
                    out[i] = (base, calls, True)
                    # foreach has no out=: its rdiv makes a new list (the base is used up)
                    if not (foreach and calls[-1][0] == "rdiv"):
                        buf[i] = buf[u]
                    break
                if calls[-1][0] != "rdiv":
                    fresh = fresh or (base, calls, False)
            else:
                if fresh:
                    out[i] = fresh
        self.buf = buf
        return out

    def _writable(self, i: int, base: int, calls, buf: dict) -> bool:
        """May statement i work in place on its argument `base`? Its value must be read by
        nothing later (nor at the end), be no other argument of i, be read by no call after
        the first, and sit in a tensor this step made or in a slot's storage, which may then
        hold any value but the end value of something else."""
        vals = self.args[i]
        u = vals[base]
        if self.last_use.get(u) != i or any(v == u for k, v in enumerate(vals) if k != base):
            return False
        if any(f"{{{base}}}" in a for _, a in calls):
            return False
        if self.shared.get(u, False) or buf[u] in ("w", "g"):
            return False
        if isinstance(buf[u], tuple):  # ("slot", s)
            return self.last_use.get(i) != _END or self.final[buf[u][1]] == i
        return True

    def stores(self) -> list[str]:
        """The slots whose end value is not already in their storage."""
        return [s for s in self.prog.state if self.final[s] != s
                and self.buf[self.final[s]] != ("slot", s)]

    def term_src(self) -> str:
        v = self.term[0]
        return self.stmt[v].out if isinstance(v, int) else v


def _comment(i: int, st: ir.Statement) -> str:
    return f"# {i}: {ir._show(st)}"


def _tensor_template(step: _Step, i: int, dec) -> str:
    """One tensor at a time: the statement's expression over `{k}` argument slots."""
    st = step.stmt[i]
    if dec is None:
        return _torch_elem(st.op, [(step.src(i, k), kd) for k, kd in enumerate(step.kinds(i))])
    base, calls, in_place = dec
    fn0, a0 = calls[0]
    code = f"{{{base}}}.{fn0}{'_' if in_place else ''}({a0})"
    for fn, a in calls[1:]:
        code = f"torch.div({a}, {code}, out={{{base}}})" if fn == "rdiv" else \
            f"{code}.{fn}_({a})"
    return code


def _assign(out: str, base_src: str, expr: str) -> str:
    return expr if out == base_src else f"{out} = {expr}"


def _tensor_lines(step: _Step, plan: dict, i: int) -> list[str]:
    """A statement inside the loop over tensors (names are one parameter's tensors)."""
    st = step.stmt[i]
    args = [(step.src(i, k), kd) for k, kd in enumerate(step.kinds(i))]
    srcs = [s for s, _ in args]
    if OPS[st.op].arity == 0:
        return [f"{st.out} = {_CONSTANTS[st.op]!r}"]
    if st.op == "norm":
        x = srcs[0] if args[0][1] == L else \
            f"torch.tensor({srcs[0]}, dtype=p.dtype, device=p.device)"
        return [f"{st.out} = torch.linalg.vector_norm({x})"]
    if step.kind[i] == S:
        return [f"{st.out} = {_scalar_expr(st.op, srcs)}"]
    dec = plan.get(i)
    code = _tensor_template(step, i, dec).format(*srcs)
    if dec and dec[2]:
        return [_assign(st.out, srcs[dec[0]], code)]
    return [f"{st.out} = {code}"]


def _list_lines(step: _Step, plan: dict, i: int, foreach: bool) -> list[str]:
    """A statement over lists of tensors: foreach calls, or a comprehension per tensor."""
    st = step.stmt[i]
    op = OPS[st.op]
    args = [(step.src(i, k), kd) for k, kd in enumerate(step.kinds(i))]
    srcs = [s for s, _ in args]
    ks = tuple(k for _, k in args)
    if op.arity == 0:
        return [f"{st.out} = {_CONSTANTS[st.op]!r}"]
    if op.tag == "global" or st.op == "norm":
        # scalars become one 0-d tensor per parameter (the IR's repeated leaf)
        gsrcs = [src if k == L or (op.tag == "global" and n in op.scalar_args) else
                 f"_ops.like({src}, params)" for n, (src, k) in enumerate(args)]
        if st.op == "norm":
            return [f"{st.out} = " + (f"{_F}norm({gsrcs[0]})" if foreach else
                                      f"[torch.linalg.vector_norm(x) for x in {gsrcs[0]}]")]
        return [f"{st.out} = _ops.{st.op}({', '.join(gsrcs)})"]
    if step.kind[i] == S:
        return [f"{st.out} = {_scalar_expr(st.op, srcs)}"]
    dec = plan.get(i)
    if not foreach:
        return [f"{st.out} = {_comprehension(_tensor_template(step, i, dec), args)}"]
    if dec is None:
        fe = _FOREACH.get((st.op, ks))
        if fe is not None:
            return [f"{st.out} = {fe.format(*srcs)}"]
        return [f"{st.out} = {_comprehension(_tensor_template(step, i, None), args)}"]
    base, calls, in_place = dec
    fmt = [(fn, a.format(*srcs)) for fn, a in calls]
    if in_place:
        lines = [f"{_F}{fn}_({srcs[base]}{', ' + a if a else ''})" for fn, a in fmt
                 if fn != "rdiv"]
        if fmt[-1][0] == "rdiv":
            return lines + [f"{st.out} = {_F}div({fmt[-1][1]}, {srcs[base]})"]
        return lines + ([] if st.out == srcs[base] else [f"{st.out} = {srcs[base]}"])
    # a new list, then in place on it; x0 holds it while a later call still reads the name
    later = {srcs[k] for k in range(len(args)) if any(f"{{{k}}}" in a for _, a in calls[1:])}
    tmp = "x0" if st.out in later else st.out
    fn0, a0 = fmt[0]
    lines = [f"{tmp} = {_F}{fn0}({srcs[base]}{', ' + a0 if a0 else ''})"]
    lines += [f"{_F}{fn}_({tmp}{', ' + a if a else ''})" for fn, a in fmt[1:]]
    return lines + ([f"{st.out} = {tmp}"] if tmp != st.out else [])


def _weight_update(step: _Step, form: str) -> list[str]:
    """w <- w - update, per tensor (`p`), over lists with foreach, or a loop over lists."""
    lines = []
    if step.wcoef:
        a, keep = _coef(step.wcoef), _one_minus(step.wcoef)
        mul = {"tensor": [f"    p.mul_({keep})"],
               "foreach": [f"    {_F}mul_(params, {keep})"],
               "loop": ["    for p in params:", f"        p.mul_({keep})"]}[form]
        lines += [f"if {a} != 0.0:"] + mul
    if step.term:
        v, mons = step.term
        t = step.term_src()
        if step.kind[v] == S or mons == [(1, ())]:
            call, extra = "sub_", ""
        elif mons == [(-1, ())]:
            call, extra = "add_", ""
        else:
            call, extra = "add_", f", alpha={_coef(mons, negate=True)}"
        if form == "tensor":
            lines.append(f"p.{call}({t}{extra})")
        elif form == "foreach":
            lines.append(f"{_F}{call}(params, {t}{extra})")
        elif step.kind[v] == S:
            lines += ["for p in params:", f"    p.{call}({t})"]
        else:
            lines += [f"for p, x0 in zip(params, {t}):", f"    p.{call}(x0{extra})"]
    return lines


def _one_minus(monomials) -> str:
    """1 - a as Python."""
    if len(monomials) == 1:
        sign, _ = monomials[0]
        return f"1.0 {'-' if sign > 0 else '+'} {_coef(monomials, negate=sign < 0)}"
    return f"1.0 - ({_coef(monomials)})"


def _folded_comments(step: _Step) -> list[str]:
    if not step.folded:
        return []
    lines = [f"# {i}: {ir._show(step.stmt[i])}  (folded into the weight update)"
             for i in sorted(step.folded)]
    parts = [f"w * ({_one_minus(step.wcoef)})" if step.wcoef else "w"]
    if step.term:
        c = _coef(step.term[1])
        parts.append(f"{c if len(step.term[1]) == 1 else f'({c})'} * {step.term_src()}")
    return lines + ["# w - update = " + " - ".join(parts)]


def torch_source(prog: ir.Program) -> str:
    name = class_name(prog)
    kw = _hp_kwargs(prog)
    step = _Step(prog)
    uses_global = any(OPS[st.op].tag == "global" for _, st in step.emitted)
    sig = ", ".join(["params", f"lr={prog.default_lr!r}"] + [f"{k}={v}" for k, v in kw]
                    + ["*", "foreach=None"])
    group_opts = "".join(f", {k}={k}" for k, _ in kw)
    hp_lines = ['lr = group["lr"]']
    if _uses_betas(prog):
        hp_lines.append('beta1, beta2 = group["betas"]')
    hp_lines += [f'{k} = group["{k}"]' for k in prog.hparams if k not in ("beta1", "beta2")
                 or not _uses_betas(prog)]
    i3, i4, i5 = " " * 12, " " * 16, " " * 20
    init = []
    if prog.state:
        init = ["if not state:"] + [
            f'    state["{s}"] = torch.zeros_like(p, memory_format=torch.preserve_format)'
            for s in prog.state]
    sparse = [f'    raise RuntimeError("{name} does not support sparse gradients")']
    out = [_docstring(prog, "torch"), "", "import torch", "", f"EPS = {EPS!r}", "", "",
           "class _ops:", '    """Helpers of the generated step (values are lists of tensors, '
           'or floats)."""', "",
           "    @staticmethod",
           "    def scalar(f, *xs):",
           '        """An op on floats only: evaluated on float64 0-d tensors."""',
           "        return float(f(*(torch.tensor(x, dtype=torch.float64) for x in xs)))", "",
           "    @staticmethod",
           "    def like(x, params):",
           '        """A float as one 0-d tensor per parameter (dtype and device of each)."""',
           "        return [torch.tensor(x, dtype=p.dtype, device=p.device) for p in params]", "",
           "    @staticmethod",
           "    def store(slots, values):",
           '        """The step\'s end value of a state slot, written into its tensors."""',
           "        if not isinstance(values, (list, tuple)):",
           "            values = [values] * len(slots)",
           "        for t, v in zip(slots, values):",
           "            if t is not v:",
           "                t.copy_(v) if isinstance(v, torch.Tensor) else t.fill_(v)",
           ]
    if uses_global:
        out += _TORCH_GLOBAL.rstrip("\n").split("\n")
    out += ["", "", f"class {name}(torch.optim.Optimizer):",
            f'    """`{prog.name}` as a torch optimizer: per parameter, w <- w - update; state '
            f'slots {", ".join(prog.state) or "(none)"} start at zero.', "",
            "    foreach=None: foreach calls on CUDA; elsewhere one loop over the parameters,",
            '    the whole step on each tensor in turn."""', "",
            f"    def __init__(self, {sig}):",
            "        if not lr >= 0.0:",
            '            raise ValueError(f"invalid learning rate: {lr}")']
    if _uses_betas(prog):
        out += ["        if len(betas) != 2:",
                '            raise ValueError(f"betas: a pair (beta1, beta2), got {betas!r}")']
    out += [f"        defaults = dict(lr=lr{group_opts}, foreach=foreach)",
            "        super().__init__(params, defaults)", "",
            "    @torch.no_grad()",
            "    def step(self, closure=None):",
            "        loss = None",
            "        if closure is not None:",
            "            with torch.enable_grad():",
            "                loss = closure()",
            "        for group in self.param_groups:"]
    out += [i3 + line for line in hp_lines]
    out += [f'{i3}foreach = group["foreach"]',
            f"{i3}if foreach is None:",
            f'{i3}    foreach = all(p.is_cuda for p in group["params"] if p.grad is not None)']
    if not uses_global:
        # one loop over the tensors, the whole body per tensor: values are single tensors
        tplan = step.plan(foreach=False)
        hoisted, names = set(), [st.out for _, st in step.emitted]
        for i, st in step.emitted:
            if step.kind[i] == S and names.count(st.out) == 1 and st.out not in prog.state \
                    and all(v is None or step.kind.get(v) == S and
                            (isinstance(v, str) or v in hoisted) for v in step.args[i]):
                hoisted.add(i)
        out.append(f"{i3}if not foreach:")
        for i, st in step.emitted:
            if i in hoisted:
                out += [i4 + _comment(i, st)] + [i4 + x for x in _tensor_lines(step, tplan, i)]
        out += [f'{i4}for p in group["params"]:',
                f"{i5}g = p.grad",
                f"{i5}if g is None:",
                f"{i5}    continue",
                f"{i5}if g.is_sparse:"] + [i5 + x for x in sparse]
        if prog.state:
            out += [f"{i5}state = self.state[p]"] + [i5 + x for x in init]
        read = {v for i, _ in step.emitted if i not in hoisted for v in step.args[i]}
        if step.term:
            read.add(step.term[0])
        if "w" in read:
            out.append(f"{i5}w = p")
        out += [f'{i5}{s} = state["{s}"]' for s in prog.state if s in read]
        for i, st in step.emitted:
            if i not in hoisted:
                out += [i5 + _comment(i, st)] + [i5 + x for x in _tensor_lines(step, tplan, i)]
        for s in step.stores():
            v = step.final[s]
            out.append(f'{i5}state["{s}"].{"fill_" if step.kind[v] == S else "copy_"}({s})')
        out += [i5 + x for x in _folded_comments(step)]
        out += [i5 + x for x in _weight_update(step, "tensor")]
        out.append(f"{i4}continue")
    # over lists of tensors: foreach calls (and, with global ops, comprehensions)
    out += [f'{i3}params = [p for p in group["params"] if p.grad is not None]',
            f"{i3}if not params:",
            f"{i3}    continue",
            f"{i3}for p in params:",
            f"{i3}    if p.grad.is_sparse:"] + [i4 + x for x in sparse]
    if prog.state:
        out += [f"{i3}    state = self.state[p]"] + [i4 + x for x in init]
    out += [f"{i3}w = params", f"{i3}g = [p.grad for p in params]"]
    for s in prog.state:
        out.append(f'{i3}{s} = [self.state[p]["{s}"] for p in params]')

    def list_body(foreach: bool, indent: str) -> list[str]:
        plan = step.plan(foreach)
        stores = step.stores()
        lines = []
        if stores:
            lines.append(f"{indent}slots = ({', '.join(stores)},)")
        for i, st in step.emitted:
            lines += [indent + _comment(i, st)] + [indent + x
                                                   for x in _list_lines(step, plan, i, foreach)]
        for k, s in enumerate(stores):
            lines.append(f"{indent}_ops.store(slots[{k}], {s})")
        lines += [indent + x for x in _folded_comments(step)]
        lines += [indent + x for x in _weight_update(step, "foreach" if foreach else "loop")]
        return lines

    if uses_global:
        out += [f"{i3}if foreach:"] + list_body(True, i4)
        out += [f"{i3}else:"] + list_body(False, i4)
    else:
        out += list_body(True, i3)
    out += ["        return loss", ""]
    return "\n".join(out)


# --- optax -----------------------------------------------------------------------------------
def optax_source(prog: ir.Program) -> str:
    cls = class_name(prog) + "State"
    hp = dict(prog.hparams)
    # optax's names: learning_rate, b1, b2; other hparams keep theirs
    rename = {"beta1": "b1", "beta2": "b2"} if _uses_betas(prog) else {}
    kw = [("learning_rate", repr(prog.default_lr))] + [(rename.get(k, k), repr(v))
                                                       for k, v in hp.items()]
    sig = ", ".join(f"{k}={v}" for k, v in kw)
    names = ", ".join(k for k, _ in kw)
    uses_global = any(OPS[st.op].tag == "global" for _, st in _live(prog))
    i2 = " " * 8
    out = [_docstring(prog, "optax"), "", "from typing import NamedTuple", "", "import jax",
           "import jax.numpy as jnp", "import optax", "", f"EPS = {EPS!r}", "", "",
           "class _ops:", "    @staticmethod", "    def like(x, w):",
           "        return [jnp.asarray(x, v.dtype) for v in w]", "",
           "    @staticmethod", "    def fit(values, w, tree, negate=False):",
           '        """A value as a tree shaped and typed like the weights."""',
           "        if not isinstance(values, list):",
           "            values = [values] * len(w)",
           "        return jax.tree_util.tree_unflatten(tree, [jnp.broadcast_to(-v if negate "
           "else v, x.shape).astype(x.dtype) for v, x in zip(values, w)])"]
    if uses_global:
        out += _JAX_GLOBAL.rstrip("\n").split("\n")
    out += ["", "", f"class {cls}(NamedTuple):"]
    out += [f"    {s}: optax.Updates" for s in prog.state] or ["    pass"]
    out += ["", "", f"def {prog.name}({sig}) -> optax.GradientTransformation:",
            f'    """`{prog.name}` with its hyperparameters injected (a schedule may be passed '
            f'as learning_rate); the updates are -update, for `optax.apply_updates`."""',
            f"    return optax.inject_hyperparams(_{prog.name})({', '.join(f'{k}={k}' for k, _ in kw)})",
            "", "", f"def _{prog.name}({names}) -> optax.GradientTransformation:",
            "    def init_fn(params):",
            f"        return {cls}(" + ", ".join(
                f"{s}=jax.tree_util.tree_map(jnp.zeros_like, params)" for s in prog.state) + ")",
            "", "    def update_fn(updates, state, params=None):"]
    if _reads(prog, "w"):
        out += ["        if params is None:",
                f'            raise ValueError("{prog.name} reads the weights: call '
                f'update(updates, state, params)")']
    out += ["        g, tree = jax.tree_util.tree_flatten(updates)"]
    if _reads(prog, "w"):
        out.append("        w = tree.flatten_up_to(params)")
    else:
        out.append("        w = g  # shapes and dtypes only: this program never reads w")
    out.append("        lr = learning_rate")
    out += [f"{i2}{k} = {rename[k]}" for k in hp if k in rename]
    for s in prog.state:
        out.append(f"{i2}{s} = tree.flatten_up_to(state.{s})")
    out += _body(prog, _jax_statement, i2)
    news = ", ".join(f"{s}=_ops.fit({s}, w, tree)" for s in prog.state)
    out += [f"{i2}new_updates = _ops.fit(update, w, tree, negate=True)",
            f"{i2}return new_updates, {cls}({news})", "",
            "    return optax.GradientTransformation(init_fn, update_fn)", ""]
    return "\n".join(out)


# --- data ------------------------------------------------------------------------------------
def json_source(prog: ir.Program) -> str:
    return prog.dumps() + "\n"


def text_source(prog: ir.Program) -> str:
    return ir.text(prog)
