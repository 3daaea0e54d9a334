"""A real camera as a Gymnasium env: frames from OpenCV, actions to a robot driver.

``RealCameraEnv`` reads a camera index, a video file or a stream URL with ``cv2.VideoCapture``,
converts BGR to RGB, centre-crops and resizes to the policy's image size. Live sources are read by
a background thread that keeps only the newest frame, so an observation is never a stale buffered
one; a video file is read frame by frame and its end ends the episode. A read that fails is retried
with backoff and the source reopened; when no new frame arrives within ``frame_timeout`` seconds
the episode ends as truncated with the reason in ``info["truncation_reason"]``.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import cv2
import gymnasium as gym
import numpy as np
from gymnasium import spaces

from goggles_gym.envs.chairnav import ACTION_NAMES, check_image_size
from goggles_gym.frames.images import center_crop_resize


@runtime_checkable
class RobotDriver(Protocol):
    """What a robot must offer the camera env: take an action, stop.

    A driver may also define ``feedback() -> tuple[float, bool] | None`` returning the reward and
    whether the episode ended (e.g. from a bumper or an operator's button); without it rewards are
    0 and episodes end only by truncation.
    """

    def send(self, action: int) -> None:
        """Execute one discrete action (0 forward, 1 turn left, 2 turn right for ChairNav policies)."""

    def stop(self) -> None:
        """Stop moving (called at reset and close)."""


class RecordingDriver:
    """A driver that moves nothing and records ``(time, action)`` pairs (for dry runs and tests)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.actions: list[tuple[float, int]] = []
        self.stops = 0
        self._clock = clock

    def send(self, action: int) -> None:
        self.actions.append((self._clock(), int(action)))

    def stop(self) -> None:
        self.stops += 1


class TcpLineDriver:
    """Example driver for a real robot: one text line per command over TCP.

    Sends ``forward``, ``turn_left``, ``turn_right`` or ``stop`` followed by a newline; a robot-side
    script maps each line to its motors (for example a ROS node publishing ``cmd_vel`` for a fixed
    duration). Replace the names with ``commands`` to fit another protocol.
    """

    def __init__(self, host: str, port: int, commands: tuple[str, ...] = ACTION_NAMES, timeout: float = 2.0) -> None:
        self.commands = commands
        try:
            self.sock = socket.create_connection((host, port), timeout=timeout)
        except OSError as exc:
            raise ConnectionError(f"could not reach the robot at {host}:{port} ({exc}); "
                                  "is its server running?") from exc

    def _line(self, text: str) -> None:
        self.sock.sendall((text + "\n").encode())

    def send(self, action: int) -> None:
        self._line(self.commands[int(action)])

    def stop(self) -> None:
        self._line("stop")

    def close(self) -> None:
        """Close the connection."""
        self.sock.close()


class FrameSource:
    """An OpenCV capture that reconnects; threaded (newest frame only) or sequential."""

    def __init__(self, source: str | int, threaded: bool, open_capture: Callable[[Any], Any] = cv2.VideoCapture,
                 backoff: float = 0.05, max_backoff: float = 1.0) -> None:
        self.source, self.threaded = source, threaded
        self._open = open_capture
        self.backoff, self.max_backoff = backoff, max_backoff
        self.cap = self._open(source)
        if not self.cap.isOpened():
            raise RuntimeError(f"could not open camera source {source!r}: check the device index, file path or URL "
                               "(and that no other program holds the camera)")
        self.reconnects = 0
        self.ended = False
        self._frame: np.ndarray | None = None
        self._count = 0
        self._cond = threading.Condition()
        self._running = True
        self._thread = None
        if threaded:
            self._thread = threading.Thread(target=self._grab_loop, name=f"grab-{source}", daemon=True)
            self._thread.start()

    def _reconnect(self) -> None:
        try:
            self.cap.release()
        finally:
            self.cap = self._open(self.source)
        self.reconnects += 1

    def _grab_loop(self) -> None:
        delay = self.backoff
        while self._running:
            ok, frame = self.cap.read()
            if ok and frame is not None:
                delay = self.backoff
                with self._cond:
                    self._frame, self._count = frame, self._count + 1
                    self._cond.notify_all()
                continue
            time.sleep(delay)  # a failed read: back off, then reopen the source
            delay = min(delay * 2, self.max_backoff)
            if self._running:
                self._reconnect()

    def read(self, after: int, timeout: float) -> tuple[np.ndarray | None, int]:
        """A frame newer than number ``after``, or (None, after) if none came within ``timeout`` s."""
        if self.threaded:
            with self._cond:
                self._cond.wait_for(lambda: self._count > after or not self._running, timeout=timeout)
                if self._count > after:
                    return self._frame, self._count
                return None, after
        ok, frame = self.cap.read()
        if ok and frame is not None:
            self._count += 1
            return frame, self._count
        self.ended = True  # a file: no more frames
        return None, after

    def close(self) -> None:
        """Stop the grab thread and release the capture."""
        self._running = False
        with self._cond:
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
        self.cap.release()


def _is_file(source: str | int) -> bool:
    return isinstance(source, str) and "://" not in source and not source.isdigit()


class RealCameraEnv(gym.Env):
    """Camera frames in, robot actions out; see the module docstring.

    Observation ``Box(0, 255, (H, W, 3), uint8)`` like ChairNav's; actions ``Discrete(3)`` sent to
    ``driver``. ``info`` carries ``frame_index``, ``frame_time`` and, on truncation,
    ``truncation_reason`` (``"end_of_video"``, ``"camera_timeout"`` or ``"max_steps"``).

    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "clip.avi")
    >>> out = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"MJPG"), 10, (32, 24))
    >>> for i in range(3):
    ...     _ = out.write(np.full((24, 32, 3), 50 * i, np.uint8))
    >>> out.release()
    >>> env = RealCameraEnv(path, image_size=16)
    >>> obs, info = env.reset()
    >>> obs.shape
    (16, 16, 3)
    >>> env.close()
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}

    def __init__(self, source: str | int = 0, image_size: int | tuple[int, int] = 64, driver: RobotDriver | None = None,
                 max_steps: int | None = None, frame_timeout: float = 2.0, threaded: bool | None = None,
                 render_mode: str | None = None, open_capture: Callable[[Any], Any] = cv2.VideoCapture) -> None:
        if isinstance(source, str) and source.isdigit():
            source = int(source)
        if _is_file(source) and not Path(source).exists():
            raise FileNotFoundError(f"video file not found: {source}")
        self.size = check_image_size(image_size)
        self.driver = driver if driver is not None else RecordingDriver()
        if not isinstance(self.driver, RobotDriver):
            raise TypeError("driver must have send(action) and stop() methods "
                            "(see goggles_gym.envs.camera.RobotDriver)")
        self.max_steps = max_steps
        self.frame_timeout = float(frame_timeout)
        self.render_mode = render_mode
        self.source = source
        self.frames = FrameSource(source, not _is_file(source) if threaded is None else threaded, open_capture)
        self.observation_space = spaces.Box(0, 255, (*self.size, 3), np.uint8)
        self.action_space = spaces.Discrete(3)
        self._last_index = 0
        self._last_raw: np.ndarray | None = None
        self.steps = 0

    def _frame(self) -> tuple[np.ndarray | None, str | None]:
        frame, index = self.frames.read(self._last_index, self.frame_timeout)
        if frame is None:
            return None, "end_of_video" if self.frames.ended else "camera_timeout"
        self._last_index = index
        self._last_raw = frame
        return center_crop_resize(np.ascontiguousarray(frame[..., ::-1]), self.size), None

    def _info(self, reason: str | None = None) -> dict[str, Any]:
        info: dict[str, Any] = {"frame_index": self._last_index, "frame_time": time.monotonic(),
                                "reconnects": self.frames.reconnects}
        if reason:
            info["truncation_reason"] = reason
        return info

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """Stop the robot and wait for a fresh frame (the episode's first observation)."""
        super().reset(seed=seed)
        self.driver.stop()
        self.steps = 0
        obs, reason = self._frame()
        if obs is None:
            raise RuntimeError(f"no frame from {self.source!r} at reset ({reason}); check the camera or video")
        self._obs = obs
        return obs, self._info()

    def step(self, action):
        """Send ``action`` to the driver, then observe the newest frame."""
        if not self.action_space.contains(action):
            raise ValueError(f"action must be 0, 1 or 2, got {action!r}")
        self.driver.send(int(action))
        self.steps += 1
        reward, terminated = 0.0, False
        feedback = getattr(self.driver, "feedback", None)
        if callable(feedback):
            got = feedback()
            if got is not None:
                reward, terminated = float(got[0]), bool(got[1])
        obs, reason = self._frame()
        if obs is None:
            self.driver.stop()
            return self._obs, reward, terminated, True, self._info(reason)
        self._obs = obs
        if self.max_steps is not None and self.steps >= self.max_steps and not terminated:
            return obs, reward, False, True, self._info("max_steps")
        return obs, reward, terminated, False, self._info()

    def render(self) -> np.ndarray | None:
        """The last full-resolution camera frame (RGB)."""
        if self.render_mode != "rgb_array" or self._last_raw is None:
            return None
        return np.ascontiguousarray(self._last_raw[..., ::-1])

    def close(self) -> None:
        """Stop the robot and release the camera."""
        try:
            self.driver.stop()
        finally:
            self.frames.close()
