"""Simplification of a discovered program (Chen et al. 2023 §2.3: "remove redundant statements").

Two rewrites that never change what a program computes, and one that is judged by training:

- `strip_dead`: keep the statements that reach `update` (`ir.live_statements`: slots
  overwritten unread are dead too);
- `merge_equal`: a statement computing what an earlier one computed (same op on the same
  values), into a temporary, is dropped and its readers read the earlier variable;
- `deletions`: every valid program with one live statement removed (its readers then read the
  variable's earlier value, or one of the statement's arguments): the search's `finalize`
  trains them and keeps deletions costing less than `PRUNE_TOLERANCE` of the validation loss.

Plain Python over `ir.Program`: no jax.
"""

from __future__ import annotations

from evoflow.algorithms.optsearch import ir
from evoflow.algorithms.optsearch.mutation import type_check

PRUNE_TOLERANCE = 0.005  # a deletion may raise the validation loss by at most 0.5%, in total


def strip_dead(prog: ir.Program) -> ir.Program:
    """Live statements only, and the hparams they read (slots stay: their order is the state's
    layout, which `program_hash` sees)."""
    body = tuple(prog.body[i] for i in ir.live_statements(prog))
    read = {a for st in body for a in st.args if isinstance(a, str)}
    return prog.replace(body=body, hparams={k: v for k, v in prog.hparams.items() if k in read})


def _value_numbers(prog: ir.Program):
    """Per statement, the value number of each argument and of its result: equal numbers are
    equal values in every step (the same op applied to the same values)."""
    table: dict[tuple, int] = {}
    current: dict[str, int] = {}

    def number(key) -> int:
        return table.setdefault(key, len(table))

    for x in (*ir.INPUTS, *prog.state):
        current[x] = number(("input", x))
    out = []
    for st in prog.body:
        args = tuple(current[a] if isinstance(a, str) and a in current else
                     number(("const", prog.hparams[a] if isinstance(a, str) else a))
                     for a in st.args)
        v = number((st.op, args))
        out.append((args, v))
        current[st.out] = v
    return out


def merge_equal(prog: ir.Program) -> ir.Program:
    """Drop a statement whose value an unchanged earlier variable already holds; its readers
    (up to the next assignment of its name) read that variable instead."""
    while True:
        merged = _merge_one(prog)
        if merged is None:
            return prog
        prog = merged


def _merge_one(prog: ir.Program) -> ir.Program | None:
    vn = _value_numbers(prog)
    holds = {x: ("input", x) for x in (*ir.INPUTS, *prog.state)}  # variable -> its value now
    for i, st in enumerate(prog.body):
        v = vn[i][1]
        if st.out not in (ir.OUTPUT, *prog.state):
            for earlier, value in holds.items():  # insertion order: reproducible
                if value == v and earlier != st.out:
                    new = _redirect(prog, i, earlier)
                    if new is not None:
                        return new
        holds.pop(st.out, None)
        holds[st.out] = v
    return None


def _redirect(prog: ir.Program, i: int, earlier: str) -> ir.Program | None:
    """Statement i dropped, the reads of its value renamed to `earlier`; None if `earlier` is
    reassigned before one of those reads."""
    body = list(prog.body)
    name = body[i].out
    new = body[:i]
    earlier_intact = True
    reading = True
    for st in body[i + 1:]:
        if reading and name in st.args:
            if not earlier_intact:
                return None
            st = ir.Statement(st.out, st.op, tuple(earlier if a == name else a for a in st.args))
        if st.out == name:
            reading = False
        if st.out == earlier:
            earlier_intact = False
        new.append(st)
    return prog.replace(body=tuple(new))


def simplify_exact(prog: ir.Program) -> ir.Program:
    """The rewrites that keep every update bit for bit: equal values merged, dead code gone."""
    return strip_dead(merge_equal(strip_dead(prog)))


def deletions(prog: ir.Program) -> list[ir.Program]:
    """`prog` (dead code stripped) with one statement removed, each way that leaves a valid
    program computing something else, in statement order: plainly (its readers read the
    variable's earlier value), or, for a temporary, with its readers reading one of its
    variable arguments instead (the op skipped)."""
    prog = strip_dead(prog)
    seen = {ir.program_hash(prog)}
    out = []
    for i, st in enumerate(prog.body):
        cands = [prog.replace(body=prog.body[:i] + prog.body[i + 1:])]
        if st.out not in (ir.OUTPUT, *prog.state):
            cands += [_redirect(prog, i, a) for a in dict.fromkeys(st.args)
                      if isinstance(a, str) and a != st.out]
        for cand in cands:
            if cand is None:
                continue
            try:
                cand = ir.parse(cand.to_json())
                type_check(cand)
            except ir.ProgramError:
                continue
            cand = strip_dead(cand)
            h = ir.program_hash(cand)
            if h not in seen:
                seen.add(h)
                out.append(cand)
    return out
