"""evoflow: evolutionary and gradient-free optimization on one vectorized JAX population engine.

`import evoflow` is cheap: brax, torch, ray, gymnasium, plotly and matplotlib load only when a
command needs them.
"""

__version__ = "0.1.0"

from evoflow.errors import EvoflowError, UsageError  # noqa: E402

__all__ = ["EvoflowError", "UsageError", "__version__"]
