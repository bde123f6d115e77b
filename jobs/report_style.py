"""The report's inline style sheet: system fonts only, nothing fetched, readable from 360 px up.

Wide parts (the graph, the tables) scroll inside their own box, so the page itself never
scrolls sideways. The status colours are the graph's (``jobs.graph_svg_style``), so badges,
bars and boxes agree.
"""

from __future__ import annotations

from jobs.graph_svg_style import MISSING_COLOURS, STATUS_COLOURS


def _palette() -> str:
    """The status colours of the graph's boxes (``jobs.graph_svg_style``), for the rest."""
    names = {"succeeded": "ok", "failed": "bad", "running": "run", "skipped": "skip"}
    lines = [f"--{short}:{STATUS_COLOURS[status][1]};" for status, short in names.items()]
    swatches = [
        f".swatch.st-{status}{{background:{fill};border-color:{stroke}}}"
        for status, (fill, stroke) in [*STATUS_COLOURS.items(), ("missing", MISSING_COLOURS)]
    ]
    lines.append(f"--run-bg:{STATUS_COLOURS['running'][0]};")
    return ":root{" + "".join(lines) + "}\n" + "\n".join(swatches) + "\n"


CSS = (
    _palette()
    + """
:root{--wait:#94a3b8;--queued:#f59e0b;--line:#e5e7eb;--ink:#111827;--muted:#4b5563}
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{margin:0;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;
color:var(--ink);background:#f9fafb}
header,main,footer{max-width:1200px;margin:0 auto;padding:0 16px}
header{padding-top:12px}
h1{font-size:1.5rem;margin:8px 0 2px}
h2{font-size:1.2rem;margin:0 0 8px}
h3{font-size:1rem;font-weight:600;margin:0 0 6px;overflow-wrap:anywhere}
nav{display:flex;flex-wrap:wrap;gap:4px 14px;margin:6px 0 0}
a{color:var(--run)}
section{background:#fff;border:1px solid var(--line);border-radius:8px;padding:14px;
margin:14px 0;min-width:0}
.muted{color:var(--muted);font-weight:400}
.app{overflow-wrap:anywhere}
.legend{display:flex;flex-wrap:wrap;gap:4px 14px;list-style:none;padding:0;margin:0 0 8px;
font-size:.9rem}
.swatch{display:inline-block;width:.9em;height:.9em;border-radius:3px;margin-right:5px;
vertical-align:-.1em;border:1px solid rgba(0,0,0,.25)}
.scroll{overflow:auto;max-width:100%}
.graph-scroll{max-height:80vh;border:1px solid var(--line);border-radius:6px;background:#fff}
.graph-scroll svg{display:block}
.badge.succeeded{background:var(--ok)}
.badge.failed{background:var(--bad)}
.badge.running{background:var(--run)}
.badge{color:#fff;border-radius:4px;padding:1px 6px;font-size:.85rem;font-weight:600}
.run{border-top:1px solid var(--line);padding:8px 0 4px}
.run:first-of-type{border-top:0}
.run summary{cursor:pointer;margin-bottom:6px}
.run summary h3{display:inline;margin:0}
.hops{display:grid;gap:4px}
.hop{display:grid;grid-template-columns:minmax(7rem,15rem) minmax(0,1fr) 9rem;gap:8px;
align-items:center;min-width:0}
.hop .took{font-size:.85rem;color:var(--muted);white-space:nowrap}
.hop.failed .app,.hop .took.failed{color:var(--bad);font-weight:600}
.bar{position:relative;height:16px;background:#f3f4f6;border-radius:3px;overflow:hidden;
min-width:0}
.seg{position:absolute;top:0;bottom:0;min-width:2px}
.seg.wait,.swatch.wait{background:var(--wait)}
.seg.queued,.swatch.queued{background:var(--queued)}
.seg.reloading,.seg.busy,.swatch.reloading,.swatch.busy{background:var(--ok)}
.seg.busy,.swatch.busy{opacity:.55}
.hop.failed .seg.reloading,.hop.failed .seg.busy,.seg.start-failed,.swatch.start-failed{
background:var(--bad);opacity:1}
.seg.start-failed{min-width:4px}
.hop.running .seg.reloading,.hop.running .seg.busy{background:repeating-linear-gradient(
45deg,var(--run) 0 6px,var(--run-bg) 6px 12px)}
.skips{list-style:none;padding:0;margin:6px 0 0;display:flex;flex-wrap:wrap;gap:2px 14px;
font-size:.9rem}
table{border-collapse:collapse;font-size:.9rem}
th,td{text-align:left;padding:4px 8px;border-bottom:1px solid var(--line);vertical-align:top}
th{font-weight:600;white-space:nowrap}
td.num{white-space:nowrap}
td.state-met,td.state-sent,td.code-ok{color:var(--ok);font-weight:600}
td.state-late,td.state-overdue,td.state-expired,td.code-bad{color:var(--bad);font-weight:600}
td.state-pending{color:var(--skip);font-weight:600}
footer{color:var(--muted);font-size:.85rem;padding-bottom:24px}
@media (max-width:640px){
body{font-size:14px}
header,main,footer{padding:0 8px}
section{padding:10px}
.hop{grid-template-columns:minmax(0,1fr) auto;row-gap:2px}
.hop .bar{grid-column:1/-1;grid-row:2}
}
"""
)
