"""Recording what the goggles saw: raw frames, translated frames and actions of each episode.

``EpisodeRecorder`` is the outermost wrapper. Per episode it writes, under its folder:

- ``episode_NNNN.mp4``: raw | translated side by side (scaled up for viewing);
- ``episode_NNNN/raw/``: the raw frames as a *real* frame collection (train a translator on it);
- ``episode_NNNN/translated/``: the translated frames as a collection;
- ``episode_NNNN/actions.csv``: step, time, action, reward.
"""

from __future__ import annotations

import csv
import os
import time
from pathlib import Path
from typing import Any

import cv2
import gymnasium as gym
import numpy as np

from goggles_gym.common.video import Mp4Writer
from goggles_gym.frames.collection import CollectionWriter


def _raw_frame(env: gym.Env, obs: np.ndarray) -> np.ndarray:
    """The untranslated frame behind ``obs`` (``obs`` itself when there are no goggles)."""
    try:
        raw = env.get_wrapper_attr("raw_observation")
    except AttributeError:
        raw = None
    return obs if raw is None else raw


class EpisodeRecorder(gym.Wrapper):
    """Save every episode's raw frames, translated frames and actions (see the module docstring)."""

    def __init__(self, env: gym.Env, folder: str | os.PathLike, fps: float = 10.0, scale: int = 4,
                 look: str | None = None) -> None:
        super().__init__(env)
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.fps, self.scale, self.look = fps, scale, look
        self.episode = -1
        self._open = False

    def _start(self, obs: np.ndarray) -> None:
        self._finish()
        self.episode += 1
        base = self.folder / f"episode_{self.episode:04d}"
        raw = _raw_frame(self.env, obs)
        self._raw = CollectionWriter(base / "raw", source="recording", look=self.look, size=raw.shape[:2], seed=None,
                                     labels_role="eval", extra={"domain": "real"})
        self._trans = CollectionWriter(base / "translated", source="recording", look=self.look, size=obs.shape[:2],
                                       seed=None, extra={"domain": "translated"})
        self._csv_file = open(base / "actions.csv", "w", newline="", encoding="utf-8")  # noqa: SIM115
        self._csv = csv.writer(self._csv_file)
        self._csv.writerow(["step", "time", "action", "reward"])
        h = max(raw.shape[0], obs.shape[0]) * self.scale
        w = (raw.shape[1] + obs.shape[1]) * self.scale
        self._video = Mp4Writer(base.with_suffix(".mp4"), self.fps)  # H.264: plays in browsers
        self._size = (w, h)
        self._step = 0
        self._open = True
        self._write(obs)

    def _write(self, obs: np.ndarray) -> None:
        raw = _raw_frame(self.env, obs)
        self._raw.add(raw)
        self._trans.add(obs)
        side = np.concatenate([cv2.resize(f, (f.shape[1] * self.scale, f.shape[0] * self.scale),
                                          interpolation=cv2.INTER_NEAREST) for f in (raw, obs)], axis=1)
        if side.shape[1::-1] != self._size:
            side = cv2.resize(side, self._size, interpolation=cv2.INTER_NEAREST)
        self._video.write(side)

    def _finish(self) -> None:
        if not self._open:
            return
        self._open = False
        self._video.close()
        self._csv_file.close()
        self._raw.close()
        self._trans.close()

    def reset(self, **kwargs: Any):
        obs, info = self.env.reset(**kwargs)
        self._start(obs)
        return obs, info

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self._step += 1
        self._csv.writerow([self._step, f"{time.time():.3f}", int(action), f"{float(reward):.4f}"])
        self._write(obs)
        if terminated or truncated:
            self._finish()
        return obs, reward, terminated, truncated, info

    def close(self) -> None:
        self._finish()
        super().close()
