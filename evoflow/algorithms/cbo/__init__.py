"""Consensus-based optimization: CBO (isotropic / anisotropic, mini-batch, noise floor, cooling),
CBO with memory and consensus hopping, M independent runs in one call (`cbo.py`)."""

from evoflow.algorithms.registry import Algorithm, Family, RunFile

_IMPL = "evoflow.algorithms.cbo.cbo"
_SCHEMA = "evoflow.algorithms.cbo.schema"

FAMILY = Family(
    name="cbo",
    description="consensus-based optimization over M independent runs",
    algorithms=(
        Algorithm("cbo", f"{_IMPL}:CBO", "consensus-based optimization (CBXpy's discretization)",
                  accepts=("function", "supervised"), schema=f"{_SCHEMA}:CBO"),
        Algorithm("cbo_memory", f"{_IMPL}:CBOMemory", "CBO with memory effects (best positions)",
                  accepts=("function", "supervised"), schema=f"{_SCHEMA}:CBO_MEMORY",
                  presets_of="cbo"),
        Algorithm("consensus_hopping", f"{_IMPL}:ConsensusHopping",
                  "consensus hopping: x <- consensus + sigma xi", accepts=("function",),
                  schema=f"{_SCHEMA}:CONSENSUS_HOPPING"),
    ),
    run_files=(
        RunFile("particles.npz", "npz", "every snapshot_every-th iteration's particles "
                "(subsampled) and consensus per run"),
    ),
    views=("particles",),
)
