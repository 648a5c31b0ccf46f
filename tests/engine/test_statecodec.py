"""Plain-data state (python and trainer drivers): JSON plus named arrays, exact round trips."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest

from evoflow.engine import checkpoint as ckpt
from evoflow.engine import statecodec


def roundtrip(obj, tmp_path):
    arrays, side, files = statecodec.to_checkpoint(obj)
    ckpt.save(tmp_path, 7, arrays, {"cursors": {}}, keep=2, side=side, files=files)
    side = json.loads(json.dumps(side))  # what side.json holds is plain JSON
    loaded, meta = ckpt.load(tmp_path / "7", statecodec.array_template)
    return statecodec.from_checkpoint(loaded, meta)


def test_json_and_arrays_round_trip_exactly(tmp_path):
    obj = {"genomes": [{"x": [0.1, -2.5e-300], "ops": ("add", 3)}], "best": float("-inf"),
           "nan": float("nan"), "ids": {0: "a", 7: [1, 2]}, "tag": {"__array__": "not one"},
           "hist": np.arange(5, dtype=np.float32), "empty": np.zeros((0, 3)), "n": np.int64(4)}
    back = roundtrip(obj, tmp_path)
    assert back["genomes"] == obj["genomes"] and back["ids"] == obj["ids"]
    assert back["tag"] == obj["tag"] and back["n"] == 4
    assert back["best"] == float("-inf") and np.isnan(back["nan"])
    assert back["hist"].dtype == np.float32 and back["hist"].tolist() == [0, 1, 2, 3, 4]
    assert back["empty"].shape == (0, 3)


def test_unplain_state_is_refused():
    with pytest.raises(TypeError, match="not plain data"):
        statecodec.encode({"f": object()})


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="needs the torch extra")
def test_torch_state_dicts_and_generator_states_round_trip(tmp_path):
    import torch

    model = torch.nn.Linear(3, 2)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(torch.ones(1, 3)).sum().backward()
    opt.step()
    g = torch.Generator().manual_seed(3)
    back = roundtrip({"model": model.state_dict(), "opt": opt.state_dict(),
                      "gen": g.get_state()}, tmp_path)
    assert back["gen"].dtype == torch.uint8
    g2 = torch.Generator()
    g2.set_state(back["gen"])
    assert torch.equal(torch.rand(4, generator=g), torch.rand(4, generator=g2))
    opt2 = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    opt2.load_state_dict(back["opt"])
    assert torch.equal(opt2.state_dict()["state"][0]["momentum_buffer"],
                       opt.state_dict()["state"][0]["momentum_buffer"])
    assert all(torch.equal(back["model"][k], v) for k, v in model.state_dict().items())
    assert not list(tmp_path.rglob("*.pkl"))
