"""The goggles' shared part: checking that an env's frames fit a translator (and the policy), and
the frame function every form of the wrapper applies (resize if asked, then translate)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import cv2
import numpy as np
from gymnasium import spaces

FrameTranslator = Callable[[np.ndarray], np.ndarray]


def _translator_size(translator: Any) -> tuple[int, int]:
    size = getattr(translator, "image_size", None)
    if size is None:
        raise TypeError("the translator must have an image_size (height, width); "
                        "load one with goggles_gym.translators.load(path)")
    return tuple(size)


def check_fit(space: spaces.Space, translator: Any, policy_shape: tuple[int, ...] | None = None,
              resize: bool = False) -> tuple[int, int]:
    """Check that ``space`` (an env's observations) fits ``translator`` (and the policy's frames).

    Returns the env's (height, width). Raises ``ValueError`` naming both shapes and the fix.
    """
    if not isinstance(space, spaces.Box) or space.dtype != np.uint8 or len(space.shape) != 3 or space.shape[2] != 3:
        raise ValueError(f"the goggles need uint8 RGB image observations H x W x 3 (channels last); the env gives "
                         f"{space}. Wrap the env to produce such frames first")
    size = _translator_size(translator)
    env_hw = tuple(space.shape[:2])
    if env_hw != size and not resize:
        raise ValueError(f"the env's frames are {env_hw[0]} x {env_hw[1]} x 3 but the translator takes "
                         f"{size[0]} x {size[1]} x 3: pass resize=True to resize every frame, or train a translator "
                         "at the env's size")
    if policy_shape is not None and tuple(policy_shape) != (*size, 3):
        raise ValueError(f"the translator outputs {size[0]} x {size[1]} x 3 frames but the policy was trained on "
                         f"{tuple(policy_shape)}: use a translator trained at the policy's image size")
    return env_hw


def _setup(space: spaces.Space, translator: Any, policy_shape: tuple[int, ...] | None,
           resize: bool) -> tuple[spaces.Box, FrameTranslator]:
    """Check the fit; return the translated frames' space and the frame function (resize if asked,
    then translate), shared by every form of the wrapper."""
    env_hw = check_fit(space, translator, policy_shape, resize)
    size = _translator_size(translator)
    if env_hw == size:
        return spaces.Box(0, 255, (*size, 3), np.uint8), translator
    resizer = _resizer(size)
    return spaces.Box(0, 255, (*size, 3), np.uint8), lambda frames: translator(resizer(frames))


def _resizer(size: tuple[int, int]) -> Callable[[np.ndarray], np.ndarray]:
    h, w = size

    def resize(frames: np.ndarray) -> np.ndarray:
        if frames.ndim == 3:
            return cv2.resize(frames, (w, h), interpolation=cv2.INTER_AREA)
        return np.stack([cv2.resize(f, (w, h), interpolation=cv2.INTER_AREA) for f in frames])

    return resize
