"""One training loop for every translator; a method is the set of loss families it trains with.

Loss families (:data:`LOSS_FAMILIES`, each naming the networks and inputs it needs, when it is on,
its generator terms and, if adversarial, its discriminator terms) and each method's families
(:data:`METHOD_LOSSES`) are declared in one place; :class:`TranslatorTrainer` builds only the
networks its families need and :meth:`TranslatorTrainer.step` sums their terms. Losses, each
named in TensorBoard under ``loss/``:

- unpaired (cyclegan, vr-goggles): ``G_adv`` (LSGAN, both directions), ``cycle`` (L1, both round
  trips), ``identity``, ``semantic`` (CyCADA consistency through a frozen sim-trained segmentation
  net) and ``shift`` (translation commutes with sub-stride shifts), and ``D_sim`` / ``D_real`` for
  the discriminators. ``G`` maps real->sim (the goggles), ``F`` maps sim->real; real and sim
  batches are drawn independently from two collections of different episodes;
- paired (rcan, after RCAN: James et al. CVPR 2019): ``paired`` (L1 of ``G(pair input)`` against the
  same pose's sim render), optional ``semantic`` (cross-entropy of ``G(pair input)`` against the
  pair's ground-truth labels through a frozen sim reader) and ``G_adv`` / ``D_sim`` (LSGAN against
  the pairs' sim renders). Only ``G`` (and ``D_sim``) are built;
- contrastive (cut, fastcut, after CUT: Park et al. ECCV 2020): ``G_adv`` / ``D_sim`` (LSGAN, ``G``
  against the sim frames), ``NCE`` (PatchNCE between a real frame and ``G`` of it, through ``G``'s
  own encoder and the MLP heads ``patch_heads``) and, for cut, ``NCE_identity`` (the same between a
  sim frame and ``G(sim)``). Only ``G``, ``D_sim`` and the heads are built: no ``F``, no cycle;
- ``paired`` also joins an unpaired method given ``pairs`` (fine-tuning, e.g. from an rcan
  canonicalizer with ``init_from``), so the generator keeps the content while it adapts;
- ``policy`` and ``policy_value`` join any unpaired method given ``policy_consistency`` (after
  RL-CycleGAN): a frozen sim policy's KL and value difference between a sim frame and its round
  trip ``G(F(sim))``, or ``G(sim)`` for the one-sided methods; with pairs (rcan, or ``pairs`` when
  fine-tuning) also ``policy_pairs`` and ``policy_pairs_value``, the same between a pair's sim render
  and ``G`` of its randomized render: the task's own say in what the canonicalizer must keep.
"""

from __future__ import annotations

import itertools
import json
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from torch.utils.tensorboard import SummaryWriter
from tqdm.auto import tqdm

from goggles_gym.common import distributed
from goggles_gym.common.cli import flag, one_line
from goggles_gym.common.device import resolve_device
from goggles_gym.common.files import atomic_write, atomic_write_text
from goggles_gym.envs.looks import TARGET_LOOKS
from goggles_gym.envs.scene import CLASSES
from goggles_gym.frames.collection import FrameCollection, FrameCollectionError, read_collection, read_manifest
from goggles_gym.translators.config import TranslatorTrainConfig
from goggles_gym.translators.data import Batches
from goggles_gym.translators.io import TranslatorFileError, read_translator_file, save_translator
from goggles_gym.translators.losses import (
    cycle_loss,
    identity_loss,
    lsgan_loss,
    median_frequency_weights,
    paired_loss,
    sample_shift,
    semantic_loss_real_to_sim,
    semantic_loss_sim_to_real,
    shift_loss,
)
from goggles_gym.translators.networks import PatchDiscriminator, SegNet, init_weights, make_generator
from goggles_gym.translators.patchnce import PatchHeads, patch_nce
from goggles_gym.translators.policy_consistency import PolicyConsistency, load_policy_consistency
from goggles_gym.translators.segmentation import (
    load_segnet,
    photometric_jitter,
    save_segnet,
    train_judge,
    train_sim_reader,
)

CHECKPOINT = "checkpoint.pt"
TRANSLATOR = "translator.pt"
SEGNET = "segnet.pt"
SEGNET_ADAPTED = "segnet_adapted.pt"
SEGNET_SIM = "segnet_sim.pt"
#: In the order they are built (and initialised from the seed); ``patch_heads``: PatchNCE's MLP heads.
NETS = ("G", "F", "D_sim", "D_real", "patch_heads")


class ImagePool:
    """CycleGAN's history of generated images: half the time the discriminator sees an older fake."""

    def __init__(self, size: int, rng: random.Random) -> None:
        self.size = size
        self.images: list[torch.Tensor] = []
        self.rng = rng

    def query(self, images: torch.Tensor) -> torch.Tensor:
        """Return a batch mixing ``images`` with stored older ones (and store the new ones)."""
        if self.size == 0:
            return images.detach()
        out = []
        for img in images.detach():
            img = img.unsqueeze(0)
            if len(self.images) < self.size:
                self.images.append(img)
                out.append(img)
            elif self.rng.random() > 0.5:
                k = self.rng.randrange(self.size)
                out.append(self.images[k].clone())
                self.images[k] = img
            else:
                out.append(img)
        return torch.cat(out, 0)


@dataclass
class TranslatorResult:
    """What :func:`train_translator` produced (``losses``: the last update's, by name)."""

    run_dir: Path
    translator_path: Path
    iterations: int
    wall_time_s: float
    losses: dict[str, float] = field(default_factory=dict)
    rank: int = 0
    world_size: int = 1


@dataclass
class Forward:
    """One update's batches and the generator passes its loss families share, each computed once:
    ``fake_sim = G(real)``, ``rec_real = F(fake_sim)``, ``fake_real = F(sim)``, ``rec_sim = G(fake_real)``
    (when ``F`` is built) and ``pair_out = G(pair_input)`` (with a paired batch). With flip
    equivariance (``flipped``) ``fake_sim`` is ``G`` of the mirrored real batch. ``same_sim = G(sim)``
    is computed by the first family that needs it (:meth:`TranslatorTrainer.same_sim`)."""

    real: Tensor | None = None
    sim: Tensor | None = None
    sim_labels: Tensor | None = None
    pair_input: Tensor | None = None
    pair_labels: Tensor | None = None
    pair_target: Tensor | None = None
    fake_sim: Tensor | None = None
    rec_real: Tensor | None = None
    fake_real: Tensor | None = None
    rec_sim: Tensor | None = None
    pair_out: Tensor | None = None
    flipped: bool = False
    same_sim: Tensor | None = None


Terms = dict[str, Tensor]


