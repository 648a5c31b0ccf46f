"""Optimizer programs as data (format `evoflow-program/1`), never code.

    {"format": "evoflow-program/1", "name": "lion", "state": ["m"],
     "hparams": {"beta1": 0.9, "beta2": 0.99, "weight_decay": 0.0}, "default_lr": 0.0001,
     "body": [{"out": "c", "op": "interp", "args": ["g", "m", "beta1"]}, ...]}

Inputs `w`, `g`, `lr` (the schedule's value); at most two state slots, zero-initialized, whose
values at the end of the body carry to the next step; the body must assign `update`, and the
step is `w = w - update`. A statement applies one op (`ops.OPS`) to variables, hparams or
numbers. `parse` checks everything a file can get wrong and raises `ProgramError` (one line,
naming the statement or field); the JSON is only ever read with `json.loads` (non-finite numbers
refused) and never `eval`/`exec`'d. `check_shapes` executes the program abstractly
(`jax.eval_shape`).

Keys: `program_hash` (HERO's: each value hashed by how it is computed from the inputs, so dead
code and renaming do not change it; constants hashed by value), `structure_hash` (constants
abstracted) and `fingerprint` (AutoML-Zero's FEC: the rounded updates of 4 steps on a fixed
problem, which also equates algebraic identities such as m/sqrt(m*m) and sign(m)).
"""

from __future__ import annotations

import builtins
import hashlib
import json
import keyword
import math
import re
from dataclasses import dataclass, field

import numpy as np

from evoflow.algorithms.optsearch.ops import OPS
from evoflow.errors import UsageError

FORMAT = "evoflow-program/1"
INPUTS = ("w", "g", "lr")
OUTPUT = "update"
MAX_SLOTS = 2
MAX_STATEMENTS = 64
FIELDS = ("format", "name", "state", "hparams", "default_lr", "body")
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
# Names the exported modules use (torch, optax and the generated class/function bodies).
RESERVED = frozenset({
    "torch", "optax", "jax", "jnp", "math", "np", "typing", "NamedTuple", "self", "group",
    "groups", "params", "param", "p", "grads", "state", "states", "closure", "loss", "defaults",
    "foreach", "betas", "b1", "b2", "learning_rate", "updates", "count", "init_fn", "update_fn",
    "Optimizer", "super", "slots", "tree",
    "EPS", "_ops", "x0", "x1", "x2", "new_updates",
})


class ProgramError(UsageError):
    """A program that breaks the format: one line naming the field or statement."""


@dataclass(frozen=True)
class Statement:
    out: str
    op: str
    args: tuple  # str (a name) or float (a number)

    def to_json(self) -> dict:
        return {"out": self.out, "op": self.op, "args": list(self.args)}


@dataclass(frozen=True)
class Program:
    name: str
    state: tuple[str, ...]
    hparams: dict = field(hash=False)
    default_lr: float
    body: tuple[Statement, ...]

    def to_json(self) -> dict:
        return {"format": FORMAT, "name": self.name, "state": list(self.state),
                "hparams": dict(self.hparams), "default_lr": self.default_lr,
                "body": [s.to_json() for s in self.body]}

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=1)

    def replace(self, **kw) -> "Program":
        d = dict(name=self.name, state=self.state, hparams=dict(self.hparams),
                 default_lr=self.default_lr, body=self.body)
        d.update(kw)
        return Program(**d)


# --- parsing ---------------------------------------------------------------------------------
def _check_name(what: str, name) -> str:
    if not isinstance(name, str) or not NAME.match(name):
        raise ProgramError(f"{what} {json.dumps(name)}: a name must match [A-Za-z_][A-Za-z0-9_]*")
    if keyword.iskeyword(name) or keyword.issoftkeyword(name) or hasattr(builtins, name) \
            or name in RESERVED or name.startswith("__"):
        raise ProgramError(f"{what} {name!r}: a Python keyword, builtin or a name the "
                           f"exported code uses")
    return name


