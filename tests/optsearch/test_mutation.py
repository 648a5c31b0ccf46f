"""Mutations (Chen et al. 2023 §2.2, HERO): children are valid and functionally new, draws are
reproducible from the rng alone, `hparam_tune` only rescales constants by 2**N(0, 1), and the
pure-Python `type_check` gives `ir.check_shapes`'s verdict without jax."""

from __future__ import annotations

import itertools
import json
import re
from collections import Counter

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from evoflow.algorithms.optsearch import ir, mutation
from evoflow.algorithms.optsearch.mutation import mutate, random_program, type_check
from evoflow.algorithms.optsearch.ops import OPS

ADAMW = ir.load("adamw_nobc")


def prog(body, state=("m",), hparams=None, name="prog_a"):
    return ir.parse({"format": ir.FORMAT, "name": name, "state": list(state),
                     "hparams": hparams or {}, "default_lr": 1e-3,
                     "body": [{"out": o, "op": op, "args": list(a)} for o, op, *a in body]})


def verdict(check, p):
    """None if `check` accepts p, else its error message."""
    try:
        check(p)
    except ir.ProgramError as e:
        return str(e)
    return None


def chain(p, seed, n, **kw):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        m = mutate(p, rng, **kw)
        out.append(m)
        p = m.program
    return out


# --- type_check agrees with ir.check_shapes --------------------------------------------------
@pytest.mark.parametrize("body, k", [
    ([("x", "interp", "g", "w", "g")], 3),
    ([("x", "clip_by_global_norm", "g", "w")], 2),
    # a 0-d value assigned to a slot is broadcast to w's shape, so it is no scalar afterwards
    ([("m", "mul", "lr", 0.5), ("x", "interp", "g", "w", "m")], 3),
])
def test_known_rejections(body, k):
    p = prog(body + [("update", "mul", "g", "lr")])
    msg = verdict(ir.check_shapes, p)
    assert msg is not None and f"argument {k} of" in msg
    assert verdict(type_check, p) == msg


def test_type_check_every_op_and_argument_kind():
    """Every op on every combination of full (g), per-tensor (norm(g)) and scalar (lr, a number)
    arguments, its result then used where a scalar is required: the same verdict and message."""
    kinds = {"full": "g", "per_tensor": "n", "scalar": "lr", "number": 0.5}
    rejected = 0
    for name, op in OPS.items():
        for args in itertools.product(kinds.values(), repeat=op.arity):
            p = prog([("n", "norm", "g"), ("x", name, *args), ("y", "interp", "g", "w", "x"),
                      ("update", "mul", "y", "lr")])
            expected = verdict(ir.check_shapes, p)
            assert verdict(type_check, p) == expected, ir.text(p)
            rejected += expected is not None
    assert rejected > 100  # both verdicts well represented


NUMBERS = st.sampled_from([0.5, -1.0, 2.0])


@st.composite
def programs(draw):
    """Programs valid under ir.parse by construction, over all ops (the two with scalar
    arguments drawn more often), that may or may not type-check."""
    state = draw(st.sampled_from([(), ("m",), ("m", "v")]))
    hparams = {h: 0.3 for h in draw(st.sampled_from([(), ("ha",), ("ha", "hb")]))}
    ops = st.one_of(st.sampled_from(list(OPS)),
                    st.sampled_from(["interp", "clip_by_global_norm", "norm", "global_norm"]))
    defined = [*ir.INPUTS, *state, *hparams]
    body = []
    n = draw(st.integers(1, 8))
    for i in range(n):
        op = draw(ops)
        args = [draw(st.one_of(st.sampled_from(defined), NUMBERS)) for _ in range(OPS[op].arity)]
        out = ir.OUTPUT if i == n - 1 else draw(st.sampled_from([*state, "a", "b", ir.OUTPUT]))
        body.append((out, op, *args))
        defined.append(out)
    return prog(body, state=state, hparams=hparams)


