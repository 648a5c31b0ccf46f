"""Per-family views on real tiny runs, `--compare`, and `--watch` on a run being written."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import REPO, cli_env, evoflow, only_run
from tests.viz import fixtures as fx
from tests.viz.test_page import decode, page_data

pytest.importorskip("plotly")
pytest.importorskip("matplotlib")


def sections(report: Path) -> list[str]:
    return re.findall(r'<section data-view="([a-z_]+)"', report.read_text())


# One test per landed family in the default run; the family's other algorithms under -m slow.
FAMILIES = [
    ("cbo", "rastrigin", {"curves", "particles"}),
    ("me", "point_omni", {"archive", "rollouts", "curves"}),
    pytest.param("cbo_memory", "rastrigin", {"curves", "particles"}, marks=pytest.mark.slow),
    pytest.param("consensus_hopping", "rastrigin", {"curves", "particles"},
                 marks=pytest.mark.slow),
    pytest.param("pga_me", "point_omni", {"archive", "rollouts", "curves"},
                 marks=pytest.mark.slow),
    pytest.param("dcg_me", "point_omni", {"archive", "distilled", "rollouts", "curves"},
                 marks=pytest.mark.slow),
    pytest.param("dcrl_me", "point_omni", {"archive", "distilled", "rollouts", "curves"},
                 marks=pytest.mark.slow),
]


@pytest.mark.parametrize("algo,env,views", FAMILIES)
def test_family_tiny_run_views(algo, env, views, tmp_path):
    evoflow("run", algo, "--env", env, "--preset", "tiny", "--out", tmp_path, "--quiet")
    run = only_run(tmp_path)
    p = evoflow("viz", run)
    assert p.stderr == ""
    assert set(sections(run / "report.html")) == views
    assert (run / "report.html").stat().st_size <= 15_000_000
    pngs = {f.stem for f in (run / "figures").iterdir()}
    assert pngs == views & {"archive", "curves", "particles", "distilled"}
    if "archive" in views:
        a = np.load(run / "archive.npz")
        m = page_data(run / "report.html")["archive"]["maps"][0]
        assert np.array_equal(np.nan_to_num(decode(m["fitness"]), nan=-np.inf), a["fitness"])
        assert (run / "archive.csv").exists()


def test_compare_three_seeds_of_rastrigin(tmp_path):
    for seed in (0, 1, 2):
        evoflow("run", "cbo", "--env", "rastrigin", "--preset", "tiny", "--seed", seed,
                "--out", tmp_path / "runs", "--quiet")
    runs = sorted((tmp_path / "runs").iterdir())
    out = tmp_path / "cmp"
    before = {str(p): p.stat().st_mtime_ns for r in runs for p in r.rglob("*")}
    evoflow("viz", *runs, "--compare", "--out", out)
    assert (out / "report.html").exists() and (out / "figures" / "curves.png").exists()
    assert {str(p): p.stat().st_mtime_ns for r in runs for p in r.rglob("*")} == before
    plots = page_data(out / "report.html")["curves"]["plots"]
    gap = next(p for p in plots if p["metric"] == "best_gap")
    (line,) = gap["lines"]  # three seeds of one config: one group, median and IQR
    assert line["label"].endswith("median of 3") and line["lo"] and line["hi"]
    med, lo, hi = (decode(line[k]) for k in ("y", "lo", "hi"))
    ok = np.isfinite(med)
    assert (lo[ok] <= med[ok]).all() and (med[ok] <= hi[ok]).all()


def test_compare_qd_runs_share_one_colour_range(tmp_path):
    a = fx.grid_run(tmp_path / "a", seed=0, frac=0.5, rollouts=False)
    b = fx.grid_run(tmp_path / "b", seed=1, frac=0.9, rollouts=False)
    evoflow("viz", a, b, "--compare", "--out", tmp_path / "cmp")
    maps = page_data(tmp_path / "cmp" / "report.html")["archive"]["maps"]
    fits = np.concatenate([np.load(r / "archive.npz")["fitness"] for r in (a, b)])
    fits = fits[np.isfinite(fits)]
    assert len(maps) == 2
    for m in maps:
        assert (m["zmin"], m["zmax"]) == (float(fits.min()), float(fits.max()))
    assert (tmp_path / "cmp" / "figures" / "archive.png").exists()


def _wait(cond, timeout: float, what: str):
    t = time.monotonic()
    while time.monotonic() - t < timeout:
        if cond():
            return
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout} s: {what}")


def _last_x(report: Path) -> float:
    try:
        plots = page_data(report)["curves"]["plots"]
    except (FileNotFoundError, AttributeError, json.JSONDecodeError):
        return -1.0
    return float(decode(plots[0]["lines"][0]["x"])[-1])


def test_watch_live_run_until_finished(tmp_path):
    run = fx.grid_run(tmp_path / "live")  # its viz/rollouts.npz is current: none computed
    (run / "summary.json").unlink()
    report = run / "report.html"
    proc = subprocess.Popen([sys.executable, "-m", "evoflow.cli", "viz", str(run), "--watch",
                             "1"], cwd=REPO, env=cli_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        _wait(lambda: report.exists() and "live, updated" in report.read_text(), 60,
              "first live report")
        text = report.read_text()
        assert re.search(r"live, updated \d\d:\d\d:\d\d", text)
        assert '<meta http-equiv="refresh" content="1">' in text
        first = _last_x(report)
        with open(run / "metrics.jsonl", "a") as f:
            f.write(json.dumps({"step": 999, "evaluations": 99_999, "qd_score": 1.0}) + "\n")
            f.write('{"step": 1000, "evalua')  # a line still being written
        _wait(lambda: _last_x(report) == 99_999.0, 5, "the new point on the page")
        assert first < 99_999.0
        with open(run / "metrics.jsonl", "a") as f:  # the writer finishes it, then the run
            f.write('tions": 100000, "qd_score": 2.0}\n')
        (run / "summary.json").write_text("{}")
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    text = report.read_text()
    assert "live, updated" not in text and 'http-equiv="refresh"' not in text
    assert _last_x(report) == 100_000.0
    assert proc.stderr.read() == ""  # the torn line of a live run was not a warning
