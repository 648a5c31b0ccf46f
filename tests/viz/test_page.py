"""report.html: self-contained in the file and in the rendered DOM, offline in headless
chromium, and interactive (hover, click, rollouts) on the 400-cell fixture run."""

from __future__ import annotations

import base64
import json
import re
from html.parser import HTMLParser
from io import BytesIO
from pathlib import Path

import numpy as np
import pytest

from tests.viz import demo_family
from tests.viz import fixtures as fx
from tests.viz.browser import browser, open_page

pytest.importorskip("plotly")
OK_URL = re.compile(r"^(data:|blob:|#)")
CSS_URL = re.compile(r"url\(\s*['\"]?([^'\")]*)")


class _Refs(HTMLParser):
    """Every src/href attribute and url() in <style> or style= (script text is not markup)."""

    def __init__(self):
        super().__init__()
        self.refs, self._style = [], False

    def handle_starttag(self, tag, attrs):
        for k, v in attrs:
            if k in ("src", "href", "xlink:href", "srcset", "action", "poster") and v:
                self.refs.append(v)
            if k == "style" and v:
                self.refs += CSS_URL.findall(v)
        self._style = tag == "style"

    def handle_endtag(self, tag):
        self._style = False

    def handle_data(self, data):
        if self._style:
            self.refs += CSS_URL.findall(data)


def file_refs(path: Path) -> list[str]:
    p = _Refs()
    p.feed(path.read_text())
    return p.refs


DOM_REFS = """() => {
  const out = [];
  for (const el of document.querySelectorAll('*')) {
    for (const a of ['src', 'href', 'xlink:href', 'srcset', 'action', 'poster']) {
      const v = el.getAttribute(a); if (v) out.push(v);
    }
    const st = el.getAttribute('style');
    if (st) for (const m of st.matchAll(/url\\(\\s*['"]?([^'")]*)/g)) out.push(m[1]);
  }
  for (const s of document.querySelectorAll('style'))
    for (const m of s.textContent.matchAll(/url\\(\\s*['"]?([^'")]*)/g)) out.push(m[1]);
  return out;
}"""


@pytest.fixture(scope="module")
def chromium():
    with browser() as b:
        yield b


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    d = tmp_path_factory.mktemp("pages")
    runs = {"grid": fx.grid_run(d / "grid"), "empty": fx.grid_run(d / "empty", empty=True),
            "cvt": fx.cvt_run(d / "cvt"), "nested": fx.nested_run(d / "nested"),
            "cbo": fx.cbo_run(d / "cbo"), "demo": fx.demo_run(d / "demo")}
    # in-process here; test_cli_viz runs the CLI as users do
    from evoflow.viz.cli import main

    demo_family.register()  # the test-only family: its one registry line

    for r in runs.values():
        assert main([r]) == 0
    return runs


def page_data(report: Path) -> dict:
    m = re.search(r'<script type="application/json" id="evoflow-data">(.*?)</script>',
                  report.read_text(), re.DOTALL)
    return json.loads(m.group(1))


def decode(spec) -> np.ndarray:
    return np.frombuffer(base64.b64decode(spec["b64"]), "<" + spec["dtype"]).reshape(
        spec["shape"])


def test_page_data_equals_archive_fitness(pages):
    """Python side: the page's typed arrays carry archive.npz's fitness bit for bit."""
    run = pages["grid"]
    m = page_data(run / "report.html")["archive"]["maps"][0]
    a = np.load(run / "archive.npz")
    fit = decode(m["fitness"])
    assert fit.dtype == np.float32
    assert np.array_equal(np.nan_to_num(fit, nan=-np.inf), a["fitness"])
    n0, n1 = a["grid_shape"]
    assert np.array_equal(decode(m["index"]), np.arange(n0 * n1).reshape(n0, n1).T)


def test_plotly_inlined_once_svg_traces_only(pages):
    text = (pages["grid"] / "report.html").read_text()
    assert text.count("<script>") == 2 and text.count('id="evoflow-data"') == 1
    assert text.count("plotly.js v") <= 2  # the library's banner comment, one copy
    assert '<meta name="generator" content="evoflow">' in text
    trace_types = re.findall(r'type: "([a-z0-9]+)"', text.split('id="evoflow-data"')[1])
    assert trace_types and all(not t.endswith(("gl", "3d")) and t not in (
        "parcoords", "scattergeo", "choropleth", "scattermapbox", "scattermap")
        for t in trace_types)
    assert "displaylogo: false" in text


def test_reference_check_can_fail(tmp_path):
    page = tmp_path / "p.html"
    page.write_text('<html><head><style>b{background:url("http://x/a.png")}</style>'
                    '<link href="https://cdn/x.css"></head><body><img src="data:,">'
                    '<a href="#top" style="background: url(file:///etc/x)"></a>'
                    '<script>var s = "<img src=http://not-markup>";</script></body></html>')
    assert [r for r in file_refs(page) if not OK_URL.match(r)] == [
        "http://x/a.png", "https://cdn/x.css", "file:///etc/x"]