@settings(max_examples=300, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(programs())
def test_type_check_agrees_with_check_shapes(p):
    assert verdict(type_check, p) == verdict(ir.check_shapes, p)


# --- mutate ----------------------------------------------------------------------------------
def test_deterministic_given_the_rng():
    a = [(m.program.to_json(), m.kind, m.tries) for m in chain(ADAMW, 7, 30)]
    b = [(m.program.to_json(), m.kind, m.tries) for m in chain(ADAMW, 7, 30)]
    c = [(m.program.to_json(), m.kind, m.tries) for m in chain(ADAMW, 8, 30)]
    assert a == b
    assert a != c


def test_chain_of_children_valid_and_functionally_new(monkeypatch):
    def no_jax(*_):
        raise AssertionError("mutate must not call ir.check_shapes")

    with monkeypatch.context() as mp:
        mp.setattr(ir, "check_shapes", no_jax)
        ms = chain(ADAMW, 0, 300)
    parent = ADAMW
    for m in ms:
        child = m.program
        assert ir.parse(child.to_json()) == child
        ir.check_shapes(child)
        assert ir.program_hash(child) != ir.program_hash(parent)
        assert (child.name, child.state, child.default_lr) == \
            (parent.name, parent.state, parent.default_lr)
        assert m.tries >= len(m.steps) >= 1 and m.steps[-1] == m.kind
        assert m.invalid + m.redundant + 1 == m.tries and m.redundant >= len(m.steps) - 1
        assert len(child.body) <= ir.MAX_STATEMENTS
        parent = child
    assert set(Counter(m.kind for m in ms)) == set(mutation.KINDS)
    # dead-code-only mutations are kept as stepping stones (insert into a fresh name)
    assert any(len(m.steps) > 1 for m in ms)
    assert sum(m.invalid for m in ms) > 0  # ill-typed draws happen and are counted
    assert any(re.fullmatch(r"v[0-9]+", st.out) for m in ms for st in m.program.body)


def test_each_kind_changes_what_it_says():
    rng = np.random.default_rng(3)
    seen, inserted_numbers = set(), []
    for _ in range(200):
        m = mutate(ADAMW, rng)
        if len(m.steps) > 1:
            continue
        p, c = ADAMW.body, m.program.body
        seen.add(m.kind)
        if m.kind == "insert":
            assert len(c) == len(p) + 1 and m.program.hparams == ADAMW.hparams
            i = next((i for i, (a, b) in enumerate(zip(p, c)) if a != b), len(p))
            assert c[:i] + c[i + 1:] == p
            inserted_numbers += [a for a in c[i].args if not isinstance(a, str)]
        elif m.kind == "delete":
            assert len(c) == len(p) - 1 and all(s in p for s in c)
        elif m.kind == "modify_argument":  # one argument of one statement, op unchanged
            diff = [(a, b) for a, b in zip(p, c) if a != b]
            assert len(c) == len(p) and len(diff) == 1
            (a, b), = diff
            assert (a.out, a.op) == (b.out, b.op)
            assert sum(x != y for x, y in zip(a.args, b.args)) == 1
        else:
            assert c == p and m.program.hparams != ADAMW.hparams
    assert seen == set(mutation.KINDS)
    assert inserted_numbers and set(inserted_numbers) == {mutation.NEW_CONSTANT}


def test_fast_format_check_agrees_with_ir_parse():
    """mutate checks candidates with _well_formed and parses only the child: on raw candidates
    of every kind, from programs along a chain, both give the same verdict."""
    rng = np.random.default_rng(5)
    parents = [ADAMW, ir.load("lion")] + [m.program for m in chain(ADAMW, 0, 40)]
    verdicts = Counter()
    for p in parents:
        for kind in mutation._applicable(p, "evolve"):
            for _ in range(10):
                c = mutation.MUTATIONS[kind](p, rng)
                if c is None:
                    continue
                ok = verdict(ir.parse, c.to_json()) is None
                assert mutation._well_formed(c) == ok, (kind, ir.text(c))
                verdicts[ok] += 1
    assert verdicts[True] > 100 and verdicts[False] > 100
    too_long = ADAMW.replace(body=ADAMW.body[:1] * (ir.MAX_STATEMENTS + 1 - 8) + ADAMW.body)
    assert verdict(ir.parse, too_long.to_json()) and not mutation._well_formed(too_long)


def test_hparam_tune_changes_constants_only():
    parent = ADAMW
    for m in chain(ADAMW, 1, 100, mode="hparam_tune"):
        assert m.kind == "rescale_constant" and set(m.steps) == {"rescale_constant"}
        assert ir.structure_hash(m.program) == ir.structure_hash(ADAMW)
        assert [(s.out, s.op) for s in m.program.body] == [(s.out, s.op) for s in ADAMW.body]
        assert ir.program_hash(m.program) != ir.program_hash(parent)
        parent = m.program


def test_rescale_factor_is_two_to_a_standard_normal():
    p = prog([("m", "interp", "g", "m", 0.9), ("u", "mul", "m", 3.0), ("u", "mul", "u", "h"),
              ("update", "mul", "u", "lr")], hparams={"h": 0.25})
    rng = np.random.default_rng(0)
    exps = []
    for _ in range(2000):
        c = mutate(p, rng, mode="hparam_tune").program
        old = [0.25, 0.9, 3.0]
        new = [c.hparams["h"], c.body[0].args[2], c.body[1].args[1]]
        changed = [(a, b) for a, b in zip(old, new) if a != b]
        assert len(changed) == 1
        exps.append(np.log2(changed[0][1] / changed[0][0]))
    exps = np.array(exps)
    assert abs(exps.mean()) < 0.1 and 0.9 < exps.std() < 1.1
    assert 0.6 < np.mean(np.abs(exps) < 1) < 0.76  # normal: P(|z| < 1) = 0.683


def test_rescale_is_clamped():
    p = prog([("u", "mul", "g", 9e9), ("update", "mul", "u", "lr")])
    rng = np.random.default_rng(0)
    values = [mutate(p, rng, mode="hparam_tune").program.body[0].args[1] for _ in range(200)]
    assert max(values) == mutation.CLAMP and min(values) > 0


def test_no_insert_at_max_statements(monkeypatch):
    # 64 live statements: u = g; u = u + g (61 times); u = u * 0.5; update = u * lr
    body = [("u", "mul", "g", 1.0)] + [("u", "add", "u", "g")] * (ir.MAX_STATEMENTS - 3) + \
        [("u", "mul", "u", 0.5), ("update", "mul", "u", "lr")]
    p = prog(body)
    assert len(p.body) == ir.MAX_STATEMENTS
    insert = mutation.MUTATIONS["insert"]

    def guarded(q, rng):
        assert len(q.body) < ir.MAX_STATEMENTS, "insert drawn at MAX_STATEMENTS"
        return insert(q, rng)

    monkeypatch.setitem(mutation.MUTATIONS, "insert", guarded)
    rng = np.random.default_rng(0)
    kinds = Counter(mutate(p, rng).kind for _ in range(100))
    assert set(kinds) == {"delete", "modify_argument", "rescale_constant"}
    # the guard itself: it fires at the cap and lets an insert through below it
    with pytest.raises(AssertionError, match="insert drawn"):
        guarded(p, rng)
    assert len(guarded(p.replace(body=p.body[1:]), rng).body) == ir.MAX_STATEMENTS


def test_gives_up_naming_the_program():
    with pytest.raises(RuntimeError, match="signsgd"):  # no constant to rescale
        mutate(ir.load("signsgd"), np.random.default_rng(0), mode="hparam_tune")
    with pytest.raises(RuntimeError, match="lion"):
        mutate(ir.load("lion"), np.random.default_rng(0), max_trials=0)
    with pytest.raises(ValueError, match="mode"):
        mutate(ADAMW, np.random.default_rng(0), mode="random")


# --- random programs -------------------------------------------------------------------------
def test_random_program_valid_and_deterministic():
    ps = [random_program(np.random.default_rng(s)) for s in range(40)]
    for s, p in enumerate(ps):
        assert ir.parse(p.to_json()) == p
        ir.check_shapes(p)
        assert (p.name, p.state, p.hparams, p.default_lr) == ("random", ("m", "v"), {}, 1e-3)
        assert 4 <= len(p.body) <= 12 and p.body[-1].out == ir.OUTPUT
        assert random_program(np.random.default_rng(s)) == p
    assert len({json.dumps(p.to_json()) for p in ps}) == len(ps)
    assert len({ir.program_hash(p) for p in ps}) > 0.9 * len(ps)
    assert {len(p.body) for p in ps} >= {4, 12}  # both ends of the range are drawn
    p = random_program(np.random.default_rng(0), n_statements=(30, 30), name="r30")
    assert len(p.body) == 30 and p.name == "r30"
    with pytest.raises(ValueError):
        random_program(np.random.default_rng(0), n_statements=(1, ir.MAX_STATEMENTS + 1))
