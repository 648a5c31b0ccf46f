"""Program IR (issue 19 items 1-2): parsing refuses what breaks the format with one clean error,
hashes are blind to dead code and renaming, the fingerprint equates algebraic identities, and
abstract execution rejects ill-shaped programs before any training."""

from __future__ import annotations

import copy
import json

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from evoflow.algorithms.optsearch import ir
from evoflow.algorithms.optsearch.builtin import BUILTINS
from evoflow.algorithms.optsearch.ops import OPS

F = ir.FORMAT


def prog(body, state=("m",), hparams=None, name="prog_a"):
    return {"format": F, "name": name, "state": list(state), "hparams": hparams or {},
            "default_lr": 1e-3, "body": [{"out": o, "op": op, "args": list(a)}
                                         for o, op, *a in body]}


SIGN_M = [("m", "interp", "g", "m", 0.9), ("u", "sign", "m"), ("update", "mul", "u", "lr")]


@pytest.mark.parametrize("name", list(BUILTINS))
def test_builtins_parse_round_trip_and_type_check(name):
    p = ir.load(name)
    ir.check_shapes(p)
    again = ir.loads(p.dumps())
    assert again == p and again.hparams == p.hparams
    assert ir.program_hash(again) == ir.program_hash(p)


def test_lion_runs_program_1():
    import numpy as np

    p = ir.load("lion")
    rng = np.random.default_rng(0)
    w, m = rng.standard_normal(7), rng.standard_normal(7)
    g = rng.standard_normal(7)
    update, (m2,) = ir.run(p.replace(hparams={"beta1": 0.9, "beta2": 0.99,
                                               "weight_decay": 0.5}),
                           (w,), (g,), 0.01, ((m,),), np, np.float64)
    c = 0.9 * m + 0.1 * g
    np.testing.assert_allclose(update[0], 0.01 * (np.sign(c) + 0.5 * w), rtol=0, atol=1e-15)
    np.testing.assert_allclose(m2[0], 0.99 * m + 0.01 * g, rtol=0, atol=1e-15)


def test_program_hash_is_blind_to_dead_code_and_renaming():
    base = ir.parse(prog(SIGN_M))
    dead = ir.parse(prog([("junk", "exp", "w")] + SIGN_M[:2] + [("junk", "cosh", "u")]
                         + SIGN_M[2:]))
    renamed = ir.parse(prog([("mom", "interp", "g", "mom", 0.9), ("s", "sign", "mom"),
                             ("update", "mul", "s", "lr")], state=("mom",)))
    assert ir.program_hash(base) == ir.program_hash(dead) == ir.program_hash(renamed)
    assert ir.live_statements(dead) == [1, 2, 4]
    other_const = ir.parse(prog([("m", "interp", "g", "m", 0.8)] + SIGN_M[1:]))
    other_op = ir.parse(prog([("m", "interp", "g", "m", 0.9), ("u", "tanh", "m"),
                              ("update", "mul", "u", "lr")]))
    assert ir.program_hash(other_const) != ir.program_hash(base)
    assert ir.structure_hash(other_const) == ir.structure_hash(base)
    assert ir.structure_hash(other_op) != ir.structure_hash(base)
    # an hparam hashes by value: renaming it or inlining it is the same program
    named = ir.parse(prog([("m", "interp", "g", "m", "b")] + SIGN_M[1:], hparams={"b": 0.9}))
    assert ir.program_hash(named) == ir.program_hash(base)


def test_a_slot_overwritten_unread_is_dead():
    # v is written before it is read: its value never crosses a step, like a local variable
    with_slot = ir.parse(prog([("v", "square", "g"), ("update", "mul", "v", "lr"),
                               ("m", "exp", "w")], state=("v", "m")))
    local = ir.parse(prog([("t", "square", "g"), ("update", "mul", "t", "lr")], state=()))
    assert ir.live_statements(with_slot) == [0, 1]
    assert ir.program_hash(with_slot) == ir.program_hash(local)
    # m read by update: its end value matters (it is the next step's input)
    carried = ir.parse(prog([("u", "mul", "m", "lr"), ("update", "add", "u", "g"),
                             ("m", "exp", "w")], state=("m",)))
    assert ir.live_statements(carried) == [0, 1, 2]


