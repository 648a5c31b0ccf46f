"""The files `evoflow viz` writes besides the page: `figures/<view>.png` and `archive.csv`.

Figures are drawn on bare `matplotlib.figure.Figure` objects (no pyplot, no GUI backend, no
global state) and returned as PNG bytes, so the caller writes each file atomically.
"""

from __future__ import annotations

import csv
import io

import numpy as np

from evoflow.viz import figures as F
from evoflow.viz import geometry as geo
from evoflow.viz.load import Run, metric_names


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, metadata={"Software": None})
    return buf.getvalue()


def _figure(w=6.4, h=4.8):
    from matplotlib.figure import Figure

    return Figure(figsize=(w, h), layout="constrained")


def curves_png(groups: list[list[Run]], labels: list[str] | None = None) -> bytes | None:
    metrics = metric_names([r for g in groups for r in g])
    if not metrics:
        return None
    ncols = min(3, len(metrics))
    nrows = -(-len(metrics) // ncols)
    fig = _figure(4.3 * ncols, 3.3 * nrows)
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax, metric in zip(axes, metrics):
        for k, runs in enumerate(groups):
            F.curves(runs, metric, ax, label=None if labels is None else labels[k])
        ax.set_title(metric)
        if labels is not None and len(labels) > 1:
            ax.legend(fontsize=7)
    for ax in axes[len(metrics):]:
        ax.set_visible(False)
    title = F._group_title(groups[0]) if labels is None else ", ".join(labels)
    fig.suptitle(title)
    return _png(fig)


def _archive_png(run: Run) -> bytes | None:
    if run.archive is None:
        return None
    fig = _figure()
    F.archive_heatmap(run, fig.add_subplot())
    return _png(fig)


def _parallel_png(run: Run) -> bytes | None:
    if run.archive is None or np.asarray(run.archive["descriptor"]).shape[1] <= 2:
        return None
    fig = _figure(7.5, 4.8)
    F.parallel_axes(run, fig.add_subplot())
    return _png(fig)


def _particles_png(run: Run) -> bytes | None:
    if run.particles is None:
        return None
    fig = _figure()
    F.particles(run, fig.add_subplot())
    return _png(fig)


# Figures of built-in views, by view name: run -> PNG bytes, or None when its files are absent.
FIGURES = {
    "archive": _archive_png,
    "parallel_axes": _parallel_png,
    "distilled": lambda run: _distilled_png(run) if run.archive is not None
    and run.distilled is not None else None,
    "particles": _particles_png,
}


def run_figures(run: Run) -> dict[str, bytes]:
    """`figures/<view>.png` of a run: curves (with metrics), then the figures of the family's
    declared built-in views, in its order."""
    out = {}
    png = curves_png([[run]]) if run.metrics else None
    if png:
        out["curves"] = png
    for name in run.views:
        png = FIGURES[name](run) if name in FIGURES else None
        if png:
            out[name] = png
    return out


def run_tables(run: Run) -> dict[str, bytes]:
    """Files beside the page: `archive.csv` for a run with the archive view."""
    if "archive" in run.views and run.archive is not None:
        return {"archive.csv": archive_csv(run)}
    return {}


def _distilled_png(run: Run) -> bytes:
    from evoflow.viz.views import distilled_view

    a = dict(run.archive)
    m = distilled_view(run).data["maps"][0]
    import base64

    a["fitness"] = np.frombuffer(base64.b64decode(m["fitness"]["b64"]), "<f4")
    vmin, vmax = geo.color_range(geo.fitness(run.archive))
    fig = _figure()
    ax = F.archive_heatmap(a, fig.add_subplot(), vmin=vmin, vmax=vmax)
    ax.set_title(f"{run.title}: distilled policy")
    return _png(fig)


def compare_figures(groups: dict[str, list[Run]]) -> dict[str, bytes]:
    out = {}
    png = curves_png(list(groups.values()), list(groups))
    if png:
        out["curves"] = png
    runs = [r for g in groups.values() for r in g if r.archive is not None
            and "archive" in r.views]
    if runs:
        vmin, vmax = geo.color_range(np.concatenate([geo.fitness(r.archive) for r in runs]))
        ncols = min(3, len(runs))
        nrows = -(-len(runs) // ncols)
        fig = _figure(4.6 * ncols, 4.0 * nrows)
        axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
        for ax, run in zip(axes, runs):
            F.archive_heatmap(run, ax, vmin=vmin, vmax=vmax, cbar=None)
        for ax in axes[len(runs):]:
            ax.set_visible(False)
        fig.colorbar(axes[0].collections[0], ax=list(axes[:len(runs)]), label="fitness")
        out["archive"] = _png(fig)
    return out


def archive_csv(run: Run) -> bytes:
    """One row per filled cell: cell, fitness, descriptor_0..D-1, emitter, generation, parent,
    policy (`cell:N`, what `evoflow eval --policy` takes). Missing fields are empty."""
    a = run.archive
    f = np.asarray(a["fitness"])
    desc = np.asarray(a["descriptor"])
    d = desc.shape[1]
    names = [str(v) for v in np.asarray(a.get("emitter_names", [])).tolist()]
    cols = {k: np.asarray(a[k]) for k in ("emitter", "generation", "parent")
            if k in a and np.asarray(a[k]).shape == f.shape}
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["cell", "fitness", *[f"descriptor_{i}" for i in range(d)], "emitter",
                "generation", "parent", "policy"])
    for c in np.flatnonzero(np.isfinite(f.astype(np.float64))):
        e = ""
        if "emitter" in cols:
            k = int(cols["emitter"][c])
            e = names[k] if 0 <= k < len(names) else str(k)
        w.writerow([int(c), repr(float(f[c])), *[repr(float(v)) for v in desc[c]], e,
                    int(cols["generation"][c]) if "generation" in cols else "",
                    int(cols["parent"][c]) if "parent" in cols else "", f"cell:{int(c)}"])
    return buf.getvalue().encode()