def _check_number(what: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ProgramError(f"{what} {json.dumps(value)}: must be a number")
    value = float(value)
    if not math.isfinite(value):
        raise ProgramError(f"{what} {value!r}: must be finite")
    return value


def _refuse_constant(text: str):
    raise ProgramError(f"number {text}: must be finite")


def loads(text: str) -> Program:
    """A program from JSON text (NaN / Infinity refused)."""
    try:
        obj = json.loads(text, parse_constant=_refuse_constant)
    except ProgramError:
        raise
    except (json.JSONDecodeError, RecursionError) as e:
        raise ProgramError(f"not JSON: {getattr(e, 'msg', type(e).__name__)} "
                           f"(line {getattr(e, 'lineno', '?')})") from None
    return parse(obj)


def parse(obj) -> Program:
    """Validate a decoded JSON object against the format; the Program."""
    if not isinstance(obj, dict):
        raise ProgramError("a program is a JSON object with fields " + ", ".join(FIELDS))
    if obj.get("format") != FORMAT:
        raise ProgramError(f"format {json.dumps(obj.get('format'))}: expected {FORMAT!r}")
    unknown = [k for k in obj if k not in FIELDS]
    missing = [k for k in FIELDS if k not in obj]
    if unknown:
        raise ProgramError(f"unknown field {unknown[0]!r}; fields: {', '.join(FIELDS)}")
    if missing:
        raise ProgramError(f"missing field {missing[0]!r}")
    name = _check_name("name", obj["name"])
    state = obj["state"]
    if not isinstance(state, list):
        raise ProgramError("state: a list of at most 2 slot names")
    if len(state) > MAX_SLOTS:
        raise ProgramError(f"state: {len(state)} slots; at most {MAX_SLOTS}")
    state = tuple(_check_name("state slot", s) for s in state)
    hparams = obj["hparams"]
    if not isinstance(hparams, dict):
        raise ProgramError("hparams: an object of name: number")
    hp = {_check_name("hparam", k): _check_number(f"hparam {k}", v) for k, v in hparams.items()}
    default_lr = _check_number("default_lr", obj["default_lr"])
    if default_lr <= 0:
        raise ProgramError(f"default_lr {default_lr!r}: must be > 0")
    names = list(INPUTS) + list(state) + list(hp)
    if len(set(names)) != len(names) or OUTPUT in names:
        dup = next(n for n in names if names.count(n) > 1 or n == OUTPUT)
        raise ProgramError(f"name {dup!r}: used twice (inputs w, g, lr, slots, hparams and "
                           f"'update' are distinct)")
    body = obj["body"]
    if not isinstance(body, list) or not body:
        raise ProgramError("body: a non-empty list of statements")
    if len(body) > MAX_STATEMENTS:
        raise ProgramError(f"body: {len(body)} statements; at most {MAX_STATEMENTS}")
    defined = set(INPUTS) | set(state)
    stmts = []
    for i, st in enumerate(body):
        where = f"statement {i}"
        if not isinstance(st, dict) or set(st) != {"out", "op", "args"}:
            raise ProgramError(f"{where}: an object with exactly out, op, args")
        out = _check_name(f"{where}: out", st["out"])
        if out in INPUTS or out in hp:
            raise ProgramError(f"{where}: out {out!r}: inputs and hparams are read-only")
        op = st["op"]
        if not isinstance(op, str) or op not in OPS:
            raise ProgramError(f"{where}: unknown op {json.dumps(op)}; ops: "
                               f"{', '.join(OPS)}")
        args = st["args"]
        if not isinstance(args, list) or len(args) != OPS[op].arity:
            n = len(args) if isinstance(args, list) else "no list of"
            raise ProgramError(f"{where}: {op} takes {OPS[op].arity} arguments, got {n}")
        parsed = []
        for a in args:
            if isinstance(a, str):
                _check_name(f"{where}: argument", a)
                if a not in defined and a not in hp:
                    raise ProgramError(f"{where}: {a!r} is read before it is assigned")
                parsed.append(a)
            else:
                parsed.append(_check_number(f"{where}: argument", a))
        defined.add(out)
        stmts.append(Statement(out, op, tuple(parsed)))
    if OUTPUT not in {s.out for s in stmts}:
        raise ProgramError("body: never assigns 'update' (the step is w = w - update)")
    return Program(name, state, hp, default_lr, tuple(stmts))


def load(source: str) -> Program:
    """A built-in program by name, or a JSON file's."""
    from pathlib import Path

    from evoflow.algorithms.optsearch.builtin import BUILTINS

    if source in BUILTINS:
        return parse(BUILTINS[source])
    path = Path(source)
    if not path.is_file():
        raise UsageError(f"--program {source}: neither a built-in program "
                         f"({', '.join(BUILTINS)}) nor a file")
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"--program {source}: cannot read it ({e})") from None
    try:
        return loads(text)
    except ProgramError as e:
        raise ProgramError(f"{source}: {e}") from None


