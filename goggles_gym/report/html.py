"""``report.html``: the report as one self-contained page (title, header text, chart, results and
methods tables, strips, the episode videos side by side, how the run was made), relative links only, inline CSS,
no script; and rebuilding it from a finished report folder without running any episode."""

from __future__ import annotations

import html
import json
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from goggles_gym.common.files import atomic_write_text
from goggles_gym.report.figures import video_file
from goggles_gym.report.markdown import read_markdown_report
from goggles_gym.report.tables import (
    METHOD_COLUMNS,
    METHODS_NOTE,
    TABLE_COLUMNS,
    method_rows,
    method_summaries,
    table_row,
    table_rows,
)

#: The images a report folder may hold, in the page's order, with their alt text.
IMAGES: dict[str, str] = {
    "success.png": "success rate of each condition with its 95% interval",
    "strips.png": "held-out frames: the raw camera frame, each translator's output and the true sim render",
}
#: Files of the report folder the page links to when they are there.
LINKED_FILES: tuple[str, ...] = ("report.md", "results.json", "results.csv")

CSS = """
body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;margin:0;color:#1d2125;
background:#f5f6f8}
main{max-width:1240px;margin:0 auto;padding:20px 20px 48px}
h1{font-size:1.45em;margin:.3em 0 .5em;line-height:1.3}
h2{font-size:1.15em;margin:1.8em 0 .6em;border-bottom:1px solid #d9dde3;padding-bottom:.2em}
p{max-width:75em}
code{background:#e9ecf0;padding:0 .25em;border-radius:3px;font-size:.9em}
pre{background:#fff;border:1px solid #d9dde3;border-radius:6px;padding:10px 12px;overflow-x:auto;font-size:13px;
line-height:1.4}
pre code{background:none;padding:0}
figure{margin:14px 0;background:#fff;border:1px solid #d9dde3;border-radius:6px;padding:10px}
figure img{max-width:100%;height:auto;display:block;margin:0 auto}
img.pixels,video{image-rendering:pixelated}
figcaption{font-size:.88em;color:#4a5159;margin-top:6px}
.table-wrap{overflow-x:auto;background:#fff;border:1px solid #d9dde3;border-radius:6px;margin:10px 0}
table{border-collapse:collapse;font-size:13px;width:100%}
th,td{padding:5px 8px;border-bottom:1px solid #e6e9ed;text-align:right;font-variant-numeric:tabular-nums}
td{white-space:nowrap}
th{vertical-align:bottom}
.provenance table{width:auto}
th:first-child,td:first-child{text-align:left}
td:first-child{font-weight:600}
thead th{background:#edf0f3}
tbody tr:nth-child(even){background:#fafbfc}
.videos{display:grid;grid-template-columns:repeat(auto-fill,minmax(300px,1fr));gap:14px}
.videos figure{margin:0}
video{width:100%;height:auto;max-height:340px;object-fit:contain;background:#111;display:block}
.note{color:#a4262c}
.files a{margin-right:1.2em}
"""

_CODE = re.compile(r"`([^`]+)`")
_IMAGE = re.compile(r"!\[([^\]]*)\]\(([^)\s]+)\)")
_LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)\)")
_BOLD = re.compile(r"\*\*(.+?)\*\*")
_RULE = re.compile(r"^\|[\s:|-]+\|$")


def _src(name: str) -> str:
    """A relative link to a file of the report folder, as an attribute value."""
    return html.escape(quote(name), quote=True)


