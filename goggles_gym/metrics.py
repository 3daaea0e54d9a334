"""Translation figures measured on held-out frames: segmentation mIoU, paired L1 to the true sim
render, shift consistency, and generator speed. Paired frames come from the env (same seed and
pose in two looks) and are used for measuring only, never for training."""

from __future__ import annotations

import time

import numpy as np
import torch

from goggles_gym.envs.chairnav import ChairNav
from goggles_gym.envs.looks import LookSpec
from goggles_gym.envs.scene import CLASSES
from goggles_gym.frames.sources import episode_seeds
from goggles_gym.translators.io import to_tensor
from goggles_gym.translators.losses import shift_loss


def paired_frames(n: int, size: int | tuple[int, int], seed: int, look: LookSpec = "real",
                  env_kwargs: dict | None = None) -> dict[str, np.ndarray]:
    """``n`` frames of ``look`` with their true labels and the true ``sim`` render of the same pose.

    Each frame is a random point of a sticky random walk in a fresh seeded episode; both looks get
    the same seed and actions, so geometry (and labels) are identical.
    """
    kwargs = {**(env_kwargs or {}), "image_size": size}
    target, sim = ChairNav(look=look, **kwargs), ChairNav(look="sim", **kwargs)
    rng = np.random.default_rng(seed)
    out: dict[str, list] = {"real": [], "sim": [], "labels": []}
    action = 0
    try:
        for s in episode_seeds(seed, n):
            (ro, ri), (so, si) = target.reset(seed=s), sim.reset(seed=s)
            for _ in range(int(rng.integers(0, 30))):
                action = action if rng.random() < 0.8 else int(rng.integers(3))
                ro, _, terminated, truncated, ri = target.step(action)
                so, _, _, _, si = sim.step(action)
                if terminated or truncated:
                    break
            if not np.array_equal(ri["labels"], si["labels"]):  # pragma: no cover - a geometry bug
                raise AssertionError(f"looks {look} and sim disagree on geometry for seed {s}")
            out["real"].append(ro)
            out["sim"].append(so)
            out["labels"].append(ri["labels"])
    finally:
        target.close()
        sim.close()
    return {k: np.stack(v) for k, v in out.items()}


def predict_labels(seg: torch.nn.Module, frames: np.ndarray, batch: int = 64) -> np.ndarray:
    """Per-pixel classes of uint8 frames by a segmentation net."""
    with torch.inference_mode():
        chunks = [seg(to_tensor(frames[i : i + batch])).argmax(1) for i in range(0, len(frames), batch)]
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


def paired_l1(frames: np.ndarray, sim: np.ndarray) -> float:
    """Mean absolute difference (0..255 units) between frames and the true sim renders."""
    return float(np.abs(frames.astype(np.float32) - sim.astype(np.float32)).mean())


def shift_consistency(generator: torch.nn.Module, frames: np.ndarray) -> float:
    """Mean |G(shift x) - shift G(x)| in 0..255 units over every sub-stride shift."""
    x = to_tensor(frames)
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
