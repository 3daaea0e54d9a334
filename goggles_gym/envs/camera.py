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
import weakref
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
        """Close the connection (idempotent)."""
        self.sock.close()


def open_source(source: str | int, timeout: float, open_capture: Callable[[Any], Any] = cv2.VideoCapture) -> Any:
    """Open ``source`` with ``open_capture``, waiting at most about ``timeout`` seconds.

    A stream URL is opened with OpenCV's own open and read timeouts (FFmpeg's default is 30 s on a
    server that accepts and never answers); a watchdog thread bounds any other open as well. A
    source that does not answer raises ``RuntimeError`` (the stuck open is left to finish in the
    background, a daemon thread).
    """
    if open_capture is cv2.VideoCapture and isinstance(source, str) and "://" in source:
        ms = max(int(timeout * 1000), 1)
        params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, ms]

        def make() -> Any:
            return cv2.VideoCapture(source, cv2.CAP_ANY, params)
    else:
        def make() -> Any:
            return open_capture(source)

    if _is_file(source):
        return make()  # a local file opens (or fails) at once
    box: list[Any] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            box.append(make())
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            errors.append(exc)

    opener = threading.Thread(target=run, name=f"open-{source}", daemon=True)
    opener.start()
    opener.join(timeout + 1.0)
    if errors:
        raise errors[0]
    if not box:
        raise RuntimeError(f"camera source {source!r} did not answer within {timeout:g} s: check the URL and that "
                           "the stream is running (or raise open_timeout)")
    return box[0]


class _Grabber:
    """The state a frame source shares with its grab thread (the thread holds this, not the
    :class:`FrameSource`, so a dropped source is collected and its finalizer stops the thread)."""

    def __init__(self, source: str | int, cap: Any, reopen: Callable[[], Any], is_file: bool, backoff: float,
                 max_backoff: float) -> None:
        self.source, self.cap, self.reopen, self.is_file = source, cap, reopen, is_file
        self.backoff, self.max_backoff = backoff, max_backoff
        self.reconnects = 0
        self.ended = False
        self.frame: np.ndarray | None = None
        self.count = 0
        self.time = 0.0
        self.cond = threading.Condition()
        self.running = True
        self.thread: threading.Thread | None = None

    def _reconnect(self) -> None:
        try:
            self.cap.release()
        finally:
            self.cap = self.reopen()
        self.reconnects += 1

    def loop(self) -> None:
        """Grab frames until stopped (a file: until its end); keep only the newest; release the capture at exit."""
        delay = self.backoff
        try:
            while self.running:
                ok, frame = self.cap.read()
                if ok and frame is not None:
                    delay = self.backoff
                    with self.cond:
                        self.frame, self.count, self.time = frame, self.count + 1, time.monotonic()
                        self.cond.notify_all()
                    continue
                if self.is_file:  # the end of a video file: no more frames, never loop over it again
                    with self.cond:
                        self.ended = True
                        self.cond.notify_all()
                    return
                time.sleep(delay)  # a failed read: back off, then reopen the source
                delay = min(delay * 2, self.max_backoff)
                if self.running:
                    try:
                        self._reconnect()
                    except RuntimeError:  # the source did not answer: try again after the next backoff
                        pass
        finally:
            self.cap.release()  # by the thread that reads it, so a read never races a release

    def stop(self, join_timeout: float = 2.0) -> None:
        """Stop the grab thread (then the capture is released by it), or release the capture when there is none."""
        self.running = False
        with self.cond:
            self.cond.notify_all()
        thread = self.thread
        if thread is None:
            self.cap.release()
        elif thread is not threading.current_thread():
            thread.join(timeout=join_timeout)


