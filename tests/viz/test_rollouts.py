"""viz/rollouts.npz: the top-k elites rolled out through `evoflow eval`'s code path on real tiny
runs, cached, recomputed when stale, skipped with --no-rollouts, played in #rollout; MuJoCo
frames where OSMesa renders (the ant run is `slow`: ~45 s to run, ~40 s to roll out cold)."""

from __future__ import annotations

import ctypes.util
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import evoflow, only_run
from tests.viz.browser import browser, open_page
from tests.viz.test_page import CELL_XY, page_data

pytest.importorskip("plotly")
pytest.importorskip("matplotlib")
TOP_K = 16


def top_cells(archive, k=TOP_K) -> np.ndarray:
    """Filled cells by fitness, highest first (the test's own ranking)."""
    f = np.asarray(archive["fitness"], np.float64)
    cells = np.flatnonzero(np.isfinite(f))
    return cells[np.argsort(-f[cells], kind="stable")][:k]


def osmesa_or_skip():
    if ctypes.util.find_library("OSMesa") is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("CI=true: no libOSMesa (.ci/run apt-installs libosmesa6)")
        pytest.skip("no libOSMesa (apt-get install libosmesa6)")


@pytest.fixture(scope="module")
def point_run(tmp_path_factory):
    """A tiny point_omni ME run with deterministic resets, and its first `evoflow viz`."""
    d = tmp_path_factory.mktemp("point")
    evoflow("run", "me", "--env", "point_omni", "--preset", "tiny", "--set",
            "resets=deterministic", "--out", d, "--quiet")
    run = only_run(d)
    return run, evoflow("viz", run)


def _copy(run: Path, dest: Path, *, rollouts: bool) -> Path:
    shutil.copytree(run, dest)
    if not rollouts:
        shutil.rmtree(dest / "viz")
    return dest


def test_top_k_rolled_out_through_eval_and_ends_at_the_descriptor(point_run):
    run, p = point_run
    a = np.load(run / "archive.npz")
    z = np.load(run / "viz" / "rollouts.npz", allow_pickle=False)
    top = top_cells(a)
    assert len(top) == TOP_K  # the tiny run fills more than 16 of its 64 cells
    assert z["cell"].tolist() == top.tolist()
    assert np.array_equal(z["fitness"], a["fitness"][top])
    assert z["xy"].shape == (TOP_K, 100, 2) and z["xy"].dtype == np.float32
    assert "frames" not in z.files
    # deterministic resets: the path's last point is the descriptor the run archived
    np.testing.assert_allclose(z["xy"][:, -1], a["descriptor"][top], rtol=0, atol=1e-5)
    assert p.stderr == ""
    lines = [ln for ln in p.stdout.splitlines() if "rolled out" in ln]
    assert len(lines) == 1
    assert "the top 16 elites rolled out, 100 steps each (x-y only: point_omni has no MuJoCo " \
           "model)" in lines[0]
    assert sorted(f.name for f in (run / "viz").iterdir()) == ["rollouts.npz"]  # no temp files
    m = page_data(run / "report.html")["archive"]["maps"][0]
    assert m["rollouts"]["cells"] == top.tolist()


def test_cached_until_the_top_k_changes(point_run, tmp_path):
    run = _copy(point_run[0], tmp_path / "run", rollouts=True)
    npz = run / "viz" / "rollouts.npz"
    before = npz.stat().st_mtime_ns
    for args in ((), ("--top-k", "4")):  # the same top 16, or a prefix of them: reused
        p = evoflow("viz", run, *args)
        assert "rolled out" not in p.stdout and npz.stat().st_mtime_ns == before
    assert page_data(run / "report.html")["archive"]["maps"][0]["rollouts"]["cells"] == \
        np.load(npz)["cell"][:4].tolist()
    # more elites than cached: recomputed for the new top-k
    p = evoflow("viz", run, "--top-k", "20")
    a = np.load(run / "archive.npz")
    z = np.load(npz)
    assert "the top 20 elites rolled out" in p.stdout
    assert z["cell"].tolist() == top_cells(a, 20).tolist() and z["xy"].shape == (20, 100, 2)
    # a cell's elite replaced (its fitness changes): that rollout is stale, all recomputed
    arrays = dict(np.load(run / "archive.npz"))
    c = int(top_cells(a)[3])
    arrays["fitness"][c] = arrays["fitness"][c] - np.float32(1e-3)
    np.savez(run / "archive.npz", **arrays)
    before = npz.stat().st_mtime_ns
    p = evoflow("viz", run)
    z = np.load(npz)
    assert "the top 16 elites rolled out" in p.stdout and npz.stat().st_mtime_ns != before
    assert z["cell"].tolist() == top_cells(arrays).tolist()
    assert np.array_equal(z["fitness"], arrays["fitness"][z["cell"]])


