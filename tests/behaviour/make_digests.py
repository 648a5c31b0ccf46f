"""Write digests.json from another checkout's code (the commit before a refactor):

    python tests/behaviour/make_digests.py --tree PATH_TO_OLD_CHECKOUT [--output FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.behaviour.digest import processor, run_digests, versions  # noqa: E402

COMMON = ["--seed", "0", "--preset", "tiny", "--quiet"]
CASES = {
    "cbo_rastrigin": ["cbo", "--env", "rastrigin"],
    "cbo_rastrigin_numpy_workers2": ["cbo", "--env", "rastrigin",
                                     "--set", "evaluator=numpy", "--set", "workers=2"],
    "me_point_omni": ["me", "--env", "point_omni"],
    "dcg_me_point_omni": ["dcg_me", "--env", "point_omni"],
    "dcrl_me_point_omni": ["dcrl_me", "--env", "point_omni"],
}
# The editable install maps `evoflow.envs` to the installed checkout's envs/ whatever PYTHONPATH
# says; load the tree's own presets instead, then run the CLI as `python -m evoflow.cli` would.
BOOT = """import importlib.util, runpy, sys
spec = importlib.util.spec_from_file_location("evoflow.envs", "envs/__init__.py",
                                              submodule_search_locations=["envs"])
sys.modules["evoflow.envs"] = mod = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mod)
runpy.run_module("evoflow.cli", run_name="__main__", alter_sys=True)
"""


def run_case(tree: Path, args: list[str], out: Path) -> Path:
    env = {**os.environ, "PYTHONPATH": str(tree), "JAX_PLATFORMS": "cpu"}
    env.setdefault("JAX_COMPILATION_CACHE_DIR", os.path.expanduser("~/.cache/evoflow/jax"))
    env.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
    env.pop("XLA_FLAGS", None)
    subprocess.run([sys.executable, "-c", BOOT, "run", *args, "--out", str(out)],
                   cwd=tree, env=env, check=True)
    (run,) = [p for p in out.iterdir() if p.is_dir()]
    return run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--tree", type=Path, required=True, help="checkout whose code runs")
    ap.add_argument("--output", type=Path, default=Path(__file__).with_name("digests.json"))
    a = ap.parse_args()
    tree = a.tree.resolve()
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=tree, check=True,
                            capture_output=True, text=True).stdout.strip()
    cases = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, args in CASES.items():
            run = run_case(tree, [*args, *COMMON], Path(tmp) / name)
            cases[name] = {"args": [*args, *COMMON], "files": run_digests(run)}
    doc = {"commit": commit, "jax": versions(), "processor": processor(), "cases": cases}
    a.output.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
    print(f"wrote {a.output} ({len(cases)} cases, commit {commit[:12]})")


if __name__ == "__main__":
    main()
