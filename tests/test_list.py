"""`evoflow list`: the table and an algorithm's keys, from family declarations, with no JAX."""

from __future__ import annotations

import subprocess
import sys

from evoflow.algorithms import algorithms
from tests.conftest import REPO, cli_env, evoflow


def test_list_imports_no_jax_brax_or_torch():
    code = ("import sys\nfrom evoflow.cli import main\nsys.argv = ['evoflow', 'list']\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "heavy = [m for m in ('jax', 'jaxlib', 'brax', 'torch', 'flax', 'optax') "
            "if m in sys.modules]\nprint('HEAVY', heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=REPO, env=cli_env(), timeout=120, check=True).stdout
    assert out.strip().endswith("HEAVY []"), out[-300:]
    assert "dcg_me" in out


def test_table_has_every_algorithm_with_family_driver_description_envs_presets():
    out = evoflow("list").stdout
    head, *body = out.splitlines()
    assert head.split()[:4] == ["ALGORITHM", "FAMILY", "DRIVER", "PRESETS"]
    rows = {line.split()[0]: line for line in body if line and not line.startswith(" ")
            and line.split()[0] in algorithms()}
    assert set(rows) == set(algorithms())
    for name, spec in algorithms().items():
        assert spec.description.split()[0] in rows[name], name
        assert f" {spec.driver} " in rows[name]
    assert rows["dcg_me"].split()[1:3] == ["map_elites", "device"]
    me_block = out.split("\nme ")[1].split("\npga_me")[0]
    assert "ant=ant_omni" in me_block and "walker2d=walker2d_uni" in me_block  # aliases folded
    hopping = out.split("\nconsensus_hopping")[1].split("\nme ")[0]
    assert "rastrigin" in hopping and "digits" not in hopping  # hopping: functions only
    assert "tiny,default,gpu" in rows["cbo"]


def test_list_algo_shows_its_keys_with_type_default_and_help():
    out = evoflow("list", "dcg_me").stdout
    assert out.startswith("dcg_me (map_elites family, device driver): ")
    line = next(ln for ln in out.splitlines() if ln.split()[:1] == ["lengthscale"])
    assert "float" in line and "0.1" in line and "reward rescaling" in line
    assert "engine keys" in out and any(ln.split()[:1] == ["eval_chunk"]
                                        for ln in out.splitlines())
    with_env = evoflow("list", "dcg_me", "--env", "ant").stdout
    assert "ant_omni task keys" in with_env and "presets on ant_omni: tiny" in with_env


def test_list_bad_input_is_one_line():
    for args, needle in ((["list", "dcg_mee"], "unknown algorithm 'dcg_mee'"),
                         (["list", "--env", "ant"], "--env: only with ALGO"),
                         (["list", "cbo", "--env", "ant"], "--env ant: not an env of cbo")):
        proc = evoflow(*args, check=False)
        assert proc.returncode == 2, (args, proc.stderr)
        assert needle in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
