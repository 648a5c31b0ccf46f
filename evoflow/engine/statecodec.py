"""Plain-data codec for python-driver and trainer state: JSON plus named arrays, never pickles.

`encode(obj)` walks dicts, lists, tuples and scalars; numpy arrays become named entries of an
npz, torch tensors named entries of a safetensors file (dtype kept: a torch generator's state is
a uint8 tensor), non-finite floats and non-string dict keys (a torch optimizer's int param ids)
are tagged so that `decode` rebuilds the object exactly.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np


_TAGS = ("__array__", "__tensor__", "__tuple__", "__items__", "__float__", "__dict__")


def _is_tensor(x) -> bool:
    return type(x).__module__.startswith("torch") and hasattr(x, "detach")


def encode(obj: Any) -> tuple[Any, dict[str, np.ndarray], dict[str, Any]]:
    arrays: dict[str, np.ndarray] = {}
    tensors: dict[str, Any] = {}

    def enc(x):
        if isinstance(x, dict):
            if all(isinstance(k, str) for k in x):
                body = {k: enc(v) for k, v in x.items()}
                return {"__dict__": body} if len(x) == 1 and next(iter(x)) in _TAGS else body
            return {"__items__": [[enc(k), enc(v)] for k, v in x.items()]}
        if isinstance(x, tuple):
            return {"__tuple__": [enc(v) for v in x]}
        if isinstance(x, list):
            return [enc(v) for v in x]
        if isinstance(x, np.ndarray):
            name = f"a{len(arrays)}"
            arrays[name] = x
            return {"__array__": name}
        if _is_tensor(x):
            name = f"t{len(tensors)}"
            tensors[name] = x.detach().cpu().clone().contiguous()
            return {"__tensor__": name}
        if isinstance(x, np.generic):
            x = x.item()
        if isinstance(x, float) and not math.isfinite(x):
            return {"__float__": repr(x)}
        if x is None or isinstance(x, (bool, int, float, str)):
            return x
        raise TypeError(f"state leaf of type {type(x).__name__} is not plain data "
                        f"(dicts, lists, tuples, numbers, strings, numpy arrays, torch tensors)")

    return enc(obj), arrays, tensors


def decode(doc: Any, arrays: dict[str, np.ndarray], tensors: dict[str, Any]) -> Any:
    def dec(x):
        if isinstance(x, list):
            return [dec(v) for v in x]
        if isinstance(x, dict):
            if len(x) == 1:
                (k, v), = x.items()
                if k == "__array__":
                    return arrays[v]
                if k == "__tensor__":
                    return tensors[v]
                if k == "__tuple__":
                    return tuple(dec(e) for e in v)
                if k == "__items__":
                    return {dec(a): dec(b) for a, b in v}
                if k == "__float__":
                    return float(v)
                if k == "__dict__":
                    return {kk: dec(vv) for kk, vv in v.items()}
            return {k: dec(v) for k, v in x.items()}
        return x

    return dec(doc)


def to_checkpoint(obj: Any) -> tuple[dict, dict, dict[str, bytes]]:
    """(arrays tree for state.npz, side JSON, extra files) of a plain-data state."""
    doc, arrays, tensors = encode(obj)
    side = {"state": doc, "arrays": {k: [str(v.dtype), list(v.shape)] for k, v in arrays.items()}}
    files = {}
    if tensors:
        from safetensors.torch import save

        files["state.safetensors"] = save(tensors)
    return arrays, side, files


def array_template(side: dict) -> dict:
    return {k: np.zeros(shape, dtype) for k, (dtype, shape) in side["arrays"].items()}


def from_checkpoint(arrays: dict, meta: dict) -> Any:
    side, files = meta["_side"], meta["_files"]
    tensors = {}
    if "state.safetensors" in files:
        from safetensors.torch import load

        tensors = load(files["state.safetensors"])
    return decode(side["state"], {k: np.asarray(v) for k, v in arrays.items()}, tensors)
