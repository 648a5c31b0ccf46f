"""The command line: list, help, progress output, summary fields, and every bad input."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import REPO, evoflow, only_run, summary


def test_help_has_examples():
    out = evoflow("run", "--help").stdout
    assert "evoflow run cbo --env rastrigin" in out and "--set" in out


def test_run_prints_progress_lines_and_writes_the_run_directory(tmp_path):
    proc = evoflow("run", "cbo", "--env", "rastrigin", "--preset", "tiny", "--out", tmp_path)
    lines = proc.stdout.splitlines()
    assert "cbo on rastrigin" in lines[0]
    progress = [ln for ln in lines if ln.startswith("[")]
    assert len(progress) == 10 and progress[-1].startswith("[100.0%]")
    assert "success_rate=" in progress[-1] and "eta" in progress[-1]
    run = only_run(tmp_path)
    assert run.name.startswith("cbo-rastrigin-") and run.name.endswith("-s0")
    s = summary(run)
    for key in ("algo", "env", "seed", "n_runs", "iterations", "evaluations", "devices",
                "time/wall_s", "time/compile_s", "success_rate", "best_gap"):
        assert key in s, key
    assert s["iterations"] == 1000 and s["evaluations"] == 8 * 60 * 1000
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["algo"] == "cbo" and cfg["config"]["n_particles"] == 60
    versions = json.loads((run / "versions.json").read_text())
    assert versions["prng"]["impl"] and len(versions["prng"]["golden_normal_key123"]) == 8
    lines = (run / "metrics.jsonl").read_text().splitlines()
    first = json.loads(lines[0])
    assert list(first)[:2] == ["step", "evaluations"] and first["step"] == 20
    for key in ("success_rate", "best_gap", "alpha_median", "runs_active", "eval/nonfinite"):
        assert key in first
    assert len(lines) == 50


def _setup_finished_run(tmp_path):
    evoflow("run", "cbo", "--env", "sphere", "--preset", "tiny", "--set", "iterations=40",
            "--out", tmp_path / "done", "--quiet")
    return only_run(tmp_path / "done")


BAD = [
    (["run", "cma", "--env", "rastrigin"], "unknown algorithm 'cma'"),
    (["run", "cbo", "--env", "rastrigen"], "did you mean rastrigin"),
    (["run", "cbo", "--env", "rastrigin", "--preset", "huge"], "unknown preset 'huge'"),
    (["run", "consensus_hopping", "--env", "digits"], "does not fit consensus_hopping"),
    (["run", "cbo", "--env", "rastrigin", "--set", "sigma"], "expected KEY=VALUE"),
    (["run", "cbo", "--env", "rastrigin", "--set", "sigma=abc"], "sigma must be a positive"),
    (["run", "cbo", "--env", "rastrigin", "--set", "n_particles=2.5"], "must be a positive integer"),
    (["run", "cbo", "--env", "rastrigin", "--set", "sigmaa=1"], "did you mean sigma"),
    (["run", "cbo", "--env", "rastrigin", "--set", "n_particles=0"], "n_particles must be > 0"),
    (["run", "cbo", "--env", "rastrigin", "--set", "n_runs=-3"], "n_runs must be > 0"),
    (["run", "cbo", "--env", "rastrigin", "--set", "dt=0"], "dt must be > 0"),
    (["run", "cbo", "--env", "rastrigin", "--set", "sigma=-1"], "sigma must be > 0"),
    (["run", "cbo", "--env", "rastrigin", "--set", "alpha=0"], "alpha must be > 0"),
    (["run", "cbo", "--env", "rastrigin", "--set", "dim=0"], "dim must be > 0"),
    (["run", "cbo", "--env", "rastrigin", "--set", "batch_size=41"], "batch_size must be <="),
    (["run", "cbo", "--env", "rastrigin", "--set", "noise=pink"], "noise must be one of"),
    (["run", "cbo", "--env", "rastrigin", "--out", "{file}/sub"], "is not a directory"),
    (["run", "me", "--env", "rastrigin"], "envs it accepts: point_omni, ant_omni"),
    (["run", "dcg_me", "--env", "gym/CartPole-v1"], "has no descriptor, which dcg_me needs; QD "
                                                    "envs: point_omni, ant_omni"),
    (["run", "pga_me", "--env", "hopper"], "has no descriptor, which pga_me needs; QD envs:"),
    (["run", "dcg_me", "--env", "point_omni", "--set", "critic_steps=0"],
     "critic_steps must be > 0"),
    (["run", "pga_me", "--env", "point_omni", "--set", "critic_steps=5"],
     "must be a multiple of policy_delay=2"),
    (["run", "dcrl_me", "--env", "point_omni", "--set", "n_ga=-2"], "n_ga must be >= 0"),
    (["run", "me", "--env", "point_omni", "--set", "n_cells=600", "--set", "cvt_samples=500"],
     "cells must be <= cvt_samples"),
    (["run", "me", "--env", "point_omni", "--set", "batch_size=0"], "batch_size must be > 0"),
    (["run", "dcg_me", "--env", "point_omni", "--set", "n_ai=4"], "actor injection is DCRL-ME's"),
    (["run", "dcrl_me", "--env", "point_omni", "--set", "n_ga=0", "--set", "n_pg=0",
      "--set", "n_ai=0", "--set", "n_actor=0"], "all 0: nothing to evaluate"),
    (["run", "pga_me", "--env", "point_omni", "--set", "n_pg=-1"], "n_pg must be >= 0"),
    (["run", "dcg_me", "--env", "point_omni", "--set", "pg_steps=0"], "pg_steps must be > 0"),
    (["run", "dcg_me", "--env", "point_omni", "--set", "lengthscale=0"],
     "lengthscale must be > 0"),
    (["run", "dcg_me", "--env", "point_omni", "--set", "replay_size=1000"],
     "below one generation's transitions"),
    (["resume", "{tmp}"], "not an evoflow run directory"),
    (["resume", "{nockpt}"], "no readable checkpoint"),
    (["resume", "{done}", "--more", "0"], "--more 0: must be a positive"),
    (["resume", "{done}", "--more", "-5"], "--more -5: must be a positive"),
]


@pytest.mark.parametrize("args, message", BAD, ids=[" ".join(a)[:60] for a, _ in BAD])
def test_bad_input_is_one_line_exit_2_and_creates_nothing(tmp_path, args, message):
    (tmp_path / "file").write_text("x")
    subs = {"{file}": str(tmp_path / "file"), "{tmp}": str(tmp_path)}
    if any("{done}" in a or "{nockpt}" in a for a in args):
        done = _setup_finished_run(tmp_path)
        subs["{done}"] = str(done)
        nockpt = tmp_path / "nockpt"
        nockpt.mkdir()
        (nockpt / "config.json").write_text((done / "config.json").read_text())
        subs["{nockpt}"] = str(nockpt)
    args = [subs.get(a, a) for a in args]
    args = [a.replace("{file}", subs["{file}"]) for a in args]
    out = tmp_path / "out"
    if args[0] == "run" and "--out" not in args:
        args += ["--out", str(out)]
    before = sorted(p.name for p in tmp_path.rglob("*"))
    proc = evoflow(*args, check=False)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    err = proc.stderr.strip().splitlines()
    assert len(err) == 1 and message in err[0], proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    assert sorted(p.name for p in tmp_path.rglob("*")) == before  # nothing created


def test_import_evoflow_loads_no_heavy_module():
    code = ("import sys, evoflow, evoflow.cli, evoflow.config, evoflow.experiment; "
            "print([m for m in ('brax', 'torch', 'ray', 'gymnasium', 'plotly', 'matplotlib') "
            "if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=REPO, check=True).stdout
    assert out.strip() == "[]"


def test_golden_prng_draw():
    """Pins JAX's PRNG streams: if these change, key-rebuilt data of old runs would differ.

    Runs use jax_threefry_partitionable=false by default (config `threefry_partitionable`);
    JAX's own default is true. versions.json records the setting and the draw of each run.
    """
    import jax

    from evoflow.engine.prng import golden_draw

    assert jax.config.jax_default_prng_impl == "threefry2x32"
    with jax.threefry_partitionable(False):
        assert golden_draw() == pytest.approx(
            [0.22767609, -0.12897062, -0.3817806, -1.5077174, 0.40284932, -1.7226623,
             -0.13909869, -1.1255506], abs=1e-6)
    with jax.threefry_partitionable(True):
        assert golden_draw() == pytest.approx(
            [1.6359469, 0.8408094, 0.02212393, -0.52927685, -0.6866449, -1.0878773,
             -1.2598456, 1.6036302], abs=1e-6)


def test_versions_json_records_the_runs_prng_setting(tmp_path):
    for flag in ("false", "true"):
        evoflow("run", "cbo", "--env", "sphere", "--preset", "tiny", "--set", "iterations=20",
                "--set", f"threefry_partitionable={flag}", "--out", tmp_path / flag, "--quiet")
        prng = json.loads((only_run(tmp_path / flag) / "versions.json").read_text())["prng"]
        assert prng["threefry_partitionable"] is (flag == "true")
        first = prng["golden_normal_key123"][0]
        assert first == pytest.approx(0.22767609 if flag == "false" else 1.6359469, abs=1e-6)
