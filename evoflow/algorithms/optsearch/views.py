"""The optsearch family's `evoflow viz` view: the search's progress (every trained candidate's
validation loss by index, and the best so far, from `candidates.jsonl`), the funnel
(`artifacts/funnel.json`) and the result: the listing of `artifacts/best_program.json` (parsed
and checked by `ir.parse`, never executed) or the AdamW setting of a `mode=adamw_tune` run."""

from __future__ import annotations

import html

import numpy as np

DRAW = """function (view) {
  var x = Array.from(arr(view.index)), y = Array.from(arr(view.val_loss));
  var best = [], b = Infinity;
  for (var i = 0; i < y.length; i++) { b = Math.min(b, y[i]); best.push(b); }
  var el = document.getElementById("program-progress");
  return Plotly.newPlot(el, [
    {x: x, y: y, mode: "markers", name: "trained candidate", marker: {size: 4, opacity: 0.5}},
    {x: x, y: best, mode: "lines", name: "best so far"}],
    {margin: {l: 60, r: 10, t: 20, b: 50}, height: 320,
     xaxis: {title: {text: "candidate index"}},
     yaxis: {title: {text: "validation loss"}, type: "log"}}, CONFIG).then(function () {
       el.dataset.drawn = String(y.length); });
}"""

CSS = ("#program-progress{height:320px}#program-listing{background:#f7f7f7;padding:8px;"
       "overflow:auto;max-height:420px}#program-funnel td,#program-funnel th{padding:2px 8px}")


def _listing(run) -> str:
    from evoflow.algorithms.optsearch import adamw, ir
    from evoflow.algorithms.optsearch.schema import ADAMW_FILE

    for name, kind in (("artifacts/best_program.json", ir), (ADAMW_FILE, adamw)):
        obj = run.files.get(name)
        if obj is not None:
            try:
                return kind.text(kind.parse(obj))
            except ir.ProgramError as e:
                return f"{name}: {e}"
    return "no result yet (the run has not finished its search)"


def _funnel_table(funnel: dict | None) -> str:
    if not funnel:
        return ""
    rows = []
    for r in funnel.get("programs", []):
        def num(v):
            return "diverged" if v is None else f"{v:.4g}"
        who = "baseline" if r.get("baseline") else f"#{r.get('index')}"
        mark = " (winner)" if r.get("index") == funnel.get("winner") and not r.get("baseline") \
            else ""
        rows.append(f"<tr><td>{html.escape(who + mark)}</td>"
                    f"<td>{num(r.get('search_val_loss'))}</td>"
                    f"<td>{num(r.get('funnel_val_loss'))}</td><td>{num(r.get('lr'))}</td></tr>")
    prune = funnel.get("pruning")
    note = ""
    if prune:
        a, b = prune.get("statements", [None, None])
        note = (f"<p>pruning: {prune.get('tried')} deletions trained, {a} → {b} statements, "
                f"{'kept' if prune.get('kept') else 'not kept'}</p>")
    return (f"<h3>Funnel (size {html.escape(str(funnel.get('size')))}, one shared seed)</h3>"
            '<table id="program-funnel"><tr><th>program</th><th>search val loss</th>'
            "<th>funnel val loss</th><th>lr</th></tr>" + "".join(rows) + "</table>" + note)


def views(run):
    from evoflow.viz.views import View, b64

    recs = [r for r in run.files.get("candidates.jsonl") or []
            if r.get("status") == "ok" and r.get("fitness") is not None]
    index = [int(r["index"]) for r in recs]
    loss = [-float(r["fitness"]) for r in recs]
    body = ('<div id="program-progress"></div>'
            + _funnel_table(run.files.get("artifacts/funnel.json"))
            + f'<h3>Result</h3><pre id="program-listing">{html.escape(_listing(run))}</pre>')
    return [View("program", "Optimizer search: progress, funnel and result", body,
                 {"index": b64(np.asarray(index, np.float64), "f8"),
                  "val_loss": b64(np.asarray(loss, np.float64), "f8")},
                 script=DRAW, css=CSS)]

