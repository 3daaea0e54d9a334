import csv
import json
import subprocess
import sys

import cv2
import numpy as np

from goggles_gym.report import frame_strip, markdown_report, side_by_side_video, success_chart, write_tables

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



def test_the_chart_leaves_the_callers_matplotlib_backend_alone(tmp_path):
    code = ("import json, sys, matplotlib; matplotlib.use('svg'); from goggles_gym.report import success_chart; "
            f"success_chart({str(tmp_path / 'c.png')!r}, json.loads({json.dumps(SUMMARIES)!r}), 't'); "
            "print(matplotlib.get_backend(), 'matplotlib.pyplot' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[-2:] == ["svg", "False"] and (tmp_path / "c.png").is_file()