def test_fingerprint_equates_identities_and_tells_momentum_apart():
    sign_m = ir.parse(prog(SIGN_M))
    ratio = ir.parse(prog([("m", "interp", "g", "m", 0.9), ("m2", "mul", "m", "m"),
                           ("r", "sqrt", "m2"), ("u", "div", "m", "r"),
                           ("update", "mul", "u", "lr")]))
    assert ir.program_hash(ratio) != ir.program_hash(sign_m)
    assert ir.fingerprint(ratio) == ir.fingerprint(sign_m)
    prints = {n: ir.fingerprint(ir.load(n)) for n in BUILTINS}
    assert len(set(prints.values())) == len(prints), prints  # lion is not signsgd
    lion = ir.load("lion")
    assert ir.fingerprint(lion.replace(hparams={**lion.hparams, "beta1": 0.5})) != prints["lion"]


@pytest.mark.parametrize("body,state,needle", [
    ([("c", "add", "g", 1.0), ("update", "interp", "g", "w", "c")], (),
     "statement 1 (update = interp(g, w, c)): argument 3 of interp must be a scalar"),
    ([("update", "interp", "g", "w", "g")], (), "argument 3 of interp must be a scalar"),
    ([("c", "clip_by_global_norm", "g", "w"), ("update", "mul", "c", "lr")], (),
     "argument 2 of clip_by_global_norm"),
])
def test_ill_shaped_programs_are_rejected_untrained(body, state, needle):
    p = ir.parse(prog(body, state=state))
    with pytest.raises(ir.ProgramError, match=None) as e:
        ir.check_shapes(p)
    assert needle in str(e.value)


def test_scalar_results_broadcast_where_allowed():
    p = ir.parse(prog([("n", "global_norm", "g"), ("c", "div", "g", "n"),
                       ("k", "norm", "w"), ("c", "mul", "c", "k"),
                       ("update", "mul", "c", "lr")], state=()))
    ir.check_shapes(p)
    # a per-tensor or global scalar as the update or a slot moves every weight of a tensor alike
    ir.check_shapes(ir.parse(prog([("update", "norm", "g")], state=())))
    ir.check_shapes(ir.parse(prog([("m", "global_norm", "g"), ("update", "mul", "m", "lr")])))


def _lion():
    return copy.deepcopy(BUILTINS["lion"])


def _set(path, value):
    def edit(obj):
        target = obj
        for k in path[:-1]:
            target = target[k]
        target[path[-1]] = value
        return obj
    return edit


