"""The report page's stylesheet and script (kept here as text so the wheel needs no package
data). The script reads `#evoflow-data`, decodes base64 arrays into typed arrays and draws each
`<section data-view>` with plotly.js SVG traces, the first one before the rest; when it has
drawn it sets `performance.mark("evoflow:first-render")`. A family's own views add their
drawing functions at `FAMILY_DRAW` (`report.py`), so they share its helpers.
"""

FAMILY_DRAW = "/*FAMILY_DRAW*/"

CSS = """
body{font-family:"DejaVu Sans",Arial,sans-serif;margin:0 auto;max-width:1200px;padding:0 16px;
color:#222}
h1{font-size:1.4em;margin:.6em 0 .1em}h2{font-size:1.15em;border-bottom:1px solid #ddd}
h3{font-size:1em;margin:.6em 0 .2em}.sub{color:#666;margin:0;font-size:.85em}
.live{background:#fff3cd;border:1px solid #e0c46c;padding:4px 10px;margin-top:8px}
#notes{color:#7a4b00;font-size:.9em}
.maps{display:flex;flex-wrap:wrap;gap:8px}.map{flex:1 1 460px;min-width:360px}
.heatmap{height:460px}.curves{display:flex;flex-wrap:wrap}.curve{flex:1 1 380px;height:300px}
#particles,#parallel-axes{height:460px}
.rollout-row{display:flex;gap:12px;align-items:center}#rollout-plot{height:300px;flex:1}
.tooltip{position:fixed;pointer-events:none;background:rgba(20,20,20,.9);color:#fff;
padding:4px 8px;border-radius:3px;font-size:12px;white-space:pre;z-index:10}
#cell-details table{border-collapse:collapse}#cell-details td{padding:1px 10px 1px 0}
.hint{color:#666;font-size:.9em}code{background:#f3f3f3;padding:1px 4px}
.controls{margin:4px 0}
"""

