"""Synthetic run directories in the documented format (docs/run-directory.md), for families
and shapes a tiny real run does not produce quickly: a 400-cell grid with rollouts, CVT archives
up to 10,000 cells, a 4-D (ant_uni-like) grid, an old run with gaps, an empty archive, seeds, and
a run of the test-only family `tests.viz.demo_family`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

EMITTERS = np.array(["init", "ga", "pg", "ai", "actor"])


def _write_json(path: Path, obj) -> None:
    path.write_text(json.dumps(obj, indent=2) + "\n")


def base_run(path: Path, algo: str, env: str, seed: int = 0, *, version: str = "0.1.0",
             finished: bool = True, n_lines: int = 20, metrics=("qd_score", "coverage",
                                                                  "max_fitness")) -> Path:
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    _write_json(path / "config.json", {"algo": algo, "env": env, "preset": "tiny", "seed": seed,
                                       "evoflow": version, "config": {"batch_size": 32}})
    _write_json(path / "versions.json", {"evoflow": version, "python": "3.11"})
    rng = np.random.default_rng(100 + seed)
    lines = []
    for k in range(1, n_lines + 1):
        rec = {"step": 10 * k, "evaluations": 320 * k}
        for j, m in enumerate(metrics):
            rec[m] = float((j + 1) * 10 * np.log1p(k) + rng.normal(0, 1 + seed))
        rec["time/wall_s"] = 0.1 * k
        lines.append(json.dumps(rec))
    (path / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    if finished:
        _write_json(path / "summary.json", {"algo": algo, "env": env, "seed": seed})
    return path


def _archive(fitness, descriptor, centroid, *, kind, grid_shape, low, high, names, units,
             rng, gaps=False) -> dict:
    c = fitness.shape[0]
    a = {"fitness": fitness.astype(np.float32), "descriptor": descriptor.astype(np.float32),
         "centroid": centroid.astype(np.float32), "kind": np.array(kind),
         "grid_shape": np.asarray(grid_shape, np.int64), "descriptor_low": np.asarray(low, float),
         "descriptor_high": np.asarray(high, float), "descriptor_names": np.array(names),
         "descriptor_units": np.array(units), "emitter_names": EMITTERS,
         "params/layer_0/kernel": rng.normal(size=(c, 3, 4)).astype(np.float32),
         "params/layer_0/bias": np.zeros((c, 4), np.float32)}
    if not gaps:
        empty = ~np.isfinite(fitness)
        a["emitter"] = np.where(empty, 0, rng.integers(0, 3, c)).astype(np.int32)
        a["generation"] = np.where(empty, 0, rng.integers(0, 100, c)).astype(np.int32)
        a["parent"] = np.where(empty, -1, rng.integers(-1, c, c)).astype(np.int32)
    return a


def _fill(rng, c, frac):
    f = rng.uniform(0, 100, c)
    f[rng.uniform(size=c) > frac] = -np.inf
    return f


def grid_run(path: Path, *, seed: int = 0, shape=(20, 20), frac: float = 0.7,
             rollouts: bool = True, empty: bool = False, algo: str = "me") -> Path:
    """A 2-D grid QD run (400 cells by default) with a smooth fitness landscape."""
    path = base_run(path, algo, "point_omni", seed)
    rng = np.random.default_rng(seed)
    n0, n1 = shape
    low, high = np.array([-1.0, -1.0]), np.array([1.0, 1.0])
    ii, jj = np.meshgrid(np.arange(n0), np.arange(n1), indexing="ij")  # C order: dim 1 fastest
    cen = np.column_stack([low[0] + (ii.ravel() + 0.5) * 2 / n0,
                           low[1] + (jj.ravel() + 0.5) * 2 / n1])
    f = 100 - 40 * (cen ** 2).sum(1) + rng.normal(0, 3, len(cen))
    f[rng.uniform(size=len(cen)) > frac] = -np.inf
    if empty:
        f[:] = -np.inf
    desc = np.where(np.isfinite(f)[:, None], cen + rng.uniform(-0.04, 0.04, cen.shape), 0)
    a = _archive(f, desc, cen, kind="grid", grid_shape=shape, low=low, high=high,
                 names=["x", "y"], units=["m", "m"], rng=rng)
    np.savez(path / "archive.npz", **a)
    if rollouts and not empty:
        top = np.argsort(np.nan_to_num(f, neginf=-1e9))[::-1][:16]
        t = np.linspace(0, 1, 50)[None, :, None]
        xy = desc[top][:, None, :] * t
        (path / "viz").mkdir(exist_ok=True)
        np.savez(path / "viz" / "rollouts.npz", cell=top.astype(np.int32),
                 xy=xy.astype(np.float32))
    return path


def cvt_run(path: Path, *, seed: int = 0, n_cells: int = 64, frac: float = 0.8,
            algo: str = "me") -> Path:
    path = base_run(path, algo, "point_omni", seed)
    rng = np.random.default_rng(seed)
    cen = np.random.default_rng(7).uniform(-1, 1, (n_cells, 2))
    f = 100 - 40 * (cen ** 2).sum(1)
    f[rng.uniform(size=n_cells) > frac] = -np.inf
    desc = np.where(np.isfinite(f)[:, None], cen, 0)
    a = _archive(f, desc, cen, kind="cvt", grid_shape=[], low=[-1, -1], high=[1, 1],
                 names=["x", "y"], units=["m", "m"], rng=rng)
    np.savez(path / "archive.npz", **a)
    return path


def nested_run(path: Path, *, seed: int = 0, shape=(4, 4, 3, 3)) -> Path:
    """A 4-D grid like ant_uni's foot-contact descriptor (nested-grid view)."""
    path = base_run(path, "me", "ant_uni", seed)
    rng = np.random.default_rng(seed)
    c = int(np.prod(shape))
    idx = np.stack(np.unravel_index(np.arange(c), shape), 1)
    cen = (idx + 0.5) / np.asarray(shape)
    f = 50 + 30 * cen[:, 0] - 20 * cen[:, 3] + 10 * cen[:, 1] * cen[:, 2]
    f[rng.uniform(size=c) > 0.75] = -np.inf
    desc = np.where(np.isfinite(f)[:, None], cen, 0)
    a = _archive(f, desc, cen, kind="grid", grid_shape=shape, low=[0] * 4, high=[1] * 4,
                 names=[f"foot {k}" for k in range(4)], units=[""] * 4, rng=rng)
    np.savez(path / "archive.npz", **a)
    return path