BAD = {
    "not JSON": ("{", "not JSON"),
    "format": (json.dumps(_set(["format"], "evoflow-program/2")(_lion())), "format"),
    "unknown field": (json.dumps({**_lion(), "extra": 1}), "unknown field 'extra'"),
    "missing field": (json.dumps({k: v for k, v in _lion().items() if k != "body"}),
                      "missing field 'body'"),
    "unknown op": (json.dumps(_set(["body", 1, "op"], "__import__")(_lion())),
                   "unknown op \"__import__\""),
    "arity": (json.dumps(_set(["body", 1, "args"], ["c", "c"])(_lion())),
              "sign takes 1 arguments, got 2"),
    "read before assigned": (json.dumps(_set(["body", 0, "args"], ["g", "q", "beta1"])(_lion())),
                             "'q' is read before it is assigned"),
    "bad name": (json.dumps(_set(["body", 0, "out"],
                                 "c=__import__('os').system('touch PWNED')#")(_lion())),
                 "a name must match"),
    "builtin name": (json.dumps(_set(["body", 0, "out"], "exec")(_lion())), "builtin"),
    "Infinity": (json.dumps(_lion()).replace("0.99", "Infinity"), "Infinity: must be finite"),
    "NaN arg": (json.dumps(_set(["body", 0, "args"], ["g", "m", 1e400])(_lion())),
                "must be finite"),
    "string hparam": (json.dumps(_set(["hparams", "beta1"], "0.9")(_lion())),
                      "hparam beta1 \"0.9\": must be a number"),
    "bool number": (json.dumps(_set(["hparams", "beta1"], True)(_lion())), "must be a number"),
    "three slots": (json.dumps(_set(["state"], ["m", "v", "z"])(_lion())), "at most 2"),
    "too long": (json.dumps(_set(["body"], [{"out": "update", "op": "mul",
                                             "args": ["g", "lr"]}] * 65)(_lion())),
                 "65 statements; at most 64"),
    "no update": (json.dumps(_set(["body"], _lion()["body"][:-1])(_lion())),
                  "never assigns 'update'"),
    "writes an input": (json.dumps(_set(["body", 0, "out"], "g")(_lion())), "read-only"),
    "lr not positive": (json.dumps(_set(["default_lr"], 0)(_lion())), "must be > 0"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_programs_raise_one_clean_error(case):
    text, needle = BAD[case]
    with pytest.raises(ir.ProgramError) as e:
        ir.loads(text)
    msg = str(e.value)
    assert needle in msg and "\n" not in msg, msg


NAMES = st.sampled_from(["w", "g", "lr", "m", "v", "c", "u", "update", "beta1", "x1",
                         "__import__", "os", "exec", "1a", "", "a b", "self", "torch"])
ARGS = st.one_of(NAMES, st.floats(allow_nan=True, allow_infinity=True), st.integers(-3, 3),
                 st.booleans(), st.none(), st.text(max_size=5))
STATEMENTS = st.fixed_dictionaries({
    "out": NAMES, "op": st.one_of(st.sampled_from(list(OPS)), st.text(max_size=8)),
    "args": st.lists(ARGS, max_size=4)})
PROGRAMS = st.fixed_dictionaries({
    "format": st.sampled_from([F, F, F, "evoflow-program/0"]), "name": NAMES,
    "state": st.lists(st.sampled_from(["m", "v", "z", "lr", "9"]), max_size=3),
    "hparams": st.dictionaries(NAMES, ARGS, max_size=3),
    "default_lr": st.one_of(st.floats(1e-6, 1.0), ARGS),
    "body": st.lists(STATEMENTS, max_size=8)})


@st.composite
def valid_programs(draw):
    """Programs that follow the format: names defined before use, arities right."""
    state = draw(st.lists(st.sampled_from(["m", "v"]), max_size=2, unique=True))
    hparams = draw(st.dictionaries(st.sampled_from(["beta1", "beta2", "wd", "alpha"]),
                                   st.floats(-2, 2, allow_nan=False), max_size=4))
    defined = ["w", "g", "lr", *state, *hparams]
    body = []
    for k in range(draw(st.integers(1, 10))):
        op = draw(st.sampled_from(list(OPS)))
        args = [draw(st.one_of(st.sampled_from(defined), st.floats(-3, 3, allow_nan=False)))
                for _ in range(OPS[op].arity)]
        out = draw(st.sampled_from(["c", "d", "update", *state]))
        body.append({"out": out, "op": op, "args": args})
        defined.append(out)
    body.append({"out": "update", "op": "mul", "args": [draw(st.sampled_from(defined)), "lr"]})
    return {"format": F, "name": "prog_h", "state": state, "hparams": hparams,
            "default_lr": draw(st.floats(1e-6, 1.0)), "body": body}


def _check_any(obj, valid=False):
    import ast

    from evoflow.algorithms.optsearch import export

    try:
        p = ir.parse(obj)
    except ir.ProgramError as e:
        assert not valid, e
        assert str(e) and "\n" not in str(e)
        return
    assert ir.loads(p.dumps()) == p  # a valid program round-trips
    ir.program_hash(p), ir.fingerprint(p)
    try:
        ir.check_shapes(p)
    except ir.ProgramError as e:
        assert "\n" not in str(e)
        return
    for source in (export.torch_source(p), export.optax_source(p)):  # well-formed Python
        ast.parse(source)


@settings(max_examples=2000, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.one_of(PROGRAMS, valid_programs()))
def test_random_programs_load_or_raise_only_the_clean_error(obj):
    _check_any(obj)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(valid_programs())
def test_valid_programs_load_hash_and_export(obj):
    _check_any(obj, valid=True)


@pytest.mark.slow
@settings(max_examples=10_000, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.one_of(PROGRAMS, valid_programs()))
def test_random_programs_10k(obj):
    _check_any(obj)
