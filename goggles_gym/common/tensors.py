"""The one conversion between uint8 frames and the generators' inputs: ``x / 127.5 - 1``
(uint8 RGB to [-1, 1], channels first) and back ``(y + 1) * 127.5``, in torch and in numpy
(the numpy pair feeds ONNX Runtime). Imports nothing from goggles-gym, so anything can use it."""

from __future__ import annotations

import numpy as np
import torch

NORMALIZATION = "x / 127.5 - 1 (uint8 RGB to [-1, 1]); output (y + 1) * 127.5"


def to_tensor(frames: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
    """uint8 N x H x W x 3 frames to a float N x 3 x H x W tensor in [-1, 1] on ``device``.

    >>> to_tensor(np.array([[[[0, 255, 51]]]], dtype=np.uint8)).flatten().tolist()
    [-1.0, 1.0, -0.6000000238418579]
    """
    t = torch.from_numpy(np.ascontiguousarray(frames)).to(device)
    return t.permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0)


def to_frames(t: torch.Tensor) -> np.ndarray:
    """Inverse of :func:`to_tensor`: a [-1, 1] N x 3 x H x W tensor to uint8 N x H x W x 3 (on the CPU).

    >>> frames = np.arange(48, dtype=np.uint8).reshape(1, 4, 4, 3)
    >>> bool((to_frames(to_tensor(frames)) == frames).all())
    True
    """
    return t.detach().add(1.0).mul(127.5).round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()


def to_array(frames: np.ndarray) -> np.ndarray:
    """Numpy twin of :func:`to_tensor`: float32 N x 3 x H x W in [-1, 1].

    >>> frames = np.arange(48, dtype=np.uint8).reshape(1, 4, 4, 3)
    >>> bool(np.allclose(to_array(frames), to_tensor(frames).numpy()))
    True
    """
    return (np.ascontiguousarray(frames.transpose(0, 3, 1, 2)).astype(np.float32) / np.float32(127.5)) - 1.0


def array_to_frames(out: np.ndarray) -> np.ndarray:
    """Numpy twin of :func:`to_frames`: float N x 3 x H x W in [-1, 1] to uint8 N x H x W x 3.

    >>> frames = np.arange(48, dtype=np.uint8).reshape(1, 4, 4, 3)
    >>> bool((array_to_frames(to_array(frames)) == frames).all())
    True
    """
    return np.clip(np.rint((out + 1.0) * 127.5), 0, 255).astype(np.uint8).transpose(0, 2, 3, 1)
