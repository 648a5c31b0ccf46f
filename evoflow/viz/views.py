"""What each page view carries: its markup skeleton and its data (base64 typed arrays).

A view is named by its `data-view`. Which views a run gets comes from its family's declaration
(`Family.views`, in page order): a built-in view name (`BUILTIN`: archive, parallel_axes,
distilled, rollouts, particles) or `"module:function"`, a function the family package ships
that takes the `Run` and returns a list of `View`s (with, when the page should draw them, a
`script`: a JS function expression `function (view) {...}` given the view's data, run in the
page's script where `arr`, `fmt`, `esc`, `nullify`, `CONFIG` and `PALETTE` are in scope, and
returning a promise or nothing). `curves` comes with every run that has metrics lines, last
unless the family names it. Arrays travel as {"dtype", "shape", "b64"}: little-endian bytes the
page turns into typed arrays without parsing numbers.
"""

from __future__ import annotations

import base64
import io
import json
from dataclasses import dataclass

import numpy as np

from evoflow.viz import geometry as geo
from evoflow.viz.load import Run, axis_label, metric_names, series, text_list
from evoflow.viz.stats import common_grid, median_iqr

MAX_FRAMES = 200  # particle snapshots animated on the page
MAX_PARTICLE_VALUES = 1_000_000  # float32 values of particle positions on the page (~5 MB)
MAX_JPEG_FRAMES = 60


@dataclass
class View:
    name: str
    heading: str
    html: str
    data: dict
    script: str = ""  # a family view's drawing function (JS), "" for built-in or static views
    css: str = ""  # a family view's style rules


def b64(arr, dtype: str) -> dict:
    a = np.ascontiguousarray(np.asarray(arr), dtype=np.dtype(dtype).newbyteorder("<"))
    return {"dtype": dtype, "shape": list(a.shape), "b64": base64.b64encode(a.tobytes()).decode()}


def magma(n: int = 11) -> list:
    import matplotlib

    cm = matplotlib.colormaps["magma"]
    return [[k / (n - 1), "rgb({},{},{})".format(*(round(255 * c) for c in
                                                  cm(k / (n - 1))[:3]))] for k in range(n)]


# --- per run ----------------------------------------------------------------------------------
def _archive(run: Run, top_k: int) -> list[View]:
    return [archive_view([run], top_k=top_k)] if run.archive is not None else []


def _parallel(run: Run, top_k: int) -> list[View]:
    if run.archive is None or np.asarray(run.archive["descriptor"]).shape[1] <= 2:
        return []
    return [parallel_view(run)]


def _distilled(run: Run, top_k: int) -> list[View]:
    return [distilled_view(run)] if run.archive is not None and run.distilled is not None \
        else []


def _rollouts_view(run: Run, top_k: int) -> list[View]:
    if run.archive is None or run.rollouts is None or run.family is None \
            or run.family.rollouts is None:
        return []
    n = min(top_k, len(run.rollouts.get("cell", [])))
    return [View("rollouts", "Rollouts of the top elites",
                 '<p class="hint">Click a cell of the archive: one of the top '
                 f"{n} elites plays here; any other cell shows the command that rolls it "
                 'out.</p><div id="rollout"></div>', {})]


def _particles(run: Run, top_k: int) -> list[View]:
    return [particles_view(run)] if run.particles is not None else []


def _curves(run: Run, top_k: int) -> list[View]:
    return [curves_view([[run]], [run.title])] if run.metrics else []


# Built-in views by name: (run, top_k) -> the views the run's files support (none or one).
BUILTIN = {"archive": _archive, "parallel_axes": _parallel, "distilled": _distilled,
           "rollouts": _rollouts_view, "particles": _particles, "curves": _curves}


def run_views(run: Run, *, top_k: int = 16) -> list[View]:
    names = list(run.views)
    if "curves" not in names:
        names.append("curves")
    out: list[View] = []
    for name in names:
        if ":" in name:
            out += family_views(run, name)
        elif name in BUILTIN:
            out += BUILTIN[name](run, top_k)
        else:
            run.warnings.append(f"view {name!r} of family {run.family.name}: not a view of "
                                f"this evoflow; skipped")
    return out


def family_views(run: Run, ref: str) -> list[View]:
    """The views of a family's `"module:function"` (run -> list of View); a failure is one
    warning and no view."""
    from evoflow.algorithms.registry import load_ref

    try:
        views = list(load_ref(ref)(run))
        bad = [v for v in views if not isinstance(v, View)]
        if bad:
            raise TypeError(f"returned {type(bad[0]).__name__}, not evoflow.viz.views.View")
        for v in views:
            if "</script" in v.script.lower() or "</style" in v.css.lower():
                raise ValueError(f"view {v.name}: its script or css closes its element")
    except Exception as e:  # the page is still written; the line says which view failed
        run.warnings.append(f"view {ref}: failed ({type(e).__name__}: {e}); skipped")
        return []
    return views


def compare_views(runs: list[Run]) -> list[View]:
    groups = group_runs(runs)
    out = []
    maps = [r for r in runs if r.archive is not None and "archive" in r.views]
    if maps:
        out.append(archive_view(maps, top_k=0))
    if any(r.metrics for r in runs):
        out.append(curves_view(list(groups.values()), list(groups)))
    return out


