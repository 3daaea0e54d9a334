"""The translators' losses: adversarial (LSGAN), cycle, identity, paired (RCAN's canonicalizer),
semantic consistency, shift. Which of them a method trains with is chosen in one place, the loss
families of :mod:`goggles_gym.translators.training`."""

from __future__ import annotations

import math
import weakref
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from goggles_gym.common.device import module_device

if TYPE_CHECKING:
    import numpy as np


def lsgan_loss(scores: Tensor, target_is_real: bool) -> Tensor:
    """Least-squares GAN loss of discriminator scores against 1 (real) or 0 (fake)."""
    target = torch.ones_like(scores) if target_is_real else torch.zeros_like(scores)
    return F.mse_loss(scores, target)


def cycle_loss(reconstructed: Tensor, original: Tensor) -> Tensor:
    """L1 between an image and its round trip through both generators."""
    return F.l1_loss(reconstructed, original)


def identity_loss(same_domain_output: Tensor, original: Tensor) -> Tensor:
    """L1 between a generator's output on an image already in its target domain and that image."""
    return F.l1_loss(same_domain_output, original)


def paired_loss(translated: Tensor, target: Tensor, pixel_weights: Tensor | None = None) -> Tensor:
    """L1 between a generator's output on a pair's input and the pair's target render (the same
    pose in the sim look): RCAN's canonicalizer loss, and the anchor kept while fine-tuning.

    ``pixel_weights`` (N x H x W, e.g. each pixel's class weight) make it a weighted mean over pixels,
    so that a small object (the chair: under 1 in 100 pixels) counts as much as the walls.

    >>> x, y = torch.zeros(1, 3, 1, 2), torch.tensor([[[[0.0, 1.0]]] * 3])
    >>> float(paired_loss(x, y)), float(paired_loss(x, y, torch.tensor([[[1.0, 3.0]]])))
    (0.5, 0.75)
    """
    if pixel_weights is None:
        return F.l1_loss(translated, target)
    w = pixel_weights.to(translated.dtype)
    return ((translated - target).abs().mean(1) * w).sum() / w.sum().clamp_min(1e-8)


def semantic_loss_sim_to_real(seg: nn.Module, translated_sim: Tensor, sim_labels: Tensor,
                              class_weights: Tensor | None = None) -> Tensor:
    """CyCADA's semantic consistency, sim side: the sim->real translation of a sim frame must
    segment like the sim frame's ground truth (labels come from sim inputs only).

    The same loss on the round trip ``G(F(sim))`` holds the goggles ``G`` to the sim ground truth on
    real-looking inputs. ``class_weights`` (see :func:`median_frequency_weights`) keep small
    classes such as the chair from being outvoted by walls and floor.
    """
    return F.cross_entropy(seg(translated_sim), sim_labels.long(), weight=class_weights)


def median_frequency_weights(labels: Tensor | np.ndarray, n_classes: int, max_weight: float = 10.0) -> Tensor:
    """Median-frequency class balancing (Eigen and Fergus, 2015): weight ``median(freq) / freq_c``,
    capped at ``max_weight``; classes absent from ``labels`` get weight 1.

    >>> [round(w, 4) for w in median_frequency_weights(torch.tensor([0, 0, 0, 1]), 3).tolist()]
    [0.6667, 2.0, 1.0]
    """
    counts = torch.bincount(torch.as_tensor(labels).reshape(-1).long(), minlength=n_classes)[:n_classes].double()
    present = counts > 0
    freq = counts / counts.sum()
    median = torch.quantile(freq[present], 0.5)
    weights = torch.ones(n_classes, dtype=torch.float64)
    weights[present] = (median / freq[present]).clamp(max=max_weight)
    return weights.float()


def semantic_loss_real_to_sim(seg: nn.Module, real: Tensor, translated_real: Tensor,
                              min_confidence: float = 0.0, class_weights: Tensor | None = None,
                              reader: nn.Module | None = None) -> Tensor:
    """CyCADA's semantic consistency, real side: the real->sim translation must segment like the
    sim-trained net's pseudo-labels of the real input itself (no real ground truth is used).

    Pixels whose pseudo-label has softmax probability below ``min_confidence`` are ignored.
    ``reader`` (default ``seg``) segments the translation: a net that reads the sim look's colours,
    where ``seg`` must read the real look to give pseudo-labels.
    """
    with torch.no_grad():
        prob, pseudo = seg(real).softmax(1).max(1)
        pseudo = pseudo.masked_fill(prob < min_confidence, -100)
    if not bool((pseudo != -100).any()):
        return translated_real.sum() * 0.0
    reader = seg if reader is None else reader
    return F.cross_entropy(reader(translated_real), pseudo, weight=class_weights, ignore_index=-100)


