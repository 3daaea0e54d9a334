"""MP4 videos that play where people open them: H.264 (``libx264``, ``yuv420p``) through the
ffmpeg binary that imageio-ffmpeg ships, instead of OpenCV's MPEG-4 part 2 (``mp4v``), which
browsers and code hosts do not play."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np


class Mp4Writer:
    """Write uint8 RGB frames (H x W x 3, all of one size) to an H.264 MP4; odd sizes are padded
    by one black row or column (yuv420p needs even sides).

    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "x.mp4"
    >>> with Mp4Writer(path, fps=5) as video:
    ...     for v in (0, 128, 255):
    ...         video.write(np.full((17, 24, 3), v, np.uint8))
    >>> path.stat().st_size > 0
    True
    """

    def __init__(self, path: str | os.PathLike, fps: float = 5.0) -> None:
        self.path, self.fps = Path(path), float(fps)
        self._gen = None
        self._shape: tuple[int, int] | None = None

    def write(self, frame: np.ndarray) -> None:
        """Append one frame."""
        import imageio_ffmpeg

        frame = np.asarray(frame)
        if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
            raise ValueError(f"video frames must be uint8 H x W x 3, got {frame.dtype} {frame.shape}")
        h, w = frame.shape[:2]
        if self._gen is None:
            self._shape = (h, w)
            even = (w + w % 2, h + h % 2)
            self._gen = imageio_ffmpeg.write_frames(str(self.path), even, fps=self.fps, codec="libx264",
                                                    pix_fmt_in="rgb24", pix_fmt_out="yuv420p", macro_block_size=1,
                                                    output_params=["-movflags", "+faststart"])
            self._gen.send(None)
        if (h, w) != self._shape:
            raise ValueError(f"video frame of {w}x{h} after frames of {self._shape[1]}x{self._shape[0]}")
        if h % 2 or w % 2:
            frame = np.pad(frame, ((0, h % 2), (0, w % 2), (0, 0)))
        self._gen.send(np.ascontiguousarray(frame))

    def close(self) -> None:
        """Finish the file (nothing is written for a video without frames)."""
        if self._gen is not None:
            self._gen.close()
            self._gen = None

    def __enter__(self) -> Mp4Writer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
