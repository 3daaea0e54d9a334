"""Camera effects: turn a clean render into what a real camera would deliver.

:class:`CameraPipeline` precomputes what it can for one :class:`CameraEffects` and frame size
(a lookup table for colour cast and gamma, the vignette mask, a bank of Gaussian noise), so that
applying the effects costs a fraction of a render. Noise draws its offset into the bank from the
RNG it is given, so a seeded env gives the same noisy frames every time.
"""

from __future__ import annotations

import cv2
import numpy as np

from goggles_gym.envs.looks import CameraEffects

_NOISE_BANK = 1 << 16


class CameraPipeline:
    """Applies one :class:`CameraEffects` to uint8 RGB frames of one size.

    >>> pipe = CameraPipeline(CameraEffects(gamma=1.2, noise_std=4.0), (16, 16), np.random.default_rng(0))
    >>> out = pipe(np.full((16, 16, 3), 100, np.uint8), np.random.default_rng(1))
    >>> out.shape, out.dtype, bool(out.mean() > 100)
    ((16, 16, 3), dtype('uint8'), True)
    """

    def __init__(self, fx: CameraEffects, size: tuple[int, int], rng: np.random.Generator) -> None:
        self.fx = fx
        self.size = tuple(size)
        self.identity = fx == CameraEffects()
        self._lut = self._vignette = self._noise = None
        self._float = False
        if self.identity:  # nothing to precompute, and no noise bank to draw
            return
        if fx.color_cast != (1.0, 1.0, 1.0) or fx.gamma != 1.0:
            levels = np.arange(256, dtype=np.float32) / 255.0
            cast = np.asarray(fx.color_cast, np.float32)
            lut = np.clip(levels[:, None] * cast[None, :], 0.0, 1.0) ** (1.0 / fx.gamma)
            self._lut = np.round(lut * 255.0).astype(np.uint8).reshape(256, 1, 3)
        if fx.vignetting > 0:
            h, w = self.size
            yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
            r2 = ((yy - (h - 1) / 2) / (h / 2)) ** 2 + ((xx - (w - 1) / 2) / (w / 2)) ** 2
            mask = (1.0 - fx.vignetting * np.clip(r2 / 2.0, 0.0, 1.0))[..., None].astype(np.float32)
            self._vignette = np.ascontiguousarray(np.broadcast_to(mask, (h, w, 3)))  # per channel: no broadcasting
        if fx.noise_std > 0:
            n = max(_NOISE_BANK, 2 * self.size[0] * self.size[1] * 3)
            self._noise = rng.standard_normal(n, dtype=np.float32) * np.float32(fx.noise_std)
        self._float = self._vignette is not None or fx.blur_sigma > 0 or self._noise is not None

    def __call__(self, frame: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Return ``frame`` (uint8 H x W x 3) as the camera would deliver it (a new array)."""
        if self.identity:
            return frame
        fx = self.fx
        out = frame if self._lut is None else cv2.LUT(frame, self._lut)
        if self._float:
            if self._vignette is not None:
                img = np.multiply(out, self._vignette, dtype=np.float32)
            else:
                img = out.astype(np.float32)
            if fx.blur_sigma > 0:
                img = cv2.GaussianBlur(img, (0, 0), fx.blur_sigma)
            if self._noise is not None:
                k = img.size
                start = int(rng.integers(0, self._noise.size - k + 1))
                img += self._noise[start : start + k].reshape(img.shape)
            out = np.clip(img, 0.0, 255.0, out=img).astype(np.uint8)
        if fx.jpeg_quality is not None:
            ok, buf = cv2.imencode(".jpg", cv2.cvtColor(out, cv2.COLOR_RGB2BGR),
                                   [cv2.IMWRITE_JPEG_QUALITY, int(fx.jpeg_quality)])
            if not ok:  # pragma: no cover - OpenCV failure, not user input
                raise RuntimeError("JPEG encoding failed")
            return cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        return np.ascontiguousarray(out)


def apply_camera_effects(frame: np.ndarray, fx: CameraEffects, rng: np.random.Generator) -> np.ndarray:
    """One-off form of :class:`CameraPipeline` (builds the pipeline, then applies it)."""
    return CameraPipeline(fx, frame.shape[:2], rng)(frame, rng)
