import csv
import json
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import cv2
import numpy as np
import pytest

from goggles_gym.report import (
    frame_strip,
    markdown_report,
    read_markdown_report,
    side_by_side_video,
    success_chart,
    video_file,
    write_html_report,
    write_tables,
)

SUMMARIES = [
    {"condition": "sim oracle", "episodes": 10, "successes": 9, "success_rate": 0.9, "success_ci95": [0.6, 0.98],
     "spl": 0.7, "mean_length": 30.0, "mean_collisions": 0.1},
    {"condition": "no goggles", "episodes": 10, "successes": 1, "success_rate": 0.1, "success_ci95": [0.02, 0.4],
     "spl": 0.05, "mean_length": 90.0, "mean_collisions": 2.0, "miou": 0.2, "paired_l1": 60.0},
    {"condition": "vr-goggles", "episodes": 10, "successes": 11, "success_rate": 0.55, "success_ci95": [0.0, 1.0],
     "success_min": 0.4, "success_max": 0.7, "n_seeds": 2, "p_vs_cyclegan": None, "p_vs_no_goggles": 0.0004,
     "per_seed": [{"success_rate": 0.4}, {"success_rate": 0.7}], "spl": 0.3, "mean_length": 50.0,
     "mean_collisions": 1.0},
]


def test_tables_chart_strip_video_and_markdown(tmp_path):
    write_tables(tmp_path, SUMMARIES, {"command": "x"})
    assert json.loads((tmp_path / "results.json").read_text())["conditions"][1]["condition"] == "no goggles"
    rows = list(csv.DictReader((tmp_path / "results.csv").open()))
    assert rows[0]["ci95_low"] == "0.6" and rows[1]["miou"] == "0.2"
    chart = success_chart(tmp_path / "success.png", SUMMARIES, "test")
    assert cv2.imread(str(chart)) is not None
    frames = [np.full((8, 8, 3), v, np.uint8) for v in (0, 100, 200)]
    strip = cv2.imread(str(frame_strip(tmp_path / "strip.png", [frames, frames], ["a", "b", "c"], scale=2)))
    assert strip.shape == (18 + 2 * 16, 3 * 16, 3)
    video = side_by_side_video(tmp_path / "ep.mp4", [frames, frames[:2]], ["x", "y"], scale=2)
    cap = cv2.VideoCapture(str(video))
    assert int(cap.get(cv2.CAP_PROP_FOURCC)).to_bytes(4, "little") == b"h264"  # H.264: plays in browsers
    n = 0
    while cap.read()[0]:
        n += 1
    assert n == 3
    md = markdown_report(SUMMARIES, "Title", "how", ["success.png"], ["ep.mp4"])
    assert "| no goggles | 10% (1/10) |  |  | 2%-40% |" in md and "![success](success.png)" in md
    assert "| vr-goggles | 55% (mean of 2) | 40% / 70% | 40%-70% | 0%-100% |  | <0.001 |" in md