def test_no_rollouts_writes_none(point_run, tmp_path):
    run = _copy(point_run[0], tmp_path / "run", rollouts=False)
    p = evoflow("viz", run, "--no-rollouts")
    assert not (run / "viz").exists() and "rolled out" not in p.stdout
    assert 'data-view="rollouts"' not in (run / "report.html").read_text()


def test_a_top_k_cell_plays_its_rollout_in_the_browser(point_run):
    run = point_run[0]
    a = np.load(run / "archive.npz")
    z = np.load(run / "viz" / "rollouts.npz")
    top = int(z["cell"][0])
    other = int(next(c for c in top_cells(a, 64) if c not in z["cell"]))
    with browser() as b, open_page(b, run / "report.html") as p:
        page = p.page
        for cell in (top, other):  # CVT: a centroid's pixel belongs to its own cell
            xy = page.evaluate(CELL_XY, [*map(float, a["centroid"][cell]), "archive-heatmap"])
            page.mouse.move(*xy)
            page.wait_for_function("document.getElementById('archive-tooltip').dataset.cell "
                                   f"=== '{cell}'")
            page.mouse.click(*xy)
            page.wait_for_function(f"document.getElementById('rollout').dataset.cell === "
                                   f"'{cell}'")
            if cell == top:
                page.wait_for_function("['true', 'done'].includes("
                                       "document.getElementById('rollout').dataset.playing)")
                path = page.evaluate("document.getElementById('rollout-plot').data[0].x.length")
                assert path == z["xy"].shape[1]
        assert page.inner_text("#rollout .eval-cmd") == \
            f"evoflow eval {run} --policy cell:{other}"
        assert p.errors == [] and p.requests == []


# --- pieces, without a run ----------------------------------------------------------------------
def test_point_trajectory_ends_where_evaluate_puts_the_descriptor():
    import jax

    from evoflow.tasks.point_mass import PointOmni

    task = PointOmni({"episode_length": 30, "policy_hidden": [8], "resets": "stochastic"})
    params = task.policy.init(jax.random.key(0), 5)
    key = jax.random.key(3)
    path = task.trajectory(None, params, key)
    ev = task.evaluate(None, params, key)
    assert path.shape == (5, 30, 2)
    np.testing.assert_array_equal(np.asarray(path[:, -1]), np.asarray(ev.descriptor))


def test_usable_keeps_only_current_elites():
    from evoflow.viz.rollouts import fresh, top_cells as ranked, usable

    f = np.array([1.0, -np.inf, 5.0, 5.0, 3.0, 0.5], np.float32)
    archive = {"fitness": f}
    assert ranked(archive, 3).tolist() == [2, 3, 4]  # ties by cell index
    xy = np.arange(3 * 4 * 2, dtype=np.float32).reshape(3, 4, 2)
    cached = {"cell": np.array([3, 2, 4]), "fitness": f[[3, 2, 4]], "xy": xy,
              "xy_names": np.array(["x", "y"])}
    top = ranked(archive, 3)
    u = usable(cached, archive, top)
    assert u["cell"].tolist() == [2, 3, 4] and np.array_equal(u["xy"][0], xy[1])
    assert u["xy_names"].tolist() == ["x", "y"] and fresh(u, top)
    g = f.copy()
    g[3] = 4.0  # cell 3's elite replaced
    u = usable(cached, {"fitness": g}, ranked({"fitness": g}, 3))
    assert u["cell"].tolist() == [2, 4] and not fresh(u, ranked({"fitness": g}, 3))
    assert usable({"cell": np.array([1]), "xy": xy[:1]}, archive, top) is None


def test_no_osmesa_is_one_line_naming_the_package(monkeypatch):
    from evoflow.viz import frames

    monkeypatch.delenv("MUJOCO_GL", raising=False)
    monkeypatch.setattr(frames.ctypes.util, "find_library", lambda name: None)
    images, why = frames.render(b"", np.zeros((1, 2, 7)))
    assert images is None and why == frames.OSMESA_HINT
    assert "apt-get install libosmesa6" in why and "\n" not in why


def test_a_failed_render_is_one_warning_and_the_paths_are_kept(tmp_path, monkeypatch):
    from evoflow.algorithms.map_elites import rollouts as me_rollouts
    from evoflow.viz import rollouts as R
    from evoflow.viz.load import load_run
    from tests.viz import fixtures as fx

    run = fx.grid_run(tmp_path / "g", rollouts=False)
    cfg = (run / "config.json").read_text().replace('"batch_size": 32',
                                                    '"batch_size": 32, "policy_hidden": []')
    (run / "config.json").write_text(cfg)
    r = load_run(run)
    top = R.top_cells(r.archive, 3)

    def fake(path, cells, *, states=False):  # a MuJoCo task's rollouts, without building one
        assert states and cells.tolist() == top.tolist()
        return {"cell": cells.astype(np.int32), "fitness": r.archive["fitness"][cells],
                "xy": np.zeros((3, 5, 2), np.float32), "qpos": np.zeros((3, 5, 7)),
                "mj_model": None}

    monkeypatch.setattr(me_rollouts, "rollout_cells", fake)
    monkeypatch.setattr("evoflow.runtime.setup_jax", lambda: None)
    monkeypatch.setattr(me_rollouts, "_frames",
                        lambda q, m: {"note": np.array("no frames: the reason, in one line")})
    lines = R.ensure(r, 3)
    assert len(lines) == 1 and "the top 3 elites rolled out, 5 steps each (x-y only)" in lines[0]
    assert r.warnings == ["no frames: the reason, in one line"]
    z = np.load(run / "viz" / "rollouts.npz")
    assert z["cell"].tolist() == top.tolist() and "note" not in z.files and "qpos" not in z.files