def group_runs(runs: list[Run]) -> dict[str, list[Run]]:
    """Runs grouped by (algo, preset, config): seeds of one setting form one group."""
    keyed: dict[tuple, list[Run]] = {}
    for r in runs:
        key = (r.algo, str(r.config.get("preset")),
               json.dumps(r.config.get("config", {}), sort_keys=True, default=str))
        keyed.setdefault(key, []).append(r)
    labels: dict[str, list[Run]] = {}
    for k, (key, rs) in enumerate(keyed.items()):
        label = f"{key[0]} ({key[1]})"
        if label in labels or sum(1 for kk in keyed if kk[:2] == key[:2]) > 1:
            label = f"{label} config {k + 1}"
        labels[label] = rs
    return labels


# --- archive ----------------------------------------------------------------------------------
def _archive_map(run: Run, *, fitness=None, descriptor=None, zrange=None, top_k=16) -> dict:
    a = run.archive
    img = geo.index_image(a)
    f = geo.fitness(a) if fitness is None else fitness
    desc = np.asarray(a["descriptor"] if descriptor is None else descriptor, np.float32)
    c, d = desc.shape
    zmin, zmax = zrange or geo.color_range(geo.fitness(a))
    m = {
        "run": str(run.path), "title": run.title, "kind": img.kind,
        "index": b64(img.index, "i4"), "x": b64(img.x, "f8"), "y": b64(img.y, "f8"),
        "fitness": b64(f, "f4"), "descriptor": b64(desc, "f4"),
        "names": text_list(a, "descriptor_names", d, "descriptor {i}"),
        "units": text_list(a, "descriptor_units", d, ""),
        "emitter_names": text_list(a, "emitter_names", 5, "emitter {i}"),
        "n_params": int(sum(int(np.prod(v.shape[1:])) for k, v in a.items()
                            if k.startswith("params/"))),
        "zmin": zmin, "zmax": zmax, "colorscale": magma(),
        "eval_cmd": f"evoflow eval {run.path} --policy cell:",
    }
    for key in ("emitter", "generation", "parent"):
        m[key] = b64(a[key], "i4") if key in a and np.asarray(a[key]).shape == (c,) else None
    m["version"] = run.version
    if img.kind == "nested":
        (ni0, ni1), (no0, no1) = img.blocks["inner"], img.blocks["outer"]
        o0, o1 = img.blocks["outer_dims"]
        d0, d1 = img.blocks["dims"]
        m["xtitle"] = (f"{axis_label(a, o0)} (blocks); inside: " if o0 is not None else "") + \
            axis_label(a, d0)
        m["ytitle"] = (f"{axis_label(a, o1)} (blocks); inside: " if o1 is not None else "") + \
            axis_label(a, d1)
        m["blocks"] = [ni0, ni1, no0, no1]
    else:
        m["xtitle"], m["ytitle"] = axis_label(a, 0), axis_label(a, 1)
    m["rollouts"] = _rollouts(run, top_k) if top_k else None
    return m


def archive_view(runs: list[Run], *, top_k: int) -> View:
    shared = None
    if len(runs) > 1:  # compared archives share one colour range
        shared = geo.color_range(np.concatenate([geo.fitness(r.archive) for r in runs]))
    maps = [_archive_map(r, zrange=shared, top_k=top_k) for r in runs]
    divs = "".join(f'<div class="map"><div class="heatmap" id="{_map_id(k)}"></div></div>'
                   for k in range(len(maps)))
    rollout = "" if any(r.rollouts is not None for r in runs) or top_k == 0 else \
        '<div id="rollout"></div>'
    markup = (f'<div class="maps">{divs}</div><div id="archive-tooltip" class="tooltip" '
              f'hidden></div><h3>Cell</h3><div id="cell-details"><p class="hint">Click a cell.'
              f"</p></div>{rollout}")
    return View("archive", "Archive", markup, {"maps": maps})


def _map_id(k: int) -> str:
    return "archive-heatmap" if k == 0 else f"archive-heatmap-{k}"


def distilled_view(run: Run) -> View:
    z = run.distilled
    c = np.asarray(run.archive["fitness"]).shape[0]
    cells = np.asarray(z.get("cell", []), np.int64).reshape(-1)
    ok = (cells >= 0) & (cells < c)
    f = np.full(c, np.nan)
    f[cells[ok]] = np.asarray(z["fitness"], np.float64).reshape(-1)[ok]
    desc = np.zeros_like(np.asarray(run.archive["descriptor"], np.float32))
    dz = np.asarray(z.get("descriptor", np.zeros((len(cells), desc.shape[1]))), np.float32)
    if dz.shape == (len(cells), desc.shape[1]):
        desc[cells[ok]] = dz[ok]
    m = _archive_map(run, fitness=f, descriptor=desc, top_k=0)  # the archive's colour range
    return View("distilled", "Distilled policy at the archive's centroids",
                '<div class="map"><div class="heatmap" id="distilled-heatmap"></div></div>',
                {"maps": [m]})


