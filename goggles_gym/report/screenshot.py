"""A full-page screenshot of a report folder's ``report.html`` in a headless Chromium (Debian's
``/usr/bin/chromium`` driven by Playwright's Python package; no browser download), with what the
browser saw: failed requests, console errors, images that did not decode, videos that did not load.

``python -m goggles_gym.report.screenshot FOLDER OUT.png`` (builds report.html first when it is missing).
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from goggles_gym.common.cli import ArgumentParser, run_cli
from goggles_gym.common.files import atomic_write
from goggles_gym.report.html import write_html_report

#: The browser: Debian's Chromium (``apt-get install chromium``), never a Playwright download.
CHROMIUM = "/usr/bin/chromium"
#: Its flags: headless, no sandbox (root in containers), no GPU, nothing fetched from the network.
CHROMIUM_ARGS: tuple[str, ...] = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                                  "--disable-background-networking", "--disable-component-update", "--disable-sync")
MEDIA_ERRORS = {1: "MEDIA_ERR_ABORTED", 2: "MEDIA_ERR_NETWORK", 3: "MEDIA_ERR_DECODE",
                4: "MEDIA_ERR_SRC_NOT_SUPPORTED (the browser cannot play this file: not H.264?)"}

_MEDIA = """() => ({
  images: [...document.images].map(i => ({src: i.getAttribute('src'), width: i.naturalWidth})),
  videos: [...document.querySelectorAll('video')].map(v => ({src: v.getAttribute('src'), ready_state: v.readyState,
    duration: v.duration, error: v.error ? v.error.code : null}))
})"""


@dataclasses.dataclass
class PageCheck:
    """What the browser saw of a report page."""

    screenshot: Path
    failed_requests: list[str]
    console_errors: list[str]
    images: dict[str, int]  # src -> naturalWidth (0: did not decode)
    videos: dict[str, dict[str, Any]]  # src -> ready_state, duration (s), error (a MediaError code or None)

    def problems(self) -> list[str]:
        """One line per thing that is wrong with the page (none for a page that fully loads)."""
        out = [f"request failed: {r}" for r in self.failed_requests]
        out += [f"console error: {e}" for e in self.console_errors]
        out += [f"image {src} did not decode" for src, w in self.images.items() if not w]
        for src, v in self.videos.items():
            if v["error"] is not None:
                out.append(f"video {src} does not play: {MEDIA_ERRORS.get(v['error'], v['error'])}")
            elif v["ready_state"] < 1 or not (v["duration"] or 0) > 0:
                out.append(f"video {src} did not load its metadata (readyState {v['ready_state']})")
        return out


def screenshot_report(folder: str | os.PathLike, out_png: str | os.PathLike, *, executable: str = CHROMIUM,
                      width: int = 1280, timeout_s: float = 30.0) -> PageCheck:
    """Open ``folder/report.html`` (built first when missing) in headless Chromium, wait for the
    videos to load (each shows a frame from its middle, buffered so that no spinner covers it),
    and write a full-page PNG to ``out_png``; returns what the browser saw."""
    folder = Path(folder)
    page_file = folder / "report.html"
    if not page_file.is_file():
        write_html_report(folder)
    try:
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise RuntimeError("the screenshot needs Playwright's Python package: pip install playwright (it drives "
                           f"the system Chromium at {executable}; `playwright install` is not needed)") from None
    if not Path(executable).is_file():
        raise FileNotFoundError(f"no Chromium at {executable}: apt-get install chromium (or pass another executable)")
    failed: list[tuple[str, str]] = []
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=list(CHROMIUM_ARGS))
        try:
            page = browser.new_page(viewport={"width": width, "height": 900})
            page.on("requestfailed", lambda r: failed.append((r.url, str(r.failure))))
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(page_file.resolve().as_uri(), wait_until="load")
            try:  # metadata (or an error) for every video, then a frame from its middle
                page.wait_for_function("[...document.querySelectorAll('video')].every(v => v.error || "
                                       "v.readyState >= 1)", timeout=timeout_s * 1000)
                page.evaluate("document.querySelectorAll('video').forEach(v => { if (!v.error && v.duration > 0) "
                              "{ v.preload = 'auto'; v.currentTime = v.duration / 2; } })")
                page.wait_for_function("[...document.querySelectorAll('video')].every(v => v.error || "
                                       "v.duration > 0 && v.readyState >= 3 && !v.seeking)", timeout=timeout_s * 1000)
                page.wait_for_timeout(1500)  # the player's seeking spinner fades out
            except PlaywrightError:
                pass  # the videos that did not load are in the result's problems()
            media = page.evaluate(_MEDIA)
            atomic_write(out_png, lambda tmp: page.screenshot(path=str(tmp), full_page=True, type="png"))
        finally:
            browser.close()
    videos = {v["src"]: {k: v[k] for k in ("ready_state", "duration", "error")} for v in media["videos"]}
    playing = {page_file.parent.resolve().joinpath(src).as_uri() for src, v in videos.items()
               if v["error"] is None and (v["duration"] or 0) > 0}
    # a video's download that the player itself stops (after the metadata, or to seek) is no failure
    failed = [(url, why) for url, why in failed if not ("ERR_ABORTED" in why and url in playing)]
    return PageCheck(Path(out_png), [f"{url} ({why})" for url, why in failed], errors,
                     {i["src"]: i["width"] for i in media["images"]}, videos)


def describe(check: PageCheck) -> str:
    """The check as lines for a person: the screenshot, each video's duration, every problem."""
    lines = [f"screenshot: {check.screenshot}"]
    for src, v in check.videos.items():
        shown = f"{v['duration']:.1f} s" if v["error"] is None and (v["duration"] or 0) > 0 else "does not play"
        lines.append(f"video {src}: {shown}")
    lines += [f"warning: {p}" for p in check.problems()]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m goggles_gym.report.screenshot FOLDER OUT.png``; problems of the page are warnings."""
    def run(args: Sequence[str] | None) -> None:
        parser = ArgumentParser(prog="python -m goggles_gym.report.screenshot",
                                description="a full-page screenshot of a report folder's report.html")
        parser.add_argument("folder", help="a report folder (results.json, report.md, the images and videos)")
        parser.add_argument("out", help="the PNG to write")
        parser.add_argument("--width", type=int, default=1280, help="the browser window's width in pixels")
        ns = parser.parse_args(args)
        print(describe(screenshot_report(ns.folder, ns.out, width=ns.width)))

    return run_cli(run, argv)


if __name__ == "__main__":
    sys.exit(main())