def inline_html(text: str) -> str:
    """One line of the report's markdown as HTML: escaped, with `code`, **bold**, links and images.

    >>> inline_html("a `<b>` **c** [d](e.md) & f")
    'a <code>&lt;b&gt;</code> <strong>c</strong> <a href="e.md">d</a> &amp; f'
    """
    out = []
    for k, part in enumerate(_CODE.split(text)):
        if k % 2:
            out.append(f"<code>{html.escape(part)}</code>")
            continue
        s = html.escape(part, quote=True)
        s = _IMAGE.sub(lambda m: f'<img src="{m[2]}" alt="{m[1]}">', s)
        s = _LINK.sub(lambda m: f'<a href="{m[2]}">{m[1]}</a>', s)
        out.append(_BOLD.sub(r"<strong>\1</strong>", s))
    return "".join(out)


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], inline: bool = False) -> str:
    cell = inline_html if inline else html.escape
    head = "".join(f'<th scope="col">{cell(c)}</th>' for c in header)
    body = "\n".join("<tr>" + "".join(f"<td>{cell(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f'<div class="table-wrap"><table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table></div>'


def markdown_html(text: str) -> str:
    """The little markdown the report writes (headings, paragraphs, ``-`` lists, pipe tables, fenced
    code) as HTML; enough for the header text and the provenance section, not a general converter.

    >>> print(markdown_html("## H\\n\\n- a `x`\\n\\n| k | v |\\n|---|---|\\n| 1 | 2 |\\n\\n```yaml\\na: 1\\n```"))
    <h2>H</h2>
    <ul><li>a <code>x</code></li></ul>
    <div class="table-wrap"><table>
    <thead><tr><th scope="col">k</th><th scope="col">v</th></tr></thead>
    <tbody>
    <tr><td>1</td><td>2</td></tr>
    </tbody>
    </table></div>
    <pre><code class="language-yaml">a: 1</code></pre>
    """
    lines, out, para, i = text.splitlines(), [], [], 0

    def flush() -> None:
        if para:
            out.append("<p>" + inline_html(" ".join(para)) + "</p>")
            para.clear()

    while i < len(lines):
        line = lines[i].strip()
        if line.startswith("```"):
            flush()
            lang, code, i = line[3:].strip(), [], i + 1
            while i < len(lines) and not lines[i].strip().startswith("```"):
                code.append(lines[i])
                i += 1
            cls = f' class="language-{html.escape(lang, quote=True)}"' if lang else ""
            out.append(f"<pre><code{cls}>{html.escape(chr(10).join(code))}</code></pre>")
        elif line.startswith("|"):
            flush()
            rows = []
            while i < len(lines) and lines[i].strip().startswith("|"):
                if not _RULE.match(lines[i].strip()):
                    rows.append([c.strip() for c in lines[i].strip().strip("|").split("|")])
                i += 1
            out.append(_table(rows[0], rows[1:], inline=True))
            continue
        elif line.startswith(("- ", "* ")):
            flush()
            items = []
            while i < len(lines) and lines[i].strip().startswith(("- ", "* ")):
                items.append(lines[i].strip()[2:])
                i += 1
            out.append("<ul>" + "".join(f"<li>{inline_html(t)}</li>" for t in items) + "</ul>")
            continue
        elif heading := re.match(r"(#{1,6}) (.*)", line):
            flush()
            n = len(heading[1])
            out.append(f"<h{n}>{inline_html(heading[2])}</h{n}>")
        elif line:
            para.append(line)
        else:
            flush()
        i += 1
    flush()
    return "\n".join(out)


def html_report(summaries: Sequence[dict[str, Any]], title: str, header: str, images: Sequence[str],
                videos: Sequence[tuple[str, str]], provenance: str = "", links: Sequence[str] = (),
                videos_intro: str = "", image_sizes: dict[str, tuple[int, int]] | None = None,
                methods: Sequence[dict[str, Any]] | None = None) -> str:
    """``report.html`` as text: ``title`` and ``header`` (the report's markdown), the chart
    (``images[0]``), the results table (the columns of report.md, from the same summaries), the
    methods table (from ``methods``, results.json's entries, else made from ``summaries``), the
    other images, the ``(file, caption)`` videos in a grid, the ``provenance`` section (markdown)
    and links to the report's other files. Every link is a bare file name of the report folder;
    ``image_sizes`` (name -> width, height) is the size an image is shown at (it shrinks to fit)."""
    sizes = image_sizes or {}
    plain_title = re.sub(r"[`*]", "", title)
    parts = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             f"<title>{html.escape(plain_title)}</title>", f"<style>{CSS}</style>", "</head>", "<body>", "<main>",
             f"<h1>{inline_html(title)}</h1>"]
    if header.strip():
        parts.append(f'<section class="header">\n{markdown_html(header)}\n</section>')

    def figure(name: str) -> str:
        alt = IMAGES.get(name, Path(name).stem)
        size = sizes.get(name)
        shown = f' width="{size[0]}" height="{size[1]}"' if size else ""
        pixels = ' class="pixels"' if name != "success.png" else ""
        return (f'<figure><img src="{_src(name)}" alt="{html.escape(alt, quote=True)}"{shown}{pixels}>'
                f"<figcaption>{html.escape(alt)}</figcaption></figure>")

    parts += [figure(i) for i in images[:1]]
    parts += ["<h2>Results</h2>", _table(TABLE_COLUMNS, table_rows(summaries))]
    methods = method_summaries(summaries) if methods is None else methods
    if methods:
        parts += ["<h2>Methods</h2>", f"<p>{inline_html(METHODS_NOTE)}</p>",
                  _table(METHOD_COLUMNS, method_rows(methods))]
    if images[1:]:
        parts += ["<h2>Frames</h2>", *(figure(i) for i in images[1:])]
    if videos:
        parts.append("<h2>Episodes</h2>")
        if videos_intro:
            parts.append(f"<p>{inline_html(videos_intro)}</p>")
        parts.append('<section class="videos">')
        parts += [f'<figure><video controls muted loop playsinline preload="metadata" src="{_src(name)}"></video>'
                  f'<figcaption>{html.escape(caption)} (<a href="{_src(name)}">{html.escape(name)}</a>)'
                  "</figcaption></figure>" for name, caption in videos]
        parts.append("</section>")
    if provenance.strip():
        parts.append(f'<section class="provenance">\n{markdown_html(provenance)}\n</section>')
    if links:
        parts.append('<p class="files">Files: ' + " ".join(f'<a href="{_src(n)}">{html.escape(n)}</a>' for n in links)
                     + "</p>")
    parts += ["</main>", "</body>", "</html>"]
    return "\n".join(parts) + "\n"


def png_size(path: str | os.PathLike) -> tuple[int, int] | None:
    """A PNG's width and height from its header, or None for a file that is not a PNG."""
    with open(path, "rb") as f:
        head = f.read(24)
    if head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        return None
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


def _shown_size(path: Path, name: str) -> tuple[int, int] | None:
    """The frame strips are small frames: shown at twice their size (sharp), up to the page's width."""
    size = png_size(path)
    if size is None or name == "success.png":
        return size
    scale = max(1, min(2, 1200 // max(size[0], 1)))
    return size[0] * scale, size[1] * scale


def video_codec(path: str | os.PathLike) -> str | None:
    """The sample entry of an MP4's first track (``avc1`` for H.264, ``mp4v`` for MPEG-4 Part 2,
    which browsers do not play), or None when the file has none that can be read."""
    data = Path(path).read_bytes()
    at = data.find(b"stsd")
    if at < 0 or len(data) < at + 20:
        return None
    return data[at + 16:at + 20].decode("latin-1")


def _videos(folder: Path, summaries: Sequence[dict[str, Any]], names: Sequence[str]) -> list[tuple[str, str]]:
    """The episode videos ``names`` (all of the folder's, in the order of the conditions, when empty)
    that are there, each with its caption."""
    by_file = {video_file(s["condition"]): s for s in summaries}
    if not names:
        present = sorted(p.name for p in folder.glob("episode_*.mp4"))
        names = [n for n in by_file if n in present] + [n for n in present if n not in by_file]
    names = [n for n in names if (folder / n).is_file()]
    out = []
    for name in names:
        s = by_file.get(name)
        caption = f"{s['condition']}: success {table_row(s)[1]}" if s else Path(name).stem.removeprefix("episode_")
        codec = video_codec(folder / name)
        if codec and codec not in ("avc1", "avc3"):
            caption += (f" [this video is {codec!r}, not H.264 (avc1), so browsers may not play it; "
                        "evaluating again writes H.264]")
        out.append((name, caption))
    return out


def write_html_report(folder: str | os.PathLike, title: str | None = None, header: str | None = None) -> Path:
    """(Re)build ``report.html`` in a finished report folder from its ``results.json`` and the images
    and videos there (those ``report.md`` shows, else every known one); the title, header text and
    provenance come from its ``report.md`` unless ``title`` / ``header`` are given. No episode is
    run. Returns the page's path."""
    folder = Path(folder)
    results = folder / "results.json"
    if not results.is_file():
        raise FileNotFoundError(f"{results} not found: pass a report folder, the one `goggles-gym evaluate --out` "
                                "or the pipeline's evaluate stage (RUN/report) wrote")
    try:
        data = json.loads(results.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{results} is damaged ({exc}); evaluate again to rewrite it") from None
    summaries = data.get("conditions") if isinstance(data, dict) else None
    if not isinstance(summaries, list):
        raise ValueError(f"{results} has no 'conditions' list; it is not a goggles-gym results.json")
    methods = data.get("methods")  # results.json from before the methods table: made from the conditions
    if methods is not None and not isinstance(methods, list):
        raise ValueError(f"{results}: 'methods' is not a list; evaluate again to rewrite it")
    parts = read_markdown_report(folder / "report.md")
    seeds = data.get("seeds") or []
    intro = ("The first evaluation episode" + (f" (seed {seeds[0]})" if seeds else "") + " of each condition: "
             "the camera's frames, and beside them what the policy sees through the goggles.")
    images = [n for n in parts.images or IMAGES if (folder / n).is_file()]
    page = html_report(summaries, title if title is not None else parts.title or "Evaluation report",
                       header if header is not None else parts.header, images,
                       _videos(folder, summaries, parts.videos),
                       provenance=parts.provenance, links=[n for n in LINKED_FILES if (folder / n).is_file()],
                       videos_intro=intro, image_sizes={n: s for n in images if (s := _shown_size(folder / n, n))},
                       methods=methods)
    return atomic_write_text(folder / "report.html", page)
