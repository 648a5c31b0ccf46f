"""Host evaluation: in-process, a spawned local pool and Ray give bitwise equal results; payloads,
broadcasts, per-individual seeds, unpadded chunks; a killed worker is reported and re-run."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from evoflow.config import ENGINE_SCHEMA, resolve
from evoflow.engine.hosteval import HostEvaluator, individual_seeds
from evoflow.errors import UsageError
from evoflow.tasks.base import Evaluation, Task
from tests.conftest import REPO, cli_env, evoflow, only_run
from tests.engine.test_resume import assert_same_run

# ----------------------------------------------------------------------------------------------
# per-individual seeds


def test_individual_seeds_are_a_stable_hash_of_every_input():
    s = individual_seeds(0, 0, 0, 2, 3)
    assert s.dtype == np.uint32 and s.shape == (2, 3)
    # Pinned: the documented SplitMix64 chain, not a PRNG whose stream may change.
    assert s.tolist() == [[2024692378, 2782098827, 83661149], [761604026, 527021599, 3890384649]]
    assert individual_seeds(123, 45, 1, 1, 2).tolist() == [[682501510, 3355089444]]
    base = individual_seeds(7, 11, 1, 4, 5)
    np.testing.assert_array_equal(base, individual_seeds(7, 11, 1, 4, 5))
    for other in (individual_seeds(8, 11, 1, 4, 5), individual_seeds(7, 12, 1, 4, 5),
                  individual_seeds(7, 11, 0, 4, 5)):
        assert (other != base).all()
    assert len(np.unique(base)) == base.size  # run and index both matter
    # A run's seeds do not depend on how many runs or individuals are asked for.
    np.testing.assert_array_equal(individual_seeds(7, 11, 1, 6, 9)[:4, :5], base)


# ----------------------------------------------------------------------------------------------
# a payload task (defined here; workers build it from "tests.engine.test_hosteval:PayloadTask")

PAYLOAD_ENV = "tests.engine.test_hosteval:PayloadTask"


class PayloadTask(Task):
    """Genomes are seed chains ({"chain": [ints]}); the broadcast holds the parents' parameters."""

    name = "payload"
    pad_chunks = False
    calls: list[int] = []  # chunk sizes evaluated in this process

    def evaluate_host(self, run_data, population, seeds, broadcast=None):
        assert isinstance(population, list) and len(population) == len(seeds)
        type(self).calls.append(len(population))
        parents = np.asarray(broadcast["parents"], np.float64)
        fit = np.array([parents[g["parent"]].sum() + sum(g["chain"]) for g in population])
        fit = fit + run_data["offset"] + seeds / 2.0**32
        desc = np.stack([fit, -fit], axis=1)
        return Evaluation(fitness=fit, descriptor=desc,
                          extras={"length": np.array([len(g["chain"]) for g in population])})


class PaddedPayloadTask(PayloadTask):
    pad_chunks = True


def _cfg(**kw) -> dict:
    return {**resolve(ENGINE_SCHEMA, [("test", {"iterations": 1})]), **kw}


def _payload(m=3, b=7):
    rng = np.random.default_rng(1)
    pop = [[{"parent": int(rng.integers(2)), "chain": rng.integers(0, 100, int(rng.integers(1, 4)))
             .tolist()} for _ in range(b)] for _ in range(m)]
    data = {"offset": np.arange(m, dtype=np.float64) * 1000.0}
    return pop, data, individual_seeds(3, 1, 0, m, b), {"parents": [[1.0, 2.0], [10.0, 20.0]]}


def _expected(pop, data, seeds, bc):
    parents = np.asarray(bc["parents"])
    return np.array([[parents[g["parent"]].sum() + sum(g["chain"]) + data["offset"][r]
                      + seeds[r, i] / 2.0**32 for i, g in enumerate(row)]
                     for r, row in enumerate(pop)])