def test_the_family_declares_the_rollouts_function(tmp_path, monkeypatch):
    """viz calls what the family declares; a family without `rollouts` gets no rollouts."""
    import dataclasses

    from evoflow.viz import rollouts as R
    from evoflow.viz.load import load_run
    from evoflow.viz.report import run_page
    from tests.viz import fixtures as fx

    run = fx.grid_run(tmp_path / "g", rollouts=False)
    r = load_run(run)
    calls = []

    def fake(path, cells, *, frames=True):
        calls.append((path, cells.tolist(), frames))
        return {"cell": cells.astype(np.int32), "xy": np.zeros((len(cells), 4, 2), np.float32),
                "fitness": r.archive["fitness"][cells]}, {"what": "made up", "warning": None}

    monkeypatch.setattr("tests.viz.test_rollouts._fake_rollouts", fake, raising=False)
    r.family = dataclasses.replace(r.family, rollouts="tests.viz.test_rollouts:_fake_rollouts")
    lines = R.ensure(r, 2, frames=False)
    assert calls == [(run, R.top_cells(r.archive, 2).tolist(), False)]
    assert "the top 2 elites rolled out, 4 steps each (made up)" in lines[0]
    r.family = dataclasses.replace(r.family, rollouts=None)
    assert R.ensure(r, 2) == [] and r.rollouts is None
    assert 'data-view="rollouts"' not in run_page(r)


def test_frames_render_in_a_child_process():
    osmesa_or_skip()
    import mujoco

    from evoflow.viz import frames

    model = mujoco.MjModel.from_xml_string(
        '<mujoco><worldbody><light pos="0 0 3"/><geom type="plane" size="5 5 .1"/>'
        '<body pos="0 0 .5"><freejoint/><geom size=".2"/></body></worldbody></mujoco>')
    qpos = np.zeros((2, 3, model.nq))
    qpos[..., 2] = 0.5
    qpos[..., 3] = 1.0
    qpos[1, :, 0] = [0.0, 0.5, 1.0]
    images, why = frames.render(frames.model_bytes(model), qpos)
    assert why is None and images.shape == (2, 3, 120, 160, 3) and images.dtype == np.uint8
    assert images.std() > 5  # not a blank image
    assert frames.frame_steps(250).tolist()[:3] == [0, 4, 8] and len(frames.frame_steps(250)) \
        == 60 and frames.frame_steps(20).tolist() == list(range(20))


# --- a Brax run: x-y of the torso and MuJoCo frames -----------------------------------------------
@pytest.mark.slow
def test_ant_omni_rollouts_end_at_the_descriptor_and_have_frames(tmp_path):
    evoflow("run", "me", "--env", "ant_omni", "--preset", "tiny", "--set",
            "resets=deterministic", "--out", tmp_path, "--quiet")
    run = only_run(tmp_path)
    p = evoflow("viz", run)
    a = np.load(run / "archive.npz")
    z = np.load(run / "viz" / "rollouts.npz", allow_pickle=False)
    top = top_cells(a)
    k = len(top)
    assert z["cell"].tolist() == top.tolist() and z["xy"].shape == (k, 20, 2)
    np.testing.assert_allclose(z["xy"][:, -1], a["descriptor"][top], rtol=0, atol=1e-5)
    assert z["xy_names"].tolist() == ["torso x", "torso y"]
    if ctypes.util.find_library("OSMesa") is None and "MUJOCO_GL" not in os.environ:
        assert "frames" not in z.files
        assert "warning: no frames: MuJoCo could not create an OSMesa context (apt-get " \
               "install libosmesa6)" in p.stderr.splitlines()
        osmesa_or_skip()
    assert p.stderr == ""
    assert z["frames"].shape == (k, 20, 120, 160, 3) and z["frames"].dtype == np.uint8
    assert z["frame_steps"].tolist() == list(range(20))
    assert "x-y and 20 frames each" in p.stdout
    with browser() as b, open_page(b, run / "report.html") as pg:
        page = pg.page
        xy = page.evaluate(CELL_XY, [*map(float, a["centroid"][top[0]]), "archive-heatmap"])
        page.mouse.move(*xy)
        page.mouse.click(*xy)
        page.wait_for_function("(document.getElementById('rollout-frame') || {}).src"
                               "?.startsWith('data:image/jpeg;base64,')")
        assert pg.errors == [] and pg.requests == []
