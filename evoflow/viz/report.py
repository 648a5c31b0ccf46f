"""One self-contained `report.html`: plotly.js inlined once, every array as base64 typed data,
one `<section data-view="VIEW">` per view, nothing fetched from anywhere.

The page is built from plain data here (`views.py` decides what each view carries) and drawn by
the small script in `page_js.py`. Only SVG traces are used (heatmap, scatter): no WebGL, so the
page draws the same in a headless browser without a GPU.
"""

from __future__ import annotations

import datetime as _dt
import html
import json
from pathlib import Path

from evoflow.viz import views
from evoflow.viz.load import Run
from evoflow.viz.page_js import APP_JS, CSS, FAMILY_DRAW

GENERATOR = '<meta name="generator" content="evoflow">'


def plotly_js() -> str:
    """plotly.js as shipped inside the plotly package (no network, one copy per page)."""
    import plotly

    path = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    return path.read_text(encoding="utf-8")


def written_by_evoflow(path: Path) -> bool:
    """True if the file at `path` is a page this module wrote (checked before overwriting)."""
    try:
        with open(path, "rb") as f:
            head = f.read(4096)
    except OSError:
        return False
    return GENERATOR.encode() in head


def run_page(run: Run, *, top_k: int = 16, live_every: float | None = None,
             now: _dt.datetime | None = None) -> str:
    """The report of one run. `live_every`: seconds between rewrites while the run is live
    (adds the banner and a meta refresh)."""
    sections = views.run_views(run, top_k=top_k)
    return _page(run.title, sections, notes=run.gaps, live_every=live_every, now=now,
                 subtitle=str(run.path))


def compare_page(runs: list[Run], *, live_every: float | None = None,
                 now: _dt.datetime | None = None) -> str:
    sections = views.compare_views(runs)
    envs = sorted({r.env for r in runs})
    algos = sorted({r.algo for r in runs})
    title = f"{', '.join(algos)} on {', '.join(envs)}: {len(runs)} runs compared"
    notes = sorted({f"{r.path.name}: {g}" for r in runs for g in r.gaps})
    return _page(title, sections, notes=notes, live_every=live_every, now=now,
                 subtitle=", ".join(r.path.name for r in runs))


def _page(title: str, sections: list[views.View], *, notes, live_every, now, subtitle) -> str:
    esc = html.escape
    head = [
        "<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">', GENERATOR,
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
    ]
    banner = ""
    if live_every is not None:
        head.append(f'<meta http-equiv="refresh" content="{max(1, round(live_every))}">')
        stamp = (now or _dt.datetime.now()).strftime("%H:%M:%S")
        banner = f'<div id="live-banner" class="live">live, updated {stamp}</div>'
    css = CSS + "".join(v.css for v in sections if v.css)
    head += [f"<title>{esc(title)}</title>", f"<style>{css}</style>",
             # plotly.js once, before any view; it cannot contain "</script" (it is minified
             # JS that plotly itself inlines the same way).
             f"<script>{plotly_js()}</script>", "</head>"]
    body = ["<body>", banner, f"<header><h1>{esc(title)}</h1>",
            f'<p class="sub">{esc(subtitle)}</p>']
    if notes:
        body.append('<ul id="notes">' + "".join(f"<li>{esc(n)}</li>" for n in notes) + "</ul>")
    body.append("</header>")
    for v in sections:
        body.append(f'<section data-view="{esc(v.name)}" id="view-{esc(v.name)}">'
                    f"<h2>{esc(v.heading)}</h2>{v.html}</section>")
    data = {v.name: v.data for v in sections}
    body.append('<script type="application/json" id="evoflow-data">'
                + _json_for_script(data) + "</script>")
    draw = "\n".join(f"DRAW[{json.dumps(v.name)}] = {v.script.strip()};" for v in sections
                     if v.script)
    body.append(f"<script>{APP_JS.replace(FAMILY_DRAW, draw)}</script>")
    body += ["</body>", "</html>"]
    return "\n".join(head + body) + "\n"


def _json_for_script(obj) -> str:
    # Inside <script>, "</" could end the element early; JSON allows "<\/" for "</".
    return json.dumps(obj, allow_nan=False, separators=(",", ":")).replace("</", "<\\/")



def write_report(run, path=None, *, top_k: int = 16) -> Path:
    """Write the report of a run (a `Run` or a run directory) to `path` (default
    RUN/report.html), atomically; return the path."""
    from evoflow.engine.rundir import atomic_write_bytes
    from evoflow.viz.load import load_run

    run = run if isinstance(run, Run) else load_run(run)
    path = Path(path) if path is not None else run.path / "report.html"
    atomic_write_bytes(path, run_page(run, top_k=top_k).encode())
    return path