@dataclass(frozen=True)
class LossFamily:
    """A family of losses: ``nets`` it needs besides ``G`` (built only if a family needs them),
    ``inputs`` (``unpaired``: real and sim batches; ``pairs``: a paired batch), ``enabled`` (is it on
    for a config), ``generator`` (its weighted terms of the generator loss, by TensorBoard name) and,
    for adversarial families, ``discriminator`` (its discriminator losses)."""

    nets: tuple[str, ...]
    inputs: str
    enabled: Callable[[TranslatorTrainConfig], bool]
    generator: Callable[[TranslatorTrainer, Forward], Terms]
    discriminator: Callable[[TranslatorTrainer, Forward], Terms] | None = None


def _g_adversarial(t: TranslatorTrainer, fw: Forward) -> Terms:
    return {"G_adv": lsgan_loss(t.D_sim(fw.fake_sim), True) + lsgan_loss(t.D_real(fw.fake_real), True)}


def _d_adversarial(t: TranslatorTrainer, fw: Forward) -> Terms:
    old_sim, old_real = t.pool_sim.query(fw.fake_sim), t.pool_real.query(fw.fake_real)
    return {"D_sim": 0.5 * (lsgan_loss(t.D_sim(fw.sim), True) + lsgan_loss(t.D_sim(old_sim), False)),
            "D_real": 0.5 * (lsgan_loss(t.D_real(fw.real), True) + lsgan_loss(t.D_real(old_real), False))}


def _cycle(t: TranslatorTrainer, fw: Forward) -> Terms:
    return {"cycle": t.config.lambda_cycle * (cycle_loss(fw.rec_real, fw.real) + cycle_loss(fw.rec_sim, fw.sim))}


def _identity(t: TranslatorTrainer, fw: Forward) -> Terms:
    c = t.config
    return {"identity": c.lambda_cycle * c.lambda_identity * (
        identity_loss(t.G(fw.sim), fw.sim) + identity_loss(t.F(fw.real), fw.real))}


def _semantic(t: TranslatorTrainer, fw: Forward) -> Terms:
    c, w = t.config, t.class_weights
    reader = t.seg if t.sim_reader is None else t.sim_reader  # reads G(real), G(F(sim))
    sem = (semantic_loss_sim_to_real(t.seg, fw.fake_real, fw.sim_labels, w)
           + semantic_loss_real_to_sim(t.seg, fw.real, fw.fake_sim, c.pseudo_label_confidence, w, reader))
    if c.semantic_cycle:
        sem = sem + semantic_loss_sim_to_real(reader, fw.rec_sim, fw.sim_labels, w)
    return {"semantic": c.lambda_semantic * sem}


def _shift(t: TranslatorTrainer, fw: Forward) -> Terms:
    return {"shift": t.shift_weight() * (
        shift_loss(t.G, fw.real, sample_shift(t.G.stride, t.shift_rng), translated=fw.fake_sim)
        + shift_loss(t.F, fw.sim, sample_shift(t.F.stride, t.shift_rng), translated=fw.fake_real))}


def _g_sim_adversarial(t: TranslatorTrainer, fw: Forward) -> Terms:
    return {"G_adv": lsgan_loss(t.D_sim(fw.fake_sim), True)}


def _d_sim_adversarial(t: TranslatorTrainer, fw: Forward) -> Terms:
    old = t.pool_sim.query(fw.fake_sim)
    return {"D_sim": 0.5 * (lsgan_loss(t.D_sim(fw.sim), True) + lsgan_loss(t.D_sim(old), False))}


def _nce_weight(c: TranslatorTrainConfig) -> float:
    """CUT averages its two NCE terms (the reference's ``(loss_NCE + loss_NCE_Y) * 0.5``)."""
    return c.lambda_nce * (0.5 if c.nce_identity else 1.0)


def _nce(t: TranslatorTrainer, fw: Forward) -> Terms:
    return {"NCE": _nce_weight(t.config) * t.patch_nce(fw.real, fw.fake_sim, flipped=fw.flipped)}


def _nce_identity(t: TranslatorTrainer, fw: Forward) -> Terms:
    return {"NCE_identity": _nce_weight(t.config) * t.patch_nce(fw.sim, t.same_sim(fw))}


def _policy(t: TranslatorTrainer, fw: Forward) -> Terms:
    translated = fw.rec_sim if t.F is not None else t.same_sim(fw)  # translations of known right action
    kl, value = t.policy(fw.sim, translated)
    w = t.config.lambda_policy
    return {"policy": w * kl, "policy_value": w * value}


def _paired(t: TranslatorTrainer, fw: Forward) -> Terms:
    weights = None
    if t.config.paired_class_balance:
        if t.class_weights is None or fw.pair_labels is None:
            raise ValueError("--paired-class-balance needs the pairs' label maps (collect --pairs keeps them)")
        weights = t.class_weights[fw.pair_labels.long()]
    return {"paired": t.config.lambda_paired * paired_loss(fw.pair_out, fw.pair_target, weights)}


def _paired_policy(t: TranslatorTrainer, fw: Forward) -> Terms:
    kl, value = t.policy(fw.pair_target, fw.pair_out)  # the pair's sim render says the right action
    w = t.config.lambda_policy
    return {"policy_pairs": w * kl, "policy_pairs_value": w * value}


def _paired_semantic(t: TranslatorTrainer, fw: Forward) -> Terms:
    if t.sim_reader is None or fw.pair_labels is None:
        raise ValueError("rcan's semantic loss needs a sim reader and the pairs' labels")
    return {"semantic": t.config.lambda_semantic * semantic_loss_sim_to_real(
        t.sim_reader, fw.pair_out, fw.pair_labels, t.class_weights)}


def _g_paired_adversarial(t: TranslatorTrainer, fw: Forward) -> Terms:
    return {"G_adv": t.config.lambda_rcan_adversarial * lsgan_loss(t.D_sim(fw.pair_out), True)}


def _d_paired_adversarial(t: TranslatorTrainer, fw: Forward) -> Terms:
    old = t.pool_sim.query(fw.pair_out)
    return {"D_sim": 0.5 * (lsgan_loss(t.D_sim(fw.pair_target), True) + lsgan_loss(t.D_sim(old), False))}


