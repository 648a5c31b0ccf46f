"""Bad input a new user tries (issue "one engine", item 8): each is one line on stderr, exit 2,
and nothing is written: no run directory, no changed file in an existing one, no eval record."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest

from tests.conftest import evoflow, only_run

CBO = ["cbo", "--env", "rastrigin", "--preset", "tiny"]


def tree(path: Path) -> dict[str, str]:
    return {str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(path.rglob("*")) if p.is_file()}


def one_line_exit_2(proc, *needles: str) -> None:
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr[-2000:]
    for n in needles:
        assert n in lines[0], (n, lines[0])


@pytest.fixture(scope="module")
def cbo_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("cbo")
    evoflow("run", *CBO, "--set", "iterations=40", "--set", "checkpoint_every=20",
            "--out", out, "--quiet")
    return only_run(out)


@pytest.fixture(scope="module")
def me_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("me")
    evoflow("run", "me", "--env", "point_omni", "--preset", "tiny", "--set", "iterations=3",
            "--out", out, "--quiet")
    return only_run(out)


SYSTEM_OUT = [p for p in ("/proc/evoflow-runs", "/sys/evoflow-runs") if Path(p).parent.is_dir()]


@pytest.mark.parametrize("out", SYSTEM_OUT)
def test_out_in_a_system_folder(out):
    proc = evoflow("run", *CBO, "--out", out, check=False)
    one_line_exit_2(proc, f"--out {out}", str(Path(out).parent))
    assert not Path(out).exists()


def test_out_in_an_unwritable_folder(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root writes through permission bits (the /proc and /sys cases cover it)")
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    proc = evoflow("run", *CBO, "--out", locked / "runs", check=False)
    one_line_exit_2(proc, "not writable")
    assert list(locked.iterdir()) == []


@pytest.mark.parametrize("key,value", [("dim", 10_000_000_000),
                                       ("n_particles", 1_000_000_000_000),
                                       ("n_runs", 1_000_000_000)])
def test_sizes_that_cannot_fit_are_refused_before_the_run_directory(tmp_path, key, value):
    proc = evoflow("run", *CBO, "--set", f"{key}={value}", "--out", tmp_path, check=False)
    one_line_exit_2(proc, f"--set {key}={value}", "bytes", "this machine has")
    need = int(proc.stderr.split("(")[-1].split(" bytes")[0].replace(",", ""))
    assert need >= value * 4  # at least one float32 per unit of the size
    assert list(tmp_path.iterdir()) == []


def _edit(run: Path, dst: Path, edit) -> Path:
    shutil.copytree(run, dst)
    rec = json.loads((dst / "config.json").read_text())
    edit(rec)
    (dst / "config.json").write_text(json.dumps(rec))
    return dst


def _no_budget(rec):
    rec["config"]["iterations"] = None


def _wrong_type(rec):
    rec["config"]["n_particles"] = "sixty"


def _float_for_int(rec):
    rec["config"]["dim"] = 2.5


def _missing(rec):
    del rec["config"]["sigma"]


def _unknown(rec):
    rec["config"]["sigmaa"] = 1.0


def _seed(rec):
    rec["seed"] = "zero"


@pytest.mark.parametrize("edit,needles", [
    (_no_budget, ("config.json", "no budget key")),
    (_wrong_type, ("config.json", 'n_particles="sixty"', "positive integer")),
    (_float_for_int, ("config.json", "dim=2.5", "positive integer")),
    (_missing, ("config.json", "lacks sigma")),
    (_unknown, ("config.json", "unknown keys sigmaa")),
    (_seed, ("config.json", 'seed="zero"')),
], ids=lambda v: v.__name__ if callable(v) else None)
def test_resume_of_a_bad_config_json(cbo_run, tmp_path, edit, needles):
    run = _edit(cbo_run, tmp_path / "run", edit)
    before = tree(run)
    proc = evoflow("resume", run, "--more", "10", check=False)
    one_line_exit_2(proc, *needles)
    assert tree(run) == before


def test_eval_with_too_many_episodes(me_run):
    before = tree(me_run)
    proc = evoflow("eval", me_run, "--policy", "cell:0", "--episodes", "1000000000000",
                   check=False)
    one_line_exit_2(proc, "--episodes 1000000000000", "1..1,000,000")
    assert tree(me_run) == before
