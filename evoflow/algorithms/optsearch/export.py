"""Source code for a program: a PyTorch optimizer module, an optax transformation, JSON, a listing.

The generated code is straight-line Python, one line per live statement, over lists of tensors
(one per parameter; a global op's scalar is the same 0-d tensor repeated, a per-tensor op's one
0-d tensor per parameter) and Python floats (hparams, numbers, `lr`). Every name in it is either
the program's own (checked by `ir.parse`: no keyword, builtin or generated-code name) or one of
`ir.RESERVED`; numbers are written with `repr` of a float, so no text from a program file is
ever pasted into code except names that match `[A-Za-z_][A-Za-z0-9_]*`.

torch: `torch._foreach_*` wherever an op and its argument kinds allow it (`foreach=True`, the
default on CUDA), a comprehension per tensor otherwise; both compute the same values in the
parameter's dtype. optax: `jax.numpy` per leaf, under `optax.inject_hyperparams`.
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


def _torch_statement(st: ir.Statement, kinds: dict, foreach: bool) -> tuple[str, str]:
    """(code, kind) of one statement's right-hand side in the torch module: `torch._foreach_*`
    where the op and its argument kinds have a form (`foreach`), else one tensor at a time."""
    op = OPS[st.op]
    args = [_arg(a, kinds) for a in st.args]
    ks = tuple(k for _, k in args)
    if op.arity == 0:
        return repr(_CONSTANTS[st.op]), S
    if op.tag == "global" or st.op == "norm":
        # scalars become one 0-d tensor per parameter (the IR's repeated leaf)
        srcs = [src if k == L or (op.tag == "global" and i in op.scalar_args) else
                f"_ops.like({src}, params)" for i, (src, k) in enumerate(args)]
        if st.op == "norm":
            return (f"{_F}norm({srcs[0]})" if foreach else
                    f"[torch.linalg.vector_norm(x) for x in {srcs[0]}]"), L
        return f"_ops.{st.op}({', '.join(srcs)})", L
    if L not in ks:  # only scalars: one float64 evaluation per step
        return _scalar_expr(st.op, [src for src, _ in args]), S
    fe = _FOREACH.get((st.op, ks)) if foreach else None
    if fe is not None:
        return fe.format(*(src for src, _ in args)), L
    return _comprehension(_torch_elem(st.op, args), args), L


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
def torch_source(prog: ir.Program) -> str:
    name = class_name(prog)
    kw = _hp_kwargs(prog)
    uses_global = any(OPS[st.op].tag == "global" for _, st in _live(prog))
    sig = ", ".join(["params", f"lr={prog.default_lr!r}"] + [f"{k}={v}" for k, v in kw]
                    + ["*", "foreach=None"])
    group_opts = "".join(f", {k}={k}" for k, _ in kw)
    hp_lines = []
    if _uses_betas(prog):
        hp_lines.append('beta1, beta2 = group["betas"]')
    hp_lines += [f'{k} = group["{k}"]' for k in prog.hparams if k not in ("beta1", "beta2")
                 or not _uses_betas(prog)]
    slots = ", ".join(repr(s) for s in prog.state)
    i3 = " " * 12
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
            f'slots {", ".join(prog.state) or "(none)"} start at zero."""', "",
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
            "        for group in self.param_groups:",
            '            params = [p for p in group["params"] if p.grad is not None]',
            "            if not params:",
            "                continue",
            "            for p in params:",
            "                if p.grad.is_sparse:",
            f'                    raise RuntimeError("{name} does not support sparse '
            f'gradients")']
    if prog.state:
        out += ["                state = self.state[p]",
                "                if not state:",
                f"                    for k in ({slots},):",
                "                        state[k] = torch.zeros_like(p, "
                "memory_format=torch.preserve_format)"]
    out += ['            foreach = group["foreach"]',
            "            if foreach is None:",
            "                foreach = all(p.is_cuda for p in params)",
            "            w = params",
            "            g = [p.grad for p in params]",
            '            lr = group["lr"]']
    out += [i3 + line for line in hp_lines]
    for s in prog.state:
        out.append(f'{i3}{s} = [self.state[p]["{s}"] for p in params]')
    if prog.state:
        out.append(f"{i3}slots = ({', '.join(prog.state)},)")
    out.append(f"{i3}if foreach:")
    out += _body(prog, lambda st, kinds: _torch_statement(st, kinds, True), i3 + "    ")
    out.append(f"{i3}else:")
    out += _body(prog, lambda st, kinds: _torch_statement(st, kinds, False), i3 + "    ")
    for k, s in enumerate(prog.state):
        out.append(f"{i3}_ops.store(slots[{k}], {s})")
    out += [f"{i3}if not isinstance(update, (list, tuple)):",
            f"{i3}    update = [update] * len(params)",
            f"{i3}if foreach:",
            f"{i3}    torch._foreach_sub_(params, update)",
            f"{i3}else:",
            f"{i3}    for p, u in zip(params, update):",
            f"{i3}        p.sub_(u)",
            "        return loss", ""]
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
