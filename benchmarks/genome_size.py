"""Seed-chain genome size against the parameters it encodes (issue 20, acceptance 5).

    python benchmarks/genome_size.py

For a network of Uber's Atari size (4,052,658 float32 parameters, 16.2 MB) it prints
bytes(params) / bytes(genome) at G = 0 ... 1000 mutations. For every G <= 150 it also builds the
parameters by G real mutations (each child from its cached parent with one draw, as the GA does),
encodes the chain, and checks that decoding and rebuilding it gives the same parameters bit for
bit. The init here is a plain scaled normal: the ratio depends on D only, and the Atari network
itself lands with the gym tasks.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _machine import cpu_model  # noqa: E402

ATARI_CNN_PARAMS = 4_052_658
GENERATIONS = (0, 10, 50, 100, 150, 200, 500, 1000)
CHECKED = 150  # genomes up to this length are rebuilt and compared bitwise
SIGMA = 0.002  # Uber's Atari mutation power


def main() -> None:
    import jax
    import jax.numpy as jnp
    import numpy as np

    from evoflow.algorithms.ga import genome as gn

    jax.config.update("jax_threefry_partitionable", False)  # evoflow runs' default
    dim = ATARI_CNN_PARAMS
    spec = {"net": "atari_cnn_size", "params": dim, "init": "normal*0.05"}

    def init(key):
        return 0.05 * jax.random.normal(key, (dim,), jnp.float32)

    rng = np.random.default_rng(0)
    chain = gn.Chain(int(rng.integers(2**32)))
    theta = gn.materialize(chain, init, dim)[None]
    built = {0: (chain, theta[0])}
    t0 = time.perf_counter()
    for g in range(1, CHECKED + 1):  # real mutations from the cached parent
        seed = np.uint32(rng.integers(2**32))
        theta = gn.children(theta, jnp.zeros(1, jnp.int32), jnp.asarray([seed]),
                            jnp.asarray([SIGMA], jnp.float32))
        chain = chain.child(seed, SIGMA)
        if g in GENERATIONS:
            built[g] = (chain, theta[0])
    build_s = time.perf_counter() - t0

    print(f"{cpu_model()}; D = {dim:,} float32 parameters ({4 * dim / 1e6:.1f} MB)\n")
    print("| G | genome bytes | params / genome | rebuilt bitwise |")
    print("|---|---|---|---|")
    t0 = time.perf_counter()
    for g in GENERATIONS:
        if g in built:
            c, th = built[g]
            data = gn.encode(c, th, spec)
            _, again = gn.rebuild(data, init, spec)
            same = "yes" if np.array_equal(np.asarray(again), np.asarray(th)) else "NO"
        else:
            c = gn.Chain(1, tuple(range(g)), (SIGMA,) * g)
            data = gn.encode(c, np.zeros(dim, np.float32), spec)
            same = "(not built)"
        print(f"| {g:,} | {len(data):,} | {4 * dim / len(data):,.0f} | {same} |")
    print(f"\nbuilding {CHECKED} mutations from cached parents: {build_s:.1f} s; rebuilding the "
          f"checked chains: {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