class FrameSource:
    """An OpenCV capture that reconnects; threaded (newest frame only) or sequential.

    A video file ends at its last frame in both modes; ``open_timeout`` bounds every (re)open of a
    stream. Dropped without :meth:`close`, its finalizer stops the thread and releases the capture.
    """

    def __init__(self, source: str | int, threaded: bool, open_capture: Callable[[Any], Any] = cv2.VideoCapture,
                 backoff: float = 0.05, max_backoff: float = 1.0, open_timeout: float = 5.0) -> None:
        self.source, self.threaded = source, threaded
        cap = open_source(source, open_timeout, open_capture)
        if not cap.isOpened():
            cap.release()
            raise RuntimeError(f"could not open camera source {source!r}: check the device index, file path or URL "
                               "(and that no other program holds the camera)")
        self._g = _Grabber(source, cap, lambda: open_source(source, open_timeout, open_capture), _is_file(source),
                           backoff, max_backoff)
        self._finalizer = weakref.finalize(self, self._g.stop)
        if threaded:
            self._g.thread = threading.Thread(target=self._g.loop, name=f"grab-{source}", daemon=True)
            self._g.thread.start()

    @property
    def reconnects(self) -> int:
        """How many times the source was reopened."""
        return self._g.reconnects

    @property
    def ended(self) -> bool:
        """True once a video file has no more frames."""
        return self._g.ended

    def read(self, after: int, timeout: float) -> tuple[np.ndarray | None, int, float]:
        """A frame newer than number ``after``, its number and its capture time (``time.monotonic``), or
        ``(None, after, 0.0)`` if none came within ``timeout`` s (or the file ended)."""
        g = self._g
        if self.threaded:
            with g.cond:
                g.cond.wait_for(lambda: g.count > after or not g.running or g.ended, timeout=timeout)
                if g.count > after:
                    return g.frame, g.count, g.time
                return None, after, 0.0
        ok, frame = g.cap.read()
        if ok and frame is not None:
            g.count += 1
            return frame, g.count, time.monotonic()
        g.ended = True  # a file: no more frames
        return None, after, 0.0

    def close(self) -> None:
        """Stop the grab thread, then release the capture (idempotent)."""
        self._finalizer()


def _is_file(source: str | int) -> bool:
    return isinstance(source, str) and "://" not in source and not source.isdigit()


class RealCameraEnv(gym.Env):
    """Camera frames in, robot actions out; see the module docstring.

    Observation ``Box(0, 255, (H, W, 3), uint8)`` like ChairNav's; actions ``Discrete(3)`` sent to
    ``driver``. ``info`` carries ``frame_index``, ``frame_time`` (when that frame was captured,
    ``time.monotonic()`` seconds) and, on truncation, ``truncation_reason`` (``"end_of_video"``,
    ``"camera_timeout"`` or ``"max_steps"``). A video file ends at its last frame, threaded or not;
    opening a stream waits at most ``open_timeout`` seconds. :meth:`close` stops the robot, closes
    the driver (if it has ``close()``, e.g. :class:`TcpLineDriver`'s socket), stops the grab thread
    and releases the capture; an env dropped without it still releases the capture when collected.

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
                 render_mode: str | None = None, open_capture: Callable[[Any], Any] = cv2.VideoCapture,
                 open_timeout: float = 5.0) -> None:
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
        self.frames = FrameSource(source, not _is_file(source) if threaded is None else threaded, open_capture,
                                  open_timeout=open_timeout)
        self._closed = False
        self.observation_space = spaces.Box(0, 255, (*self.size, 3), np.uint8)
        self.action_space = spaces.Discrete(3)
        self._last_index = 0
        self._last_time = 0.0
        self._last_raw: np.ndarray | None = None
        self.steps = 0

    def _frame(self) -> tuple[np.ndarray | None, str | None]:
        frame, index, captured = self.frames.read(self._last_index, self.frame_timeout)
        if frame is None:
            return None, "end_of_video" if self.frames.ended else "camera_timeout"
        self._last_index, self._last_time = index, captured
        self._last_raw = frame
        return center_crop_resize(np.ascontiguousarray(frame[..., ::-1]), self.size), None

    def _info(self, reason: str | None = None) -> dict[str, Any]:
        info: dict[str, Any] = {"frame_index": self._last_index, "frame_time": self._last_time,
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
        """Stop the robot, close the driver, stop the grab thread and release the camera (idempotent)."""
        if getattr(self, "_closed", True):
            return
        self._closed = True
        try:
            self.driver.stop()
            close = getattr(self.driver, "close", None)
            if callable(close):
                close()
        finally:
            self.frames.close()