APP_JS = r"""
(function () {
"use strict";
var DATA = JSON.parse(document.getElementById("evoflow-data").textContent);
var CONFIG = {displaylogo: false, responsive: true};
var PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
               "#7f7f7f", "#bcbd22", "#17becf"];
var TYPES = {f4: Float32Array, f8: Float64Array, i4: Int32Array, u1: Uint8Array};

function arr(spec) {
  if (!spec) { return null; }
  var bin = atob(spec.b64), u8 = new Uint8Array(bin.length);
  for (var i = 0; i < bin.length; i++) { u8[i] = bin.charCodeAt(i); }
  var a = new TYPES[spec.dtype](u8.buffer);
  a.shape = spec.shape;
  return a;
}
function fmt(v) { return Number.isFinite(v) ? String(+v.toPrecision(6)) : "none"; }
function esc(s) {
  return String(s).replace(/[&<>"]/g, function (c) {
    return {"&": "&amp;", "<": "&lt;", ">": "&gt;", "\"": "&quot;"}[c]; });
}
function nullify(a) {
  var out = new Array(a.length);
  for (var i = 0; i < a.length; i++) { out[i] = Number.isFinite(a[i]) ? a[i] : null; }
  return out;
}

// --- archive maps: one heatmap trace of cell indices per archive ------------------------------
var rolloutTimer = null;
function decodeMap(m) {
  if (m._d) { return m._d; }
  m._d = {index: arr(m.index), fit: arr(m.fitness), desc: arr(m.descriptor),
          x: Array.from(arr(m.x)), y: Array.from(arr(m.y)), emitter: arr(m.emitter),
          generation: arr(m.generation), parent: arr(m.parent),
          H: m.index.shape[0], W: m.index.shape[1], D: m.descriptor.shape[1],
          xy: m.rollouts ? arr(m.rollouts.xy) : null};
  return m._d;
}
function cellAt(m, pt) {
  var d = decodeMap(m), p = pt.pointIndex || pt.pointNumber;
  return d.index[p[0] * d.W + p[1]];
}
function describe(m, k) {
  var d = decodeMap(m), lines = ["cell " + k, "fitness " + fmt(d.fit[k])];
  for (var i = 0; i < d.D; i++) {
    var u = m.units[i] ? " " + m.units[i] : "";
    lines.push(m.names[i] + " " + fmt(d.desc[k * d.D + i]) + u);
  }
  return lines;
}
function drawMap(div, m) {
  var d = decodeMap(m), z = new Array(d.H);
  for (var r = 0; r < d.H; r++) {
    var row = new Array(d.W);
    for (var c = 0; c < d.W; c++) {
      var k = d.index[r * d.W + c], v = k >= 0 ? d.fit[k] : NaN;
      row[c] = Number.isFinite(v) ? v : null;
    }
    z[r] = row;
  }
  var trace = {type: "heatmap", x: d.x, y: d.y, z: z, zmin: m.zmin, zmax: m.zmax, zauto: false,
               colorscale: m.colorscale, hoverinfo: "none", colorbar: {title: {text: "fitness"}}};
  var layout = {title: {text: m.title}, margin: {l: 70, r: 20, t: 40, b: 60},
                xaxis: {title: {text: m.xtitle}, zeroline: false, showgrid: false},
                yaxis: {title: {text: m.ytitle}, zeroline: false, showgrid: false},
                plot_bgcolor: "#ffffff"};
  if (m.blocks) {
    var b = m.blocks, shapes = [];
    for (var i = 1; i < b[2]; i++) {
      shapes.push({type: "line", x0: i * b[0], x1: i * b[0], y0: 0, y1: b[1] * b[3],
                   line: {color: "#444", width: 1}});
    }
    for (var j = 1; j < b[3]; j++) {
      shapes.push({type: "line", y0: j * b[1], y1: j * b[1], x0: 0, x1: b[0] * b[2],
                   line: {color: "#444", width: 1}});
    }
    layout.shapes = shapes;
    layout.xaxis.showticklabels = false;
    layout.yaxis.showticklabels = false;
  }
  return Plotly.newPlot(div, [trace], layout, CONFIG).then(function () {
    var tip = document.getElementById("archive-tooltip");
    div.on("plotly_hover", function (e) {
      var k = cellAt(m, e.points[0]);
      if (k < 0 || !tip) { return; }
      tip.textContent = describe(m, k).join("\n");
      tip.style.left = (e.event.clientX + 14) + "px";
      tip.style.top = (e.event.clientY + 14) + "px";
      tip.hidden = false;
      tip.dataset.cell = k;
    });
    div.on("plotly_unhover", function () { if (tip) { tip.hidden = true; } });
    div.on("plotly_click", function (e) {
      var k = cellAt(m, e.points[0]);
      if (k >= 0) { showCell(m, k); }
    });
  });
}
function showCell(m, k) {
  var d = decodeMap(m), box = document.getElementById("cell-details");
  var gap = "not recorded by this run (evoflow " + m.version + ")";
  var rows = [["cell", k], ["fitness", fmt(d.fit[k])]];
  for (var i = 0; i < d.D; i++) {
    rows.push([m.names[i], fmt(d.desc[k * d.D + i]) + (m.units[i] ? " " + m.units[i] : "")]);
  }
  rows.push(["emitter", d.emitter ? (m.emitter_names[d.emitter[k]] || d.emitter[k]) : gap]);
  rows.push(["generation", d.generation ? d.generation[k] : gap]);
  rows.push(["parent", d.parent ? (d.parent[k] < 0 ? "none (initial)" : "cell " + d.parent[k])
                                : gap]);
  rows.push(["parameters", m.n_params]);
  rows.push(["run", m.run]);
  if (box) {
    box.dataset.cell = k;
    box.innerHTML = "<table>" + rows.map(function (r) {
      return "<tr><td>" + esc(r[0]) + "</td><td>" + esc(r[1]) + "</td></tr>"; }).join("") +
      "</table>";
  }
  showRollout(m, k);
}
function showRollout(m, k) {
  var el = document.getElementById("rollout");
  if (!el) { return; }
  if (rolloutTimer) { clearInterval(rolloutTimer); rolloutTimer = null; }
  el.dataset.cell = k;
  var j = m.rollouts ? m.rollouts.cells.indexOf(k) : -1;
  if (j < 0) {
    el.dataset.playing = "false";
    el.innerHTML = "<p>Cell " + k + " has no recorded rollout. Roll it out with:</p>" +
      "<p><code class=\"eval-cmd\">" + esc(m.eval_cmd + k) + "</code></p>";
    return;
  }
  var d = decodeMap(m), T = m.rollouts.xy.shape[1], base = j * T * 2;
  var xs = [], ys = [];
  for (var t = 0; t < T; t++) { xs.push(d.xy[base + 2 * t]); ys.push(d.xy[base + 2 * t + 1]); }
  var frames = m.rollouts.frames ? m.rollouts.frames[j] : null;
  el.dataset.playing = "true";
  var names = m.rollouts.names || m.names, titles = m.rollouts.titles || [m.xtitle, m.ytitle];
  el.innerHTML = "<p>cell " + k + ": one rollout, " + T + " steps (" + esc(names[0]) +
    ", " + esc(names[1] || "") + ")</p><div class=\"rollout-row\">" +
    (frames && frames.length ? "<img id=\"rollout-frame\" width=\"160\" height=\"120\" alt=\"\">"
                             : "") + "<div id=\"rollout-plot\"></div></div>";
  var plot = document.getElementById("rollout-plot"), img = document.getElementById(
    "rollout-frame");
  var traces = [{x: xs, y: ys, mode: "lines", name: "path", line: {color: "#999"}},
                {x: [xs[0]], y: [ys[0]], mode: "markers", name: "now",
                 marker: {size: 10, color: "#d62728"}}];
  var layout = {margin: {l: 50, r: 10, t: 10, b: 40}, showlegend: false,
                xaxis: {title: {text: titles[0]}},
                yaxis: {title: {text: titles[1]}, scaleanchor: "x", scaleratio: 1}};
  Plotly.newPlot(plot, traces, layout, CONFIG).then(function () {
    var t = 0;
    if (img) { img.src = frames[0]; }
    rolloutTimer = setInterval(function () {
      t += 1;
      if (t >= T) { clearInterval(rolloutTimer); rolloutTimer = null;
                    el.dataset.playing = "done"; return; }
      Plotly.restyle(plot, {x: [[xs[t]]], y: [[ys[t]]]}, [1]);
      if (img) { img.src = frames[Math.min(frames.length - 1,
                                           Math.floor(t * frames.length / T))]; }
    }, 40);
  });
}
function drawMaps(view, prefix) {
  var maps = view.maps, p = Promise.resolve();
  maps.forEach(function (m, k) {
    var div = document.getElementById(k === 0 ? prefix : prefix + "-" + k);
    p = p.then(function () { return drawMap(div, m); });
  });
  return p;
}

// --- curves: median line and IQR band per group -----------------------------------------------
function drawCurves(view) {
  var p = Promise.resolve();
  view.plots.forEach(function (pl, n) {
    var traces = [];
    pl.lines.forEach(function (ln, i) {
      var color = PALETTE[i % PALETTE.length], x = Array.from(arr(ln.x));
      if (ln.lo) {
        traces.push({x: x, y: nullify(arr(ln.lo)), mode: "lines", line: {width: 0},
                     showlegend: false, hoverinfo: "skip"});
        traces.push({x: x, y: nullify(arr(ln.hi)), mode: "lines", line: {width: 0},
                     fill: "tonexty", fillcolor: color + "44", showlegend: false,
                     hoverinfo: "skip"});
      }
      traces.push({x: x, y: nullify(arr(ln.y)), mode: "lines", name: ln.label,
                   line: {color: color}});
    });
    var layout = {title: {text: pl.metric}, margin: {l: 60, r: 10, t: 40, b: 40},
                  xaxis: {title: {text: "evaluations"}},
                  yaxis: {type: pl.log ? "log" : "linear"}, showlegend: pl.lines.length > 1,
                  legend: {orientation: "h"}};
    p = p.then(function () {
      return Plotly.newPlot(document.getElementById("curve-" + n), traces, layout, CONFIG); });
  });
  return p;
}

// --- CBO particles: one trace per run plus consensus, a slider over snapshots -----------------
function drawParticles(view) {
  var pos = arr(view.positions), cons = arr(view.consensus), its = arr(view.iteration);
  var S = view.positions.shape[0], R = view.positions.shape[1], P = view.positions.shape[2];
  var D = view.positions.shape[3], div = document.getElementById("particles");
  var slider = document.getElementById("particles-slider");
  var label = document.getElementById("particles-label");
  var sx = document.getElementById("particles-x"), sy = document.getElementById("particles-y");
  for (var i = 0; i < D; i++) {
    sx.add(new Option("x" + i, i)); sy.add(new Option("x" + i, i));
  }
  sy.value = 1;
  slider.max = S - 1;
  function frame(s) {
    var a = +sx.value, b = +sy.value, xs = [], ys = [];
    for (var r = 0; r < R; r++) {
      var px = [], py = [];
      for (var q = 0; q < P; q++) {
        var o = ((s * R + r) * P + q) * D;
        px.push(Number.isFinite(pos[o + a]) ? pos[o + a] : null);
        py.push(Number.isFinite(pos[o + b]) ? pos[o + b] : null);
      }
      xs.push(px); ys.push(py);
    }
    var cx = [], cy = [];
    for (var r2 = 0; r2 < R; r2++) {
      cx.push(cons[(s * R + r2) * D + a]); cy.push(cons[(s * R + r2) * D + b]);
    }
    xs.push(cx); ys.push(cy);
    label.textContent = "iteration " + its[s];
    return {x: xs, y: ys};
  }
  var f0 = frame(0), traces = [];
  for (var r = 0; r < R; r++) {
    traces.push({x: f0.x[r], y: f0.y[r], mode: "markers", name: "run " + r,
                 marker: {size: 5, opacity: 0.6, color: PALETTE[r % PALETTE.length]}});
  }
  traces.push({x: f0.x[R], y: f0.y[R], mode: "markers", name: "consensus",
               marker: {size: 12, symbol: "x", color: "#000"}});
  var layout = {margin: {l: 50, r: 10, t: 20, b: 40}, xaxis: {title: {text: "x0"}},
                yaxis: {title: {text: "x1"}}};
  function show() {
    var f = frame(+slider.value);
    Plotly.restyle(div, {x: f.x, y: f.y});
    Plotly.relayout(div, {"xaxis.title.text": "x" + sx.value, "yaxis.title.text": "x" + sy.value});
  }
  var timer = null;
  return Plotly.newPlot(div, traces, layout, CONFIG).then(function () {
    slider.addEventListener("input", show);
    sx.addEventListener("change", show);
    sy.addEventListener("change", show);
    document.getElementById("particles-play").addEventListener("click", function () {
      if (timer) { clearInterval(timer); timer = null; return; }
      if (+slider.value >= S - 1) { slider.value = 0; }
      timer = setInterval(function () {
        if (+slider.value >= S - 1) { clearInterval(timer); timer = null; return; }
        slider.value = +slider.value + 1; show();
      }, 120);
    });
  });
}

// --- parallel axes: lines binned by fitness into 8 colours (SVG, no parcoords/WebGL) ----------
function drawParallel(view) {
  var lines = arr(view.lines), fit = arr(view.fitness), D = view.dims, n = fit.length;
  var bins = 8, traces = [], cs = view.colorscale;
  for (var b = 0; b < bins; b++) {
    var xs = [], ys = [];
    for (var i = 0; i < n; i++) {
      var t = (fit[i] - view.zmin) / (view.zmax - view.zmin);
      if (Math.min(bins - 1, Math.max(0, Math.floor(t * bins))) !== b) { continue; }
      for (var k = 0; k < D; k++) { xs.push(k); ys.push(lines[i * D + k]); }
      xs.push(null); ys.push(null);
    }
    var color = cs[Math.round((b + 0.5) / bins * (cs.length - 1))][1];
    traces.push({x: xs, y: ys, mode: "lines", line: {color: color, width: 1}, opacity: 0.7,
                 hoverinfo: "skip", showlegend: false});
  }
  traces.push({x: [null], y: [null], mode: "markers", hoverinfo: "skip", showlegend: false,
               marker: {color: [view.zmin], cmin: view.zmin, cmax: view.zmax, colorscale: cs,
                        showscale: true, colorbar: {title: {text: "fitness"}}}});
  var layout = {margin: {l: 30, r: 10, t: 20, b: 80}, yaxis: {range: [-0.05, 1.05],
                showticklabels: false, title: {text: "scaled to the descriptor box"}},
                xaxis: {tickvals: Array.from({length: D}, function (_, i) { return i; }),
                        ticktext: view.labels, range: [-0.2, D - 0.8]}};
  return Plotly.newPlot(document.getElementById("parallel-axes"), traces, layout, CONFIG);
}

var DRAW = {
  archive: function (v) { return drawMaps(v, "archive-heatmap"); },
  distilled: function (v) { return drawMaps(v, "distilled-heatmap"); },
  curves: drawCurves, particles: drawParticles, parallel_axes: drawParallel
};
// family views' drawing functions (views.View.script), one line each
/*FAMILY_DRAW*/

function drawAll() {
  var names = Array.prototype.map.call(document.querySelectorAll("section[data-view]"),
                                       function (s) { return s.dataset.view; });
  var first = true, p = Promise.resolve();
  names.forEach(function (name) {
    if (!DRAW[name] || !DATA[name]) { return; }
    p = p.then(function () {
      return Promise.resolve(DRAW[name](DATA[name])).catch(function (e) {
        console.error("evoflow: view " + name + " failed: " + e);
      });
    }).then(function () {
      if (first) { first = false; performance.mark("evoflow:first-render"); }
      // let the browser paint before the next view
      return new Promise(function (res) { setTimeout(res, 0); });
    });
  });
  return p.then(function () {
    if (first) { performance.mark("evoflow:first-render"); }
    document.body.dataset.rendered = "all";
  });
}
drawAll();
})();
"""
