"""A family added by one registry line (`EVOFLOW_FAMILIES=tests.families.toy`) reaches `run`,
`resume`, `eval`, `list` and `viz` with no other file edited (its presets, budget key, run file,
eval option and view all come from its declaration)."""

from __future__ import annotations

import json

import pytest

from tests.conftest import evoflow, only_run


@pytest.fixture(autouse=True)
def toy_family(monkeypatch):
    monkeypatch.setenv("EVOFLOW_FAMILIES", "tests.families.toy")  # inherited by the CLI


def test_run_resume_eval_list_viz_reach_a_registered_family(tmp_path):
    evoflow("run", "toy_ea", "--env", "sphere", "--preset", "tiny", "--set", "iterations=40",
            "--set", "checkpoint_every=20", "--out", tmp_path, "--quiet")
    run = only_run(tmp_path)
    evoflow("resume", run, "--more", "20", "--quiet")
    summary = json.loads((run / "summary.json").read_text())
    assert summary["iterations"] == 60
    cands = [json.loads(line) for line in (run / "candidates.jsonl").read_text().splitlines()]
    assert [c["gen"] for c in cands] == list(range(60))

    path = evoflow("eval", run, "--gen", "59").stdout.strip()
    rec = json.loads(open(path).read())
    assert rec["gen"] == 59 and rec["fitness"] == pytest.approx(cands[59]["fitness"], rel=1e-6)
    bad = evoflow("eval", run, "--policy", "cell:0", check=False)
    assert bad.returncode == 2 and "--policy: not an eval option of toy runs" in bad.stderr

    table = evoflow("list").stdout
    assert any(line.split()[:3] == ["toy_ea", "toy", "python"] for line in table.splitlines())
    keys = evoflow("list", "toy_ea").stdout
    assert "offspring" in keys and "toy budget keys" in keys and "mutations" in keys

    pytest.importorskip("plotly")
    pytest.importorskip("matplotlib")
    evoflow("viz", run)
    page = (run / "report.html").read_text()
    assert 'data-view="toy_candidates"' in page and "60 generations" in page
