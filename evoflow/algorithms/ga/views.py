"""The ga family's `evoflow viz` view: the elite (`best.json`: its chain depth, return, test
episodes) and, for `ga_ns` runs, the novelty archive (`novelty_archive.npz`): every archived
behaviour, coloured by the generation it entered, its reward on hover."""

from __future__ import annotations

import html

import numpy as np

DRAW = """function (view) {
  var el = document.getElementById("novelty-archive");
  if (!view.behaviour) { return Promise.resolve(); }
  var b = arr(view.behaviour), g = Array.from(arr(view.generation)),
      f = Array.from(arr(view.fitness)), d = view.behaviour.shape[1];
  var x = [], y = [];
  for (var i = 0; i < g.length; i++) { x.push(b[i * d]); y.push(d > 1 ? b[i * d + 1] : 0); }
  return Plotly.newPlot(el, [{x: x, y: y, mode: "markers", type: "scatter",
      text: f.map(function (v) { return "reward " + v.toFixed(4); }),
      marker: {size: 5, color: g, colorscale: "Viridis", showscale: true,
               colorbar: {title: {text: "generation"}}}}],
    {margin: {l: 60, r: 10, t: 20, b: 50}, height: 420,
     xaxis: {title: {text: view.names[0]}}, yaxis: {title: {text: view.names[1]},
     scaleanchor: "x"}}, CONFIG).then(function () { el.dataset.drawn = String(g.length); });
}"""

CSS = "#novelty-archive{height:420px}#ga-elite td,#ga-elite th{padding:2px 8px}"


def _elite_table(best: dict | None) -> str:
    if not best:
        return "<p>no elite yet (best.json is written at the first checkpoint)</p>"
    test = best.get("test") or {}
    rows = [("return (re-evaluation mean)", f"{best.get('return', float('nan')):.6g}"),
            ("mutations in its chain", str(best.get("generations"))),
            ("chosen in generation", str(best.get("chosen_in_generation"))),
            ("observation normalizer", "yes" if best.get("normalizer") else "no")]
    if test:
        rows.append((f"test mean over {test.get('episodes')} episodes",
                     f"{test.get('mean_return', float('nan')):.6g} ± "
                     f"{test.get('std_return', float('nan')):.3g}"))
    return ('<table id="ga-elite">' + "".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in rows)
        + "</table>")


def views(run):
    from evoflow.viz.views import View, b64

    best = run.files.get("best.json")
    archive = run.files.get("novelty_archive.npz")
    data: dict = {}
    body = "<h3>Elite</h3>" + _elite_table(best)
    if archive is not None and len(archive.get("generation", ())):
        beh = np.asarray(archive["behaviour"], np.float64)
        data = {"behaviour": b64(beh, "f8"),
                "generation": b64(np.asarray(archive["generation"], np.float64), "f8"),
                "fitness": b64(np.asarray(archive["fitness"], np.float64), "f8"),
                "names": ["behaviour 0 (x)", "behaviour 1 (y)"]}
        body += (f"<h3>Novelty archive ({beh.shape[0]} behaviours)</h3>"
                 '<div id="novelty-archive"></div>')
    return [View("ga", "Deep GA: elite and novelty archive", body, data, script=DRAW, css=CSS)]
