"""report.html in a real headless browser: Debian's Chromium (/usr/bin/chromium) driven by
Playwright's Python package (no `playwright install`, nothing downloaded). The page loads with no
failed request or console error, every image decodes, every H.264 episode video loads its metadata
and has a duration, and a full-page screenshot is written."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from goggles_gym.report import (
    CHROMIUM,
    CHROMIUM_ARGS,
    frame_strip,
    markdown_report,
    screenshot_report,
    side_by_side_video,
    success_chart,
    video_file,
    write_html_report,
    write_tables,
)

try:
    from playwright.sync_api import sync_playwright
except ImportError:  # the dev extra has it; the test says why it did not run
    sync_playwright = None

pytestmark = [
    pytest.mark.skipif(sync_playwright is None, reason="playwright is not installed (pip install playwright; it "
                       "drives the system Chromium, `playwright install` is not needed)"),
    pytest.mark.skipif(not Path(CHROMIUM).is_file(), reason=f"no Chromium at {CHROMIUM} (apt-get install chromium)"),
]

TIMEOUT_MS = 30_000
N_FRAMES, FPS = 6, 5.0
SUMMARIES = [
    {"condition": "sim oracle", "episodes": 4, "successes": 4, "success_rate": 1.0, "success_ci95": [0.5, 1.0],
     "spl": 0.8, "mean_length": 20.0, "mean_collisions": 0.0},
    {"condition": "no goggles", "episodes": 4, "successes": 0, "success_rate": 0.0, "success_ci95": [0.0, 0.5],
     "spl": 0.0, "mean_length": 100.0, "mean_collisions": 3.0, "miou": 0.1, "paired_l1": 70.0},
    {"condition": "cyclegan", "episodes": 4, "successes": 2, "success_rate": 0.5, "success_ci95": [0.15, 0.85],
     "success_min": 0.5, "success_max": 0.5, "n_seeds": 1, "per_seed": [{"success_rate": 0.5}],
     "p_vs_no_goggles": 0.25, "spl": 0.4, "mean_length": 60.0, "mean_collisions": 1.5, "frames_per_s": 900.0},
]


def _frames(shift: int) -> list[np.ndarray]:
    """A square moving across a 16 x 16 frame: something to see in the videos and the strip."""
    out = []
    for t in range(N_FRAMES):
        f = np.full((16, 16, 3), 40 + 30 * shift, np.uint8)
        f[4:10, 2 * t:2 * t + 5] = (230, 60 + 40 * shift, 30)
        out.append(f)
    return out


@pytest.fixture(scope="module")
def report_folder(tmp_path_factory) -> Path:
    """A tiny finished report: tables, chart, strip, two H.264 episode videos, report.md, report.html."""
    out = tmp_path_factory.mktemp("browser_report")
    write_tables(out, SUMMARIES, {"seeds": [7, 8, 9, 10]})
    success_chart(out / "success.png", SUMMARIES, "success (4 paired episodes, 95% CI)")
    raw, seen = _frames(0), _frames(2)
    frame_strip(out / "strips.png", [[raw[i], seen[i]] for i in (0, 3)], ["raw", "cyclegan"])
    videos = [side_by_side_video(out / video_file("no goggles"), [raw], ["camera"], fps=FPS).name,
              side_by_side_video(out / video_file("cyclegan"), [raw, seen], ["camera", "policy sees"], fps=FPS).name]
    md = markdown_report(SUMMARIES, "Tiny `browser` report", "how it was made", ["success.png", "strips.png"], videos)
    (out / "report.md").write_text(md, encoding="utf-8")
    write_html_report(out)
    return out


def test_the_page_loads_with_every_image_and_video_in_chromium(report_folder, tmp_path):
    failed, errors, requests = [], [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=list(CHROMIUM_ARGS))
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 800})
            page.on("request", lambda r: requests.append(r.url))
            page.on("requestfailed", lambda r: failed.append(f"{r.url}: {r.failure}"))
            page.on("console", lambda m: errors.append(f"{m.type}: {m.text}") if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
            page.goto((report_folder / "report.html").as_uri(), wait_until="load")
            page.wait_for_function("() => [...document.images].every(i => i.complete)", timeout=TIMEOUT_MS)
            images = page.evaluate("[...document.images].map(i => [i.getAttribute('src'), i.naturalWidth])")
            assert sorted(src for src, _ in images) == ["strips.png", "success.png"]
            assert all(width > 0 for _, width in images), images
            page.wait_for_function("() => { const v = [...document.querySelectorAll('video')]; "
                                   "return v.length > 0 && v.every(x => x.error || x.readyState >= 1); }",
                                   timeout=TIMEOUT_MS)
            videos = page.evaluate("""[...document.querySelectorAll('video')].map(v => ({
                src: v.getAttribute('src'), ready: v.readyState, duration: v.duration,
                error: v.error ? v.error.code : null, width: v.videoWidth,
                attrs: ['controls', 'muted', 'loop', 'playsinline'].every(a => v.hasAttribute(a)),
                preload: v.getAttribute('preload')}))""")
            shot = tmp_path / "page.png"
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    assert not failed, failed
    assert not errors, errors
    assert [v["src"] for v in videos] == ["episode_no_goggles.mp4", "episode_cyclegan.mp4"]
    for v in videos:
        assert v["error"] is None, f"{v['src']}: MediaError {v['error']} (Chromium cannot play H.264?)"
        assert v["ready"] >= 1 and v["duration"] > 0, v
        assert v["duration"] == pytest.approx(N_FRAMES / FPS, abs=0.25), v  # 6 frames at 5 frames/s
        assert v["attrs"] and v["preload"] == "metadata", v
    assert videos[1]["width"] == 2 * videos[0]["width"]  # side by side: two columns
    assert all(u.startswith("file://") and Path(u.removeprefix("file://")).parent == report_folder
               for u in requests), requests  # only the report's own files, nothing from the network
    assert shot.stat().st_size > 0 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert cv2.imread(str(shot)).shape[0] > 800  # the full page, more than one window high


def test_screenshot_report_writes_the_png_and_names_a_video_browsers_do_not_play(report_folder, tmp_path):
    check = screenshot_report(report_folder, tmp_path / "shot.png")
    assert check.problems() == [] and check.screenshot.stat().st_size > 0
    assert set(check.videos) == {"episode_no_goggles.mp4", "episode_cyclegan.mp4"}
    assert all(v["duration"] > 0 for v in check.videos.values()) and all(w > 0 for w in check.images.values())

    old = tmp_path / "old"  # a report from before the videos were H.264: MPEG-4 Part 2 (OpenCV's mp4v)
    shutil.copytree(report_folder, old)
    writer = cv2.VideoWriter(str(old / video_file("sim oracle")), cv2.VideoWriter_fourcc(*"mp4v"), FPS, (48, 48))
    for f in _frames(1):
        writer.write(cv2.resize(f, (48, 48)))
    writer.release()
    (old / "report.md").write_text((old / "report.md").read_text() + "- video: [x](episode_sim_oracle.mp4)\n")
    page = write_html_report(old).read_text()
    assert "episode_sim_oracle.mp4" in page and "not H.264" in page  # the caption says why it will not play
    check = screenshot_report(old, tmp_path / "old.png")
    assert [p.split(":")[0] for p in check.problems()] == ["video episode_sim_oracle.mp4 does not play"]
    assert (tmp_path / "old.png").stat().st_size > 0