class _Page(HTMLParser):
    """The tags, the links (src / href) and the text of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def links(self) -> list[str]:
        return [a[k] for _, a in self.tags for k in ("src", "href") if a.get(k) is not None]


def _report_folder(out: Path, summaries=SUMMARIES) -> Path:
    """A finished report folder as the study writes it (tables, chart, strip, videos, report.md)."""
    write_tables(out, summaries, {"seeds": [3, 4]})
    success_chart(out / "success.png", summaries, "test")
    frames = [np.full((8, 8, 3), v, np.uint8) for v in (0, 100, 200)]
    frame_strip(out / "strips.png", [frames], ["a", "b", "c"])
    videos = [side_by_side_video(out / video_file(s["condition"]), [frames], ["x"]).name for s in summaries[1:]]
    header = "Policy `p.zip` (**one draw**) & <more>\n\nsecond paragraph"
    (out / "report.md").write_text(markdown_report(summaries, "Trained in `sim`", header,
                                                   ["success.png", "strips.png"], videos), encoding="utf-8")
    return out


def test_report_html_has_the_table_rows_and_only_relative_links_to_files_that_exist(tmp_path):
    summaries = [*SUMMARIES, {**SUMMARIES[1], "condition": "a<b & \"c\"", "under_trained": True}]
    folder = _report_folder(tmp_path, summaries)
    text = write_html_report(folder).read_text(encoding="utf-8")
    assert "<td>no goggles</td><td>10% (1/10)</td><td></td><td></td><td>2%-40%</td>" in text
    assert "<td>vr-goggles</td><td>55% (mean of 2)</td><td>40% / 70%</td><td>40%-70%</td><td>0%-100%</td>" in text
    assert "<td>a&lt;b &amp; &quot;c&quot; (under-trained)</td>" in text and "a<b" not in text  # escaped
    assert "<code>p.zip</code> (<strong>one draw</strong>) &amp; &lt;more&gt;</p>" in text
    page = _Page()
    page.feed(text)
    tags = [t for t, _ in page.tags]
    assert "script" not in tags and tags.count("table") == 2 and tags.count("h1") == 1  # results, methods
    heads = [a for t, a in page.tags if t == "th"]
    assert len(heads) == 16 + 11 and "condition" in page.text and "frames/s" in page.text
    assert tags.count("tr") == 1 + len(summaries) + 1 + 1  # the methods table: vr-goggles alone
    for link in page.links():  # relative: a bare file name of the folder, and the file is there
        assert "://" not in link and not link.startswith(("/", "//", "#")) and "/" not in link, link
        assert (folder / link).is_file(), link
    assert {"success.png", "strips.png", "episode_no_goggles.mp4", "episode_vr_goggles.mp4", "report.md",
            "results.json", "results.csv"} <= set(page.links())
    videos = [a for t, a in page.tags if t == "video"]
    assert [v["src"] for v in videos] == ["episode_no_goggles.mp4", "episode_vr_goggles.mp4", "episode_a_b____c.mp4"]
    assert all({"controls", "muted", "loop", "playsinline"} <= set(v) and v["preload"] == "metadata" for v in videos)
    assert "no goggles: success 10% (1/10)" in text  # each video's caption


def test_report_html_rebuilt_from_the_folder_matches_and_shows_the_provenance(tmp_path):
    from goggles_gym.pipeline.state import RunState, append_provenance

    folder = _report_folder(tmp_path)
    parts = read_markdown_report(folder / "report.md")
    assert parts.title == "Trained in `sim`" and parts.header.endswith("second paragraph")
    given = write_html_report(folder, title="Trained in `sim`", header=parts.header).read_text()
    assert write_html_report(folder).read_text() == given  # report.md's parts read back as they were given
    assert "How this run was made" not in given
    state = RunState(tmp_path, "quick", {"look": "real", "episodes": 2}, {"evaluation": [3, 4]})
    state.data["machine"] = "a test machine"
    state.data["stages"] = {"evaluate": {"wall_time_s": 30.0}}
    append_provenance(folder / "report.md", state, ["evaluate"], "goggles-gym pipeline --preset quick")
    page = (folder / "report.html").read_text()  # rebuilt by append_provenance
    assert "<h2>How this run was made</h2>" in page and "a test machine" in page
    assert "<code>goggles-gym pipeline --preset quick</code>" in page and "<td>evaluate</td><td>0.5 min</td>" in page
    assert '<pre><code class="language-yaml">look: real\nepisodes: 2</code></pre>' in page
    assert page.index("<h1>") < page.index("success.png") < page.index("<table>") < page.index("strips.png") \
        < page.index("<video") < page.index("How this run was made")


def _method(name, walls, iterations, success, losses=("adversarial", "cycle", "semantic", "shift")):
    """A goggles condition's summary over translator seeds whose files record ``walls`` (s) and ``iterations``."""
    seeds = [{"success_rate": r, "training": {"losses": list(losses), "iterations": n, "train_wall_s": w}}
             for r, w, n in zip(success, walls, iterations, strict=True)]
    return {"condition": name, "episodes": 10, "successes": 5, "success_rate": sum(success) / len(success),
            "success_ci95": [0.1, 0.9], "success_min": min(success), "success_max": max(success),
            "n_seeds": len(seeds), "per_seed": seeds, "spl": 0.3, "mean_length": 50.0, "mean_collisions": 1.0,
            "miou": 0.45, "chair_iou": 0.25, "paired_l1": 13.86, "shift": 2.5, "p_vs_cyclegan": None}


