"""One mesh for the run, built in one place, so that multi-host is configuration, not a rewrite.

Only axes of independent work are sharded (DESIGN.md "Determinism contract"): here the runs axis.
The runs axis is padded to a multiple of the device count with inactive runs.
"""

from __future__ import annotations

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P


def make_mesh(devices=None) -> Mesh:
    devices = list(devices if devices is not None else jax.devices())
    return Mesh(np.array(devices), ("runs",))


def padded_runs(n_runs: int, mesh: Mesh) -> int:
    n = mesh.devices.size
    return -(-n_runs // n) * n


def runs_sharding(mesh: Mesh, tree, sharded):
    """NamedShardings for `tree`: leaves where `sharded` holds are split on their first axis."""
    return jax.tree_util.tree_map(
        lambda leaf, s: NamedSharding(mesh, P("runs") if s else P()), tree, sharded)


def replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, P())