def cbo_run(path: Path, *, seed: int = 0, snapshots: int = 12, particles: bool = True,
            version: str = "0.1.0") -> Path:
    path = base_run(path, "cbo", "rastrigin", seed, version=version,
                    metrics=("best_gap", "success_rate"))
    if particles:
        rng = np.random.default_rng(seed)
        s, r, p, d = snapshots, 3, 20, 2
        shrink = np.linspace(3, 0.1, s)[:, None, None, None]
        pos = rng.normal(size=(s, r, p, d)) * shrink
        np.savez(path / "particles.npz", iteration=np.arange(1, s + 1) * 20,
                 positions=pos.astype(np.float32),
                 f=(pos ** 2).sum(-1).astype(np.float32),
                 consensus=pos.mean(2).astype(np.float32))
    return path


def old_qd_run(path: Path) -> Path:
    """An archive written before emitter/generation/parent were recorded."""
    path = base_run(path, "me", "point_omni", 0, version="0.0.9")
    rng = np.random.default_rng(0)
    cen = np.random.default_rng(7).uniform(-1, 1, (32, 2))
    f = _fill(rng, 32, 0.8)
    a = _archive(f, cen, cen, kind="cvt", grid_shape=[], low=[-1, -1], high=[1, 1],
                 names=["x", "y"], units=["m", "m"], rng=rng, gaps=True)
    np.savez(path / "archive.npz", **a)
    return path


def demo_run(path: Path, *, finished: bool = True, torn: bool = False) -> Path:
    """A run of the test-only family (`tests.viz.demo_family`): samples.jsonl (a torn last line
    when `torn`), best.json and scores.npz, all declared by the family."""
    path = base_run(path, "viz_demo", "demo_task", 0, finished=finished,
                    metrics=("best_score",))
    rng = np.random.default_rng(0)
    lines = [json.dumps({"sample": k, "score": float(rng.uniform(0, 1)), "tag": "ok"})
             for k in range(30)]
    text = "\n".join(lines) + "\n" + json.dumps({"no_key": 1}) + "\n"
    if torn:
        text += '{"sample": 30, "sco'
    (path / "samples.jsonl").write_text(text)
    _write_json(path / "best.json", {"sample": 7, "score": 0.99, "name": "<b>best</b>"})
    np.savez(path / "scores.npz", score=rng.uniform(0, 1, (4, 5)).astype(np.float32))
    return path