_RADIUS: weakref.WeakKeyDictionary[nn.Module, tuple[int, int]] = weakref.WeakKeyDictionary()


def receptive_radius(generator: nn.Module) -> tuple[int, int]:
    """How far (rows, columns) an output pixel of ``generator`` can see into its input: the margin
    outside which zero or reflect padding at an input's edge cannot reach an output.

    Walks every ``Conv2d`` / ``ConvTranspose2d`` in registration (forward) order, adding
    ``(kernel - 1) // 2 * dilation * jump`` and then multiplying ``jump`` by a convolution's stride
    (dividing it by a transposed convolution's); padding layers add nothing. A generator can set a
    ``shift_margin`` attribute (an int or a pair) instead. Cached per generator.

    >>> receptive_radius(nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.Conv2d(8, 3, 5, padding=2)))
    (3, 3)
    """
    override = getattr(generator, "shift_margin", None)
    if override is not None:
        return (int(override), int(override)) if isinstance(override, int) else tuple(int(v) for v in override)
    if generator in _RADIUS:
        return _RADIUS[generator]
    radius, jump = [0.0, 0.0], [1.0, 1.0]
    for m in generator.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            for d in range(2):
                radius[d] += (m.kernel_size[d] - 1) // 2 * m.dilation[d] * jump[d]
                jump[d] = jump[d] / m.stride[d] if isinstance(m, nn.ConvTranspose2d) else jump[d] * m.stride[d]
    out = (math.ceil(radius[0]), math.ceil(radius[1]))
    _RADIUS[generator] = out
    return out


def shift_margin(generator: nn.Module, crop: tuple[int, int]) -> tuple[int, int]:
    """The margin (rows, columns) the shift loss leaves out at each side of a ``crop``-sized window:
    the generator's :func:`receptive_radius`, clipped so that at least half of the crop remains.

    The ResNet generator's theoretical radius (39 px with 3 blocks, 63 with 6) is larger than the
    frames, so for it the clip decides: 7 px at 32 x 32, 15 px at 64 x 64 (crop = frame - stride).

    >>> from goggles_gym.translators.networks import ResnetGenerator
    >>> g = ResnetGenerator(ngf=12, n_blocks=3)
    >>> receptive_radius(g), shift_margin(g, (28, 28)), shift_margin(g, (60, 60))
    ((39, 39), (7, 7), (15, 15))
    """
    r = receptive_radius(generator)
    return (min(r[0], crop[0] // 4), min(r[1], crop[1] // 4))


def shift_loss(generator: nn.Module, x: Tensor, shift: tuple[int, int], translated: Tensor | None = None,
               margin: int | tuple[int, int] | None = None) -> Tensor:
    """VR-Goggles' shift loss for one shift (i, j): ``G(shift x)`` against ``shift G(x)``.

    ``shift x`` is ``x`` cropped at offset (i, j), one generator stride smaller (so it still fits
    the stride); it is compared with L1 against the same window of ``G(x)`` (pass ``translated``
    = ``G(x)`` when it is already computed, to save a forward pass). Only the valid region is
    compared: ``margin`` pixels at each side of the window are left out (default
    :func:`shift_margin`, where the crop's own padding reaches), so the loss is zero for a
    shift-equivariant generator; ``margin=0`` compares the whole window. ``x`` goes to the
    generator's device.
    """
    i, j = shift
    h, w = x.shape[-2:]
    s = getattr(generator, "stride", 4)
    if not (0 <= i < s and 0 <= j < s):
        raise ValueError(f"shift {shift} must be below the generator's stride {s}")
    x = x.to(module_device(generator))
    ch, cw = h - s, w - s
    if margin is None:
        mh, mw = shift_margin(generator, (ch, cw))
    else:
        mh, mw = (margin, margin) if isinstance(margin, int) else margin
        mh, mw = min(mh, ch // 4), min(mw, cw // 4)
    full = generator(x) if translated is None else translated.to(x.device)
    moved = generator(x[..., i : i + ch, j : j + cw])
    return F.l1_loss(moved[..., mh : ch - mh, mw : cw - mw], full[..., i + mh : i + ch - mh, j + mw : j + cw - mw])


def sample_shift(stride: int, generator: torch.Generator | None = None) -> tuple[int, int]:
    """A random (i, j) with 0 <= i, j < stride, not both zero (a sub-stride shift)."""
    while True:
        i, j = (int(v) for v in torch.randint(0, stride, (2,), generator=generator))
        if i or j:
            return i, j
