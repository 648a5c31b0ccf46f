"""Process-wide JAX setup shared by every command that computes (run, resume, eval, viz)."""

from __future__ import annotations

import os


def setup_jax() -> None:
    """Quiet logs, and a persistent compilation cache unless the user chose one."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import logging

    for name in ("jax._src.xla_bridge", "absl", "brax"):
        logging.getLogger(name).setLevel(logging.ERROR)
    import jax

    cache = os.environ.get("JAX_COMPILATION_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "evoflow", "jax")
    jax.config.update("jax_compilation_cache_dir", cache)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
