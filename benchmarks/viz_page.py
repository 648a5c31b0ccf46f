"""The report page on a 10,000-cell CVT archive against a bare plotly page of the same heatmap.

    python benchmarks/viz_page.py [--loads 3] [--hovers 10] [--json OUT]

Builds a fixture run (tests/viz/fixtures.py: 10,000 CVT cells, 80% filled), runs `evoflow viz`
on it, and writes a bare `plotly.io.write_html` page (plotly.js inlined) of the same 300x300
nearest-centroid heatmap. Both open from file:// in headless Debian chromium with every other
request aborted. Measured per page: bytes; navigation start to `evoflow:first-render` (median of
`--loads` loads; the bare page sets the mark in plotly's post_script, i.e. when newPlot
resolves); the median of `--hovers` hover-to-tooltip times (performance.now() from the mousemove
that enters a cell to the DOM mutation that shows its tooltip: `#archive-tooltip` naming the
cell, or plotly's `.hovertext` on the bare page). Limits from issue 13: page <= 15,000,000
bytes, first render <= 3,000 ms, hover <= 300 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from _machine import cpu_model

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.viz import fixtures as fx
from tests.viz.browser import FLAGS

MARK = "evoflow:first-render"
LIMITS = {"bytes": 15_000_000, "first_render_ms": 3000, "hover_ms": 300}

WATCH = """(sel) => {
  window.__hov = {t0: null, t1: null, sel: sel, want: false};
  document.addEventListener('mousemove', () => {
    if (window.__hov.t0 === null) window.__hov.t0 = performance.now();
  }, true);
  const done = () => {
    const h = window.__hov;
    if (h.t0 === null || h.t1 !== null) return;
    const el = document.querySelector(h.sel);
    if (!el || el.hidden) return;
    if (h.want && !el.dataset.cell) return;
    h.t1 = performance.now();
  };
  new MutationObserver(done).observe(document.body, {subtree: true, childList: true,
                                                     attributes: true, characterData: true});
}"""

POINT = """([x, y]) => {
  const gd = document.querySelector('.js-plotly-plot'), fl = gd._fullLayout;
  const r = gd.getBoundingClientRect();
  return [r.left + fl._size.l + fl.xaxis.l2p(x), r.top + fl._size.t + fl.yaxis.l2p(y)];
}"""


def bare_page(run: Path, out: Path) -> None:
    """plotly.io.write_html of the same 300x300 heatmap the report draws, nothing else."""
    import plotly.graph_objects as go
    import plotly.io as pio

    from evoflow.viz import geometry as geo
    from evoflow.viz.load import load_run
    from evoflow.viz.views import magma

    a = load_run(run).archive
    img = geo.index_image(a)
    f = geo.fitness(a)
    z = np.where(img.index >= 0, f[np.maximum(img.index, 0)], np.nan)
    fig = go.Figure(go.Heatmap(z=z, x=img.x, y=img.y, colorscale=magma()))
    pio.write_html(fig, out, include_plotlyjs=True, full_html=True,
                   config={"displaylogo": False},
                   post_script=f"performance.mark('{MARK}');")


def hover_targets(run: Path, n: int) -> list[tuple[int, float, float]]:
    """n filled cells at the centres of pixels the page draws them on: (cell, x, y). (A
    300-row raster is ~1.2 screen pixels a row, so the tooltip may name a neighbour.)"""
    from evoflow.viz import geometry as geo
    from evoflow.viz.load import load_run

    a = load_run(run).archive
    img = geo.index_image(a)
    f = geo.fitness(a)
    rng = np.random.default_rng(0)
    out, seen = [], set()
    while len(out) < n:
        r, c = (int(v) for v in rng.integers(0, img.index.shape, 2))
        cell = int(img.index[r, c])
        if cell >= 0 and np.isfinite(f[cell]) and cell not in seen:
            seen.add(cell)
            out.append((cell, float(img.x[c]), float(img.y[r])))
    return out


def measure(browser, path: Path, *, loads: int, hovers: int, tooltip: str, cells) -> dict:
    url = path.resolve().as_uri()
    renders, hover_ms, requests = [], [], []
    for k in range(loads):
        ctx = browser.new_context(viewport={"width": 1200, "height": 1000})
        page = ctx.new_page()
        ctx.route("**/*", lambda r: r.continue_() if r.request.url == url else (
            requests.append(r.request.url), r.abort()))
        page.goto(url)
        page.wait_for_function(f"performance.getEntriesByName('{MARK}').length > 0",
                               timeout=60_000)
        renders.append(page.evaluate(f"performance.getEntriesByName('{MARK}')[0].startTime"))
        if k == 0:
            page.wait_for_timeout(500)  # let any later views draw before hovering
            page.evaluate(WATCH, tooltip)
            for _, x0, y0 in cells[:hovers]:
                page.mouse.move(2, 2)
                page.wait_for_timeout(150)
                # the tooltip must show a cell again (plotly's own label has no data-cell)
                page.evaluate("(own) => { const h = window.__hov; h.t0 = null; h.t1 = null;"
                              " h.want = own; const t = document.querySelector(h.sel);"
                              " if (own && t) { delete t.dataset.cell; } }",
                              tooltip == "#archive-tooltip")
                x, y = page.evaluate(POINT, [x0, y0])
                page.mouse.move(x, y)
                page.wait_for_function("window.__hov.t1 !== null", timeout=10_000)
                hover_ms.append(page.evaluate("window.__hov.t1 - window.__hov.t0"))
        ctx.close()
    return {"bytes": path.stat().st_size, "first_render_ms": statistics.median(renders),
            "first_render_all_ms": renders, "hover_ms": statistics.median(hover_ms),
            "hover_all_ms": hover_ms, "requests": len(requests)}


def machine() -> dict:
    model = cpu_model()
    chrome = subprocess.run(["chromium", "--version"], capture_output=True, text=True,
                            check=False).stdout.strip()
    import plotly

    return {"cpus": os.cpu_count(), "cpu": model, "platform": platform.platform(),
            "chromium": chrome, "plotly": plotly.__version__}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--loads", type=int, default=3)
    ap.add_argument("--hovers", type=int, default=10)
    ap.add_argument("--cells", type=int, default=10_000)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    exe = shutil.which("chromium")
    if exe is None:
        print("error: no `chromium` on PATH (apt-get install chromium)", file=sys.stderr)
        return 2
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        run = fx.cvt_run(Path(tmp) / "cvt10k", n_cells=args.cells)
        subprocess.run([sys.executable, "-m", "evoflow.cli", "viz", str(run)], check=True,
                       cwd=REPO, capture_output=True)
        bare = Path(tmp) / "bare.html"
        bare_page(run, bare)
        cells = hover_targets(run, args.hovers)
        with sync_playwright() as pw:
            b = pw.chromium.launch(executable_path=exe, args=FLAGS, headless=True)
            ours = measure(b, run / "report.html", loads=args.loads, hovers=args.hovers,
                           tooltip="#archive-tooltip", cells=cells)
            base = measure(b, bare, loads=args.loads, hovers=args.hovers,
                           tooltip=".hoverlayer .hovertext", cells=cells)
            b.close()
    result = {"machine": machine(), "cells": args.cells, "report": ours, "bare_plotly": base,
              "command": "python benchmarks/viz_page.py " + " ".join(sys.argv[1:])}
    print(f"machine: {result['machine']}")
    print(f"{'':18}{'report.html':>14}{'bare plotly':>14}{'ratio':>8}{'limit':>12}  ok")
    ok = True
    for key in ("bytes", "first_render_ms", "hover_ms"):
        good = ours[key] <= LIMITS[key]
        ok &= good
        print(f"{key:18}{ours[key]:14.1f}{base[key]:14.1f}{ours[key] / base[key]:8.2f}"
              f"{LIMITS[key]:12}  {'yes' if good else 'NO'}")
    print(f"requests (all aborted): report {ours['requests']}, bare {base['requests']}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
