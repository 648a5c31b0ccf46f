"""Digests of the files a run writes that must not change when behaviour does not."""

from __future__ import annotations

import hashlib
import json
from importlib.metadata import version
from pathlib import Path

import numpy as np

COMPARED = ("metrics.jsonl", "summary.json", "archive.npz", "particles.npz", "distilled_eval.npz",
            "artifacts/distilled.safetensors", "artifacts/distilled.json")
DROPPED = {"summary.json": {"devices"}}  # besides every "time/..." key


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _array(a: np.ndarray) -> str:
    return _sha(f"{a.dtype.str}{a.shape}".encode() + np.ascontiguousarray(a).tobytes())


def _canon(value) -> str:
    return _sha(json.dumps(value, sort_keys=True).encode())


def _untimed(record: dict, drop=frozenset()) -> dict:
    return {k: v for k, v in record.items() if not k.startswith("time/") and k not in drop}


def file_digests(path: Path, name: str) -> dict[str, str]:
    """Part -> sha256: per line (.jsonl), top-level key (.json), array (.npz, .safetensors)."""
    if name.endswith(".jsonl"):
        lines = path.read_text().splitlines()
        return {f"line {i + 1:03d}": _canon(_untimed(json.loads(s))) for i, s in enumerate(lines)}
    if name.endswith(".json"):
        return {k: _canon(v) for k, v in _untimed(json.loads(path.read_text()),
                                                   DROPPED.get(name, set())).items()}
    if name.endswith(".npz"):
        with np.load(path, allow_pickle=False) as z:
            return {k: _array(z[k]) for k in z.files}
    from safetensors.numpy import load_file
    return {k: _array(v) for k, v in load_file(path).items()}


def run_digests(run_dir: Path) -> dict[str, dict[str, str]]:
    """File (relative to run_dir) -> its part digests, for each COMPARED file the run wrote."""
    run_dir = Path(run_dir)
    return {f: file_digests(run_dir / f, f) for f in COMPARED if (run_dir / f).is_file()}


def processor() -> dict:
    """CPU model and the SIMD flags that select XLA's and NumPy's code paths."""
    cpuinfo = Path("/proc/cpuinfo")
    fields = dict(ln.split(":", 1) for ln in (cpuinfo.read_text() if cpuinfo.exists() else "")
                  .splitlines() if ":" in ln)  # the last CPU's fields; all CPUs are alike
    fields = {k.strip(): v.strip() for k, v in fields.items()}
    simd = set(fields.get("flags", "").split()) & {"avx2", "avx512f", "fma"}
    return {"cpu": fields.get("model name", ""), "simd": sorted(simd)}


def versions() -> dict:
    """Versions whose numerics the digests depend on."""
    return {lib: version(lib) for lib in ("jax", "jaxlib", "numpy")}
