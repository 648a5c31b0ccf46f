"""MAP-Elites through the CLI on point_omni: archive file, resume, devices, learning."""

from __future__ import annotations

import numpy as np

from tests.conftest import cli_env, evoflow, metrics, only_run, summary
from tests.engine.test_resume import assert_same_run, killed_resumed_and_whole

TINY = ["me", "--env", "point_omni", "--preset", "tiny", "--seed", "0"]


def assert_same_archive(a, b):
    with np.load(a / "archive.npz") as za, np.load(b / "archive.npz") as zb:
        assert sorted(za.files) == sorted(zb.files)
        for k in za.files:
            np.testing.assert_array_equal(za[k], zb[k], err_msg=k)


def test_tiny_run_writes_the_archive_and_improves(tmp_path):
    evoflow("run", *TINY, "--out", tmp_path, "--quiet")
    run = only_run(tmp_path)
    s = summary(run)
    assert s["evaluations"] == 3200 and s["qd_score"] > 0 and s["coverage"] > 0
    m = metrics(run)
    assert m[-1]["qd_score"] > m[0]["qd_score"] and m[-1]["coverage"] > m[0]["coverage"]
    assert sum(line["added/ga"] for line in m) > 0
    with np.load(run / "archive.npz") as z:
        fit, emitter, parent = z["fitness"], z["emitter"], z["parent"]
        filled = np.isfinite(fit)
        assert 100 * filled.mean() == s["coverage"]
        np.testing.assert_allclose(fit[filled].sum(), s["qd_score"], rtol=1e-5)
        assert str(z["kind"]) == "cvt" and list(z["emitter_names"][:2]) == ["init", "ga"]
        assert set(emitter[filled]) <= {0, 1}
        ga = filled & (emitter == 1)
        assert np.all(parent[ga] >= 0) and np.all(parent[filled & (emitter == 0)] == -1)
        assert z["params/layer_0/kernel"].shape == (64, 3, 16)
        # descriptors lie in their cell (nearest centroid)
        d, c = z["descriptor"][filled], z["centroid"]
        nearest = np.argmin(((d[:, None, :] - c[None]) ** 2).sum(-1), axis=1)
        np.testing.assert_array_equal(nearest, np.flatnonzero(filled))


def test_sigkill_resume_and_devices(tmp_path):
    args = TINY + ["--set", "evaluations=6400", "--set", "checkpoint_every=20"]
    killed, whole = killed_resumed_and_whole(tmp_path, args)
    assert_same_run(killed, whole)
    assert_same_archive(killed, whole)
    four = cli_env(XLA_FLAGS="--xla_force_host_platform_device_count=4")
    evoflow("run", *args, "--out", tmp_path / "four", "--quiet", env=four)
    assert_same_run(whole, only_run(tmp_path / "four"))
    assert_same_archive(whole, only_run(tmp_path / "four"))
