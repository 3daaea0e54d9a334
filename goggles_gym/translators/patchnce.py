"""PatchNCE, the content loss of CUT and FastCUT (Park et al., ECCV 2020): after the reference's
``networks.PatchSampleF`` and ``patchnce.PatchNCELoss``.

The generator's own encoder (:meth:`~goggles_gym.translators.networks.Generator.encode`) reads the
input frame and its translation; at a few layers the same randomly sampled locations of both are
passed through a small MLP head per layer (:class:`PatchHeads`) and L2-normalised. Each output
patch (the query) must pick out the input patch at its own location (the positive) among the
input's other sampled locations of the same frame (the negatives): a cross-entropy over cosine
similarities divided by a temperature. Keys are detached, as in the reference, so they are computed
without a graph here (the same gradients, less work).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from goggles_gym.translators.config import NCE_HEAD_DIM as HEAD_DIM
from goggles_gym.translators.networks import Generator


class PatchHeads(nn.Module):
    """One 2-layer MLP (Linear, ReLU, Linear; ``dim`` units: :data:`HEAD_DIM` as the reference by
    default, ``--nce-head-dim``) per PatchNCE layer, applied to sampled feature vectors, whose
    outputs are L2-normalised (the reference's ``PatchSampleF`` with ``use_mlp``). Built eagerly
    from the channel counts, so it is in the optimiser and the checkpoint from the first update
    (the reference builds it at the first batch's shapes).

    >>> heads = PatchHeads([3, 8])
    >>> [tuple(f.shape) for f in heads([torch.zeros(2, 3, 4, 4), torch.ones(2, 8, 2, 2)],
    ...                                 [torch.arange(5), torch.arange(4)])]
    [(2, 5, 256), (2, 4, 256)]
    """

    def __init__(self, channels: Sequence[int], dim: int = HEAD_DIM) -> None:
        super().__init__()
        self.channels = [int(c) for c in channels]
        self.mlps = nn.ModuleList(nn.Sequential(nn.Linear(c, dim), nn.ReLU(), nn.Linear(dim, dim))
                                  for c in self.channels)
        for m in self.modules():  # the reference's init_net(netF, 'xavier', 0.02)
            if isinstance(m, nn.Linear):
                nn.init.xavier_normal_(m.weight, gain=0.02)
                nn.init.zeros_(m.bias)

    @classmethod
    def for_generator(cls, generator: Generator, layers: Sequence[str], dim: int = HEAD_DIM) -> PatchHeads:
        """Heads sized for ``generator``'s features at ``layers`` (channels from a small dummy pass)."""
        side = 4 * generator.stride
        with torch.no_grad():
            feats = generator.encode(torch.zeros(1, 3, side, side, device=_device(generator)), layers)
        return cls([f.shape[1] for f in feats], dim)

    def forward(self, feats: Sequence[Tensor], locations: Sequence[Tensor]) -> list[Tensor]:
        """Per layer: the features ``feats[l]`` (N x C x H x W) at flat ``locations[l]`` (P indices
        into H * W, the same for every frame) through that layer's head, normalised: N x P x dim."""
        if len(feats) != len(self.mlps):
            raise ValueError(f"{len(feats)} feature maps for {len(self.mlps)} PatchNCE heads")
        out = []
        for mlp, feat, where in zip(self.mlps, feats, locations, strict=True):
            x = mlp(feat.flatten(2).transpose(1, 2)[:, where])
            out.append(x * (x.norm(dim=-1, keepdim=True) + 1e-7).reciprocal())  # the reference's Normalize(2)
        return out


def _device(net: nn.Module) -> torch.device:
    return next(net.parameters()).device


def sample_locations(feats: Sequence[Tensor], n: int, generator: torch.Generator | None = None) -> list[Tensor]:
    """For each feature map, ``n`` distinct flat locations (all of them if it has fewer), drawn
    from ``generator`` (on the CPU) and moved to the map's device."""
    return [torch.randperm(f.shape[2] * f.shape[3], generator=generator)[:n].to(f.device) for f in feats]


def patch_nce_loss(query: Tensor, key: Tensor, temperature: float = 0.07) -> Tensor:
    """InfoNCE over patches, N x P x D each (normalised): query patch ``i`` of a frame against all
    ``P`` key patches of the same frame, the positive being key ``i`` (the reference with
    ``nce_includes_all_negatives_from_minibatch=False``; its masked diagonal is the positive here).
    Mean over frames and patches; ``key`` is detached.

    >>> q = torch.eye(4).unsqueeze(0)
    >>> round(patch_nce_loss(q, q).item(), 4), patch_nce_loss(q, q.flip(1)).item() > 10
    (0.0, True)
    """
    n, p, _ = query.shape
    logits = torch.bmm(query, key.detach().transpose(1, 2)).mul_(1.0 / temperature)
    target = torch.arange(p, device=query.device).repeat(n)
    return F.cross_entropy(logits.flatten(0, 1), target)


def patch_nce(generator: Generator, heads: PatchHeads, layers: Sequence[str], source: Tensor, output: Tensor, *,
              n_patches: int = 256, temperature: float = 0.07, rng: torch.Generator | None = None,
              flipped: bool = False) -> Tensor:
    """PatchNCE between a generator's ``source`` frames and its ``output`` for them, averaged over
    ``layers`` (the reference's ``calculate_NCE_loss``, without its weight). ``flipped``: ``output``
    is the translation of the mirrored source (flip equivariance), its features are mirrored back."""
    queries = generator.encode(output, layers)
    if flipped:
        queries = [q.flip(3) for q in queries]
    with torch.no_grad():  # detached keys: no gradient reaches G or the heads through them
        keys = generator.encode(source, layers)
    where = sample_locations(keys, n_patches, rng)
    with torch.no_grad():
        k = heads(keys, where)
    q = heads(queries, where)
    return sum(patch_nce_loss(qi, ki, temperature) for qi, ki in zip(q, k, strict=True)) / len(layers)