def cbo_order() -> list[str]:
    """The CBO page's views: the family's declared views, curves last unless it names it."""
    from evoflow.algorithms.registry import family_of

    views = list(family_of("cbo").views)
    return views if "curves" in views else [*views, "curves"]


def test_views_of_each_fixture(pages):
    expected = {"grid": ["archive", "rollouts", "curves"], "empty": ["archive", "curves"],
                "cvt": ["archive", "curves"], "nested": ["archive", "parallel_axes", "curves"],
                "cbo": cbo_order(), "demo": ["demo_samples", "curves"]}
    for name, views in expected.items():
        got = re.findall(r'<section data-view="([a-z_]+)"', (pages[name] / "report.html")
                         .read_text())
        assert got == views, name


def test_family_view_from_a_test_only_package(pages, chromium):
    """A family's "module:function" view: its run files read by format (the keyless jsonl
    line skipped), its markup, data, CSS and drawing function on the page."""
    run = pages["demo"]
    text = (run / "report.html").read_text()
    assert "best &lt;b&gt;best&lt;/b&gt; score 0.99, scores [4, 5]" in text
    assert "#demo-samples{height:300px}" in text
    data = page_data(run / "report.html")["demo_samples"]
    assert data["sample"] == list(range(30))  # the record without "sample" skipped
    assert not (run / "figures" / "demo_samples.png").exists()
    with open_page(chromium, run / "report.html") as p:
        drawn = p.page.evaluate("document.getElementById('demo-samples').dataset.drawn")
        assert drawn == "30" and p.errors == [] and p.requests == []
        n = p.page.evaluate("document.getElementById('demo-samples').data[0].x.length")
        assert n == 30


def test_family_run_files_read_by_format(tmp_path):
    from evoflow.viz.load import load_run

    demo_family.register()
    run = fx.demo_run(tmp_path / "live", finished=False, torn=True)
    r = load_run(run)
    assert r.family.name == "viz_demo" and r.live
    assert [x["sample"] for x in r.files["samples.jsonl"]] == list(range(30))
    # the keyless record is named; the torn last line of a live run is not
    assert r.warnings == [f"{run / 'samples.jsonl'}: line 31 is not a record; skipped, rest "
                          f"shown"]
    assert r.files["best.json"]["score"] == 0.99
    assert r.files["scores.npz"]["score"].shape == (4, 5)
    assert "artifacts/model.safetensors" not in r.files and r.gaps == []
    (run / "summary.json").write_text("{}")  # finished: the torn line is named too
    (run / "scores.npz").write_bytes(b"PK\x03\x04 truncated")
    r = load_run(run)
    assert len(r.warnings) == 3 and "line 32" in r.warnings[1], r.warnings
    assert "scores.npz" in r.warnings[2] and r.warnings[2].endswith(": not shown")
    assert "scores.npz" not in r.files


def test_a_failing_family_view_is_one_warning(tmp_path):
    from evoflow.viz import views
    from evoflow.viz.load import load_run

    demo_family.register()
    r = load_run(fx.demo_run(tmp_path / "d"))
    assert r.warnings == [f"{r.path / 'samples.jsonl'}: line 31 is not a record; skipped, "
                          f"rest shown"]
    got = views.family_views(r, "tests.viz.demo_family:broken")
    assert got == [] and r.warnings[1:] == ["view tests.viz.demo_family:broken: failed "
                                            "(RuntimeError: this view is broken); skipped"]


def test_unregistered_algorithm_shows_curves(tmp_path, capsys):
    from evoflow.viz.cli import main

    run = fx.base_run(tmp_path / "x", "no_such_algo", "point_omni")
    np.savez(run / "archive.npz", fitness=np.zeros(3, np.float32))
    assert main([run]) == 0
    assert "warning: algorithm 'no_such_algo' is in no registered family: showing curves " \
        "only" in capsys.readouterr().err
    got = re.findall(r'<section data-view="([a-z_]+)"', (run / "report.html").read_text())
    assert got == ["curves"] and not (run / "archive.csv").exists()
    assert {f.name for f in (run / "figures").iterdir()} == {"curves.png"}


@pytest.mark.parametrize("name", ["grid", "empty", "cvt", "nested", "cbo", "demo"])
def test_offline_no_requests_no_errors(name, pages, chromium):
    report = pages[name] / "report.html"
    bad = [r for r in file_refs(report) if not OK_URL.match(r)]
    assert bad == []
    with open_page(chromium, report) as p:
        dom = p.page.evaluate(DOM_REFS)
        assert [r for r in dom if not OK_URL.match(r)] == []
        assert p.requests == [] and p.errors == []
        marks = p.page.evaluate("performance.getEntriesByName('evoflow:first-render').length")
        assert marks == 1
        views = p.page.evaluate(
            "[...document.querySelectorAll('section[data-view]')].map(s => s.dataset.view)")
        assert views and all(v for v in views)


CELL_XY = """([x, y, id]) => {
  const gd = document.getElementById(id), fl = gd._fullLayout, r = gd.getBoundingClientRect();
  return [r.left + fl._size.l + fl.xaxis.l2p(x), r.top + fl._size.t + fl.yaxis.l2p(y)];
}"""


