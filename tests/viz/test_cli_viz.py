"""`evoflow viz` as a user runs it: files written, warnings, gaps, and every bad input."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import cli_env, evoflow
from tests.viz import fixtures as fx

pytest.importorskip("plotly")
pytest.importorskip("matplotlib")

def sections(report: Path) -> list[str]:
    return re.findall(r'<section data-view="([a-z_]+)"', report.read_text())


def test_qd_fixture_run_files(tmp_path):
    run = fx.grid_run(tmp_path / "g")
    before = {p.name for p in run.iterdir()}
    evoflow("viz", run)
    after = {p.name for p in run.iterdir()}
    assert after - before == {"report.html", "figures", "archive.csv"}  # viz writes only these
    assert {p.name for p in (run / "figures").iterdir()} == {"archive.png", "curves.png"}
    assert not list(run.rglob(".*.tmp"))  # atomic writes leave no temp files
    assert set(sections(run / "report.html")) == {"archive", "rollouts", "curves"}
    a = np.load(run / "archive.npz")
    rows = list(csv.DictReader((run / "archive.csv").open()))
    assert list(rows[0]) == ["cell", "fitness", "descriptor_0", "descriptor_1", "emitter",
                             "generation", "parent", "policy"]
    cells = np.flatnonzero(np.isfinite(a["fitness"]))
    assert [int(r["cell"]) for r in rows] == cells.tolist()
    for r in rows:
        c = int(r["cell"])
        assert np.float32(float(r["fitness"])) == a["fitness"][c]
        assert float(r["descriptor_1"]) == float(a["descriptor"][c, 1])
        assert r["emitter"] == str(a["emitter_names"][a["emitter"][c]])
        assert int(r["parent"]) == a["parent"][c] and r["policy"] == f"cell:{c}"
    evoflow("viz", run, "--no-rollouts")  # its own report is rewritten
    assert "rollouts" not in sections(run / "report.html")


def test_old_runs_one_line_per_gap_and_page_note(tmp_path):
    cbo = fx.cbo_run(tmp_path / "old_cbo", particles=False, version="0.0.9")
    qd = fx.old_qd_run(tmp_path / "old_qd")
    p = evoflow("viz", cbo)
    assert p.stderr.splitlines() == ["warning: no particles.npz: showing curves only"]
    assert "not recorded by this run (evoflow 0.0.9)" in (cbo / "report.html").read_text()
    assert "particles" not in sections(cbo / "report.html")
    p = evoflow("viz", qd)
    lines = p.stderr.splitlines()
    assert lines == [f"warning: archive.npz has no '{k}': shown as not recorded"
                     for k in ("emitter", "generation", "parent")] + [
        "warning: no viz/rollouts.npz: rollouts not computed (config.json records no "
        "policy_hidden); other cells show `evoflow eval RUN --policy cell:N`"]
    assert not (qd / "viz").exists()
    page = (qd / "report.html").read_text()
    assert page.count("not recorded by this run (evoflow 0.0.9)") == 3
    rows = list(csv.DictReader((qd / "archive.csv").open()))
    assert rows and rows[0]["emitter"] == "" and rows[0]["generation"] == ""


def test_warnings_exit_0(tmp_path):
    run = fx.grid_run(tmp_path / "g", rollouts=False)
    lines = (run / "metrics.jsonl").read_text().splitlines()
    lines[3] = '{"step": 40, "evalu'
    (run / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    p = evoflow("viz", run)
    assert f"{run / 'metrics.jsonl'}: line 4 is not a metrics record; skipped, rest shown" \
        in p.stderr
    assert "curves" in sections(run / "report.html")
    (run / "archive.npz").write_bytes(b"PK\x03\x04 truncated")
    p = evoflow("viz", run)
    assert "archive.npz: unreadable" in p.stderr and "view skipped" in p.stderr
    assert "archive" not in sections(run / "report.html")
    (run / "archive.npz").unlink()
    p = evoflow("viz", run)
    assert "warning: no archive.npz: showing curves only" in p.stderr


def test_live_run_half_last_line_ignored(tmp_path):
    from evoflow.viz import load_run

    run = fx.grid_run(tmp_path / "g", rollouts=False)
    (run / "summary.json").unlink()
    n = len((run / "metrics.jsonl").read_text().splitlines())
    with open(run / "metrics.jsonl", "a") as f:
        f.write('{"step": 999, "evaluations": 99')
    r = load_run(run)
    assert r.live and len(r.metrics) == n and r.warnings == []
    (run / "summary.json").write_text("{}")  # finished: the same torn line is reported
    r = load_run(run)
    assert len(r.metrics) == n and len(r.warnings) == 1 and f"line {n + 1}" in r.warnings[0]


def _tree(path: Path) -> dict:
    return {str(p): (p.stat().st_mtime_ns, p.stat().st_size) for p in sorted(path.rglob("*"))}


def _no_viz_extra(tmp_path: Path) -> dict:
    fake = tmp_path / "no_viz"
    (fake / "plotly").mkdir(parents=True)
    (fake / "plotly" / "__init__.py").write_text(
        "raise ImportError(\"No module named 'plotly'\", name='plotly')\n")
    return cli_env(PYTHONPATH=fake)


BAD = {
    "missing path": (lambda t, a, b: [t / "nope"], "no such directory"),
    "no config.json": (lambda t, a, b: [t / "empty"], "no config.json"),
    "compare one run": (lambda t, a, b: [a, "--compare", "--out", t / "cmp"], "at least two"),
    "compare no out": (lambda t, a, b: [a, a, "--compare"], "needs --out"),
    "compare envs": (lambda t, a, b: [a, b, "--compare", "--out", t / "cmp"],
                     "different envs"),
    "top-k 0": (lambda t, a, b: [a, "--top-k", "0"], "--top-k 0"),
    "top-k negative": (lambda t, a, b: [a, "--top-k", "-3"], "--top-k -3"),
    "watch 0": (lambda t, a, b: [a, "--watch", "0"], "--watch 0"),
    "watch negative": (lambda t, a, b: [a, "--watch", "-1"], "--watch -1"),
    "unwritable out": (lambda t, a, b: [a, a, "--compare", "--out", t / "afile" / "cmp"],
                       "not a directory"),
    "foreign out report": (lambda t, a, b: [a, a, "--compare", "--out", t / "foreign"],
                           "not written by evoflow"),
    "foreign run report": (lambda t, a, b: [b], "not written by evoflow"),
    "out without compare": (lambda t, a, b: [a, "--out", t / "cmp"], "only used with"),
    "no viz extra": (lambda t, a, b: [a], 'pip install "evoflow[viz]"'),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_one_line_exit_2_nothing_written(case, tmp_path):
    a = fx.grid_run(tmp_path / "a", rollouts=False)
    b = fx.cbo_run(tmp_path / "b")
    (b / "report.html").write_text("<html>my own notes</html>")
    (tmp_path / "empty").mkdir()
    (tmp_path / "afile").write_text("x")
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "report.html").write_text("<html>someone else's</html>")
    make, needle = BAD[case]
    before = _tree(tmp_path)
    env = _no_viz_extra(tmp_path) if case == "no viz extra" else None
    p = evoflow("viz", *make(tmp_path, a, b), check=False, env=env)
    assert p.returncode == 2, p.stdout + p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], p.stderr
    assert "Traceback" not in p.stderr
    after = _tree(tmp_path)
    if case == "no viz extra":
        after = {k: v for k, v in after.items() if "no_viz" not in k}
        before = {k: v for k, v in before.items() if "no_viz" not in k}
    assert after == before


def test_summary_json_is_not_required_to_be_valid(tmp_path):
    run = fx.grid_run(tmp_path / "g", rollouts=False)
    (run / "summary.json").write_text("{broken")
    evoflow("viz", run)
    assert json.loads((run / "config.json").read_text())["algo"] == "me"


def test_a_family_from_the_environment_reaches_evoflow_viz(tmp_path):
    """EVOFLOW_FAMILIES names a test-only family package; `evoflow viz` shows its view."""
    run = fx.demo_run(tmp_path / "d")
    p = evoflow("viz", run, env=cli_env(EVOFLOW_FAMILIES="tests.viz.demo_family"))
    assert sections(run / "report.html") == ["demo_samples", "curves"]
    assert p.stderr.splitlines() == [f"warning: {run / 'samples.jsonl'}: line 31 is not a "
                                     f"record; skipped, rest shown"]
    p = evoflow("viz", run)  # without it the algorithm is in no family: curves only
    assert sections(run / "report.html") == ["curves"]
    assert "warning: algorithm 'viz_demo' is in no registered family: showing curves only" \
        in p.stderr.splitlines()