def _rollouts(run: Run, top_k: int) -> dict | None:
    r = run.rollouts
    if r is None or "cell" not in r or "xy" not in r:
        return None
    cells = np.asarray(r["cell"], np.int64).reshape(-1)[:top_k]
    xy = np.asarray(r["xy"], np.float32)[: len(cells)]
    out = {"cells": cells.tolist(), "xy": b64(xy, "f4"), "frames": None}
    names = text_list(r, "xy_names", 2, "")
    units = text_list(r, "xy_units", 2, "")
    if all(names):  # the path's own axes (a Brax torso), else the descriptor's
        out["names"] = names
        out["titles"] = [f"{n} [{u}]" if u else n for n, u in zip(names, units)]
    if "frames" in r:
        out["frames"] = [_jpegs(fr) for fr in np.asarray(r["frames"])[: len(cells)]]
    return out


def _jpegs(frames: np.ndarray) -> list[str]:
    """At most MAX_JPEG_FRAMES frames as 160x120 JPEG data: URIs."""
    from PIL import Image

    frames = np.asarray(frames, np.uint8)
    step = max(1, int(np.ceil(len(frames) / MAX_JPEG_FRAMES)))
    out = []
    for fr in frames[::step][:MAX_JPEG_FRAMES]:
        buf = io.BytesIO()
        Image.fromarray(fr).resize((160, 120)).save(buf, format="JPEG", quality=70)
        out.append("data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode())
    return out


def parallel_view(run: Run) -> View:
    a = run.archive
    f = geo.fitness(a)
    keep = np.flatnonzero(np.isfinite(f))
    keep = keep[np.argsort(f[keep], kind="stable")]
    low, high = geo.box(a)
    scaled = (np.asarray(a["descriptor"], np.float64)[keep] - low) / (high - low)
    d = scaled.shape[1]
    zmin, zmax = geo.color_range(f)
    return View("parallel_axes", "Descriptors of every elite", '<div id="parallel-axes"></div>',
                {"lines": b64(scaled, "f4"), "fitness": b64(f[keep], "f4"), "dims": d,
                 "labels": [axis_label(a, k) for k in range(d)], "low": low.tolist(),
                 "high": high.tolist(), "zmin": zmin, "zmax": zmax, "colorscale": magma()})


# --- curves -----------------------------------------------------------------------------------
def curves_view(groups: list[list[Run]], labels: list[str]) -> View:
    allruns = [r for g in groups for r in g]
    plots = []
    for metric in metric_names(allruns):
        lines = []
        for label, runs in zip(labels, groups):
            pairs = [p for p in (series(r, metric) for r in runs) if p[0].size]
            if not pairs:
                continue
            if len(pairs) == 1:
                x, y = pairs[0]
                lines.append({"label": label, "x": b64(x, "f8"), "y": b64(y, "f8"),
                              "lo": None, "hi": None})
            else:
                x, ys = common_grid(pairs)
                med, q25, q75 = median_iqr(ys)
                lines.append({"label": f"{label}, median of {len(pairs)}", "x": b64(x, "f8"),
                              "y": b64(med, "f8"), "lo": b64(q25, "f8"),
                              "hi": b64(q75, "f8")})
        if lines:
            plots.append({"metric": metric, "log": _wants_log(allruns, metric), "lines": lines})
    divs = "".join(f'<div class="curve" id="curve-{k}"></div>' for k in range(len(plots)))
    return View("curves", "Metrics against evaluations", f'<div class="curves">{divs}</div>',
                {"plots": plots})


def _wants_log(runs: list[Run], metric: str) -> bool:
    ys = np.concatenate([series(r, metric)[1] for r in runs])
    ys = ys[np.isfinite(ys)]
    return bool(ys.size and ys.min() > 0 and ys.max() / ys.min() > 1e3)


# --- CBO particles --------------------------------------------------------------------------------
def particles_view(run: Run) -> View:
    p = run.particles
    pos = np.asarray(p["positions"], np.float32)
    cons = np.asarray(p["consensus"], np.float32)
    it = np.asarray(p.get("iteration", np.arange(pos.shape[0])), np.int64)
    s, r, n, d = pos.shape
    keep = np.unique(np.linspace(0, s - 1, min(s, MAX_FRAMES)).round().astype(int))
    d_keep = max(2, min(d, MAX_PARTICLE_VALUES // max(1, len(keep) * r * n)))
    pos, cons = pos[keep][..., :d_keep], cons[keep][..., :d_keep]
    pos = np.where(np.isfinite(pos), pos, np.nan)
    return View("particles", "Particles and consensus",
                '<div class="controls"><button id="particles-play" type="button">play</button>'
                '<input id="particles-slider" type="range" min="0" value="0" step="1"> '
                '<span id="particles-label"></span> x <select id="particles-x"></select> '
                'y <select id="particles-y"></select></div><div id="particles"></div>',
                {"iteration": b64(it[keep], "i4"), "positions": b64(pos, "f4"),
                 "consensus": b64(cons, "f4"), "dims_total": d})
