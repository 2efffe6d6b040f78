"""report.html of a tour run: self-contained (images embedded as data: URIs, inline CSS, no
network), parity colour-coded by error magnitude."""

from __future__ import annotations

import base64
import html
from pathlib import Path

from triptych.report.sections import Section, tour_sections
from triptych.tour.results import TourResults

CSS = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1200px;color:#222}
h1{margin-bottom:0}h2{border-bottom:2px solid #ddd;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;margin:1em 0;font-size:13px}
td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}th{background:#f3f3f3}
td:first-child,th:first-child{text-align:left}
.ok{background:#d8f5d8}.warn{background:#fff1c2}.bad{background:#f8c8c8}
.grid{display:flex;flex-wrap:wrap;gap:12px}.grid figure{margin:0}
figcaption{font-size:12px;color:#555}img{max-width:100%;border:1px solid #eee}
.muted{color:#777;font-size:13px}
"""


def _img(path: str | Path, alt: str, width: int | None = None) -> str:
    data = base64.b64encode(Path(path).read_bytes()).decode()
    w = f' width="{width}"' if width else ""
    return f'<img alt="{html.escape(alt)}"{w} src="data:image/png;base64,{data}">'


def _figure(path: str | Path, caption: str, width: int | None = None) -> str:
    return (
        f"<figure>{_img(path, caption, width)}<figcaption>{html.escape(caption)}"
        f"</figcaption></figure>"
    )


def _table(section: Section) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in section.header)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="{c.grade}">{html.escape(c.text)}</td>'
            if c.grade
            else f"<td>{html.escape(c.text)}</td>"
            for c in row
        )
        + "</tr>"
        for row in section.rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def section_html(section: Section, root: Path, level: int = 2) -> str:
    parts = [f"<h{level}>{html.escape(section.title)}</h{level}>"]
    if section.intro:
        parts.append(f"<p class=muted>{html.escape(section.intro)}</p>")
    if section.bullets:
        parts.append(
            "<ul>" + "".join(f"<li>{html.escape(b)}</li>" for b in section.bullets) + "</ul>"
        )
    if section.header:
        parts.append(_table(section))
    if section.pre:
        parts.append(f"<pre>{html.escape(section.pre)}</pre>")
    if section.figures:
        figures = "".join(_figure(root / f.path, f.caption, f.width) for f in section.figures)
        parts.append(f'<div class="grid">{figures}</div>')
    return "".join(parts)


def tour_html(results: TourResults, root: Path) -> str:
    """The whole report; ``root`` is the run directory the image paths are relative to."""
    sections = tour_sections(results)
    body = section_html(sections[0], root, level=1) + "".join(
        section_html(s, root) for s in sections[1:]
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>triptych run "
        f"{html.escape(results.started)}</title><style>{CSS}</style></head><body>"
        + body
        + "</body></html>"
    )
