"""Camera effects: turn a clean render into what a real camera would deliver.

One function, :func:`apply_camera_effects`, applied to uint8 RGB frames. The noise draws from the
RNG it is given, so a seeded env gives the same noisy frames every time.
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

from goggles_gym.envs.looks import CameraEffects


@lru_cache(maxsize=16)
def _vignette(height: int, width: int, strength: float) -> np.ndarray:
    """Radial gain, 1 at the centre falling to (1 - strength) at the corners, H x W x 1."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    r2 = ((yy - (height - 1) / 2) / (height / 2)) ** 2 + ((xx - (width - 1) / 2) / (width / 2)) ** 2
    return (1.0 - strength * np.clip(r2 / 2.0, 0.0, 1.0))[..., None].astype(np.float32)


def apply_camera_effects(frame: np.ndarray, fx: CameraEffects, rng: np.random.Generator) -> np.ndarray:
    """Apply ``fx`` to a uint8 RGB frame (H x W x 3) and return a new uint8 frame."""
    if fx.is_identity:
        return frame
    img = frame.astype(np.float32) * (1.0 / 255.0)
    if fx.color_cast != (1.0, 1.0, 1.0):
        img *= np.asarray(fx.color_cast, np.float32)
        np.clip(img, 0.0, 1.0, out=img)
    if fx.gamma != 1.0:
        img **= 1.0 / fx.gamma
    if fx.vignetting > 0:
        img *= _vignette(img.shape[0], img.shape[1], fx.vignetting)
    if fx.blur_sigma > 0:
        img = cv2.GaussianBlur(img, (0, 0), fx.blur_sigma)
    img *= 255.0
    if fx.noise_std > 0:
        img += rng.standard_normal(img.shape, dtype=np.float32) * fx.noise_std
    out = np.clip(img, 0.0, 255.0).astype(np.uint8)
    if fx.jpeg_quality is not None:
        ok, buf = cv2.imencode(".jpg", out[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(fx.jpeg_quality)])
        if not ok:  # pragma: no cover - OpenCV failure, not user input
            raise RuntimeError("JPEG encoding failed")
        out = cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1]
    return np.ascontiguousarray(out)
