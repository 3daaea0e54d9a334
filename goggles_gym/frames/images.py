"""Image checks and conversions shared by collections, cameras and translators."""

from __future__ import annotations

import cv2
import numpy as np


def check_frames(frames: np.ndarray, what: str = "frames", size: tuple[int, int] | None = None) -> np.ndarray:
    """Check uint8 RGB frames (H x W x 3 or N x H x W x 3); return them as N x H x W x 3.

    Raises ``ValueError`` naming the problem (dtype, shape, size) and the fix.
    """
    frames = np.asarray(frames)
    if frames.dtype != np.uint8:
        raise ValueError(f"{what} must be uint8 RGB in 0..255, got dtype {frames.dtype}; "
                         "convert with (x * 255).clip(0, 255).astype(np.uint8) if they are floats in 0..1")
    if frames.ndim == 3:
        frames = frames[None]
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"{what} must be H x W x 3 or N x H x W x 3 (RGB, channels last), got shape {frames.shape}")
    if size is not None and tuple(frames.shape[1:3]) != tuple(size):
        raise ValueError(f"{what} are {frames.shape[1]} x {frames.shape[2]} but {size[0]} x {size[1]} is expected; "
                         "resize them (e.g. goggles_gym.frames.center_crop_resize) or use a matching translator")
    return frames


def center_crop_resize(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Crop the centre of ``frame`` to the aspect ratio of ``size`` (H, W), then resize to it.

    >>> center_crop_resize(np.zeros((480, 640, 3), np.uint8), (64, 64)).shape
    (64, 64, 3)
    """
    h, w = frame.shape[:2]
    th, tw = size
    if h * tw > w * th:  # too tall
        ch = round(w * th / tw)
        top = (h - ch) // 2
        frame = frame[top : top + ch]
    elif h * tw < w * th:  # too wide
        cw = round(h * tw / th)
        left = (w - cw) // 2
        frame = frame[:, left : left + cw]
    if frame.shape[:2] != (th, tw):
        shrinking = frame.shape[0] > th
        frame = cv2.resize(frame, (tw, th), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
    return np.ascontiguousarray(frame)
