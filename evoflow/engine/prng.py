"""PRNG and version records (DESIGN.md "Determinism contract").

JAX's PRNG streams are not stable across versions (the `jax_threefry_partitionable` default changed
in 0.5), so every run records the implementation, the flags and a golden draw; anything rebuilt
from keys later can be checked against them.
"""

from __future__ import annotations

import platform
import sys

GOLDEN_KEY = 123
GOLDEN_SHAPE = (8,)


def apply_run_settings(cfg: dict) -> None:
    """The process-wide JAX settings that define a run's numbers (its PRNG stream and dtype),
    set by the run's process and by every worker process that evaluates for it."""
    import jax

    jax.config.update("jax_threefry_partitionable", bool(cfg["threefry_partitionable"]))
    if cfg.get("dtype", "float32") == "float64":
        jax.config.update("jax_enable_x64", True)


def golden_draw() -> list[float]:
    """First values of jax.random.normal(jax.random.key(123), (8,)), float32."""
    import jax

    return [float(v) for v in jax.random.normal(jax.random.key(GOLDEN_KEY), GOLDEN_SHAPE)]


def prng_record() -> dict:
    import jax

    return {
        "impl": str(jax.config.jax_default_prng_impl),
        "threefry_partitionable": bool(jax.config.jax_threefry_partitionable),
        "golden_normal_key123": golden_draw(),
    }


def versions_record() -> dict:
    import jax
    import jaxlib
    import numpy

    import evoflow

    return {
        "evoflow": evoflow.__version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "jax": jax.__version__,
        "jaxlib": jaxlib.__version__,
        "numpy": numpy.__version__,
        "backend": jax.default_backend(),
        "prng": prng_record(),
    }


def check_prng(recorded: dict) -> None:
    """Refuse to rebuild key-derived data under another PRNG setting, naming both settings."""
    from evoflow.errors import RunStateError

    now = prng_record()
    if recorded != now:
        raise RunStateError(
            f"PRNG setting differs from the run's: recorded impl={recorded.get('impl')} "
            f"threefry_partitionable={recorded.get('threefry_partitionable')}, now "
            f"impl={now['impl']} threefry_partitionable={now['threefry_partitionable']} "
            f"(golden draws {'match' if recorded.get('golden_normal_key123') == now['golden_normal_key123'] else 'differ'})")
