"""Mutations of optimizer programs (Chen et al. 2023 §2.1-2.2, HERO `core.py`), a pure-Python
type check, and random programs for the random-search baseline.

`mutate` draws one of four mutations and keeps the first candidate that parses, type-checks and
computes something new (its `program_hash` differs from the parent's):

- `insert`: a random op on random arguments (earlier variables, or a new constant 1.0 as in
  HERO) at a random position, assigned to an earlier variable or a fresh `v0`, `v1`, ...;
  never drawn when the body already has `ir.MAX_STATEMENTS` statements;
- `delete`: remove a random statement;
- `modify_argument`: one argument of a random statement becomes another variable defined before
  it, or, for a number, a fresh N(0, 1) draw;
- `rescale_constant`: a number argument or an hparam times 2**N(0, 1), clamped to +-1e10.

`mode="evolve"` draws the applicable ones with equal weights, `mode="hparam_tune"` (the paper's
hyperparameter-tuning baseline) only `rescale_constant`, so the structure never changes.

A valid candidate that changes only dead code (same `program_hash`) is not thrown away: as in
HERO's `mutate_function_until`, which mutates the program in place until its hash changes, the
next draw starts from it. That is how dead code serves as a stepping stone (paper §2.1): an
insert into a fresh name is always dead, and would otherwise never survive. `Mutation.steps`
lists every mutation applied; `kind` is the last, the one that made the program new.
Every candidate is checked by a fast equivalent of what `ir.parse` can refuse in a mutated
program, and `type_check`; the child itself goes through `ir.parse`.

No jax here: `type_check` replaces `ir.check_shapes` (jax.eval_shape, milliseconds a call) with
the same verdict from three value kinds, so one `mutate` costs well under a millisecond.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from evoflow.algorithms.optsearch import ir
from evoflow.algorithms.optsearch.ops import OPS

KINDS = ("insert", "delete", "modify_argument", "rescale_constant")
MODES = ("evolve", "hparam_tune")
NEW_CONSTANT_P = 0.2  # chance that an inserted argument is a new constant (HERO: Atom(1.0))
NEW_CONSTANT = 1.0
CLAMP = 1e10  # rescaled constants stay in [-CLAMP, CLAMP] (HERO's Atom.mutate)
_OP_NAMES = tuple(OPS)


# --- type check ------------------------------------------------------------------------------
# A value is "full" (shaped like w), "per_tensor" (a 0-d leaf per tensor, its own value each) or
# "scalar" (the same 0-d leaf on every tensor). check_shapes only ever rejects a full value where
# an op wants a scalar (`OPS[op].scalar_args`); per_tensor and scalar are both 0-d there. Every
# other combination broadcasts, and a 0-d value assigned to `update` or a slot is broadcast to
# w's shape, so reading it later gives a full value.
_RANK = {"scalar": 0, "per_tensor": 1, "full": 2}


def _result_kind(op: str, kinds: list[str]) -> str:
    if OPS[op].arity == 0 or op in ("global_norm", "dot", "cosine_sim"):
        return "scalar"
    if op == "norm":  # one norm per tensor; the norm of a 0-d leaf keeps its kind
        return "per_tensor" if kinds[0] == "full" else kinds[0]
    # elementwise ops, and clip_by_global_norm(x, c) = x * (a factor of c's kind)
    return max(kinds, key=_RANK.__getitem__)


def _check_statement(i: int, st: ir.Statement, kind: dict, state) -> str:
    """The kind `st` assigns, given `kind` (name -> kind; hparams and numbers absent: scalar)."""
    kinds = [kind.get(a, "scalar") if isinstance(a, str) else "scalar" for a in st.args]
    for k in OPS[st.op].scalar_args:
        if kinds[k] == "full":
            raise ir.ProgramError(f"statement {i} ({ir._show(st)}): argument {k + 1} of "
                                  f"{st.op} must be a scalar")
    return "full" if st.out == ir.OUTPUT or st.out in state else _result_kind(st.op, kinds)


def _input_kinds(state) -> dict:
    return {"w": "full", "g": "full", "lr": "scalar", **{s: "full" for s in state}}


def type_check(prog: ir.Program) -> None:
    """`ir.check_shapes` without jax, for a parsed program: the same ProgramError, or None."""
    kind = _input_kinds(prog.state)
    for i, st in enumerate(prog.body):
        kind[st.out] = _check_statement(i, st, kind, prog.state)


# --- mutations -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Mutation:
    program: ir.Program  # the child
    kind: str  # the mutation that made it functionally new (one of KINDS)
    tries: int  # candidates drawn, valid or not, the kept one included (>= 1)
    steps: tuple[str, ...]  # every mutation applied: dead-code-only ones, then `kind`
    invalid: int = 0  # tries refused by the format or the type check
    redundant: int = 0  # valid tries with the parent's program_hash (dead code, a no-op)


def _unique(names) -> list[str]:
    return list(dict.fromkeys(names))  # ordered, so draws are reproducible (sets are not)


def _readable(prog: ir.Program, i: int) -> list[str]:
    """The variables a statement at position i can read."""
    return _unique([*ir.INPUTS, *prog.state, *prog.hparams, *(s.out for s in prog.body[:i])])


def _fresh(prog: ir.Program) -> str:
    used = {*prog.state, *prog.hparams, *(s.out for s in prog.body)}
    k = 0
    while f"v{k}" in used:  # v0, v1, ...: legal under ir._check_name, never reserved
        k += 1
    return f"v{k}"


def _pick(rng: np.random.Generator, items):
    return items[int(rng.integers(len(items)))]


def _random_statement(rng, readable: list[str], targets: list[str]) -> ir.Statement:
    op = _pick(rng, _OP_NAMES)
    args = tuple(NEW_CONSTANT if rng.random() < NEW_CONSTANT_P else _pick(rng, readable)
                 for _ in range(OPS[op].arity))
    return ir.Statement(_pick(rng, targets), op, args)


def _insert(prog: ir.Program, rng) -> ir.Program:
    pos = int(rng.integers(len(prog.body) + 1))
    targets = _unique([*prog.state, *(s.out for s in prog.body[:pos]), _fresh(prog)])
    st = _random_statement(rng, _readable(prog, pos), targets)
    return prog.replace(body=prog.body[:pos] + (st,) + prog.body[pos:])


def _delete(prog: ir.Program, rng) -> ir.Program:
    i = int(rng.integers(len(prog.body)))
    return prog.replace(body=prog.body[:i] + prog.body[i + 1:])


def _modify_argument(prog: ir.Program, rng) -> ir.Program | None:
    i = _pick(rng, [i for i, st in enumerate(prog.body) if st.args])
    st = prog.body[i]
    k = int(rng.integers(len(st.args)))
    if isinstance(st.args[k], str):
        others = [x for x in _readable(prog, i) if x != st.args[k]]
        if not others:
            return None
        new = _pick(rng, others)
    else:
        new = float(rng.standard_normal())
    st = ir.Statement(st.out, st.op, st.args[:k] + (new,) + st.args[k + 1:])
    return prog.replace(body=prog.body[:i] + (st,) + prog.body[i + 1:])


def _constant_sites(prog: ir.Program) -> list:
    """Every constant: an hparam (its name) or a number argument ((statement, position))."""
    return [*prog.hparams] + [(i, k) for i, st in enumerate(prog.body)
                              for k, a in enumerate(st.args) if not isinstance(a, str)]


def _rescale_constant(prog: ir.Program, rng) -> ir.Program:
    site = _pick(rng, _constant_sites(prog))
    factor = 2.0 ** float(rng.standard_normal())
    if isinstance(site, str):
        value = min(max(prog.hparams[site] * factor, -CLAMP), CLAMP)
        return prog.replace(hparams={**prog.hparams, site: value})
    i, k = site
    st = prog.body[i]
    value = min(max(st.args[k] * factor, -CLAMP), CLAMP)
    st = ir.Statement(st.out, st.op, st.args[:k] + (value,) + st.args[k + 1:])
    return prog.replace(body=prog.body[:i] + (st,) + prog.body[i + 1:])


MUTATIONS = {"insert": _insert, "delete": _delete, "modify_argument": _modify_argument,
             "rescale_constant": _rescale_constant}


def _applicable(prog: ir.Program, mode: str) -> list[str]:
    has_constants = bool(_constant_sites(prog))
    if mode == "hparam_tune":
        return ["rescale_constant"] if has_constants else []
    kinds = ["insert"] if len(prog.body) < ir.MAX_STATEMENTS else []
    kinds.append("delete")
    if any(st.args for st in prog.body):
        kinds.append("modify_argument")
    if has_constants:
        kinds.append("rescale_constant")
    return kinds


def _well_formed(prog: ir.Program) -> bool:
    """What `ir.parse` can refuse in a mutated program, checked fast (names, ops, arities and
    finite numbers hold by construction): the body's length, a name read before it is assigned,
    a body that never assigns `update`."""
    if not 1 <= len(prog.body) <= ir.MAX_STATEMENTS:
        return False
    defined = {*ir.INPUTS, *prog.state, *prog.hparams}
    for st in prog.body:
        if any(isinstance(a, str) and a not in defined for a in st.args):
            return False
        defined.add(st.out)
    return ir.OUTPUT in defined


def _type_checks(prog: ir.Program) -> bool:
    try:
        type_check(prog)
    except ir.ProgramError:
        return False
    return True


def mutate(prog: ir.Program, rng: np.random.Generator, *, mode: str = "evolve",
           max_trials: int = 1000) -> Mutation:
    """A functionally new child of `prog`; `rng` is the only source of randomness."""
    if mode not in MODES:
        raise ValueError(f"mode {mode!r}: one of {', '.join(MODES)}")
    parent_hash = ir.program_hash(prog)
    base, steps, invalid, redundant = prog, [], 0, 0
    for tries in range(1, max_trials + 1):
        kinds = _applicable(base, mode)
        if not kinds:
            break
        kind = _pick(rng, kinds)
        cand = MUTATIONS[kind](base, rng)
        if cand is None or not _well_formed(cand) or not _type_checks(cand):
            invalid += 1
            continue
        if ir.program_hash(cand) == parent_hash:
            redundant += 1
            if cand != base:  # dead code only: the next draw starts from it (see the docstring)
                base = cand
                steps.append(kind)
            continue
        try:  # the format's own check, once per child (it costs more than the rest together)
            child = ir.parse(cand.to_json())
        except ir.ProgramError:  # not expected: _well_formed covers what a mutation can break
            invalid += 1
            continue
        return Mutation(child, kind, tries, (*steps, kind), invalid, redundant)
    raise RuntimeError(f"program {prog.name!r}: no functionally new {mode} mutation in "
                       f"{max_trials} tries")


# --- random programs -------------------------------------------------------------------------
def random_program(rng: np.random.Generator, *, n_statements: tuple[int, int] = (4, 12),
                   name: str = "random") -> ir.Program:
    """A random valid program for the random-search baseline: slots m, v, no hparams,
    default_lr 1e-3, and n random statements, n uniform in n_statements (both ends included).

    Statements are appended one by one, as an insert at the end would make them, each redrawn
    until it type-checks; the last assigns `update`. (Inserting into `update = mul(g, lr)` at
    random positions would mostly leave that statement last, so most programs would be SGD.)"""
    lo, hi = n_statements
    if not 1 <= lo <= hi <= ir.MAX_STATEMENTS:
        raise ValueError(f"n_statements {n_statements}: need 1 <= lo <= hi <= "
                         f"{ir.MAX_STATEMENTS}")
    n = int(rng.integers(lo, hi + 1))
    prog = ir.Program(name, ("m", "v"), {}, 1e-3, ())
    kind = _input_kinds(prog.state)
    while len(prog.body) < n:
        i = len(prog.body)
        targets = [ir.OUTPUT] if i == n - 1 else \
            _unique([*prog.state, *(s.out for s in prog.body), _fresh(prog)])
        st = _random_statement(rng, _readable(prog, i), targets)
        try:
            kind[st.out] = _check_statement(i, st, kind, prog.state)
        except ir.ProgramError:
            continue
        prog = prog.replace(body=(*prog.body, st))
    prog = ir.parse(prog.to_json())  # valid by construction; parse is the format's word
    type_check(prog)
    return prog
