"""What a person looks at: ``results.json`` / ``results.csv`` (:mod:`.tables`), the success chart,
frame strips and side-by-side videos (:mod:`.figures`), ``report.md`` (:mod:`.markdown`) and
``report.html``, one self-contained page of all of it (:mod:`.html`); :mod:`.screenshot` takes a
full-page screenshot of that page in headless Chromium. Every public name is re-exported here."""

from typing import Any

from goggles_gym.report.figures import frame_strip, side_by_side_video, success_chart, video_file
from goggles_gym.report.html import html_report, inline_html, markdown_html, png_size, video_codec, write_html_report
from goggles_gym.report.markdown import PROVENANCE_HEADING, MarkdownParts, markdown_report, read_markdown_report
from goggles_gym.report.tables import (
    METHOD_COLUMNS,
    METHODS_NOTE,
    TABLE_COLUMNS,
    method_row,
    method_rows,
    method_summaries,
    method_summary,
    p_value,
    table_row,
    table_rows,
    write_tables,
)

_SCREENSHOT = ("CHROMIUM", "CHROMIUM_ARGS", "PageCheck", "describe", "screenshot_report")


def __getattr__(name: str) -> Any:
    """The screenshot's names, imported when first used (``python -m goggles_gym.report.screenshot``
    then runs a module that is not imported yet)."""
    if name in _SCREENSHOT:
        from goggles_gym.report import screenshot

        return getattr(screenshot, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["CHROMIUM", "CHROMIUM_ARGS", "METHODS_NOTE", "METHOD_COLUMNS", "PROVENANCE_HEADING", "TABLE_COLUMNS",
           "MarkdownParts", "PageCheck", "describe", "frame_strip", "html_report", "inline_html", "markdown_html",
           "markdown_report", "method_row", "method_rows", "method_summaries", "method_summary", "p_value",
           "png_size", "read_markdown_report", "screenshot_report", "side_by_side_video", "success_chart",
           "table_row", "table_rows", "video_codec", "video_file", "write_html_report", "write_tables"]
