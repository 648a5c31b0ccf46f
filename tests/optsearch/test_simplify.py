"""Simplification: the exact rewrites keep every update bit for bit; deletions are valid and new."""

from __future__ import annotations

import numpy as np
import pytest

from evoflow.algorithms.optsearch import ir
from evoflow.algorithms.optsearch.mutation import mutate, random_program, type_check
from evoflow.algorithms.optsearch.simplify import deletions, merge_equal, simplify_exact, strip_dead

SHAPES = ((3, 4), (5,))


def updates(prog: ir.Program, steps: int = 6) -> np.ndarray:
    """Every update of `steps` steps on a fixed problem (float64 numpy), concatenated."""
    rng = np.random.default_rng(7)
    w = tuple(rng.standard_normal(s) for s in SHAPES)
    slots = tuple(tuple(np.zeros(s) for s in SHAPES) for _ in prog.state)
    out = []
    with np.errstate(all="ignore"):
        for t in range(steps):
            g = tuple(rng.standard_normal(s) for s in SHAPES)
            update, slots = ir.run(prog, w, g, 0.01 * (t + 1), slots, np, np.float64)
            update = tuple(np.broadcast_to(u, s) for u, s in zip(update, SHAPES))
            slots = tuple(tuple(np.broadcast_to(v, s) for v, s in zip(sl, SHAPES))
                          for sl in slots)
            w = tuple(a - u for a, u in zip(w, update))
            out.append(np.concatenate([u.ravel() for u in update]))
    return np.concatenate(out)


def program(body, state=("m",), hparams=None):
    return ir.parse({"format": ir.FORMAT, "name": "t", "state": list(state),
                     "hparams": hparams or {"b": 0.9}, "default_lr": 1e-3,
                     "body": [{"out": o, "op": op, "args": list(a)} for o, op, a in body]})


def corpus():
    """Mutation chains from the built-ins and random programs: dead code, repeats, slots."""
    progs = []
    for name in ("lion", "adamw_nobc", "sgd_momentum"):
        p, rng = ir.load(name), np.random.default_rng(len(name))
        for _ in range(40):
            p = mutate(p, rng).program
            progs.append(p)
    progs += [random_program(np.random.default_rng(s)) for s in range(40)]
    return progs


def test_exact_rewrites_keep_every_update_bit_for_bit():
    shrunk = 0
    for p in corpus():
        q = simplify_exact(p)
        ir.parse(q.to_json())
        type_check(q)
        np.testing.assert_array_equal(updates(q), updates(p))
        assert ir.program_hash(q) == ir.program_hash(p)
        assert len(q.body) <= len(p.body)
        shrunk += len(q.body) < len(p.body)
    assert shrunk > 20  # the corpus has dead code to remove


def test_merge_equal_drops_a_repeated_value_and_redirects_its_readers():
    p = program([("a", "mul", ("g", "b")), ("c", "mul", ("g", "b")), ("d", "add", ("a", "c")),
                 ("update", "mul", ("d", "lr"))])
    q = merge_equal(p)
    assert [(s.out, s.op, s.args) for s in q.body] == [
        ("a", "mul", ("g", "b")), ("d", "add", ("a", "a")), ("update", "mul", ("d", "lr"))]
    np.testing.assert_array_equal(updates(q), updates(p))


def test_merge_equal_keeps_a_repeat_when_the_earlier_variable_changes_before_a_read():
    p = program([("a", "mul", ("g", "b")), ("c", "mul", ("g", "b")), ("a", "sign", ("g",)),
                 ("d", "add", ("a", "c")), ("update", "mul", ("d", "lr"))])
    assert merge_equal(p) == p
    # a slot keeps its assignment even when it repeats a value
    p = program([("a", "mul", ("g", "b")), ("m", "mul", ("g", "b")),
                 ("update", "add", ("a", "m"))])
    assert [s.out for s in merge_equal(p).body] == ["a", "m", "update"]


def test_strip_dead_removes_a_slot_overwritten_unread():
    p = program([("m", "sign", ("g",)), ("m", "mul", ("g", "b")),
                 ("update", "mul", ("g", "lr"))])
    assert [s.out for s in strip_dead(p).body] == ["update"]


@pytest.mark.parametrize("name", ["lion", "adamw_nobc", "sgd_momentum"])
def test_deletions_are_valid_new_and_shorter(name):
    p = ir.load(name)
    ds = deletions(p)
    assert ds
    hashes = {ir.program_hash(d) for d in ds}
    assert len(hashes) == len(ds) and ir.program_hash(p) not in hashes
    for d in ds:
        ir.check_shapes(d)
        assert len(d.body) < len(p.body)
    if name == "lion":  # Lion without its weight-decay term is one of them
        no_wd = [d for d in ds if not any("weight_decay" in s.args for s in d.body)
                 and any(s.op == "sign" for s in d.body)]
        assert any(len(d.body) == len(p.body) - 2 for d in no_wd)
