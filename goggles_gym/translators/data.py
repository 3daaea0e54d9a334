"""Seeded batches of frames for the translators and their segmentation nets."""

from __future__ import annotations

import numpy as np
import torch

from goggles_gym.common.tensors import to_tensor
from goggles_gym.frames.collection import FrameCollection


class Batches:
    """Seeded random batches (with optional flips) from an in-memory collection."""

    def __init__(self, frames: FrameCollection, batch_size: int, flip: bool, rng: np.random.Generator,
                 device: torch.device, with_labels: bool = False) -> None:
        self.rgb, self.labels = frames.rgb, frames.labels if with_labels else None
        self.batch_size, self.flip, self.rng, self.device = batch_size, flip, rng, device

    def next(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """One batch: float images in [-1, 1] and, if kept, long label maps."""
        idx = self.rng.integers(0, len(self.rgb), self.batch_size)
        rgb = self.rgb[idx]
        labels = None if self.labels is None else self.labels[idx]
        if self.flip:
            flip = self.rng.random(self.batch_size) < 0.5
            rgb = np.where(flip[:, None, None, None], rgb[:, :, ::-1], rgb)
            if labels is not None:
                labels = np.where(flip[:, None, None], labels[:, :, ::-1], labels)
        x = to_tensor(rgb, self.device)
        y = None if labels is None else torch.from_numpy(np.ascontiguousarray(labels)).long().to(self.device)
        return x, y
