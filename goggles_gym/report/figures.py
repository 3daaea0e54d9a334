"""The report's figures: the success bar chart with its intervals, frame strips and side-by-side
episode videos (H.264 MP4, which browsers play), and the name an episode video gets."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from goggles_gym.common.files import atomic_write
from goggles_gym.common.video import Mp4Writer


def video_file(condition: str) -> str:
    """The file name of a condition's episode video: ``"no goggles"`` -> ``episode_no_goggles.mp4``.

    >>> video_file("cyclegan+shift")
    'episode_cyclegan_shift.mp4'
    """
    return "episode_" + "".join(c if c.isalnum() else "_" for c in condition).strip("_") + ".mp4"


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