@pytest.mark.parametrize("cls,chunks", [(PayloadTask, [4, 4, 4, 4, 4, 1]),
                                        (PaddedPayloadTask, [4, 4, 4, 4, 4, 4])])
def test_payloads_and_broadcast_in_process_and_padding(cls, chunks):
    pop, data, seeds, bc = _payload()
    cls.calls = []
    with HostEvaluator("unused", _cfg(eval_chunk=4), cls({})) as ev:
        out = ev.evaluate(data, pop, seeds, broadcast=bc)
    assert cls.calls == chunks  # 21 individuals: no duplicate evaluation when the task says so
    np.testing.assert_array_equal(out.fitness, _expected(pop, data, seeds, bc))
    assert out.descriptor.shape == (3, 7, 2) and out.extras["length"].shape == (3, 7)
    np.testing.assert_array_equal(out.descriptor[..., 1], -out.fitness)


def _rastrigin():
    from evoflow.tasks import TASKS
    from evoflow.tasks.functions import FunctionTask

    cfg = resolve({**ENGINE_SCHEMA, **FunctionTask.SCHEMA},
                  [("test", {"evaluator": "numpy", "dim": 5, "eval_chunk": 64, "iterations": 1})])
    return cfg, TASKS["rastrigin"].make(cfg)


@pytest.fixture(scope="module")
def ray_session():
    """One local Ray for this module's unit tests (evaluators join it and leave it running)."""
    ray = pytest.importorskip("ray")
    import logging

    from evoflow.engine.backends import _quiet_ray_env

    _quiet_ray_env()
    started = not ray.is_initialized()
    if started:
        ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False,
                 logging_level=logging.ERROR)
    yield ray
    if started:
        ray.shutdown()


@pytest.fixture(scope="module")
def backends(ray_session):
    """(name, HostEvaluator factory) for in-process, local pool of 2 and Ray 2."""
    return [("in-process", {"workers": 0}), ("local2", {"workers": 2}),
            ("ray2", {"backend": "ray", "workers": 2})]


def test_backends_are_bitwise_equal_on_a_real_task_and_on_payloads(backends):
    cfg, task = _rastrigin()
    rng = np.random.default_rng(0)
    pop = rng.normal(size=(3, 50, 5)) * 3  # float64 in, cast to the run's float32
    data = {"shift": rng.uniform(-1, 1, (3, 5)).astype(np.float32)}
    seeds = individual_seeds(0, 1, 0, 3, 50)
    ppop, pdata, pseeds, bc1 = _payload(2, 9)
    bc2 = {"parents": [[3.0, 4.0], [30.0, 40.0]]}
    ref = None
    for name, extra in backends:
        with HostEvaluator("rastrigin", {**cfg, **extra}, task) as ev:
            out = ev.evaluate(data, pop, seeds)
            assert out.fitness.shape == (3, 50) and out.fitness.dtype == np.float32, name
            np.testing.assert_array_equal(ev(data, pop), out.fitness)  # the old API
            ref = out.fitness if ref is None else ref
            np.testing.assert_array_equal(out.fitness, ref, err_msg=name)
        with HostEvaluator(PAYLOAD_ENV, {**_cfg(eval_chunk=4), **extra}, PayloadTask({})) as ev:
            for bc in (bc1, bc2, bc1):  # a new broadcast each generation
                got = ev.evaluate(pdata, ppop, pseeds, broadcast=bc)
                np.testing.assert_array_equal(got.fitness, _expected(ppop, pdata, pseeds, bc),
                                              err_msg=name)
                assert got.extras["length"].shape == (2, 9), name
    np.testing.assert_array_equal(ref, -task.spec.fn(np, pop.astype(np.float32)
                                                     - data["shift"][:, None]))


# ----------------------------------------------------------------------------------------------
# bad input


