"""``report.md``: the chart, how it was made, the results table, the strips and links to the videos;
and reading a written ``report.md`` back into its parts (title, header text, provenance)."""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from goggles_gym.report.tables import (
    METHOD_COLUMNS,
    METHODS_NOTE,
    TABLE_COLUMNS,
    method_rows,
    method_summaries,
    table_rows,
)

#: The headings of the sections that the pipeline appends to report.md, in their order: the
#: target-free rows on other looks (``--other-looks``), then how the run was made.
OTHER_LOOKS_HEADING = "## The same goggles on other looks"
PROVENANCE_HEADING = "## How this run was made"
APPENDED_HEADINGS = (OTHER_LOOKS_HEADING, PROVENANCE_HEADING)
_IMAGE_LINE = re.compile(r"^!\[[^\]]*\]\(([^)\s]+)\)$", re.M)
_VIDEO_LINE = re.compile(r"^- video: \[[^\]]*\]\(([^)\s]+)\)$", re.M)


def markdown_report(summaries: Sequence[dict[str, Any]], title: str, header: str, images: Sequence[str],
                    videos: Sequence[str]) -> str:
    """``report.md``: the chart (``images[0]``) first, how it was made, the table (a goggles method's
    success is its mean over translator seeds, each seed's beside it, with the paired tests), the
    methods table (when there are goggles), the other images (frame strips) and links to the videos."""
    lines = [f"# {title}", ""]
    lines += [f"![{Path(i).stem}]({i})" for i in images[:1]]
    lines += ["", header, "", *_pipe_table(TABLE_COLUMNS, table_rows(summaries)), ""]
    methods = method_summaries(summaries)
    if methods:
        lines += ["## Methods", "", METHODS_NOTE, "", *_pipe_table(METHOD_COLUMNS, method_rows(methods)), ""]
    lines += [f"![{Path(i).stem}]({i})" for i in images[1:]]
    lines.append("")
    lines += [f"- video: [{Path(v).name}]({v})" for v in videos]
    return "\n".join(lines) + "\n"


def _pipe_table(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """A markdown pipe table: the header, the rule, one line a row."""
    return ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns),
            *("| " + " | ".join(r) + " |" for r in rows)]


@dataclasses.dataclass
class MarkdownParts:
    """What ``report.html`` takes from a written ``report.md``: its title, the header text above the
    table (markdown) and what the pipeline appended (``provenance``: the other looks' table and how the
    run was made, markdown; empty when the pipeline did not add them)."""

    title: str = ""
    header: str = ""
    provenance: str = ""
    images: list[str] = dataclasses.field(default_factory=list)  # as report.md shows them, the chart first
    videos: list[str] = dataclasses.field(default_factory=list)  # as report.md links them


def read_markdown_report(path: str | os.PathLike) -> MarkdownParts:
    """Split a ``report.md`` written by :func:`markdown_report` (and maybe extended by the pipeline's
    provenance) into its parts; a missing file gives empty parts.

    >>> import tempfile
    >>> md = Path(tempfile.mkdtemp()) / "report.md"
    >>> md_text = markdown_report([], "T", "how", ["success.png"], [])
    >>> _ = md.write_text(md_text + "\\n## How this run was made\\n\\n- x\\n")
    >>> parts = read_markdown_report(md)
    >>> parts.title, parts.header, parts.images, parts.provenance
    ('T', 'how', ['success.png'], '## How this run was made\\n\\n- x')
    """
    path = Path(path)
    if not path.is_file():
        return MarkdownParts()
    text = path.read_text(encoding="utf-8")
    cut = min((i for i in (text.find("\n" + h) for h in APPENDED_HEADINGS) if i >= 0), default=len(text))
    main, provenance = text[:cut], text[cut:].strip()
    title, header = "", []
    table_start = "| " + TABLE_COLUMNS[0] + " |"
    images = [m[1] for m in _IMAGE_LINE.finditer(main)]
    videos = [m[1] for m in _VIDEO_LINE.finditer(main)]
    for line in main.splitlines():
        if not title and line.startswith("# "):
            title = line[2:].strip()
        elif line.startswith(table_start):
            break
        elif title and not (line.startswith("![") and not any(h.strip() for h in header)):
            header.append(line)  # the chart above the header text is not part of it
    return MarkdownParts(title, "\n".join(header).strip(), provenance, images, videos)
