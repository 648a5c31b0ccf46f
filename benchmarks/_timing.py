"""Per-call timing shared by the benchmark scripts and their peer workers (imported as `_timing`;
standard library only at import, so a peer's venv can load it too)."""

from __future__ import annotations

import time


def timed(fn, calls: int) -> dict:
    """Wall and process CPU seconds (all threads) of `calls` calls, each ended by a block.

    `fn` is a thunk, or a pair (setup, f): setup() runs untimed and f(setup()) is timed.
    """
    import jax

    setup, fn = fn if isinstance(fn, tuple) else (None, fn)
    wall, cpu = [], []
    for _ in range(calls):
        arg = () if setup is None else (jax.block_until_ready(setup()),)
        t0, c0 = time.perf_counter(), time.process_time()
        jax.block_until_ready(fn(*arg))
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return {"wall": wall, "cpu": cpu}