@pytest.mark.parametrize("sets,needle", [
    ({"backend": "foo"}, "backend must be one of local, ray"),
    ({"ray_address": "127.0.0.1:6379", "workers": 2}, "needs --set backend=ray"),
    ({"backend": "ray"}, "needs --set workers=K"),
])
def test_bad_backend_config_is_a_one_line_error(sets, needle):
    from evoflow import experiment

    with pytest.raises(UsageError) as e:
        experiment.prepare("cbo", "rastrigin", "tiny", 0, {"evaluator": "numpy", **sets})
    assert needle in str(e.value) and "\n" not in str(e.value)


def test_backend_ray_without_ray_names_the_extra(monkeypatch):
    import importlib.util

    from evoflow.engine.hosteval import check_host_config

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "ray" else real(name, *a))
    with pytest.raises(UsageError, match=r"install the ray extra: pip install 'evoflow\[ray\]'"):
        check_host_config(_cfg(backend="ray", workers=2))


def test_bad_backend_on_the_cli_creates_nothing(tmp_path):
    proc = evoflow("run", "cbo", "--env", "rastrigin", "--preset", "tiny", "--set",
                   "evaluator=numpy", "--set", "backend=foo", "--out", tmp_path / "o", check=False)
    assert proc.returncode == 2 and "backend must be one of local, ray" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and not (tmp_path / "o").exists()


# ----------------------------------------------------------------------------------------------
# acceptance 4: the CLI on workers=0, local workers=2, Ray workers=2; a killed worker

ARGS = ["cbo", "--env", "rastrigin", "--preset", "tiny", "--seed", "0", "--set",
        "evaluator=numpy"]


@pytest.fixture(scope="module")
def in_process_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("w0")
    evoflow("run", *ARGS, "--set", "workers=0", "--out", out, "--quiet")
    return only_run(out)


@pytest.mark.parametrize("backend", ["ray", "local"])
def test_cli_workers_equal_in_process(tmp_path, in_process_run, backend):
    if backend == "ray":
        pytest.importorskip("ray")
    proc = evoflow("run", *ARGS, "--set", f"backend={backend}", "--set", "workers=2",
                   "--out", tmp_path, "--quiet")
    assert proc.stderr.strip() == "" and proc.stdout.strip() == ""  # quiet: no Ray banners
    assert_same_run(only_run(tmp_path), in_process_run)


def _worker_pids(pid: int, backend: str) -> list[int]:
    import psutil

    found = []
    for child in psutil.Process(pid).children(recursive=True):
        try:
            cmd = " ".join(child.cmdline())
        except psutil.Error:
            continue
        if (backend == "ray" and "_RayWorkerImpl" in cmd) or \
                (backend == "local" and "spawn_main" in cmd and "resource_tracker" not in cmd):
            found.append(child.pid)
    return found


@pytest.mark.parametrize("backend", ["ray", "local"])
def test_cli_killed_worker_is_reported_and_the_run_equals_in_process(tmp_path, in_process_run,
                                                                     backend):
    if backend == "ray":
        pytest.importorskip("ray")
    psutil = pytest.importorskip("psutil")
    proc = subprocess.Popen([sys.executable, "-m", "evoflow.cli", "run", *ARGS, "--set",
                             f"backend={backend}", "--set", "workers=2", "--out", str(tmp_path),
                             "--quiet"], cwd=REPO, env=cli_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    victim = None
    t0 = time.monotonic()
    try:
        while victim is None and time.monotonic() - t0 < 120:
            assert proc.poll() is None, proc.communicate()
            runs = list(tmp_path.iterdir())
            pids = _worker_pids(proc.pid, backend)
            if runs and (runs[0] / "metrics.jsonl").exists() and pids:  # mid-run
                victim = pids[0]
                psutil.Process(victim).send_signal(signal.SIGKILL)
            time.sleep(0.02)
        out, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert victim is not None and proc.returncode == 0, err
    assert f"worker pid {victim} died" in err and "re-running chunk" in err, err
    assert len(err.strip().splitlines()) == 1, err  # one line, no Ray banner
    assert_same_run(only_run(tmp_path), in_process_run)
