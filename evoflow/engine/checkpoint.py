"""Checkpoints: `checkpoints/<step>/{state.npz, meta.json[, side.json, <files>]}`, atomic, the
newest N kept.

A checkpoint is written into a temp directory and renamed into place, so `checkpoints/<step>/`
either exists whole or not at all. `meta.json` carries the SHA-256 of `state.npz` (and of each
extra file), the resume cursors of every append-only file and the engine's counters. Arrays are
stored by their pytree key path; loading checks every path, shape and dtype against a template
(a freshly built state, or a function of the checkpoint's side state for drivers whose arrays are
named in it), so a checkpoint of another config cannot be half-read.

Side state (`side.json`: JSON, e.g. a python-driver algorithm's state around its arrays) and
extra files (bytes, e.g. a trainer's `state.safetensors`) are optional; never pickles.
"""

from __future__ import annotations

import hashlib
import io
import os
import secrets
import shutil
from pathlib import Path
from typing import Any

import jax
import numpy as np

from evoflow.engine.rundir import atomic_write_json, load_npz, read_json
from evoflow.errors import RunStateError


def flatten(tree: Any) -> dict[str, np.ndarray]:
    leaves, _ = jax.tree_util.tree_flatten_with_path(tree)
    return {jax.tree_util.keystr(path): np.asarray(leaf) for path, leaf in leaves}


def unflatten(template: Any, arrays: dict[str, np.ndarray], where: str) -> Any:
    leaves, treedef = jax.tree_util.tree_flatten_with_path(template)
    out = []
    for path, leaf in leaves:
        name = jax.tree_util.keystr(path)
        if name not in arrays:
            raise RunStateError(f"{where}: no array {name!r}; it was written by another config")
        a = arrays[name]
        want = np.asarray(leaf)
        if a.shape != want.shape or a.dtype != want.dtype:
            raise RunStateError(f"{where}: {name} is {a.dtype}{list(a.shape)}, expected "
                                f"{want.dtype}{list(want.shape)}")
        out.append(a)
    return jax.tree_util.tree_unflatten(treedef, out)


def checkpoint_steps(ckpt_dir: Path) -> list[int]:
    if not ckpt_dir.is_dir():
        return []
    return sorted(int(p.name) for p in ckpt_dir.iterdir() if p.is_dir() and p.name.isdigit())


SIDE = "side.json"


def _write(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def save(ckpt_dir: Path, step: int, tree: Any, meta: dict, keep: int, side: Any = None,
         files: dict[str, bytes] | None = None) -> Path:
    ckpt_dir.mkdir(exist_ok=True)
    buf = io.BytesIO()
    np.savez(buf, **flatten(tree))
    data = buf.getvalue()
    tmp = ckpt_dir / f".tmp-{step}-{secrets.token_hex(3)}"
    tmp.mkdir()
    _write(tmp / "state.npz", data)
    extra = dict(files or {})
    if side is not None:
        import json

        from evoflow.engine.rundir import to_json

        extra[SIDE] = (json.dumps(to_json(side), allow_nan=False) + "\n").encode()
    for name, content in extra.items():
        _write(tmp / name, content)
    sums = {"state_sha256": hashlib.sha256(data).hexdigest()}
    if extra:
        sums["files_sha256"] = {n: hashlib.sha256(c).hexdigest() for n, c in extra.items()}
    atomic_write_json(tmp / "meta.json", {**meta, "step": step, **sums})
    final = ckpt_dir / str(step)
    if final.exists():  # the same step checkpointed again (e.g. the final one): replace it
        shutil.rmtree(final)
    os.rename(tmp, final)
    for old in checkpoint_steps(ckpt_dir)[:-keep]:
        shutil.rmtree(ckpt_dir / str(old), ignore_errors=True)
    for stale in ckpt_dir.glob(".tmp-*"):  # leftovers of a killed writer
        shutil.rmtree(stale, ignore_errors=True)
    return final


def load(path: Path, template: Any) -> tuple[Any, dict]:
    """(state, meta); meta["_side"] is the side state (or None), meta["_files"] the extra files'
    bytes. `template` is a state, or a function side -> state."""
    meta = read_json(path / "meta.json")
    raw = (path / "state.npz").read_bytes() if (path / "state.npz").exists() else b""
    if hashlib.sha256(raw).hexdigest() != meta.get("state_sha256"):
        raise RunStateError(f"{path}/state.npz: truncated or corrupt (checksum mismatch)")
    files = {}
    for name, digest in meta.get("files_sha256", {}).items():
        content = (path / name).read_bytes() if (path / name).exists() else b""
        if hashlib.sha256(content).hexdigest() != digest:
            raise RunStateError(f"{path}/{name}: truncated or corrupt (checksum mismatch)")
        files[name] = content
    side = None
    if SIDE in files:
        import json

        side = json.loads(files.pop(SIDE))
    meta["_side"], meta["_files"] = side, files
    if callable(template):
        template = template(side)
    arrays = load_npz(path / "state.npz")
    return unflatten(template, arrays, str(path)), meta


def load_latest(ckpt_dir: Path, template: Any, report=print) -> tuple[Any, dict]:
    """The newest readable checkpoint; each unreadable newer one is reported and skipped."""
    steps = checkpoint_steps(ckpt_dir)
    for step in reversed(steps):
        try:
            return load(ckpt_dir / str(step), template)
        except RunStateError as e:
            report(f"skipping checkpoint {step}: {e}")
    raise RunStateError(f"{ckpt_dir}: no readable checkpoint"
                        + ("" if steps else " (none written yet)"))
