"""Translation figures measured on held-out frames: segmentation mIoU, paired L1 to the true sim
render, shift consistency, and generator speed, on paired frames (``goggles_gym.frames.sources.paired_frames``:
the same pose in two looks), which are for measuring only, never for training."""

from __future__ import annotations

import time

import numpy as np
import torch

from goggles_gym.common.device import module_device
from goggles_gym.common.tensors import to_tensor
from goggles_gym.envs.scene import CLASSES
from goggles_gym.translators.losses import shift_loss


def predict_labels(seg: torch.nn.Module, frames: np.ndarray, batch: int = 64) -> np.ndarray:
    """Per-pixel classes of uint8 frames by a segmentation net (run on the net's device)."""
    device = module_device(seg)
    with torch.inference_mode():
        chunks = [seg(to_tensor(frames[i : i + batch], device)).argmax(1).cpu() for i in range(0, len(frames), batch)]
    return torch.cat(chunks).numpy()


def mean_iou(pred: np.ndarray, labels: np.ndarray, n_classes: int = len(CLASSES)) -> float:
    """Mean IoU over the classes present in the labels or the predictions.

    >>> mean_iou(np.array([[0, 1], [1, 1]]), np.array([[0, 1], [0, 1]]))
    0.5833333333333333
    """
    ious = []
    for c in range(n_classes):
        union = np.logical_or(pred == c, labels == c).sum()
        if union:
            ious.append(np.logical_and(pred == c, labels == c).sum() / union)
    return float(np.mean(ious))


def class_iou(pred: np.ndarray, labels: np.ndarray, cls: int) -> float:
    """IoU of one class (NaN where neither the labels nor the predictions hold it).

    >>> class_iou(np.array([3, 3, 1, 1]), np.array([3, 1, 1, 1]), 3)
    0.5
    """
    union = np.logical_or(pred == cls, labels == cls).sum()
    return float(np.logical_and(pred == cls, labels == cls).sum() / union) if union else float("nan")


def false_positive_rate(pred: np.ndarray, labels: np.ndarray, cls: int) -> float:
    """Share of the pixels of other classes that are read as ``cls``: a chair the goggles invent
    (a table painted in the chair's colour) is what sends the policy the wrong way.

    >>> false_positive_rate(np.array([3, 3, 1, 1]), np.array([3, 1, 1, 1]), 3)
    0.3333333333333333
    """
    other = labels != cls
    return float(np.logical_and(pred == cls, other).sum() / max(int(other.sum()), 1))


def paired_l1(frames: np.ndarray, sim: np.ndarray) -> float:
    """Mean absolute difference (0..255 units) between frames and the true sim renders."""
    return float(np.abs(frames.astype(np.float32) - sim.astype(np.float32)).mean())


def shift_consistency(generator: torch.nn.Module, frames: np.ndarray) -> float:
    """Mean |G(shift x) - shift G(x)| in 0..255 units over every sub-stride shift, on the valid
    region (see :func:`goggles_gym.translators.losses.shift_loss`), run on the generator's device."""
    x = to_tensor(frames, module_device(generator))
    s = getattr(generator, "stride", 4)
    with torch.inference_mode():
        vals = [shift_loss(generator, x, (i, j)).item() for i in range(s) for j in range(s) if i or j]
    return float(np.mean(vals)) * 127.5


def frames_per_second(fn, frames: np.ndarray, seconds: float = 2.0) -> float:
    """Frames/s of ``fn(frames)`` (a translator) over a timing window."""
    for _ in range(2):
        fn(frames)
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        fn(frames)
        n += 1
    return n * len(frames) / (time.perf_counter() - start)
