"""``goggles-gym report FOLDER [--screenshot OUT.png]``: rebuild a finished report folder's
``report.html`` from its results.json, report.md, images and videos (no episode is run), and
optionally take a full-page screenshot of it in headless Chromium."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from goggles_gym.common.cli import ArgumentParser, program, run_cli
from goggles_gym.report.html import write_html_report


def parser() -> ArgumentParser:
    """The report command's flags."""
    p = ArgumentParser(prog=f"{program()} report", description="rebuild report.html of a finished report folder "
                       "(results.json, report.md, success.png, strips.png, episode_*.mp4); no episode is run")
    p.add_argument("folder", help="the report folder (`evaluate --out`, or RUN/report of the pipeline)")
    p.add_argument("--screenshot", default="", metavar="PNG",
                   help="also write a full-page screenshot of the page (Playwright driving /usr/bin/chromium)")
    return p


def report_main(argv: Sequence[str] | None = None) -> None:
    """Parse flags, rebuild the page, print its path (and the screenshot's, with what the browser saw)."""
    args = parser().parse_args(argv)
    page = write_html_report(args.folder)
    print(f"page: {page}")
    if args.screenshot:
        from goggles_gym.report.screenshot import describe, screenshot_report

        print(describe(screenshot_report(args.folder, args.screenshot)))


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; errors become one line and exit status 2."""
    return run_cli(report_main, argv)


if __name__ == "__main__":
    sys.exit(main())
