"""What each page view carries: its markup skeleton and its data (base64 typed arrays).

A view is named by its `data-view`; `run_views` picks the views a run's files support, in page
order (the archive first for QD runs, so the first view to draw is the one users open the page
for). Arrays travel as {"dtype", "shape", "b64"}: little-endian bytes the page turns into typed
arrays without parsing numbers.
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


def b64(arr, dtype: str) -> dict:
    a = np.ascontiguousarray(np.asarray(arr), dtype=np.dtype(dtype).newbyteorder("<"))
    return {"dtype": dtype, "shape": list(a.shape), "b64": base64.b64encode(a.tobytes()).decode()}


def magma(n: int = 11) -> list:
    import matplotlib

    cm = matplotlib.colormaps["magma"]
    return [[k / (n - 1), "rgb({},{},{})".format(*(round(255 * c) for c in
                                                  cm(k / (n - 1))[:3]))] for k in range(n)]


# --- per run ----------------------------------------------------------------------------------
def run_views(run: Run, *, top_k: int = 16) -> list[View]:
    out: list[View] = []
    if run.archive is not None:
        out.append(archive_view([run], top_k=top_k))
        d = np.asarray(run.archive["descriptor"]).shape[1]
        if d > 2:
            out.append(parallel_view(run))
        if run.distilled is not None:
            out.append(distilled_view(run))
        if run.rollouts is not None:
            out.append(View("rollouts", "Rollouts of the top elites",
                            '<p class="hint">Click a cell of the archive: one of the top '
                            f"{min(top_k, len(run.rollouts.get('cell', [])))} elites plays "
                            "here; any other cell shows the command that rolls it out.</p>"
                            '<div id="rollout"></div>', {}))
    if run.metrics:
        out.append(curves_view([[run]], [run.title]))
    if run.particles is not None:
        out.append(particles_view(run))
    if run.novelty is not None:
        out.append(novelty_view(run))
    if run.continual is not None and "accuracy" in run.continual:
        out.append(accuracy_view(run))
    if run.trials:
        out.append(pareto_view(run))
    if run.candidates or run.program is not None:
        out.append(program_view(run))
    return out


def compare_views(runs: list[Run]) -> list[View]:
    groups = group_runs(runs)
    out = []
    if any(r.archive is not None for r in runs):
        out.append(archive_view([r for r in runs if r.archive is not None], top_k=0))
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


# --- CBO particles, GA-NS novelty -------------------------------------------------------------
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


def novelty_view(run: Run) -> View:
    z = run.novelty
    beh = np.asarray(z["behaviour"], np.float32)
    beh = beh.reshape(len(beh), -1)[:, :2] if beh.ndim > 1 else beh[:, None].repeat(2, 1)
    gen = np.asarray(z.get("generation", np.zeros(len(beh))), np.float32).reshape(-1)
    return View("novelty", "Novelty archive", '<div id="novelty"></div>',
                {"behaviour": b64(beh, "f4"), "generation": b64(gen, "f4")})


# --- upcoming families: ZO continual learning, CNN search, optimizer search -------------------
def continual_scores(acc: np.ndarray) -> dict:
    """avg_acc, last_acc, forgetting as the ZeroFlow issue defines them (A[i, j]: accuracy on
    task j after task i, NaN for j > i)."""
    a = np.asarray(acc, np.float64)
    t = a.shape[0]
    avg = float(np.mean([np.nanmean(a[i, : i + 1]) for i in range(t)]))
    last = float(np.nanmean(a[t - 1]))
    forgetting = float(np.mean([np.nanmax(a[j: t - 1, j]) - a[t - 1, j]
                                for j in range(t - 1)])) if t > 1 else 0.0
    return {"avg_acc": avg, "last_acc": last, "forgetting": forgetting}


def accuracy_view(run: Run) -> View:
    acc = np.asarray(run.continual["accuracy"], np.float64)
    t = acc.shape[0]
    names = text_list(run.continual, "task_names", t, "task {i}")
    scores = continual_scores(acc)
    text = ", ".join(f"{k} {v:.4f}" for k, v in scores.items())
    return View("accuracy_matrix", "Accuracy on each task after each task",
                f'<p id="continual-scores">{text}</p><div id="accuracy-matrix"></div>',
                {"accuracy": b64(acc, "f4"), "tasks": names, **scores})


def pareto_view(run: Run) -> View:
    ok = [t for t in run.trials if isinstance(t.get("params"), (int, float))
          and isinstance(t.get("val_accuracy"), (int, float))
          and np.isfinite(t["val_accuracy"]) and t["params"] > 0]
    params = np.array([t["params"] for t in ok], np.float64)
    accs = np.array([t["val_accuracy"] for t in ok], np.float64)
    front = []
    best = -np.inf
    for k in np.lexsort((-accs, params)):  # fewest params first: a trial better than all before
        if accs[k] > best:
            best = accs[k]
            front.append(int(k))
    return View("pareto", "Validation accuracy against parameters (trials)",
                '<div id="pareto"></div>',
                {"params": b64(params, "f8"), "val_accuracy": b64(accs, "f8"),
                 "trial": [int(t.get("trial", -1)) for t in ok], "front": front})


def program_view(run: Run) -> View:
    import html as _html

    cands = [c for c in (run.candidates or []) if isinstance(c.get("fitness"), (int, float))
             and np.isfinite(c["fitness"])]
    idx = np.array([c.get("index", k) for k, c in enumerate(cands)], np.float64)
    fit = np.array([c["fitness"] for c in cands], np.float64)
    best = np.maximum.accumulate(fit) if fit.size else fit
    listing = run.program_text or (json.dumps(run.program, indent=2)
                                   if run.program is not None else "no best program yet")
    return View("program", "Optimizer search: progress and best program",
                '<div id="program-progress"></div><h3>Best program</h3>'
                f'<pre id="program-listing">{_html.escape(listing)}</pre>',
                {"index": b64(idx, "f8"), "fitness": b64(fit, "f8"), "best": b64(best, "f8")})
