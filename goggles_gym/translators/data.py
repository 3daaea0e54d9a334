"""Seeded batches of frames for the translators and their segmentation nets.

Under torchrun every rank holds the same batch stream and draws the same global batch (indices
and flips); rank ``r`` of ``W`` keeps only its rows of it (:meth:`goggles_gym.common.distributed.Dist.shard`),
so the ranks train on disjoint parts of one global batch, and the ranks' rows in rank order are
exactly the batch a 1-process run with the same seed draws.
"""

from __future__ import annotations

import numpy as np
import torch

from goggles_gym.common.tensors import to_tensor
from goggles_gym.frames.collection import FrameCollection, FrameCollectionError


class Batches:
    """Seeded random batches (with optional flips) from an in-memory collection.

    ``with_target`` (a paired collection) also yields each frame's target render, drawn with the
    same indices and flipped with the same flips as the frame and its labels (:meth:`next_paired`).

    ``batch_size`` is the global batch; ``shard`` (rank, world size) keeps that rank's rows of it
    (``batch_size * (rank + 1) // world - batch_size * rank // world`` frames). The whole global
    batch is drawn from ``rng`` on every rank, so the stream does not depend on the world size.
    """

    def __init__(self, frames: FrameCollection, batch_size: int, flip: bool, rng: np.random.Generator,
                 device: torch.device, with_labels: bool = False, with_target: bool = False,
                 shard: tuple[int, int] = (0, 1)) -> None:
        self.rgb, self.labels = frames.rgb, frames.labels if with_labels else None
        self.target = frames.target if with_target else None
        if with_target and self.target is None:
            raise FrameCollectionError("target frames were asked for, but the collection is not a paired one "
                                       "(collect one with python -m goggles_gym.collect --pairs)")
        self.batch_size, self.flip, self.rng, self.device = batch_size, flip, rng, device
        rank, world = shard
        if not 0 <= rank < world or batch_size < world:
            raise ValueError(f"a batch of {batch_size} frames cannot be split over {world} processes (rank {rank}): "
                             f"give a batch of at least {world}, or start fewer processes")
        self.rows = slice(rank * batch_size // world, (rank + 1) * batch_size // world)

    def _draw(self) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        idx = self.rng.integers(0, len(self.rgb), self.batch_size)  # the global batch; this rank keeps its rows
        flip = self.rng.random(self.batch_size)[self.rows] < 0.5 if self.flip else None
        idx = idx[self.rows]
        rgb = self.rgb[idx]
        labels = None if self.labels is None else self.labels[idx]
        target = None if self.target is None else self.target[idx]
        if flip is not None:
            rgb = np.where(flip[:, None, None, None], rgb[:, :, ::-1], rgb)
            if labels is not None:
                labels = np.where(flip[:, None, None], labels[:, :, ::-1], labels)
            if target is not None:
                target = np.where(flip[:, None, None, None], target[:, :, ::-1], target)
        return rgb, labels, target

    def _labels(self, labels: np.ndarray | None) -> torch.Tensor | None:
        return None if labels is None else torch.from_numpy(np.ascontiguousarray(labels)).long().to(self.device)

    def next(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """One batch: float images in [-1, 1] and, if kept, long label maps."""
        rgb, labels, _ = self._draw()
        return to_tensor(rgb, self.device), self._labels(labels)

    def next_paired(self) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
        """One paired batch: input frames, their labels (if kept) and their target renders, in [-1, 1]."""
        if self.target is None:
            raise ValueError("next_paired needs Batches(..., with_target=True) of a paired collection")
        rgb, labels, target = self._draw()
        return to_tensor(rgb, self.device), self._labels(labels), to_tensor(target, self.device)