def test_the_methods_table_in_markdown_html_and_results_json(tmp_path):
    from goggles_gym.report import METHOD_COLUMNS

    summaries = [*SUMMARIES[:2], _method("cyclegan", [60.0, 120.0], [500, 400], [0.2, 0.4]),
                 {**_method("vr-goggles", [None], [500], [0.1]), "p_vs_cyclegan": 0.0081},  # an older file
                 {**SUMMARIES[0], "condition": "domain randomization"}]
    folder = _report_folder(tmp_path, summaries)
    methods = json.loads((folder / "results.json").read_text())["methods"]
    assert [m["method"] for m in methods] == ["cyclegan", "vr-goggles"]  # goggles only: no oracle, raw or DR
    cyclegan, vr = methods
    assert cyclegan["seconds_per_update"] == pytest.approx((60 / 500 + 120 / 400) / 2)  # 0.21 s
    assert cyclegan["train_minutes"] == pytest.approx(1.5) and cyclegan["train_wall_s"] == [60.0, 120.0]
    assert vr["seconds_per_update"] is None and vr["train_minutes"] is None  # unknown, never guessed
    header, *rows = (folder / "results.csv").read_text().splitlines()  # as it was: one row a condition
    assert header == ("condition,episodes,n_seeds,successes,success_rate,success_min,success_max,ci95_low,ci95_high,"
                      "interval,p_vs_cyclegan,p_vs_no_goggles,spl,mean_length,mean_collisions,miou,chair_iou,"
                      "chair_fp,paired_l1,shift,frames_per_s") and len(rows) == len(summaries)
    md = (folder / "report.md").read_text()
    assert md.index("| condition |") < md.index("## Methods") < md.index("| method |") < md.index("![strips]")
    assert "| " + " | ".join(METHOD_COLUMNS) + " |" in md
    row_cg = ["cyclegan", "adversarial, cycle, semantic, shift", "0.21 s", "1.5 min", "0.450", "0.250", "13.9",
              "2.50", "30% (mean of 2)", "20%-40%", ""]
    row_vr = ["vr-goggles", "adversarial, cycle, semantic, shift", "", "", "0.450", "0.250", "13.9", "2.50",
              "10% (one draw)", "", "0.008"]
    assert "| " + " | ".join(row_cg) + " |" in md and "| " + " | ".join(row_vr) + " |" in md
    assert read_markdown_report(folder / "report.md").header.endswith("second paragraph")  # the table is no header
    page = write_html_report(folder).read_text()  # rebuilt from results.json
    assert "<h2>Methods</h2>" in page and "".join(f'<th scope="col">{c}</th>' for c in METHOD_COLUMNS) in page
    assert "<tr>" + "".join(f"<td>{c}</td>" for c in row_cg) + "</tr>" in page
    assert "<tr>" + "".join(f"<td>{c}</td>" for c in row_vr) + "</tr>" in page
    assert page.index("<h2>Results</h2>") < page.index("<h2>Methods</h2>") < page.index("strips.png")
    data = json.loads((folder / "results.json").read_text())  # the page shows results.json's methods
    data["methods"] = [{**cyclegan, "losses": ["nce"], "seconds_per_update": 0.5}]
    (folder / "results.json").write_text(json.dumps(data))
    page = write_html_report(folder).read_text()
    assert "<td>cyclegan</td><td>nce</td><td>0.5 s</td>" in page and "<td>vr-goggles</td><td>adversarial" not in page
    del data["methods"]  # a results.json from before the methods table: made from its conditions
    (folder / "results.json").write_text(json.dumps(data))
    assert "<tr>" + "".join(f"<td>{c}</td>" for c in row_cg) + "</tr>" in write_html_report(folder).read_text()
    no_goggles = markdown_report(SUMMARIES[:2], "T", "how", [], [])
    assert "## Methods" not in no_goggles and "| method |" not in no_goggles


def test_report_html_needs_results_json(tmp_path):
    with pytest.raises(FileNotFoundError, match="results.json"):
        write_html_report(tmp_path)
    (tmp_path / "results.json").write_text("{")
    with pytest.raises(ValueError, match="damaged"):
        write_html_report(tmp_path)


def test_the_chart_leaves_the_callers_matplotlib_backend_alone(tmp_path):
    code = ("import json, sys, matplotlib; matplotlib.use('svg'); from goggles_gym.report import success_chart; "
            f"success_chart({str(tmp_path / 'c.png')!r}, json.loads({json.dumps(SUMMARIES)!r}), 't'); "
            "print(matplotlib.get_backend(), 'matplotlib.pyplot' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[-2:] == ["svg", "False"] and (tmp_path / "c.png").is_file()
