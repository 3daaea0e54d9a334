"""The evaluation report: results.json / results.csv, a success bar chart with intervals, frame
strips, side-by-side videos and ``report.md`` that shows them."""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from goggles_gym.common.files import atomic_write, atomic_write_text
from goggles_gym.common.video import Mp4Writer


def write_tables(out: str | os.PathLike, summaries: Sequence[dict[str, Any]], extra: dict[str, Any]) -> None:
    """``results.json`` (everything) and ``results.csv`` (one row a condition)."""
    out = Path(out)
    atomic_write_text(out / "results.json", json.dumps({"conditions": list(summaries), **extra}, indent=2,
                                                       default=float))
    keys = ["condition", "episodes", "n_seeds", "successes", "success_rate", "success_min", "success_max",
            "ci95_low", "ci95_high", "interval", "p_vs_cyclegan", "p_vs_no_goggles", "spl", "mean_length",
            "mean_collisions", "miou", "chair_iou", "chair_fp", "paired_l1", "shift", "frames_per_s"]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=keys, extrasaction="ignore")
    writer.writeheader()
    for s in summaries:
        row = dict(s)
        row["ci95_low"], row["ci95_high"] = s["success_ci95"]
        writer.writerow(row)
    atomic_write_text(out / "results.csv", buf.getvalue())