#: Every loss family, by name. A new method is a new entry here and in :data:`METHOD_LOSSES`.
LOSS_FAMILIES: dict[str, LossFamily] = {
    "adversarial": LossFamily(("F", "D_sim", "D_real"), "unpaired", lambda c: True, _g_adversarial, _d_adversarial),
    "cycle": LossFamily(("F",), "unpaired", lambda c: True, _cycle),
    "identity": LossFamily(("F",), "unpaired", lambda c: c.lambda_identity > 0, _identity),
    "semantic": LossFamily(("F",), "unpaired", lambda c: bool(c.semantic), _semantic),
    "shift": LossFamily(("F",), "unpaired", lambda c: bool(c.shift), _shift),
    "paired": LossFamily((), "pairs", lambda c: c.method == "rcan" or bool(c.pairs), _paired),
    "paired_semantic": LossFamily((), "pairs", lambda c: c.rcan_semantic, _paired_semantic),
    "paired_policy": LossFamily((), "pairs", lambda c: bool(c.policy_consistency) and (c.method == "rcan"
                                                                                       or bool(c.pairs)),
                                _paired_policy),
    "paired_adversarial": LossFamily(("D_sim",), "pairs", lambda c: c.rcan_adversarial, _g_paired_adversarial,
                                     _d_paired_adversarial),
    "adversarial_sim": LossFamily(("D_sim",), "unpaired", lambda c: True, _g_sim_adversarial, _d_sim_adversarial),
    "nce": LossFamily(("patch_heads",), "unpaired", lambda c: True, _nce),
    "nce_identity": LossFamily(("patch_heads",), "unpaired", lambda c: c.nce_identity, _nce_identity),
    "policy": LossFamily((), "unpaired", lambda c: bool(c.policy_consistency), _policy),
}

#: Each method's loss families, in the order their terms are summed; :func:`loss_families` keeps the enabled ones.
METHOD_LOSSES: dict[str, tuple[str, ...]] = {
    "cyclegan": ("adversarial", "cycle", "identity", "semantic", "shift", "paired", "paired_policy", "policy"),
    "vr-goggles": ("adversarial", "cycle", "identity", "semantic", "shift", "paired", "paired_policy", "policy"),
    "rcan": ("paired", "paired_semantic", "paired_adversarial", "paired_policy"),
    "cut": ("adversarial_sim", "nce", "nce_identity", "paired", "paired_policy", "policy"),
    "fastcut": ("adversarial_sim", "nce", "nce_identity", "paired", "paired_policy", "policy"),
}


def loss_families(config: TranslatorTrainConfig) -> tuple[str, ...]:
    """The loss families ``config`` trains with: its method's, those its options switch on.

    >>> loss_families(TranslatorTrainConfig(method="rcan", rcan_adversarial=True))
    ('paired', 'paired_adversarial')
    >>> loss_families(TranslatorTrainConfig(method="cyclegan", pairs="frames/pairs"))
    ('adversarial', 'cycle', 'paired')
    >>> loss_families(TranslatorTrainConfig(method="cut")), loss_families(TranslatorTrainConfig(method="fastcut"))
    (('adversarial_sim', 'nce', 'nce_identity'), ('adversarial_sim', 'nce'))
    """
    return tuple(n for n in METHOD_LOSSES[config.method] if LOSS_FAMILIES[n].enabled(config))


def build_config_generator(config: TranslatorTrainConfig) -> torch.nn.Module:
    """The generator ``config`` asks for (architecture, width, blocks, upsampling)."""
    return make_generator(config.generator, ngf=config.ngf, n_blocks=config.n_blocks, upsample=config.upsample)


def adopt_init_upsample(config: TranslatorTrainConfig) -> None:
    """With ``--init-from`` and no ``--upsample`` given, build the upsampling of the file's generator
    (an rcan canonicalizer resizes, a CycleGAN from scratch transposes), so that fine-tuning a
    canonicalizer needs no architecture flag; anything given stays and is checked."""
    if config.init_from and config.upsample is None and Path(config.init_from).is_file():
        try:
            arch = read_translator_file(config.init_from).get("architecture", {})
        except TranslatorFileError:
            return  # check_init_from reports it
        if arch.get("name", config.generator) == config.generator:
            config.upsample = arch.get("upsample", "transpose")


def check_init_from(path: str | Path, config: TranslatorTrainConfig) -> dict[str, Any]:
    """Read the translator file ``--init-from`` names and check that its generator is the one
    ``config`` builds (ngf, n_blocks and n_down); return its contents. A different architecture is
    an error naming both, not adopted: the goggles' size (and speed) stays what the config says."""
    try:
        blob = read_translator_file(path)
    except TranslatorFileError as exc:
        raise TranslatorFileError(f"--init-from: {exc}") from None
    arch = {"upsample": "transpose", **blob.get("architecture", {})}  # older files: transposed convolutions
    want = build_config_generator(config).architecture()
    if any(arch.get(k) != v for k, v in want.items()):
        def says(a: dict[str, Any]) -> str:
            return ", ".join(f"{k} {a.get(k)}" for k in want)

        raise TranslatorFileError(f"--init-from {path}: its generator is {says(arch)} but this run builds "
                                  f"{says(want)}; pass --generator {arch.get('name')} --ngf {arch.get('ngf')} "
                                  f"--n-blocks {arch.get('n_blocks')} --upsample {arch.get('upsample')} to fine-tune "
                                  "it, or init from a translator of this architecture")
    return blob


