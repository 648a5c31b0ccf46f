"""Static figures: image comparison against tests/viz/baseline/, values read back from the
Axes, and the lazy import contract.

Regenerate baselines (after a deliberate change, then look at them):
    EVOFLOW_UPDATE_BASELINE=1 python -m pytest tests/viz/test_figures.py
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("matplotlib")
import matplotlib
import matplotlib.style

matplotlib.use("Agg")
from matplotlib.figure import Figure
from matplotlib.testing import (
    set_font_settings_for_testing,
    set_reproducibility_for_testing,
)
from matplotlib.testing.compare import compare_images

from evoflow import viz
from tests.viz import fixtures as fx

BASELINE = Path(__file__).parent / "baseline"
TOL = 2.0
UPDATE = os.environ.get("EVOFLOW_UPDATE_BASELINE") == "1"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    d = tmp_path_factory.mktemp("fig")
    return {"grid": fx.grid_run(d / "grid", rollouts=False), "cvt": fx.cvt_run(d / "cvt"),
            "nested": fx.nested_run(d / "nested"), "cbo": fx.cbo_run(d / "cbo"),
            "seeds": [fx.grid_run(d / f"s{k}", seed=k, rollouts=False) for k in range(3)]}


def _draw(name: str, runs, **kw):
    with matplotlib.style.context("default"):
        set_font_settings_for_testing()  # DejaVu Sans (bundled), hinting fixed
        set_reproducibility_for_testing()
        fig = Figure(figsize=(6, 4.5), dpi=80)
        ax = fig.add_subplot()
        if name == "archive_grid":
            viz.archive_heatmap(viz.load_run(runs["grid"]), ax, **kw)
        elif name == "archive_cvt":
            viz.archive_heatmap(viz.load_run(runs["cvt"]), ax, **kw)
        elif name == "archive_nested":
            viz.archive_heatmap(viz.load_run(runs["nested"]), ax, **kw)
        elif name == "parallel_axes":
            viz.parallel_axes(viz.load_run(runs["nested"]), ax, **kw)
        elif name == "curves_3_seeds":
            viz.curves(runs["seeds"], "qd_score", ax, **kw)
        elif name == "particles":
            viz.particles(runs["cbo"], ax, **kw)
        return fig


def _compare(fig, name: str, tmp_path: Path):
    actual = tmp_path / f"{name}.png"
    fig.savefig(actual, metadata={"Software": None})
    expected = BASELINE / f"{name}.png"
    if UPDATE:
        BASELINE.mkdir(exist_ok=True)
        expected.write_bytes(actual.read_bytes())
    assert expected.exists(), f"no baseline {expected}; run with EVOFLOW_UPDATE_BASELINE=1"
    return compare_images(str(expected), str(actual), tol=TOL)


@pytest.mark.parametrize("name", ["archive_grid", "archive_cvt", "archive_nested",
                                  "parallel_axes", "curves_3_seeds", "particles"])
def test_image_matches_baseline(name, runs, tmp_path):
    assert _compare(_draw(name, runs), name, tmp_path) is None


def test_image_comparison_can_fail(runs, tmp_path):
    """A different colour range must not pass as the baseline."""
    if UPDATE:
        pytest.skip("updating baselines")
    err = _compare(_draw("archive_grid", runs, vmin=0, vmax=300), "archive_grid", tmp_path)
    assert err is not None and "RMS Value" in err


def test_grid_values_drawn_equal_archive_fitness(runs):
    a = np.load(runs["grid"] / "archive.npz")
    ax = viz.archive_heatmap(viz.load_run(runs["grid"]), Figure().add_subplot())
    drawn = ax.collections[0].get_array()  # (rows = dim 1, columns = dim 0)
    n0, n1 = a["grid_shape"]
    expected = a["fitness"].astype(np.float64).reshape(n0, n1).T  # C order: dim 1 fastest
    assert np.array_equal(np.ma.filled(drawn.astype(np.float64), -np.inf), expected)
    assert np.array_equal(np.ma.getmaskarray(drawn), ~np.isfinite(expected))


def test_cvt_values_drawn_equal_archive_fitness(runs):
    a = np.load(runs["cvt"] / "archive.npz")
    ax = viz.archive_heatmap(runs["cvt"], Figure().add_subplot())  # a path works too
    drawn = ax.collections[0].get_array()
    assert np.array_equal(np.ma.filled(drawn.astype(np.float64), -np.inf),
                          a["fitness"].astype(np.float64))


def test_title_units_colorbar(runs):
    fig = Figure()
    ax = viz.archive_heatmap(viz.load_run(runs["grid"]), fig.add_subplot())
    assert ax.get_title() == "me on point_omni, seed 0"
    assert ax.get_xlabel() == "x [m]" and ax.get_ylabel() == "y [m]"
    assert len(fig.axes) == 2  # the colour bar
    fig = Figure()
    viz.archive_heatmap(viz.load_run(runs["grid"]), fig.add_subplot(), cbar=None)
    assert len(fig.axes) == 1


def test_archive_dict_and_pyplot_current_axes(runs):
    import matplotlib.pyplot as plt

    arrays = dict(np.load(runs["cvt"] / "archive.npz"))
    plt.figure()
    try:
        ax = viz.archive_heatmap(arrays, cmap="viridis")
        assert ax is plt.gca()
    finally:
        plt.close("all")


def test_bad_dims_is_a_clear_error(runs):
    with pytest.raises(ValueError, match="dims=.*0..1"):
        viz.archive_heatmap(viz.load_run(runs["grid"]), Figure().add_subplot(), dims=(0, 2))


def test_curves_median_is_the_median_of_seeds(runs):
    ax = viz.curves(runs["seeds"], "qd_score", Figure().add_subplot())
    x, y = ax.lines[0].get_data()
    per_seed = [np.interp(x, *viz.load_run(r).metrics and _xy(r)) for r in runs["seeds"]]
    assert np.allclose(y, np.median(per_seed, axis=0))


def _xy(run_dir):
    from evoflow.viz.load import series

    return series(viz.load_run(run_dir), "qd_score")


@pytest.mark.parametrize("module", ["evoflow", "evoflow.cli", "evoflow.viz"])
def test_import_loads_no_plotting_library(module):
    code = (f"import sys, {module}; bad = [m for m in ('plotly', 'matplotlib') if m in "
            f"sys.modules]; print(bad); sys.exit(1 if bad else 0)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