# --- execution -------------------------------------------------------------------------------
def run(prog: Program, w: tuple, g: tuple, lr, slots: tuple, xp, dtype) -> tuple:
    """One step: (update, new slots), each a tuple of leaves; `slots` one tuple per state slot.
    `xp` is numpy or jax.numpy; numbers and hparams become 0-d leaves of `dtype`."""
    from evoflow.algorithms.optsearch.ops import apply

    n = len(w)
    env = {"w": tuple(w), "g": tuple(g), "lr": tuple(xp.asarray(lr, dtype) for _ in range(n))}
    env.update(zip(prog.state, slots))
    hp = {k: tuple(xp.asarray(v, dtype) for _ in range(n)) for k, v in prog.hparams.items()}

    def value(a):
        if isinstance(a, str):
            return env[a] if a in env else hp[a]
        return tuple(xp.asarray(a, dtype) for _ in range(n))

    for st in prog.body:
        env[st.out] = apply(st.op, [value(a) for a in st.args], xp, n, dtype)
    return env[OUTPUT], tuple(env[s] for s in prog.state)


EXAMPLE_SHAPES = ((3, 4), (5,), (2, 1, 3))  # abstract execution: a matrix, a vector, a 3-d tensor


def check_shapes(prog: Program, shapes=EXAMPLE_SHAPES) -> None:
    """Execute abstractly (`jax.eval_shape`); ProgramError naming the statement that makes a
    value of the wrong shape (a scalar argument given a tensor, `update` or a slot not shaped
    like `w`)."""
    import jax
    import jax.numpy as jnp

    from evoflow.algorithms.optsearch.ops import apply

    n = len(shapes)
    leaves = tuple(jax.ShapeDtypeStruct(s, jnp.float32) for s in shapes)

    def abstract(w, g, lr, slots):
        env = {"w": w, "g": g, "lr": tuple(lr for _ in range(n))}
        env.update(zip(prog.state, slots))
        for i, st in enumerate(prog.body):
            args = []
            for a in st.args:
                if isinstance(a, str):
                    args.append(env[a] if a in env else
                                tuple(jnp.float32(prog.hparams[a]) for _ in range(n)))
                else:
                    args.append(tuple(jnp.float32(a) for _ in range(n)))
            for k in OPS[st.op].scalar_args:
                if any(jnp.shape(v) != () for v in args[k]):
                    raise ProgramError(f"statement {i} ({_show(st)}): argument {k + 1} of "
                                       f"{st.op} must be a scalar")
            try:
                env[st.out] = apply(st.op, args, jnp, n, jnp.float32)
            except (TypeError, ValueError) as e:
                raise ProgramError(f"statement {i} ({_show(st)}): {e}") from None
            if st.out == OUTPUT or st.out in prog.state:
                env[st.out] = tuple(jnp.broadcast_to(v, s) if jnp.shape(v) != s else v
                                    for v, s in zip(env[st.out], shapes)) \
                    if all(jnp.shape(v) in ((), s) for v, s in zip(env[st.out], shapes)) \
                    else _bad_shape(i, st)
        return env[OUTPUT], tuple(env[s] for s in prog.state)

    jax.eval_shape(abstract, leaves, leaves, jax.ShapeDtypeStruct((), jnp.float32),
                   tuple(leaves for _ in prog.state))


def _bad_shape(i: int, st: Statement):
    raise ProgramError(f"statement {i} ({_show(st)}): assigns {st.out!r} a value not shaped "
                       f"like w")


def _show(st: Statement) -> str:
    return f"{st.out} = {st.op}({', '.join(a if isinstance(a, str) else repr(a) for a in st.args)})"


def text(prog: Program) -> str:
    """The paper's listing style: `def train(w, g, m, v, lr): ... return update, m, v`."""
    hp = ", ".join(f"{k}={v!r}" for k, v in prog.hparams.items())
    lines = [f"# {prog.name}: default_lr={prog.default_lr!r}" + (f"; {hp}" if hp else ""),
             f"def train(w, g, {''.join(s + ', ' for s in prog.state)}lr):"]
    lines += [f"  {_show(st)}" for st in prog.body]
    lines.append(f"  return {', '.join((OUTPUT,) + prog.state)}")
    return "\n".join(lines) + "\n"


