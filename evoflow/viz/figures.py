"""Matplotlib views, shaped like pyplot and pyribs: `ax=None` draws on the current axes,
options are keyword-only, extra keywords pass through to the matplotlib call, each returns the
Axes it drew on.

    >>> from evoflow import viz
    >>> run = viz.load_run("runs/me-point_omni-...-s0")
    >>> viz.archive_heatmap(run, cmap="viridis")
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from evoflow.viz import geometry as geo
from evoflow.viz.load import Run, axis_label, filled, load_run, series
from evoflow.viz.stats import common_grid, median_iqr


def _axes(ax):
    if ax is None:
        import matplotlib.pyplot as plt

        ax = plt.gca()
    return ax


def _as_archive(run_or_archive) -> tuple[Run | None, dict]:
    if isinstance(run_or_archive, (str, Path)):
        run_or_archive = load_run(run_or_archive)
    if isinstance(run_or_archive, Run):
        if run_or_archive.archive is None:
            raise ValueError(f"{run_or_archive.path}: no readable archive.npz")
        return run_or_archive, run_or_archive.archive
    return None, run_or_archive


def _colorbar(ax, mappable, cbar, label: str) -> None:
    if cbar is None or cbar is False:
        return
    kw = {"ax": ax} if cbar == "auto" else {"cax": cbar}
    ax.figure.colorbar(mappable, label=label, **kw)


def archive_heatmap(run_or_archive, ax=None, *, cmap="magma", vmin=None, vmax=None, cbar="auto",
                    dims=(0, 1), **pcm_kwargs):
    """Fitness of every archive cell; empty cells left blank.

    Grid archives draw one quad per cell (a nested grid, as QDax, when D > 2); CVT archives draw
    each centroid's Voronoi cell clipped to the descriptor box (2-D) or the filled centroids
    projected on `dims` (D > 2).

    Args:
        run_or_archive: a `Run`, a run directory, or the dict of `archive.npz` arrays.
        ax: the Axes to draw on (default: the current one).
        cmap, vmin, vmax: colour map and range (default: the filled cells' min and max).
        cbar: "auto" (a colour bar next to `ax`), an Axes to draw it in, or None.
        dims: the two descriptor dimensions on x and y.
        **pcm_kwargs: passed to `pcolormesh` (grids) or the `PolyCollection` (CVT).
    """
    from matplotlib.collections import PolyCollection

    run, a = _as_archive(run_or_archive)
    ax = _axes(ax)
    dims = geo.check_dims(a, dims)
    f = geo.fitness(a)
    vmin, vmax = geo.color_range(f, vmin, vmax)
    d = np.asarray(a["descriptor"]).shape[1]
    low, high = geo.box(a)
    if geo.kind(a) == "grid" and geo.grid_shape(a):
        img = geo.index_image(a, dims)
        z = np.where(img.index >= 0, f[np.maximum(img.index, 0)], np.nan)
        mesh = ax.pcolormesh(img.x_edges, img.y_edges, np.ma.masked_invalid(z), cmap=cmap,
                             vmin=vmin, vmax=vmax, **pcm_kwargs)
        if img.kind == "nested":
            _nested_frame(ax, a, img)
        else:
            ax.set_xlim(low[0], high[0])
            ax.set_ylim(low[1], high[1])
            ax.set_xlabel(axis_label(a, 0))
            ax.set_ylabel(axis_label(a, 1))
    elif d == 2:
        polys = geo.voronoi_polygons(np.asarray(a["centroid"]), low, high)
        kw = {"edgecolors": "0.75", "linewidths": 0.3, **pcm_kwargs}
        mesh = PolyCollection(polys, array=np.ma.masked_invalid(f), cmap=cmap, **kw)
        mesh.set_clim(vmin, vmax)
        ax.add_collection(mesh)
        ax.set_xlim(low[0], high[0])
        ax.set_ylim(low[1], high[1])
        ax.set_xlabel(axis_label(a, dims[0]))
        ax.set_ylabel(axis_label(a, dims[1]))
    else:
        cen = np.asarray(a["centroid"], np.float64)
        keep = filled(a)
        mesh = ax.scatter(cen[keep, dims[0]], cen[keep, dims[1]], c=f[keep], cmap=cmap,
                          vmin=vmin, vmax=vmax, s=12, **pcm_kwargs)
        ax.set_xlim(low[dims[0]], high[dims[0]])
        ax.set_ylim(low[dims[1]], high[dims[1]])
        ax.set_xlabel(axis_label(a, dims[0]))
        ax.set_ylabel(axis_label(a, dims[1]))
    ax.set_aspect("auto")
    if run is not None:
        ax.set_title(run.title)
    _colorbar(ax, mesh, cbar, "fitness")
    return ax


def _nested_frame(ax, a: dict, img: geo.IndexImage) -> None:
    """Block separators and labels for a nested grid: inner dims inside, outer dims by block."""
    (ni0, ni1), (no0, no1) = img.blocks["inner"], img.blocks["outer"]
    o0, o1 = img.blocks["outer_dims"]
    d0, d1 = img.blocks["dims"]
    for k in range(1, no0):
        ax.axvline(k * ni0, color="0.3", lw=0.8)
    for k in range(1, no1):
        ax.axhline(k * ni1, color="0.3", lw=0.8)
    ax.set_xlim(0, ni0 * no0)
    ax.set_ylim(0, ni1 * no1)
    low, high = geo.box(a)

    def ticks(n_out, n_in, k):
        centres = (np.arange(n_out) + 0.5) * n_in
        if k is None:
            return centres, [""] * n_out
        edges = np.linspace(low[k], high[k], n_out + 1)
        return centres, [f"{(edges[i] + edges[i + 1]) / 2:.2g}" for i in range(n_out)]

    ax.set_xticks(*ticks(no0, ni0, o0))
    ax.set_yticks(*ticks(no1, ni1, o1))
    xl = f"{axis_label(a, o0)} (blocks); inside: {axis_label(a, d0)}" if o0 is not None \
        else axis_label(a, d0)
    yl = f"{axis_label(a, o1)} (blocks); inside: {axis_label(a, d1)}" if o1 is not None \
        else axis_label(a, d1)
    ax.set_xlabel(xl)
    ax.set_ylabel(yl)


def parallel_axes(run_or_archive, ax=None, *, cmap="magma", vmin=None, vmax=None, cbar="auto",
                  **lc_kwargs):
    """One line per elite across its descriptors (each axis scaled to the descriptor box),
    coloured by fitness, best on top: the view for D > 2."""
    from matplotlib.collections import LineCollection

    run, a = _as_archive(run_or_archive)
    ax = _axes(ax)
    f = geo.fitness(a)
    vmin, vmax = geo.color_range(f, vmin, vmax)
    low, high = geo.box(a)
    keep = filled(a)
    keep = keep[np.argsort(f[keep], kind="stable")]
    desc = np.asarray(a["descriptor"], np.float64)
    d = desc.shape[1]
    scaled = (desc[keep] - low) / (high - low)
    segs = [np.column_stack([np.arange(d), row]) for row in scaled]
    lc = LineCollection(segs, cmap=cmap, array=f[keep], **{"linewidths": 0.8, "alpha": 0.8,
                                                           **lc_kwargs})
    lc.set_clim(vmin, vmax)
    ax.add_collection(lc)
    for k in range(d):
        ax.axvline(k, color="0.2", lw=0.8)
        ax.text(k, -0.04, f"{low[k]:.3g}", ha="center", va="top", fontsize=8)
        ax.text(k, 1.04, f"{high[k]:.3g}", ha="center", va="bottom", fontsize=8)
    ax.set_xlim(-0.25, d - 0.75)
    ax.set_ylim(-0.12, 1.12)
    ax.set_yticks([])
    ax.set_xticks(range(d), [axis_label(a, k) for k in range(d)], rotation=20, ha="right")
    if run is not None:
        ax.set_title(run.title)
    _colorbar(ax, lc, cbar, "fitness")
    return ax


def _as_runs(runs) -> list[Run]:
    if isinstance(runs, (Run, str, Path)):
        runs = [runs]
    return [r if isinstance(r, Run) else load_run(r) for r in runs]


def curves(runs, metric: str, ax=None, *, x: str = "evaluations", label: str | None = None,
           **line_kwargs):
    """A metric against `x`: one run as a line; several (seeds) as the median and the 25-75%
    band on a common grid of `x` values."""
    runs = _as_runs(runs)
    ax = _axes(ax)
    pairs = [series(r, metric, x) for r in runs]
    pairs = [(xs, ys) for xs, ys in pairs if xs.size]
    if len(pairs) == 1:
        (line,) = ax.plot(*pairs[0], label=label, **line_kwargs)
    elif pairs:
        grid, ys = common_grid(pairs)
        med, q25, q75 = median_iqr(ys)
        (line,) = ax.plot(grid, med, label=label, **line_kwargs)
        ax.fill_between(grid, q25, q75, color=line.get_color(), alpha=0.25, lw=0)
    ax.set_xlabel(x)
    ax.set_ylabel(metric)
    if runs and label is None:
        ax.set_title(_group_title(runs))
    return ax


def _group_title(runs: Sequence[Run]) -> str:
    if len(runs) == 1:
        return runs[0].title
    algos = sorted({r.algo for r in runs})
    envs = sorted({r.env for r in runs})
    seeds = ", ".join(str(r.seed) for r in runs)
    return f"{'/'.join(algos)} on {'/'.join(envs)}, seeds {seeds} (median, IQR)"


def particles(run, ax=None, *, snapshot: int = -1, dims=(0, 1), cmap="tab10", **scatter_kwargs):
    """CBO particles of one snapshot on two coordinates, one colour per run; each run's
    consensus as a black-edged cross."""
    run = _as_runs(run)[0]
    if run.particles is None:
        raise ValueError(f"{run.path}: no readable particles.npz")
    ax = _axes(ax)
    p = run.particles
    pos, cons = np.asarray(p["positions"]), np.asarray(p["consensus"])
    i, j = dims
    s = range(pos.shape[0])[snapshot]
    colors = _palette(cmap, pos.shape[1])
    for r in range(pos.shape[1]):
        ax.scatter(pos[s, r, :, i], pos[s, r, :, j], s=8, color=colors[r], alpha=0.6,
                   label=f"run {r}", **scatter_kwargs)
        ax.scatter(cons[s, r, i], cons[s, r, j], s=70, marker="X", color=colors[r],
                   edgecolors="black", linewidths=0.8)
    ax.set_xlabel(f"x{i}")
    ax.set_ylabel(f"x{j}")
    it = int(np.asarray(p["iteration"])[s]) if "iteration" in p else s
    ax.set_title(f"{run.title}, iteration {it}")
    return ax


def _palette(cmap, n: int):
    import matplotlib

    cm = matplotlib.colormaps[cmap]
    return [cm(k % cm.N if cm.N < 256 else k / max(n - 1, 1)) for k in range(n)]
