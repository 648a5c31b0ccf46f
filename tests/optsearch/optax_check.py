"""Run in a subprocess with JAX_ENABLE_X64=1 (x64 is process-wide): the optax exports against
optax.lion and against the IR's reference for every op. Prints one JSON line of max errors."""

from __future__ import annotations

import importlib.util
import json
import sys
import tempfile
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax

from evoflow.algorithms.optsearch import export, ir

sys.path.insert(0, str(Path(__file__).parent))
import programs  # noqa: E402


def load(prog: ir.Program, tmp: Path):
    path = tmp / f"{prog.name}_optax.py"
    path.write_text(export.optax_source(prog))
    spec = importlib.util.spec_from_file_location(path.stem, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return getattr(mod, prog.name)


def run_tx(tx, params, grads_fn, steps):
    state = tx.init(params)
    step = jax.jit(lambda p, s, g: tx.update(g, s, p))
    for t in range(steps):
        updates, state = step(params, state, grads_fn(params, t))
        params = optax.apply_updates(params, updates)
    return params


def main() -> None:
    assert jax.config.jax_enable_x64
    out = {"lion": [], "ops": {}}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        lion = load(ir.load("lion"), tmp)
        rng = np.random.default_rng(0)
        params = {"w1": jnp.asarray(rng.standard_normal((20, 16))),
                  "b": jnp.asarray(rng.standard_normal(16)),
                  "w2": jnp.asarray(rng.standard_normal((16, 3)))}
        x = jnp.asarray(rng.standard_normal((64, 20)))
        y = jnp.asarray(rng.integers(0, 3, 64))

        def loss(p):
            h = jnp.tanh(x @ p["w1"] + p["b"])
            return optax.softmax_cross_entropy_with_integer_labels(h @ p["w2"], y).mean()

        grad = jax.grad(loss)
        for lr, wd, (b1, b2) in ((1e-4, 10.0, (0.9, 0.99)), (1e-3, 0.1, (0.9, 0.99)),
                                 (3e-3, 1.0, (0.95, 0.98))):
            ours = run_tx(lion(learning_rate=lr, b1=b1, b2=b2, weight_decay=wd), params,
                          lambda p, t: grad(p), 100)
            ref = run_tx(optax.lion(learning_rate=lr, b1=b1, b2=b2, weight_decay=wd), params,
                         lambda p, t: grad(p), 100)
            out["lion"].append(max(float(jnp.max(jnp.abs(ours[k] - ref[k]))) for k in ref))
        w, gs = programs.problem()
        for key, prog in programs.op_programs().items():
            tx = load(prog, tmp)()
            leaves = [jnp.asarray(a) for a in w]
            got = run_tx(tx, leaves, lambda p, t: [jnp.asarray(a) for a in gs[t]], len(gs))
            want = programs.reference(prog, w, gs)
            out["ops"][key] = max(float(np.max(np.abs(np.asarray(a) - b) / (1 + np.abs(b))))
                                  for a, b in zip(got, want))
    print("RESULT " + json.dumps(out))


if __name__ == "__main__":
    main()
