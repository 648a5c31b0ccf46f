"""Behaviour unchanged: tiny runs write the same files as the code at digests.json's commit did."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.behaviour.digest import processor, run_digests, versions
from tests.conftest import evoflow, only_run

DIGESTS = json.loads(Path(__file__).with_name("digests.json").read_text())
COMMIT = DIGESTS["commit"]
REGENERATE = (f"git worktree add --detach /tmp/evoflow-{COMMIT[:7]} {COMMIT[:7]} && "
              f"python tests/behaviour/make_digests.py --tree /tmp/evoflow-{COMMIT[:7]} "
              f"(then commit tests/behaviour/digests.json)")
HERE = {"jax": versions(), "processor": processor()}
MADE_ON = {k: DIGESTS[k] for k in HERE}

pytestmark = pytest.mark.skipif(
    HERE != MADE_ON, reason=f"digests were made on {MADE_ON}, this is {HERE}; "
                            f"results are only bitwise stable on the same CPU and versions. "
                            f"Regenerate here with: {REGENERATE}")


@pytest.mark.parametrize("case", sorted(DIGESTS["cases"]))
def test_run_files_match_digests(case, tmp_path):
    want = DIGESTS["cases"][case]
    evoflow("run", *want["args"], "--out", tmp_path)
    got = run_digests(only_run(tmp_path))
    where = f"{case} (`evoflow run {' '.join(want['args'])}`) vs commit {COMMIT[:12]}"
    assert sorted(got) == sorted(want["files"]), (
        f"{where}: files written {sorted(got)}, expected {sorted(want['files'])}")
    for name, parts in want["files"].items():
        mine = got[name]
        differ = sorted(p for p in parts.keys() | mine.keys() if parts.get(p) != mine.get(p))
        assert not differ, f"{where}: {name} differs in {differ[:8]}" + (
            f" and {len(differ) - 8} more" if len(differ) > 8 else "")