def success_chart(path: str | os.PathLike, summaries: Sequence[dict[str, Any]], title: str) -> Path:
    """Bar chart of success rates with their 95% Wilson intervals (PNG).

    Drawn on a bare :class:`matplotlib.figure.Figure` with the Agg canvas: no pyplot, so the
    caller's matplotlib backend is never switched.
    """
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    names = [s["condition"] for s in summaries]
    rates = np.array([s["success_rate"] for s in summaries])
    lo = rates - np.array([s["success_ci95"][0] for s in summaries])
    hi = np.array([s["success_ci95"][1] for s in summaries]) - rates
    fig = Figure(figsize=(1.6 * len(names) + 2, 3.6), dpi=120)
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    colors = matplotlib.colormaps["tab10"](np.arange(len(names)) % 10)
    ax.bar(names, rates * 100, yerr=np.stack([lo, hi]) * 100, capsize=6, color=colors)
    for i, s in enumerate(summaries):  # each translator seed's own success, over the mean's bar
        per_seed = [p["success_rate"] * 100 for p in s.get("per_seed", [])]
        if len(per_seed) > 1:
            ax.plot([i] * len(per_seed), per_seed, "o", color="black", markersize=3.5, zorder=3)
    for i, r in enumerate(rates):
        ax.text(i, (r + hi[i]) * 100 + 2, f"{r:.0%}", ha="center", va="bottom", fontsize=9)  # above the CI cap
    oracle = [s["success_rate"] for s in summaries if s["condition"] == "sim oracle"]
    if oracle and oracle[0] > 0:
        ax.axhline(90 * oracle[0], color="grey", linestyle="--", linewidth=1)
        ax.text(len(names) - 0.5, 90 * oracle[0] + 1, "90% of sim oracle", ha="right", va="bottom", fontsize=8,
                color="grey")
    ax.set_ylim(0, 115)
    ax.set_ylabel("success rate (%)")
    ax.set_title(title, fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    for label in ax.get_xticklabels():
        label.set_rotation(20)
        label.set_horizontalalignment("right")
    fig.tight_layout()

    def save(tmp: Path) -> None:
        fig.savefig(tmp, format="png")

    atomic_write(path, save)
    return Path(path)


def frame_strip(path: str | os.PathLike, rows: Sequence[Sequence[np.ndarray]], headers: Sequence[str],
                scale: int = 3) -> Path:
    """A grid of frames (one row per sample, one column per header), labelled, as PNG."""
    cells = [[cv2.resize(f, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST) for f in row] for row in rows]
    h, w = cells[0][0].shape[:2]
    bar = np.full((18, w * len(headers), 3), 255, np.uint8)
    for i, name in enumerate(headers):
        cv2.putText(bar, name, (i * w + 4, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
    grid = np.concatenate([bar] + [np.concatenate(row, axis=1) for row in cells], axis=0)
    atomic_write(path, lambda tmp: cv2.imwrite(str(tmp), grid[..., ::-1]))
    return Path(path)


def side_by_side_video(path: str | os.PathLike, columns: Sequence[Sequence[np.ndarray]], headers: Sequence[str],
                       fps: float = 5.0, scale: int = 3) -> Path:
    """An H.264 MP4 of several frame sequences side by side (shorter ones hold their last frame)."""
    n = max(len(c) for c in columns)
    h, w = columns[0][0].shape[:2]
    size = (w * scale * len(columns), h * scale + 18)

    def write(tmp: Path) -> None:
        with Mp4Writer(tmp, fps) as video:
            for t in range(n):
                frames = [cv2.resize(c[min(t, len(c) - 1)], (w * scale, h * scale), interpolation=cv2.INTER_NEAREST)
                          for c in columns]
                bar = np.full((18, size[0], 3), 255, np.uint8)
                for i, name in enumerate(headers):
                    cv2.putText(bar, name, (i * w * scale + 4, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1)
                video.write(np.concatenate([bar, np.concatenate(frames, 1)], 0))

    atomic_write(path, write)
    return Path(path)


def _pct(v: Any) -> str:
    return "" if v is None else f"{v:.0%}"


def p_value(v: Any) -> str:
    """A p-value as a table shows it: three decimals, ``<0.001`` below that, empty for none."""
    if v is None:
        return ""
    return "<0.001" if v < 0.001 else f"{v:.3f}"


def markdown_report(summaries: Sequence[dict[str, Any]], title: str, header: str, images: Sequence[str],
                    videos: Sequence[str]) -> str:
    """``report.md``: the chart (``images[0]``) first, how it was made, the table (a goggles method's
    success is its mean over translator seeds, each seed's beside it, with the paired tests), the
    other images (frame strips) and links to the videos."""
    lines = [f"# {title}", ""]
    lines += [f"![{Path(i).stem}]({i})" for i in images[:1]]
    lines += ["", header, "", "| condition | success | per translator seed | min-max | 95% CI | p vs CycleGAN | "
              "p vs no goggles | SPL | mean length | collisions | mIoU | chair IoU | chair FP | L1 to sim | shift | "
              "frames/s |", "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]

    def fmt(v: Any, spec: str) -> str:
        return "" if v is None or isinstance(v, str) or (isinstance(v, float) and np.isnan(v)) else format(v, spec)

    for s in summaries:
        lo, hi = s["success_ci95"]
        seeds = s.get("per_seed", [])
        if seeds:
            success = f"{s['success_rate']:.0%}" + (" (one draw)" if len(seeds) == 1 else f" (mean of {len(seeds)})")
            spread = "" if len(seeds) == 1 else f"{s['success_min']:.0%}-{s['success_max']:.0%}"
        else:
            success, spread = f"{s['success_rate']:.0%} ({s['successes']}/{s['episodes']})", ""
        name = s["condition"] + (" (under-trained)" if s.get("under_trained") else "")
        lines.append(f"| {name} | {success} | {' / '.join(_pct(p['success_rate']) for p in seeds)} | {spread} | "
                     f"{lo:.0%}-{hi:.0%} | {p_value(s.get('p_vs_cyclegan'))} | {p_value(s.get('p_vs_no_goggles'))} | "
                     f"{s['spl']:.2f} | {s['mean_length']:.1f} | {s['mean_collisions']:.2f} | "
                     f"{fmt(s.get('miou'), '.3f')} | {fmt(s.get('chair_iou'), '.3f')} | "
                     f"{fmt(s.get('chair_fp'), '.2%')} | "
                     f"{fmt(s.get('paired_l1'), '.1f')} | {fmt(s.get('shift'), '.2f')} | "
                     f"{fmt(s.get('frames_per_s'), '.0f')} |")
    lines.append("")
    lines += [f"![{Path(i).stem}]({i})" for i in images[1:]]
    lines.append("")
    lines += [f"- video: [{Path(v).name}]({v})" for v in videos]
    return "\n".join(lines) + "\n"