# --- dead code and hashes --------------------------------------------------------------------
def live_statements(prog: Program) -> list[int]:
    """Indices of the statements that reach `update`, this step or a later one. A slot is live
    if its value at the start of a step is read by live code; a slot overwritten unread is dead
    (its end value never matters)."""
    n = len(prog.body)
    last_def: dict[str, int] = {}
    deps: list[set] = []  # per statement: the statements and slot inputs it reads
    for i, st in enumerate(prog.body):
        d = set()
        for a in st.args:
            if isinstance(a, str):
                d.add(("stmt", last_def[a]) if a in last_def else ("in", a))
        deps.append(d)
        last_def[st.out] = i

    def closure(roots):
        seen, stack, slots = set(), list(roots), set()
        while stack:
            i = stack.pop()
            if i in seen:
                continue
            seen.add(i)
            for kind, x in deps[i]:
                if kind == "stmt":
                    stack.append(x)
                elif x in prog.state:
                    slots.add(x)
        return seen, slots

    live_slots: set = set()
    while True:
        roots = [last_def[OUTPUT]] + [last_def[s] for s in live_slots if s in last_def]
        seen, read = closure(roots)
        if read <= live_slots:
            return sorted(i for i in seen if i < n)
        live_slots |= read


def _md5(s: str) -> str:
    return hashlib.md5(s.encode()).hexdigest()


def _hash(prog: Program, constants: bool) -> str:
    env = {x: _md5(f"input:{x}") for x in INPUTS}
    env.update({s: _md5(f"slot:{k}") for k, s in enumerate(prog.state)})

    def arg(a):
        if isinstance(a, str) and a in env:
            return env[a]
        v = prog.hparams[a] if isinstance(a, str) else a
        return _md5(f"const:{v!r}" if constants else "const")

    for st in prog.body:
        env[st.out] = _md5(f"{st.op}({','.join(arg(a) for a in st.args)})")
    live = set(live_statements(prog))
    live_slots = sorted(k for k, s in enumerate(prog.state)
                        if any(_reads(prog, i, s) for i in live) and s in
                        {st.out for st in prog.body})
    parts = [env[OUTPUT]] + [f"{k}:{env[prog.state[k]]}" for k in live_slots]
    return _md5("|".join(parts))


def _reads(prog: Program, i: int, slot: str) -> bool:
    """Statement i reads `slot`'s value at the start of the step."""
    st = prog.body[i]
    return slot in st.args and all(s.out != slot for s in prog.body[:i])


def program_hash(prog: Program) -> str:
    return _hash(prog, constants=True)


def structure_hash(prog: Program) -> str:
    return _hash(prog, constants=False)


# A fixed problem on which momentum matters: gradients of one persistent direction whose scale
# and sign change from step to step (a small reversed step tells an EMA from the raw gradient).
FINGERPRINT_SCALES = (1.0, 0.8, 1.0, 0.6, 0.02, -0.05, 1.0, -0.3)
FINGERPRINT_DIGITS = 4  # significant digits: m/sqrt(m*m) and sign(m) differ by 1e-8/|m|


def fingerprint(prog: Program) -> str:
    """Hash of the updates of len(FINGERPRINT_SCALES) steps on a fixed problem, rounded to
    FINGERPRINT_DIGITS significant digits (float64 numpy); non-finite values hash as such."""
    rng = np.random.default_rng(20230213)
    shapes = ((4, 3), (5,))
    w = tuple(rng.uniform(0.5, 1.5, s) * rng.choice([-1.0, 1.0], s) for s in shapes)
    base = tuple(rng.uniform(0.5, 1.0, s) * rng.choice([-1.0, 1.0], s) for s in shapes)
    slots = tuple(tuple(np.zeros(s) for s in shapes) for _ in prog.state)
    out = []
    with np.errstate(all="ignore"):
        for t, scale in enumerate(FINGERPRINT_SCALES):
            g = tuple(scale * b + 0.01 * rng.standard_normal(b.shape) for b in base)
            update, slots = run(prog, w, g, 0.01 * (t + 1), slots, np, np.float64)
            update = tuple(np.broadcast_to(u, s) for u, s in zip(update, shapes))
            slots = tuple(tuple(np.broadcast_to(v, s) for v, s in zip(sl, shapes))
                          for sl in slots)
            w = tuple(a - u for a, u in zip(w, update))
            out.extend(np.concatenate([u.ravel() for u in update]).tolist())
    return _md5(",".join(_round(v) for v in out))


def _round(v: float) -> str:
    if not math.isfinite(v):
        return repr(v)
    return f"{v:.{FINGERPRINT_DIGITS - 1}e}" if v != 0 else "0"