class TranslatorTrainer:
    """Holds the networks its loss families need, optimisers, schedulers and pools; one :meth:`step` = one update.

    Networks not needed are ``None`` (rcan builds ``G``, and ``D_sim`` with ``rcan_adversarial``; cut
    and fastcut ``G``, ``D_sim`` and ``patch_heads``, which the generator optimiser trains with ``G``).
    ``config.init_from`` (unless resuming) loads ``G``'s weights from that translator file.
    ``policy`` is the frozen policy of ``config.policy_consistency`` (loaded from it when not given).

    Under a process group (``dist``, see :mod:`goggles_gym.common.distributed`) every trained
    network (and the adapted judge) is wrapped in DistributedDataParallel, which reads like the
    network itself. The random streams of per-update choices (batches, shifts, PatchNCE locations,
    the flip-equivariance coin, the image pools' coins) are seeded alike on every rank, so all ranks
    make the same choices; the judge's photometric jitter is per frame, so each rank draws its own.
    """

    def __init__(self, config: TranslatorTrainConfig, device: torch.device, seg: SegNet | None,
                 class_weights: torch.Tensor | None = None, sim_reader: SegNet | None = None,
                 policy: PolicyConsistency | None = None, dist: distributed.Dist | None = None) -> None:
        c = self.config = config
        adopt_init_upsample(c)
        self.dist = dist = dist or distributed.current(device)
        self.families = loss_families(c)
        needed = {"G"}.union(*(LOSS_FAMILIES[n].nets for n in self.families))
        self.inputs = {LOSS_FAMILIES[n].inputs for n in self.families}
        self.class_weights = None if class_weights is None else class_weights.to(device)
        torch.manual_seed(c.seed)
        self.device = device
        self.G = self.F = self.D_sim = self.D_real = self.patch_heads = None
        self.nce_layers = c.nce_layer_names
        for name in NETS:  # G: real -> sim (the goggles), F: sim -> real
            if name in needed:
                if name == "patch_heads":  # sized by G's features; initialised as the reference's
                    net = PatchHeads.for_generator(self.G, self.nce_layers, c.nce_head_dim)
                elif name in ("G", "F"):
                    net = init_weights(build_config_generator(c))
                else:
                    net = init_weights(PatchDiscriminator(ndf=c.ndf, n_layers=c.d_layers))
                setattr(self, name, net.to(device))
        self.nets = tuple(n for n in NETS if n in needed)
        if c.init_from and not c.resume:
            self.G.load_state_dict(check_init_from(c.init_from, c)["state_dict"])
        # The goggles' weights averaged over the updates (--ema): a steadier G than the last update's.
        self.G_ema = (AveragedModel(self.G, multi_avg_fn=get_ema_multi_avg_fn(c.ema), use_buffers=True)
                      if c.ema > 0 else None)
        for name in self.nets:  # DDP: rank 0's weights now, averaged gradients from here on
            setattr(self, name, distributed.wrap(getattr(self, name), dist))
        self.seg = None if seg is None else seg.to(device)
        self.sim_reader = None if sim_reader is None else sim_reader.to(device).eval().requires_grad_(False)
        self.opt_seg = None
        self.seg_trained = self.seg  # the adapted judge's updates go through DDP; its reads do not
        if seg is not None:
            if c.adapt_segnet:
                self.seg_trained = distributed.wrap(seg.requires_grad_(True), dist)
            seg.eval().requires_grad_(False)
            if c.adapt_segnet:
                self.opt_seg = torch.optim.Adam(seg.parameters(), lr=1e-4)
        betas = (c.beta1, 0.999)
        self.generators = [getattr(self, n) for n in ("G", "F") if n in needed]
        self.discriminators = [getattr(self, n) for n in ("D_sim", "D_real") if n in needed]
        trained_with_g = [*self.generators, *([self.patch_heads] if self.patch_heads is not None else [])]
        self.opt_G = torch.optim.Adam(itertools.chain(*(g.parameters() for g in trained_with_g)), lr=c.lr,
                                      betas=betas)
        self.opt_D = None
        if self.discriminators:
            self.opt_D = torch.optim.Adam(itertools.chain(*(d.parameters() for d in self.discriminators)), lr=c.lr,
                                          betas=betas)
        start = int(c.iterations * c.decay_start)

        def rule(it: int) -> float:
            return 1.0 - max(0, it - start) / max(c.iterations - start, 1)

        self.sched = [torch.optim.lr_scheduler.LambdaLR(o, rule) for o in (self.opt_G, self.opt_D) if o is not None]
        self.py_rng = random.Random(c.seed)
        self.pool_sim, self.pool_real = ImagePool(c.pool_size, self.py_rng), ImagePool(c.pool_size, self.py_rng)
        self.shift_rng = torch.Generator().manual_seed(c.seed)
        self.jitter_rng = torch.Generator().manual_seed(distributed.rank_seed(c.seed + 1, dist.rank))  # per rank
        self.data_rng = np.random.default_rng([c.seed, 0])  # batches; in the checkpoint, so a resume draws on
        self.nce_rng = torch.Generator().manual_seed(c.seed + 2)  # PatchNCE's patch locations
        self.policy = policy
        if self.policy is None and {"policy", "paired_policy"} & set(self.families):
            self.policy = load_policy_consistency(c.policy_consistency, device)
        self.iteration = 0

    def goggles(self) -> torch.nn.Module:
        """The real->sim generator the translator file holds: ``G``'s weights averaged over the updates
        with ``--ema``, else ``G`` as it is."""
        return self.G if self.G_ema is None else self.G_ema.module

    def same_sim(self, fw: Forward) -> Tensor:
        """``G(sim)``, computed once per update by the first family that asks."""
        if fw.same_sim is None:
            fw.same_sim = self.G(fw.sim)
        return fw.same_sim

    def patch_nce(self, source: Tensor, output: Tensor, flipped: bool = False) -> Tensor:
        """PatchNCE (unweighted) between ``source`` and ``G``'s ``output`` for it, with the config's
        layers, patches and temperature and the trainer's seeded patch locations."""
        c = self.config
        return patch_nce(self.G, self.patch_heads, self.nce_layers, source, output, n_patches=c.nce_patches,
                         temperature=c.nce_temperature, rng=self.nce_rng, flipped=flipped)

    def _forward(self, real: Tensor | None, sim: Tensor | None, sim_labels: Tensor | None,
                 pairs: Sequence[Tensor | None] | None) -> Forward:
        if "unpaired" in self.inputs and (real is None or sim is None):
            raise ValueError(f"{self.config.method}'s losses need real and sim batches")
        if "pairs" in self.inputs and pairs is None:
            raise ValueError(f"the paired loss ({', '.join(self.families)}) needs a paired batch "
                             "(input, labels, target)")
        fw = Forward(real, sim, sim_labels)
        if "unpaired" in self.inputs:
            fw.flipped = bool(self.config.nce_flip) and self.py_rng.random() < 0.5
            fw.fake_sim = self.G(real.flip(3) if fw.flipped else real)
            if self.F is not None:
                fw.rec_real = self.F(fw.fake_sim)
                fw.fake_real = self.F(sim)
                fw.rec_sim = self.G(fw.fake_real)
        if "pairs" in self.inputs:
            fw.pair_input, fw.pair_labels, fw.pair_target = pairs
            fw.pair_out = self.G(fw.pair_input)
        return fw

    def step(self, real: Tensor | None = None, sim: Tensor | None = None, sim_labels: Tensor | None = None,
             pairs: Sequence[Tensor | None] | None = None) -> dict[str, float]:
        """One generator update (and one discriminator update, if a family is adversarial) with the
        config's loss families; ``pairs`` is a paired batch (input, labels or None, target). Returns
        every loss by name, ``G_total`` and, when the judge adapts, ``seg``."""
        for d in self.discriminators:
            d.requires_grad_(False)
        with distributed.no_sync(*self.discriminators):  # frozen here: no gradients of theirs to average
            fw = self._forward(real, sim, sim_labels, pairs)
            losses = _merge(LOSS_FAMILIES[n].generator(self, fw) for n in self.families)
            loss_G = sum(losses.values())
            self.opt_G.zero_grad(set_to_none=True)
            loss_G.backward()
        self.opt_G.step()
        if self.G_ema is not None:
            self.G_ema.update_parameters(distributed.unwrap(self.G))

        d_losses: Terms = {}
        if self.opt_D is not None:
            for d in self.discriminators:
                d.requires_grad_(True)
            d_losses = _merge(LOSS_FAMILIES[n].discriminator(self, fw) for n in self.families
                              if LOSS_FAMILIES[n].discriminator is not None)
            self.opt_D.zero_grad(set_to_none=True)
            sum(d_losses.values()).backward()
            self.opt_D.step()
        for s in self.sched:
            s.step()
        self.iteration += 1
        out = {k: v.item() for k, v in losses.items()}
        out.update(G_total=loss_G.item(), **{k: v.item() for k, v in d_losses.items()})
        if self.opt_seg is not None and sim_labels is not None and fw.fake_real is not None:
            out["seg"] = self._adapt_segnet(sim, fw.fake_real.detach(), sim_labels)
        return out

    def shift_weight(self) -> float:
        """The shift loss's weight at this iteration: ``lambda_shift``, ramped in over ``shift_warmup``."""
        c = self.config
        ramp = c.shift_warmup * c.iterations
        return c.lambda_shift * (min(1.0, self.iteration / ramp) if ramp > 0 else 1.0)

    def _adapt_segnet(self, sim: torch.Tensor, fake_real: torch.Tensor, labels: torch.Tensor) -> float:
        """One update of the judge on half sim frames, half their sim->real translations, both with
        the sim labels (as CyCADA trains its target model): as F learns the real look, the judge
        learns to read it, and its pseudo-labels of real frames become trustworthy. With
        ``seg_augment`` the batch gets the same photometric jitter the judge was trained with."""
        k = max(1, len(sim) // 2)
        self.seg.train().requires_grad_(True)
        x = torch.cat([sim[:k], fake_real[:k]])
        if self.config.seg_augment:
            x = photometric_jitter(x, self.jitter_rng)
        loss = F.cross_entropy(self.seg_trained(x), torch.cat([labels[:k], labels[:k]]), weight=self.class_weights)
        self.opt_seg.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_seg.step()
        distributed.average_buffers(self.seg, self.dist)  # the ranks read it with the same statistics
        self.seg.eval().requires_grad_(False)
        return loss.item()

    def state(self) -> dict[str, Any]:
        """Everything needed to resume (networks, optimisers, schedulers, image pools, RNG states):
        rank 0's, with the world size and global batch it trained with (any world size resumes it)."""
        return {
            "format": "goggles-gym-translator-checkpoint", "iteration": self.iteration,
            "world_size": self.dist.world_size, "global_batch": self.config.batch_size, "lr": self.config.lr,
            "nets": {n: getattr(self, n).state_dict() for n in self.nets},
            "G_ema": None if self.G_ema is None else self.G_ema.state_dict(),
            "opt_G": self.opt_G.state_dict(), "opt_D": None if self.opt_D is None else self.opt_D.state_dict(),
            "sched": [s.state_dict() for s in self.sched], "py_rng": self.py_rng.getstate(),
            "shift_rng": self.shift_rng.get_state(), "jitter_rng": self.jitter_rng.get_state(),
            "torch_rng": torch.get_rng_state(), "data_rng": self.data_rng.bit_generator.state,
            "nce_rng": self.nce_rng.get_state(),
            "pools": [[img.cpu() for img in p.images] for p in (self.pool_sim, self.pool_real)],
            "seg": None if self.opt_seg is None else self.seg.state_dict(),
            "opt_seg": None if self.opt_seg is None else self.opt_seg.state_dict(),
        }

    def load_state(self, state: dict[str, Any]) -> None:
        """Inverse of :meth:`state` (checkpoints from before image pools and data RNG states were
        saved resume with empty pools and batches drawn from ``[seed, iteration]``).

        Every rank loads rank 0's states, whatever the world size that wrote them: the shared
        streams go on as one; each rank's image pools start from rank 0's pools; a rank ``r > 0``
        seeds its own jitter stream from (seed, r, iteration), as it was not saved."""
        if set(state["nets"]) != set(self.nets):
            raise ValueError(f"the checkpoint holds networks {', '.join(state['nets'])} but --method "
                             f"{self.config.method} with these options trains {', '.join(self.nets)}: resume with "
                             "the options it was started with, or train into another --out")
        for n, sd in state["nets"].items():
            getattr(self, n).load_state_dict(sd)
        if self.G_ema is not None and state.get("G_ema") is not None:  # else the average starts at this update
            self.G_ema.load_state_dict(state["G_ema"])
        self.opt_G.load_state_dict(state["opt_G"])
        if self.opt_D is not None:
            self.opt_D.load_state_dict(state["opt_D"])
        for s, sd in zip(self.sched, state["sched"], strict=True):
            s.load_state_dict(sd)
        self.py_rng.setstate(state["py_rng"])
        self.shift_rng.set_state(state["shift_rng"].cpu())  # RNG states are CPU tensors, whatever the device
        if "jitter_rng" in state and self.dist.rank == 0:
            self.jitter_rng.set_state(state["jitter_rng"].cpu())
        elif self.dist.rank > 0:
            self.jitter_rng.manual_seed(distributed.rank_seed(self.config.seed + 1, self.dist.rank,
                                                              int(state["iteration"])))
        if "nce_rng" in state:
            self.nce_rng.set_state(state["nce_rng"].cpu())
        torch.set_rng_state(state["torch_rng"].cpu())
        self.iteration = int(state["iteration"])
        if "data_rng" in state:
            self.data_rng.bit_generator.state = state["data_rng"]
        else:
            self.data_rng = np.random.default_rng([self.config.seed, self.iteration])
        for pool, images in zip((self.pool_sim, self.pool_real), state.get("pools", ([], [])), strict=True):
            pool.images = [img.to(self.device) for img in images]
        if self.opt_seg is not None and state.get("seg") is not None:
            self.seg.load_state_dict(state["seg"])
            self.opt_seg.load_state_dict(state["opt_seg"])


def _merge(groups: Any) -> Terms:
    """Terms of several families in one dict; a name used twice is a registry bug."""
    out: Terms = {}
    for terms in groups:
        for k, v in terms.items():
            if k in out:
                raise ValueError(f"two loss families of one method both log loss/{k}")
            out[k] = v
    return out


def _grid(*columns: torch.Tensor, n: int = 4) -> torch.Tensor:
    """Up to ``n`` rows of frames side by side, one column per batch (e.g. real | translated | cycled)."""
    rows = [torch.cat([col[k] for col in columns], dim=2) for k in range(min(n, len(columns[0])))]
    return (torch.cat(rows, dim=1) + 1.0) / 2.0


def _given_saved_or_trained(given: str | None, saved: Path, device: torch.device,
                            train: Callable[[], SegNet], dist: distributed.Dist = distributed.SINGLE) -> SegNet:
    """A segmentation net from the file the user gave, else the run folder's copy (a resumed
    run), else trained now (on every rank, under torchrun) and saved there by rank 0."""
    if given:
        return load_segnet(given, device)
    if distributed.broadcast_object(saved.is_file(), dist):  # every rank takes rank 0's branch
        return load_segnet(saved, device)
    net = train()
    if dist.is_main:
        save_segnet(saved, net)
    return net


def check_not_target(real_manifest: dict[str, Any], manifest: dict[str, Any], flag: str, path: str | Path, *,
                     targets: Sequence[str] = (), fix: str | None = None) -> None:
    """Label safety: the collection given as ``flag`` (``--sim``, ``--judge-frames`` or ``--pairs``)
    must not be real-domain frames, nor rendered in the real collection's look (the look the goggles
    must learn to read) or one of ``targets`` (more target looks), or the translator would train on
    the target's labels or pixels as if they were sim. ``fix`` replaces the suggested fix.

    >>> check_not_target({"look": "real"}, {"look": "sim", "domain": "sim"}, "--sim", "frames/sim")
    >>> check_not_target({"look": "real"}, {"look": "real", "domain": "sim"}, "--sim", "frames/x")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    goggles_gym.frames.collection.FrameCollectionError: --sim frames/x: its frames were rendered in the 'real' ...
    """
    fix = fix or ("collect the sim / judge frames in the sim or randomized looks "
                  "(python -m goggles_gym.collect --look sim, or --look randomized --domain sim)")
    target, look = real_manifest.get("look"), manifest.get("look")
    if target is not None and look == target:
        raise FrameCollectionError(f"{flag} {path}: its frames were rendered in the {target!r} look, the real "
                                   f"collection's look (the goggles' target); {fix}")
    if look is not None and look in targets:
        raise FrameCollectionError(f"{flag} {path}: its frames were rendered in the {look!r} look, a target look of "
                                   f"the goggles (built-in target looks: {', '.join(targets)}); {fix}")
    if manifest.get("domain") == "real":
        raise FrameCollectionError(f"{flag} {path}: its manifest says domain 'real' (real frames, whose labels are "
                                   f"for measuring only); {fix}")


PAIRS_FIX = "collect pairs with python -m goggles_gym.collect --pairs --look randomized --out DIR"


def check_pairs(manifest: dict[str, Any], path: str | Path, real_manifest: dict[str, Any] | None = None) -> None:
    """``--pairs`` must be a paired collection (``kind: paired``) whose targets are sim renders and
    whose input look is neither the sim look, nor a target look of the goggles (the real
    collection's, or a built-in one: :data:`goggles_gym.envs.looks.TARGET_LOOKS`), nor real-domain.

    >>> check_pairs({"kind": "paired", "look": "randomized", "target_look": "sim", "domain": "sim"}, "p")
    >>> check_pairs({"look": "sim"}, "frames/sim")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    goggles_gym.frames.collection.FrameCollectionError: --pairs frames/sim: not a paired collection ...
    """
    kind = manifest.get("kind", "frames")
    if kind != "paired":
        raise FrameCollectionError(f"--pairs {path}: not a paired collection (its manifest says kind {kind!r}, "
                                   f"no target/ frames); {PAIRS_FIX}")
    if manifest.get("target_look") != "sim":
        raise FrameCollectionError(f"--pairs {path}: its targets are in the {manifest.get('target_look')!r} look, "
                                   f"not the sim look the policy trained on; {PAIRS_FIX}")
    if manifest.get("look") == "sim":
        raise FrameCollectionError(f"--pairs {path}: its inputs are in the sim look too; {PAIRS_FIX}")
    check_not_target(real_manifest or {}, manifest, "--pairs", path, targets=TARGET_LOOKS, fix=PAIRS_FIX)


def start_pose_labels(pairs: FrameCollection) -> np.ndarray:
    """The label maps the paired loss's class weights come from: the pairs at episodes' start poses, without
    the manifest's ``approach_frames`` (all of them when every pair, or none, is one). Near the chair it
    fills the frame, so weights from approach pairs would drop the chair's weight (10 -> 3.1 at approach
    0.5) and lose it far away (docs/README.md, "Pairs near the chair")."""
    start = np.delete(pairs.labels, pairs.manifest.get("approach_frames") or [], axis=0)
    return start if len(start) else pairs.labels


def _read_pairs(c: TranslatorTrainConfig, real_manifest: dict[str, Any]) -> FrameCollection:
    if not Path(c.pairs).is_dir():
        raise FrameCollectionError(f"--pairs {c.pairs}: folder not found; {PAIRS_FIX}")
    check_pairs(read_manifest(c.pairs), c.pairs, real_manifest)
    pairs = read_collection(c.pairs)
    if (c.rcan_semantic or c.paired_class_balance) and pairs.labels is None:
        flag = "--rcan-semantic" if c.rcan_semantic else "--paired-class-balance"
        raise FrameCollectionError(f"--pairs {c.pairs}: no label maps, which {flag} needs; {PAIRS_FIX}")
    return pairs


def _check_init_from(c: TranslatorTrainConfig, size: tuple[int, int], real_look: str | None) -> dict[str, Any]:
    blob = check_init_from(c.init_from, c)
    if tuple(blob["image_size"]) != tuple(size):
        raise TranslatorFileError(f"--init-from {c.init_from}: it was trained on {blob['image_size'][0]} x "
                                  f"{blob['image_size'][1]} frames but these are {size[0]} x {size[1]}; "
                                  "init from a translator of the frames' size")
    pairs_look = blob.get("extra", {}).get("pairs_look")
    if real_look is not None and pairs_look == real_look:
        raise FrameCollectionError(f"--init-from {c.init_from}: it was trained on pairs rendered in the {real_look!r} "
                                   "look, the real collection's look (the goggles' target); "
                                   "init from a canonicalizer of randomized-look pairs")
    return blob


#: The options that decide the networks' shapes (a checkpoint only resumes with the same ones).
ARCHITECTURE_OPTIONS = ("generator", "upsample", "ngf", "n_blocks", "ndf", "d_layers", "nce_layers")


def _architecture_mismatch(run: Path, c: TranslatorTrainConfig, exc: RuntimeError) -> str:
    """One line for a checkpoint whose weights do not fit the networks these options build."""
    try:
        started = json.loads((run / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        started = {}
    names = [n for n in ARCHITECTURE_OPTIONS if hasattr(c, n)]
    differ = [n for n in names if n in started and started[n] != getattr(c, n)]

    def flags(values: dict[str, Any], keys: list[str]) -> str:
        return " ".join(f"{flag(k)} {values[k]}" for k in keys)

    if differ:
        was = flags(started, differ)
        return (f"--resume: {run / CHECKPOINT} holds networks of another size ({was}; given "
                f"{flags(vars(c), differ)}): resume with {was}, or train into another --out")
    return (f"--resume: {run / CHECKPOINT} holds networks of another size than {flags(vars(c), names)} build "
            f"({one_line(exc)[:200]}); resume with the options it was started with, or train into another --out")


def train_translator(config: TranslatorTrainConfig) -> TranslatorResult:
    """Train (or resume) a translator as ``config`` says; artifacts go into ``config.out``.

    Unpaired methods read ``real`` and ``sim`` (and ``pairs`` to keep the paired loss while
    fine-tuning); ``rcan`` reads ``pairs`` alone (``real``, if given, only for label safety).
    Every input is checked before any network is trained.

    Under ``torchrun --nproc_per_node N`` each of the N processes trains on its own device (gloo on
    the CPU, NCCL with one GPU per process) with DistributedDataParallel: ``batch_size`` is the
    global batch, drawn from one stream on every rank, of which rank ``r`` takes rows
    ``r * B / N`` to ``(r + 1) * B / N``; gradients are averaged, so the weights stay identical on
    every rank (checked at the end). Rank 0 alone writes config.json, TensorBoard (losses averaged
    over the ranks), checkpoints and the translator file; the others wait for it at the end. A
    checkpoint resumes with any number of processes (it holds the global step and rank 0's states).

    Identical whatever the number of processes: the initial weights, the sequence of global
    batches (indices and flips, also across a resume with another N) and the per-update random
    choices (shifts, PatchNCE locations, the flip-equivariance coin). An update equals a 1-process
    update of the same global batch up to float rounding (the all-reduce sums in another order) for
    the losses that are means over equally many frames per rank: adversarial, cycle, identity,
    shift, paired L1, PatchNCE, policy. Not identical: the image pools (each rank keeps its own rows'
    fakes, so once a pool is full the discriminators see other old fakes), the semantic loss (a
    cross-entropy averaged over each rank's confident, class-weighted pixels, not the batch's), the
    adapted judge (its batch norm normalises each rank's rows, its update takes the first half of
    each rank's rows, its jitter comes from per-rank streams) and, after a resume, ranks ``r > 0``'s
    jitter streams. Float rounding makes long runs drift apart, as a GAN amplifies any difference.
    """
    c = config
    with distributed.session(resolve_device(c.device), c.dist_backend) as dist:
        return _train_translator(c, dist)


def _train_translator(c: TranslatorTrainConfig, dist: distributed.Dist) -> TranslatorResult:
    rcan = c.method == "rcan"
    if rcan and not c.pairs:
        raise ValueError("--method rcan trains on a paired sim collection: give --pairs DIR "
                         "(python -m goggles_gym.collect --pairs --look randomized --out DIR)")
    if not rcan and (not c.real or not c.sim):
        raise ValueError("--real and --sim frame collections are required (python -m goggles_gym.collect makes them)")
    run = Path(c.out)
    device = dist.device  # this rank's (cuda:LOCAL_RANK under torchrun)
    if c.batch_size % dist.world_size:
        raise ValueError(f"--batch-size {c.batch_size} is the global batch (frames per domain per update over all "
                         f"{dist.world_size} processes): give a multiple of {dist.world_size}, e.g. --batch-size "
                         f"{dist.world_size * max(1, c.batch_size // dist.world_size)}")
    real = sim = pairs = None
    if rcan:
        if c.real and not Path(c.real).exists():
            raise FrameCollectionError(f"frame folder not found: {c.real}")
        real_manifest = read_manifest(c.real) if c.real else {}
    else:
        real, sim = read_collection(c.real), read_collection(c.sim)
        real_manifest = real.manifest
        check_not_target(real.manifest, sim.manifest, "--sim", c.sim)
        if c.judge_frames:
            check_not_target(real.manifest, read_manifest(c.judge_frames), "--judge-frames", c.judge_frames)
        if real.size != sim.size:
            raise FrameCollectionError(f"real frames are {real.size} but sim frames are {sim.size}; "
                                       "collect both at the policy's image size")
    if c.pairs:
        pairs = _read_pairs(c, real_manifest)
        if real is not None and pairs.size != real.size:
            raise FrameCollectionError(f"--pairs {c.pairs}: its frames are {pairs.size} but the real frames are "
                                       f"{real.size}; collect both at the policy's image size")
    size = (pairs if rcan else real).size
    if any(v % 4 for v in size):
        raise FrameCollectionError(f"frame size {size} must be a multiple of 4 (the generator's stride)")
    for name, frames in (("real", real), ("sim", sim), ("pairs", pairs)):
        if frames is not None and c.batch_size > len(frames):
            raise ValueError(f"--batch-size {c.batch_size}: larger than the {len(frames)} frames of {flag(name)} "
                             f"{getattr(c, name)}; use --batch-size {len(frames)} or less, or collect more frames")
    adopt_init_upsample(c)
    init = _check_init_from(c, size, real_manifest.get("look")) if c.init_from and not c.resume else None
    policy = load_policy_consistency(c.policy_consistency, device, size) if c.policy_consistency else None
    if c.resume and not (run / CHECKPOINT).is_file():
        raise FileNotFoundError(f"--resume: no {CHECKPOINT} in {run}; run without --resume first")
    run.mkdir(parents=True, exist_ok=True)

    seg = sim_reader = None
    if c.semantic:
        seg = _given_saved_or_trained(c.segnet, run / SEGNET, device, lambda: train_judge(
            read_collection(c.judge_frames) if c.judge_frames else sim, c, device), dist)
    if (c.semantic or rcan) and c.sim_reader:  # rcan: the sim reader learns from the pairs' sim renders
        reader_frames = FrameCollection(pairs.target, pairs.labels, pairs.manifest) if rcan else sim
        sim_reader = _given_saved_or_trained(c.sim_reader_segnet, run / SEGNET_SIM, device,
                                             lambda: train_sim_reader(reader_frames, c, device), dist)
    weights = None
    if ((c.semantic or c.rcan_semantic) and c.class_balance) or (c.paired_class_balance and rcan):
        labels = start_pose_labels(pairs) if rcan else sim.labels
        weights = median_frequency_weights(torch.from_numpy(labels), len(CLASSES))
    trainer = TranslatorTrainer(c, device, seg, weights, sim_reader, policy, dist=dist)
    resumed_from = None
    if c.resume:
        try:
            state = torch.load(run / CHECKPOINT, map_location="cpu", weights_only=False)  # load_state moves to device
        except Exception as exc:  # noqa: BLE001 - any unpickling failure means a damaged file
            raise ValueError(f"{run / CHECKPOINT} is not a readable checkpoint ({exc}); delete it to start over, "
                             "or restore it") from None
        if not isinstance(state, dict) or state.get("format") != "goggles-gym-translator-checkpoint":
            raise ValueError(f"{run / CHECKPOINT} is not a goggles-gym translator checkpoint")
        try:
            trainer.load_state(state)
        except ValueError as exc:
            raise ValueError(f"{run / CHECKPOINT}: {exc}") from None
        except RuntimeError as exc:  # load_state_dict's size mismatch: another width or depth
            raise ValueError(_architecture_mismatch(run, c, exc)) from None
        resumed_from = {"iteration": trainer.iteration, "world_size": int(state.get("world_size", 1))}
    # training wall time of the earlier processes of this run (None: a checkpoint from before it was kept)
    wall_before = state.get("train_wall_s") if c.resume else 0.0
    unpaired = "unpaired" in trainer.inputs
    real_batches = sim_batches = pair_batches = None
    shard = (dist.rank, dist.world_size)  # every rank draws the global batch and keeps its rows
    if unpaired:
        real_batches = Batches(real, c.batch_size, c.flip, trainer.data_rng, device, shard=shard)
        sim_batches = Batches(sim, c.batch_size, c.flip, trainer.data_rng, device, with_labels=c.semantic, shard=shard)
    if "pairs" in trainer.inputs:
        pair_batches = Batches(pairs, c.batch_size, c.flip, trainer.data_rng, device,
                               with_labels=bool(c.rcan_semantic or c.paired_class_balance),
                               with_target=True, shard=shard)
    meta = {"real": c.real, "sim": c.sim, "real_look": real_manifest.get("look"),
            "sim_look": None if sim is None else sim.manifest.get("look"), "variant": c.variant,
            "losses": list(trainer.families), "pairs": c.pairs,
            "pairs_look": None if pairs is None else pairs.manifest.get("look"), "init_from": c.init_from,
            "policy_look": None if policy is None else policy.look}
    if init is not None:
        meta["init_from_method"] = init.get("method")
    elif c.init_from and (run / "config.json").is_file():  # a resumed run keeps what it recorded at the start
        meta["init_from_method"] = json.loads((run / "config.json").read_text(encoding="utf-8")).get("init_from_method")
    meta["device"] = str(device)  # the device actually used (``--device auto`` says which; rank 0's)
    meta.update(world_size=dist.world_size, global_batch=c.batch_size, per_rank_batch=c.batch_size // dist.world_size,
                lr=c.lr, dist_backend=dist.backend)
    if resumed_from is not None:
        meta["resumed_from"] = resumed_from
    main = dist.is_main  # rank 0 alone writes files, logs and the progress bar
    if main:
        atomic_write_text(run / "config.json", json.dumps({**c.to_dict(), **meta}, indent=2))
    writer = SummaryWriter(str(run / "tb")) if main else None

    def save(final: bool = False) -> Path:
        wall = None if wall_before is None else wall_before + time.perf_counter() - start  # across resumes
        atomic_write(run / CHECKPOINT, lambda tmp: torch.save({**trainer.state(), "train_wall_s": wall}, tmp))
        if trainer.opt_seg is not None:
            save_segnet(run / SEGNET_ADAPTED, trainer.seg)
        return save_translator(run / TRANSLATOR, trainer.goggles(), method=c.variant, image_size=size,
                               config={**c.to_dict(), "device": str(device)},
                               extra={**meta, "iterations": trainer.iteration, "final": final,
                                      "train_wall_s": wall}, sim2real=trainer.F)

    start = time.perf_counter()
    bar = tqdm(total=c.iterations, initial=trainer.iteration, desc=f"training {c.variant}",
               disable=not (c.progress_bar and main))
    try:  # the writer and the bar are closed on every path, a failed update included
        for net in (*trainer.generators, *trainer.discriminators):
            net.train()
        losses: dict[str, float] = {}
        while trainer.iteration < c.iterations:
            x_real = x_sim = y_sim = pair = None
            if unpaired:
                x_real, _ = real_batches.next()
                x_sim, y_sim = sim_batches.next()
            if pair_batches is not None:
                pair = pair_batches.next_paired()
            losses = trainer.step(x_real, x_sim, y_sim, pair)
            it = trainer.iteration
            bar.update()
            if it % c.log_every == 0 or it == c.iterations:
                losses = distributed.mean_over_ranks(losses, dist)  # every rank, the same iterations
                if writer is not None:
                    for k, v in losses.items():
                        writer.add_scalar(f"loss/{k}", v, it)
                    writer.add_scalar("lr", trainer.sched[0].get_last_lr()[0], it)
                d_total = sum(v for k, v in losses.items() if k.startswith("D_"))
                bar.set_postfix(G=f"{losses['G_total']:.2f}", D=f"{d_total:.2f}")
            if writer is not None and (it % c.image_every == 0 or it == c.iterations):
                G, F_ = distributed.unwrap(trainer.G), trainer.F and distributed.unwrap(trainer.F)  # rank 0 alone
                with torch.no_grad():
                    if unpaired and F_ is None:  # one-sided: real | G(real), sim | G(sim)
                        writer.add_image("real_to_sim", _grid(x_real, G(x_real)), it)
                        writer.add_image("sim_to_sim", _grid(x_sim, G(x_sim)), it)
                    elif unpaired:
                        fake = G(x_real)
                        writer.add_image("real_to_sim", _grid(x_real, fake, F_(fake)), it)
                        fake_r = F_(x_sim)
                        writer.add_image("sim_to_real", _grid(x_sim, fake_r, G(fake_r)), it)
                    if pair is not None:  # input | G(input) | sim render
                        writer.add_image("pairs", _grid(pair[0], G(pair[0]), pair[2]), it)
            if main and it % c.checkpoint_every == 0 and it < c.iterations:
                save()
        frozen_or_adapted = {"judge": trainer.seg, "sim_reader": trainer.sim_reader}
        distributed.check_identical({**{n: getattr(trainer, n) for n in trainer.nets},
                                     **{k: v for k, v in frozen_or_adapted.items() if v is not None}}, dist)
        path = save(final=True) if main else run / TRANSLATOR
        distributed.barrier(dist)  # no rank returns before rank 0 has written the translator file
    finally:
        bar.close()
        if writer is not None:
            writer.close()
    return TranslatorResult(run, path, trainer.iteration, time.perf_counter() - start, losses, dist.rank,
                            dist.world_size)
