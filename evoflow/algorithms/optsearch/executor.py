"""Train a small model with an optimizer program: the search's inner loop, in JAX.

A program runs on a register file: each value is one row of length D (every parameter of the
model, flattened), so a scalar is a constant row and a per-tensor scalar (`norm`) a row constant
within each tensor, which is what the IR's leaves mean. Reductions (`norm` and the global ops)
weight each element by 1 for a value shaped like w and by 1/size(tensor) for a per-tensor or
scalar value, so they count one leaf once as the IR does.

Two executors, one semantics:
- `interpret` (default): the program is data (op codes, register numbers, constants) and one
  `lax.switch` per statement picks the op, so one compile serves every program of a task size.
- `compile`: the op sequence is unrolled into the jitted function and constants stay traced, so
  one executable serves every program of one `structure_hash` (cached).

A candidate trains once per (lr, seed) pair, vmapped; a non-finite loss stops that pair early
(its loss is then inf).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from evoflow.algorithms.optsearch import ir
from evoflow.algorithms.optsearch.ops import OPS, apply

OP_CODES = {name: i for i, name in enumerate(OPS)}
N_REG = len(ir.INPUTS) + ir.MAX_SLOTS + ir.MAX_STATEMENTS  # w g lr | slots | statement outputs
MAX_CONST = 3 * ir.MAX_STATEMENTS  # numbers and hparams a program may read
FULL, LEAF = "full", "leaf"  # shaped like w, or one value per tensor (scalars included)


def value_kinds(prog: ir.Program) -> list[tuple[str, ...]]:
    """Per statement, the kind of each argument: FULL (shaped like w) or LEAF (0-d per leaf).

    This follows `ir.run`, where a 0-d value assigned to a slot stays 0-d until the step ends,
    not `mutation.type_check`, which follows `ir.check_shapes` (broadcast at assignment): the
    check is the stricter, so every program it passes runs the same way here and in `ir.run`."""
    kind = {"w": FULL, "g": FULL, "lr": LEAF, **{s: FULL for s in prog.state},
            **{h: LEAF for h in prog.hparams}}
    out = []
    for st in prog.body:
        ks = tuple(kind[a] if isinstance(a, str) else LEAF for a in st.args)
        out.append(ks)
        op = OPS[st.op]
        if op.tag == "global" and st.op != "clip_by_global_norm" or st.op == "norm":
            kind[st.out] = LEAF
        else:
            kind[st.out] = FULL if FULL in ks else LEAF
    return out


@dataclass(frozen=True)
class Encoded:
    """A program as arrays: `ops` (S,), `args` (S, 3) register or constant numbers, `is_const`
    (S, 3), `full` (S, 3) argument kinds, `outs` (S,), `consts` (C,), `n` statements, and the
    register of `update`. Padded to MAX_STATEMENTS / MAX_CONST so every program has one shape."""

    ops: np.ndarray
    args: np.ndarray
    is_const: np.ndarray
    full: np.ndarray
    outs: np.ndarray
    consts: np.ndarray
    n: int
    update_reg: int


def encode(prog: ir.Program) -> Encoded:
    live = ir.live_statements(prog)
    body = [prog.body[i] for i in live]
    kinds = value_kinds(prog)
    kinds = [kinds[i] for i in live]
    reg = {"w": 0, "g": 1, "lr": 2, **{s: 3 + k for k, s in enumerate(prog.state)}}
    consts: list[float] = []  # one entry per constant argument, in order: the layout then
    #                           depends on the structure only (the compile executor's cache key)
    S = ir.MAX_STATEMENTS
    ops = np.zeros(S, np.int32)
    args = np.zeros((S, 3), np.int32)
    is_const = np.zeros((S, 3), bool)
    full = np.zeros((S, 3), bool)
    outs = np.zeros(S, np.int32)
    next_reg = 3 + ir.MAX_SLOTS
    for i, (st, ks) in enumerate(zip(body, kinds)):
        ops[i] = OP_CODES[st.op]
        for j, a in enumerate(st.args):
            full[i, j] = ks[j] == FULL
            if isinstance(a, str) and a in reg:
                args[i, j] = reg[a]
            else:
                args[i, j], is_const[i, j] = len(consts), True
                consts.append(prog.hparams[a] if isinstance(a, str) else float(a))
        if st.out not in reg:
            reg[st.out], next_reg = next_reg, next_reg + 1
        outs[i] = reg[st.out]
    c = np.zeros(MAX_CONST, np.float64)
    c[:len(consts)] = consts
    return Encoded(ops, args, is_const, full, outs, c, len(body), reg[ir.OUTPUT])


# --- models: flat parameter vectors ------------------------------------------------------------
@dataclass(frozen=True)
class MLP:
    sizes: tuple[int, ...]

    @property
    def layout(self):
        from evoflow.nets import Layout

        return Layout(self.sizes, "relu", "none")

    @property
    def leaf_sizes(self) -> tuple[int, ...]:
        return tuple(s for a, b in zip(self.sizes[:-1], self.sizes[1:]) for s in (a * b, b))

    def init(self, key):
        return self.layout.init(key, 1)[0]

    def apply(self, flat, x):
        return self.layout.apply(flat, x)


@dataclass(frozen=True)
class CNN:
    """8x8 digits: conv3x3(1->c1) relu, conv3x3(c1->c2) relu (valid), mean pool, dense -> 10."""

    c1: int = 8
    c2: int = 16

    @property
    def shapes(self):
        return (("k1", (3, 3, 1, self.c1)), ("b1", (self.c1,)), ("k2", (3, 3, self.c1, self.c2)),
                ("b2", (self.c2,)), ("k3", (self.c2, 10)), ("b3", (10,)))

    @property
    def leaf_sizes(self) -> tuple[int, ...]:
        return tuple(math.prod(s) for _, s in self.shapes)

    def _split(self, flat):
        out, pos = {}, 0
        for name, shape in self.shapes:
            n = math.prod(shape)
            out[name], pos = flat[pos:pos + n].reshape(shape), pos + n
        return out

    def init(self, key):
        parts = []
        for k, (name, shape) in zip(jax.random.split(key, len(self.shapes)), self.shapes):
            if name.startswith("b"):
                parts.append(jnp.zeros(math.prod(shape)))
            else:
                fan_in = math.prod(shape[:-1])
                lim = math.sqrt(3.0 / fan_in)
                parts.append(jax.random.uniform(k, (math.prod(shape),), minval=-lim, maxval=lim))
        return jnp.concatenate(parts)

    def apply(self, flat, x):
        p = self._split(flat)
        h = x.reshape(-1, 8, 8, 1).astype(flat.dtype)
        dn = ("NHWC", "HWIO", "NHWC")
        h = jax.nn.relu(jax.lax.conv_general_dilated(h, p["k1"], (1, 1), "VALID",
                                                     dimension_numbers=dn) + p["b1"])
        h = jax.nn.relu(jax.lax.conv_general_dilated(h, p["k2"], (1, 1), "VALID",
                                                     dimension_numbers=dn) + p["b2"])
        return h.mean(axis=(1, 2)) @ p["k3"] + p["b3"]


def cross_entropy(z, y):
    """Mean cross-entropy through log_softmax, which shifts by the max first: logsumexp(z) - z_y
    on huge equal logits (a degenerate program drove them to -1e8) rounds to 0 in float32, a
    perfect loss the search would select."""
    return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(z, axis=-1), y[:, None], 1)[:, 0])


# --- one statement on rows ----------------------------------------------------------------------
def _branches(seg: jnp.ndarray, leaf_size: jnp.ndarray, n_leaves: int):
    """One function per op: (a0, a1, a2, full0, full1, full2) -> row (D,)."""

    def weight(is_full):  # count a per-leaf value once per leaf
        return jnp.where(is_full, 1.0, 1.0 / leaf_size)

    def total(v, wt):
        return jnp.sum(v * wt)

    def per_leaf_sum(v):
        return jax.ops.segment_sum(v, seg, n_leaves)[seg]

    def make(name):
        op = OPS[name]
        if name == "norm":
            return lambda a0, a1, a2, f0, f1, f2: jnp.sqrt(per_leaf_sum(a0 * a0 * weight(f0)))
        if name == "global_norm":
            return lambda a0, a1, a2, f0, f1, f2: jnp.broadcast_to(
                jnp.sqrt(total(a0 * a0, weight(f0))), a0.shape)
        if name == "dot":
            return lambda a0, a1, a2, f0, f1, f2: jnp.broadcast_to(
                total(a0 * a1, weight(f0 | f1)), a0.shape)
        if name == "cosine_sim":
            def cos(a0, a1, a2, f0, f1, f2):
                d = total(a0 * a1, weight(f0 | f1))
                na, nb = jnp.sqrt(total(a0 * a0, weight(f0))), jnp.sqrt(total(a1 * a1, weight(f1)))
                return jnp.broadcast_to(d / (na * nb + 1e-8), a0.shape)
            return cos
        if name == "clip_by_global_norm":
            def clip(a0, a1, a2, f0, f1, f2):
                n = jnp.sqrt(total(a0 * a0, weight(f0)))
                return a0 * jnp.minimum(1.0, a1 / (n + 1e-8))
            return clip
        arity = op.arity

        def elementwise(a0, a1, a2, f0, f1, f2):
            args = [(a0,), (a1,), (a2,)][:arity]
            out = apply(name, args, jnp, 1, a0.dtype)[0]
            return jnp.broadcast_to(out, a0.shape).astype(a0.dtype)
        return elementwise

    return [make(name) for name in OPS]


def _run_statements(enc, regs, consts, branches, static: bool):
    """The body on the register file `regs` (N_REG, D); returns the new file."""
    row = regs.shape[1:]

    if static:  # compile: the op sequence unrolled, constants traced
        for i in range(enc.n):
            args = [jnp.broadcast_to(consts[enc.args[i, j]], row) if enc.is_const[i, j]
                    else regs[enc.args[i, j]] for j in range(3)]
            out = branches[int(enc.ops[i])](*args, *(bool(f) for f in enc.full[i]))
            regs = regs.at[int(enc.outs[i])].set(out)
        return regs

    def body(i, regs):
        args = [jnp.where(enc["is_const"][i, j], jnp.broadcast_to(consts[enc["args"][i, j]], row),
                          regs[enc["args"][i, j]]) for j in range(3)]
        out = jax.lax.switch(enc["ops"][i], branches, *args, *enc["full"][i])
        return regs.at[enc["outs"][i]].set(out)

    return jax.lax.fori_loop(0, enc["n"], body, regs)


# --- the training loop --------------------------------------------------------------------------
@dataclass(frozen=True)
class Proxy:
    """A proxy task: model, steps, batch, warm-up fraction; data as numpy arrays."""

    model: object
    steps: int
    batch: int = 64
    warmup: float = 0.05


def schedule(t, steps: int, warmup: float):
    """Linear warm-up then cosine decay to 0: the value the program reads as `lr` (times lr)."""
    w = max(1, int(round(warmup * steps)))
    t = t.astype(jnp.float32)
    warm = jnp.minimum(1.0, (t + 1.0) / w)
    cos = 0.5 * (1.0 + jnp.cos(jnp.pi * jnp.clip((t - w) / max(1, steps - w), 0.0, 1.0)))
    return jnp.where(t < w, warm, cos)


def _adamw(consts):
    """optax.adamw without its learning rate (the schedule's value scales the update)."""
    import optax

    wd, b1, b2, eps = consts[0], consts[1], consts[2], consts[3]
    return optax.chain(optax.scale_by_adam(b1, b2, eps), optax.add_decayed_weights(wd))


def make_trainer(proxy: Proxy, data: dict, static_enc: Encoded | None = None,
                 rule: str = "program"):
    """A jitted `train(enc, lrs, seeds) -> (final eval loss (L, S), steps run (L, S))` over the
    grid lrs (L,) x seeds (S,). `data`: x_train, y_train, x_eval, y_eval (numpy). `rule`:
    "program" (an `Encoded` program; unrolled if `static_enc` is given) or "adamw" (an
    `adamw.AdamWSetting`: optax.adamw, its weight decay, betas and eps traced)."""
    model = proxy.model
    sizes = np.asarray(model.leaf_sizes)
    D = int(sizes.sum())
    seg = jnp.asarray(np.repeat(np.arange(len(sizes)), sizes))
    leaf_size = jnp.asarray(np.repeat(sizes, sizes).astype(np.float32))
    branches = _branches(seg, leaf_size, len(sizes))
    x_tr, y_tr = jnp.asarray(data["x_train"]), jnp.asarray(data["y_train"])
    x_ev, y_ev = jnp.asarray(data["x_eval"]), jnp.asarray(data["y_eval"])
    n_tr = x_tr.shape[0]
    loss_grad = jax.value_and_grad(lambda th, xb, yb: cross_entropy(model.apply(th, xb), yb))
    static = static_enc is not None
    adamw = rule == "adamw"

    def init_state(theta, consts):
        if adamw:
            return _adamw(consts).init(theta)
        return jnp.zeros((ir.MAX_SLOTS, D), jnp.float32)

    def update(enc, consts, theta, g, lr_t, state):
        """(the step's update, the new optimizer state): w <- w - update."""
        if adamw:
            u, state = _adamw(consts).update(g, state, theta)
            return lr_t * u, state
        regs = jnp.zeros((N_REG, D), jnp.float32)
        regs = regs.at[0].set(theta).at[1].set(g).at[2].set(jnp.full(D, lr_t))
        regs = regs.at[3:3 + ir.MAX_SLOTS].set(state)
        regs = _run_statements(static_enc if static else enc, regs, consts, branches, static)
        upd = regs[static_enc.update_reg] if static else regs[enc["update_reg"]]
        return upd, regs[3:3 + ir.MAX_SLOTS]

    def one(enc, consts, lr, seed):
        key = jax.random.key(seed)
        theta = model.init(jax.random.fold_in(key, 0)).astype(jnp.float32)

        def cond(c):
            return (c[3] < proxy.steps) & c[2]

        def body(c):
            theta, state, ok, t = c
            idx = jax.random.randint(jax.random.fold_in(jax.random.fold_in(key, 1), t),
                                     (proxy.batch,), 0, n_tr)
            loss, g = loss_grad(theta, x_tr[idx], y_tr[idx])
            lr_t = lr * schedule(t, proxy.steps, proxy.warmup)
            upd, state = update(enc, consts, theta, g, lr_t, state)
            new_theta = theta - upd
            ok = jnp.isfinite(loss) & jnp.all(jnp.isfinite(new_theta))
            return new_theta, state, ok, t + 1

        theta, _, ok, t = jax.lax.while_loop(
            cond, body, (theta, init_state(theta, consts), jnp.bool_(True), jnp.int32(0)))
        ev = cross_entropy(model.apply(theta, x_ev), y_ev)
        return jnp.where(ok & jnp.isfinite(ev), ev, jnp.inf), t

    grid = jax.vmap(jax.vmap(one, (None, None, None, 0)), (None, None, 0, None))

    @jax.jit
    def train(enc, consts, lrs, seeds):
        return grid(enc, consts.astype(jnp.float32), lrs.astype(jnp.float32), seeds)

    def call(enc, lrs, seeds):
        if adamw:
            arrays, consts = {}, np.array([enc.weight_decay, enc.b1, enc.b2, enc.eps])
        else:
            arrays = {} if static else {
                "ops": enc.ops, "args": enc.args, "is_const": enc.is_const, "full": enc.full,
                "outs": enc.outs, "n": np.int32(enc.n), "update_reg": np.int32(enc.update_reg)}
            consts = enc.consts
        loss, steps = train(arrays, consts, np.asarray(lrs, np.float32),
                            np.asarray(seeds, np.uint32))
        return np.asarray(loss, np.float64), np.asarray(steps)

    return call


class Executor:
    """Trains programs on one proxy task; `kind` interpret | compile (cached by structure)."""

    def __init__(self, proxy: Proxy, data: dict, kind: str = "interpret"):
        if kind not in ("interpret", "compile"):
            raise ValueError(f"executor {kind!r}: interpret or compile")
        self.proxy, self.data, self.kind = proxy, data, kind
        self._interpret = None
        self._compiled: dict[str, object] = {}
        self.compile_count = 0
        self.compile_s = 0.0

    def train(self, prog, lrs, seeds) -> tuple[np.ndarray, np.ndarray]:
        """Eval losses (L, S) (inf where training diverged) and steps run (L, S) of a program
        (`ir.Program`) or an AdamW setting (`adamw.AdamWSetting`, one compile for all)."""
        import time

        from evoflow.algorithms.optsearch.adamw import AdamWSetting

        if isinstance(prog, AdamWSetting):
            enc, key, rule = prog, "adamw", "adamw"
        else:
            enc, rule = encode(prog), "program"
            key = None if self.kind == "interpret" else ir.structure_hash(prog)
        fn = self._interpret if key is None else self._compiled.get(key)
        if fn is None:
            t0 = time.perf_counter()
            static = enc if rule == "program" and key is not None else None
            fn = make_trainer(self.proxy, self.data, static, rule)
            out = fn(enc, lrs, seeds)  # compiles
            self.compile_s += time.perf_counter() - t0
            self.compile_count += 1
            if key is None:
                self._interpret = fn
            else:
                self._compiled[key] = fn
            return out
        return fn(enc, lrs, seeds)
