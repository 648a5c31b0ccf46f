"""A test-only family: one registry line (`registry.register("tests.viz.demo_family")`, or
`EVOFLOW_FAMILIES=tests.viz.demo_family`) and its view reaches `evoflow viz` with no other file
edited, as a family package adds its own views ("module:function" in `Family.views`)."""

from __future__ import annotations

import html

import numpy as np

from evoflow.algorithms.registry import Algorithm, Family, RunFile

FAMILY = Family(
    name="viz_demo",
    description="a test-only family with its own viz view",
    algorithms=(Algorithm("viz_demo", "tests.viz.demo_family:Strategy", "a test-only algorithm",
                          accepts=("function",), schema="tests.viz.demo_family:SCHEMA",
                          driver="python"),),
    run_files=(
        RunFile("samples.jsonl", "jsonl", "one record per sample", append_only=True,
                record_key="sample"),
        RunFile("best.json", "json", "the best sample"),
        RunFile("scores.npz", "npz", "a score matrix"),
        RunFile("artifacts/model.safetensors", "safetensors", "not read by viz"),
    ),
    views=("tests.viz.demo_family:views",),
)
SCHEMA: dict = {}

DRAW = """function (view) {
  var s = Array.from(arr(view.score));
  return Plotly.newPlot(document.getElementById("demo-samples"), [{
    x: view.sample, y: s, mode: "markers", name: "samples"}],
    {margin: {l: 50, r: 10, t: 20, b: 40}}, CONFIG).then(function () {
      document.getElementById("demo-samples").dataset.drawn = String(s.length); });
}"""


def views(run):
    from evoflow.viz.views import View, b64

    recs = run.files.get("samples.jsonl") or []
    best = run.files.get("best.json") or {}
    scores = run.files.get("scores.npz")
    shape = list(np.asarray(scores["score"]).shape) if scores is not None else None
    return [View("demo_samples", "Samples of the demo family",
                 f'<p id="demo-best">best {html.escape(str(best.get("name")))} '
                 f'score {best.get("score")}, scores {shape}</p><div id="demo-samples"></div>',
                 {"sample": [int(r["sample"]) for r in recs],
                  "score": b64([r["score"] for r in recs], "f8")},
                 script=DRAW, css="#demo-samples{height:300px}")]


def broken(run):
    raise RuntimeError("this view is broken")


def register():
    """Add this family (its one registry line), after the built-in ones: `registry.families()`
    loads those only while no family is registered."""
    from evoflow.algorithms import registry

    registry.families()
    return registry.register(__name__)