def _cell_point(page, a, cell, id_="archive-heatmap"):
    n0, n1 = a["grid_shape"]
    i0, i1 = divmod(int(cell), int(n1))
    low, high = a["descriptor_low"], a["descriptor_high"]
    x = low[0] + (i0 + 0.5) * (high[0] - low[0]) / n0
    y = low[1] + (i1 + 0.5) * (high[1] - low[1]) / n1
    return page.evaluate(CELL_XY, [x, y, id_])


def _hover(page, a, cell):
    page.mouse.move(*_cell_point(page, a, cell))
    page.wait_for_selector("#archive-tooltip:not([hidden])")
    page.wait_for_function(f"document.getElementById('archive-tooltip').dataset.cell === "
                           f"'{cell}'")


def test_grid_page_hover_click_rollout_screenshot(pages, chromium):
    run = pages["grid"]
    a = np.load(run / "archive.npz")
    top = np.load(run / "viz" / "rollouts.npz")["cell"]
    filled = np.flatnonzero(np.isfinite(a["fitness"]))
    other = int(next(c for c in filled if c not in top))
    with open_page(chromium, run / "report.html") as p:
        page = p.page
        # the values drawn: the heatmap trace's z, cell by cell, equals archive.npz
        z = np.array(page.evaluate(
            "document.getElementById('archive-heatmap').data[0].z"), dtype=object)
        n0, n1 = a["grid_shape"]
        z = np.where(z == None, -np.inf, z).astype(np.float64)  # noqa: E711 (elementwise)
        assert np.array_equal(z, a["fitness"].astype(np.float64).reshape(n0, n1).T)
        for cell in (int(top[0]), other):
            _hover(page, a, cell)
            tip = page.inner_text("#archive-tooltip")
            assert tip.splitlines()[0] == f"cell {cell}"
            shown = float(re.search(r"fitness (\S+)", tip).group(1))
            assert shown == pytest.approx(float(a["fitness"][cell]), rel=1e-5)
            assert re.search(r"\nx \S+ m\ny \S+ m", tip)
        # a top-k cell plays its rollout (plotly clicks the point it last hovered, as a user)
        _hover(page, a, int(top[0]))
        page.mouse.click(*_cell_point(page, a, int(top[0])))
        page.wait_for_function("document.getElementById('cell-details').dataset.cell === "
                               f"'{int(top[0])}'")
        details = page.inner_text("#cell-details")
        for word in ("cell", "fitness", "emitter", "generation", "parent", "parameters"):
            assert word in details
        assert str(a["emitter_names"][a["emitter"][top[0]]]) in details
        page.wait_for_function("['true', 'done'].includes("
                               "document.getElementById('rollout').dataset.playing)")
        assert page.query_selector("#rollout-plot .main-svg") is not None
        # another cell shows the command that rolls it out
        _hover(page, a, other)
        page.mouse.click(*_cell_point(page, a, other))
        page.wait_for_function(f"document.getElementById('rollout').dataset.cell === '{other}'")
        assert page.inner_text("#rollout .eval-cmd") == \
            f"evoflow eval {run} --policy cell:{other}"
        shot = page.locator("#archive-heatmap").screenshot()
    with open_page(chromium, pages["empty"] / "report.html") as p:
        empty = p.page.locator("#archive-heatmap").screenshot()
    from PIL import Image

    img = np.asarray(Image.open(BytesIO(shot)).convert("RGB"))
    emp = np.asarray(Image.open(BytesIO(empty)).convert("RGB"))
    assert len(np.unique(img.reshape(-1, 3), axis=0)) >= 20
    assert img.shape == emp.shape
    assert (img != emp).any(axis=2).mean() >= 0.10


def test_cvt_hover_names_nearest_centroid_cell(pages, chromium):
    run = pages["cvt"]
    a = np.load(run / "archive.npz")
    cell = int(np.flatnonzero(np.isfinite(a["fitness"]))[0])
    cx, cy = (float(v) for v in a["centroid"][cell])
    with open_page(chromium, run / "report.html") as p:
        p.page.mouse.move(*p.page.evaluate(CELL_XY, [cx, cy, "archive-heatmap"]))
        p.page.wait_for_function(
            f"document.getElementById('archive-tooltip').dataset.cell === '{cell}'")
        assert p.page.inner_text("#archive-tooltip").startswith(f"cell {cell}\n")
        n_traces = p.page.evaluate("document.getElementById('archive-heatmap').data.length")
        assert n_traces == 1  # one heatmap trace, never a shape per cell


def test_particles_slider_moves_points(pages, chromium):
    with open_page(chromium, pages["cbo"] / "report.html") as p:
        page = p.page
        first = page.evaluate("document.getElementById('particles').data[0].x.slice()")
        page.eval_on_selector("#particles-slider", "s => { s.value = s.max; "
                              "s.dispatchEvent(new Event('input')); }")
        last = page.evaluate("document.getElementById('particles').data[0].x.slice()")
        assert first != last
        assert page.inner_text("#particles-label") == "iteration 240"
