"""One training loop for every translator: CycleGAN, and VR-Goggles' extra losses switched on.

Losses per generator update (each named in TensorBoard under ``loss/``):
``G_adv`` (LSGAN, both directions), ``cycle`` (L1, both round trips), ``identity``,
``semantic`` (CyCADA consistency through a frozen sim-trained segmentation net) and ``shift``
(translation commutes with sub-stride shifts), and ``D_sim`` / ``D_real`` for the discriminators.
``G`` maps real->sim (the goggles), ``F`` maps sim->real. Training is unpaired: real and sim
batches are drawn independently from two collections of different episodes.
"""

from __future__ import annotations

import itertools
import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.tensorboard import SummaryWriter
from tqdm.auto import tqdm

from goggles_gym.common.device import resolve_device
from goggles_gym.common.files import atomic_write, atomic_write_text
from goggles_gym.envs.scene import CLASSES
from goggles_gym.frames.collection import MANIFEST, FrameCollectionError, read_collection
from goggles_gym.translators.config import TranslatorTrainConfig
from goggles_gym.translators.data import Batches
from goggles_gym.translators.io import save_translator
from goggles_gym.translators.losses import (
    cycle_loss,
    identity_loss,
    lsgan_loss,
    median_frequency_weights,
    sample_shift,
    semantic_loss_real_to_sim,
    semantic_loss_sim_to_real,
    shift_loss,
)
from goggles_gym.translators.networks import PatchDiscriminator, ResnetGenerator, SegNet, init_weights
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


class ImagePool:
    """CycleGAN's history of generated images: half the time the discriminator sees an older fake."""

    def __init__(self, size: int, rng: random.Random) -> None:
        self.size = size
        self.images: list[torch.Tensor] = []
        self.rng = rng

    def query(self, images: torch.Tensor) -> torch.Tensor:
        """Return a batch mixing ``images`` with stored older ones (and store the new ones)."""
        if self.size == 0:
            return images
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
    """What :func:`train_translator` produced."""

    run_dir: Path
    translator_path: Path
    iterations: int
    wall_time_s: float


class TranslatorTrainer:
    """Holds the four networks, optimisers, schedulers and pools; one :meth:`step` = one update."""

    def __init__(self, config: TranslatorTrainConfig, device: torch.device, seg: SegNet | None,
                 class_weights: torch.Tensor | None = None, sim_reader: SegNet | None = None) -> None:
        c = self.config = config
        self.class_weights = None if class_weights is None else class_weights.to(device)
        torch.manual_seed(c.seed)
        self.device = device
        self.G = init_weights(ResnetGenerator(ngf=c.ngf, n_blocks=c.n_blocks)).to(device)  # real -> sim
        self.F = init_weights(ResnetGenerator(ngf=c.ngf, n_blocks=c.n_blocks)).to(device)  # sim -> real
        self.D_sim = init_weights(PatchDiscriminator(ndf=c.ndf, n_layers=c.d_layers)).to(device)
        self.D_real = init_weights(PatchDiscriminator(ndf=c.ndf, n_layers=c.d_layers)).to(device)
        self.seg = None if seg is None else seg.to(device)
        self.sim_reader = None if sim_reader is None else sim_reader.to(device).eval().requires_grad_(False)
        self.opt_seg = None
        if seg is not None:
            seg.eval().requires_grad_(False)
            if c.adapt_segnet:
                self.opt_seg = torch.optim.Adam(seg.parameters(), lr=1e-4)
        betas = (c.beta1, 0.999)
        self.opt_G = torch.optim.Adam(itertools.chain(self.G.parameters(), self.F.parameters()), lr=c.lr, betas=betas)
        self.opt_D = torch.optim.Adam(itertools.chain(self.D_sim.parameters(), self.D_real.parameters()), lr=c.lr,
                                      betas=betas)
        start = int(c.iterations * c.decay_start)

        def rule(it: int) -> float:
            return 1.0 - max(0, it - start) / max(c.iterations - start, 1)

        self.sched = [torch.optim.lr_scheduler.LambdaLR(o, rule) for o in (self.opt_G, self.opt_D)]
        self.py_rng = random.Random(c.seed)
        self.pool_sim, self.pool_real = ImagePool(c.pool_size, self.py_rng), ImagePool(c.pool_size, self.py_rng)
        self.shift_rng = torch.Generator().manual_seed(c.seed)
        self.jitter_rng = torch.Generator().manual_seed(c.seed + 1)
        self.iteration = 0

    def step(self, real: torch.Tensor, sim: torch.Tensor, sim_labels: torch.Tensor | None) -> dict[str, float]:
        """One generator and one discriminator update; returns every loss by name."""
        c = self.config
        fake_sim = self.G(real)
        rec_real = self.F(fake_sim)
        fake_real = self.F(sim)
        rec_sim = self.G(fake_real)
        for d in (self.D_sim, self.D_real):
            d.requires_grad_(False)
        losses: dict[str, torch.Tensor] = {
            "G_adv": lsgan_loss(self.D_sim(fake_sim), True) + lsgan_loss(self.D_real(fake_real), True),
            "cycle": c.lambda_cycle * (cycle_loss(rec_real, real) + cycle_loss(rec_sim, sim)),
        }
        if c.lambda_identity > 0:
            losses["identity"] = c.lambda_cycle * c.lambda_identity * (
                identity_loss(self.G(sim), sim) + identity_loss(self.F(real), real))
        if c.semantic:
            w = self.class_weights
            reader = self.seg if self.sim_reader is None else self.sim_reader  # reads G(real), G(F(sim))
            sem = (semantic_loss_sim_to_real(self.seg, fake_real, sim_labels, w)
                   + semantic_loss_real_to_sim(self.seg, real, fake_sim, c.pseudo_label_confidence, w, reader))
            if c.semantic_cycle:
                sem = sem + semantic_loss_sim_to_real(reader, rec_sim, sim_labels, w)
            losses["semantic"] = c.lambda_semantic * sem
        if c.shift:
            losses["shift"] = self.shift_weight() * (
                shift_loss(self.G, real, sample_shift(self.G.stride, self.shift_rng), translated=fake_sim)
                + shift_loss(self.F, sim, sample_shift(self.F.stride, self.shift_rng), translated=fake_real))
        loss_G = sum(losses.values())
        self.opt_G.zero_grad(set_to_none=True)
        loss_G.backward()
        self.opt_G.step()

        for d in (self.D_sim, self.D_real):
            d.requires_grad_(True)
        old_sim, old_real = self.pool_sim.query(fake_sim), self.pool_real.query(fake_real)
        d_sim = 0.5 * (lsgan_loss(self.D_sim(sim), True) + lsgan_loss(self.D_sim(old_sim), False))
        d_real = 0.5 * (lsgan_loss(self.D_real(real), True) + lsgan_loss(self.D_real(old_real), False))
        self.opt_D.zero_grad(set_to_none=True)
        (d_sim + d_real).backward()
        self.opt_D.step()
        for s in self.sched:
            s.step()
        self.iteration += 1
        out = {k: v.item() for k, v in losses.items()}
        out.update(G_total=loss_G.item(), D_sim=d_sim.item(), D_real=d_real.item())
        if self.opt_seg is not None and sim_labels is not None:
            out["seg"] = self._adapt_segnet(sim, fake_real.detach(), sim_labels)
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
        loss = F.cross_entropy(self.seg(x), torch.cat([labels[:k], labels[:k]]), weight=self.class_weights)
        self.opt_seg.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_seg.step()
        self.seg.eval().requires_grad_(False)
        return loss.item()

    def state(self) -> dict[str, Any]:
        """Everything needed to resume (networks, optimisers, schedulers, RNG states)."""
        return {
            "format": "goggles-gym-translator-checkpoint", "iteration": self.iteration,
            "nets": {n: getattr(self, n).state_dict() for n in ("G", "F", "D_sim", "D_real")},
            "opt_G": self.opt_G.state_dict(), "opt_D": self.opt_D.state_dict(),
            "sched": [s.state_dict() for s in self.sched], "py_rng": self.py_rng.getstate(),
            "shift_rng": self.shift_rng.get_state(), "jitter_rng": self.jitter_rng.get_state(),
            "torch_rng": torch.get_rng_state(),
            "seg": None if self.opt_seg is None else self.seg.state_dict(),
            "opt_seg": None if self.opt_seg is None else self.opt_seg.state_dict(),
        }

    def load_state(self, state: dict[str, Any]) -> None:
        """Inverse of :meth:`state`."""
        for n, sd in state["nets"].items():
            getattr(self, n).load_state_dict(sd)
        self.opt_G.load_state_dict(state["opt_G"])
        self.opt_D.load_state_dict(state["opt_D"])
        for s, sd in zip(self.sched, state["sched"], strict=True):
            s.load_state_dict(sd)
        self.py_rng.setstate(state["py_rng"])
        self.shift_rng.set_state(state["shift_rng"].cpu())  # RNG states are CPU tensors, whatever the device
        if "jitter_rng" in state:
            self.jitter_rng.set_state(state["jitter_rng"].cpu())
        torch.set_rng_state(state["torch_rng"].cpu())
        self.iteration = int(state["iteration"])
        if self.opt_seg is not None and state.get("seg") is not None:
            self.seg.load_state_dict(state["seg"])
            self.opt_seg.load_state_dict(state["opt_seg"])


def _grid(real: torch.Tensor, trans: torch.Tensor, cyc: torch.Tensor, n: int = 4) -> torch.Tensor:
    rows = [torch.cat([real[k], trans[k], cyc[k]], dim=2) for k in range(min(n, len(real)))]
    return (torch.cat(rows, dim=1) + 1.0) / 2.0


def _given_saved_or_trained(given: str | None, saved: Path, device: torch.device,
                            train: Callable[[], SegNet]) -> SegNet:
    """A segmentation net from the file the user gave, else the run folder's copy (a resumed
    run), else trained now and saved there."""
    if given:
        return load_segnet(given, device)
    if saved.is_file():
        return load_segnet(saved, device)
    net = train()
    save_segnet(saved, net)
    return net


def _manifest(path: str | Path) -> dict[str, Any]:
    """A collection's manifest without reading its frames ({} for a plain image folder)."""
    file = Path(path) / MANIFEST
    if not file.is_file():
        return {}
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise FrameCollectionError(f"{file} is not valid JSON ({exc}); the collection is damaged") from None


def check_not_target(real_manifest: dict[str, Any], manifest: dict[str, Any], flag: str, path: str | Path) -> None:
    """Label safety: the collection given as ``flag`` (``--sim`` or ``--judge-frames``) must not be
    real-domain frames, nor rendered in the real collection's look (the look the goggles must learn
    to read), or the translator would train on the target's labels or pixels as if they were sim.

    >>> check_not_target({"look": "real"}, {"look": "sim", "domain": "sim"}, "--sim", "frames/sim")
    >>> check_not_target({"look": "real"}, {"look": "real", "domain": "sim"}, "--sim", "frames/x")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    goggles_gym.frames.collection.FrameCollectionError: --sim frames/x: its frames were rendered in the 'real' ...
    """
    fix = ("collect the sim / judge frames in the sim or randomized looks "
           "(python -m goggles_gym.collect --look sim, or --look randomized --domain sim)")
    target = real_manifest.get("look")
    if target is not None and manifest.get("look") == target:
        raise FrameCollectionError(f"{flag} {path}: its frames were rendered in the {target!r} look, the real "
                                   f"collection's look (the goggles' target); {fix}")
    if manifest.get("domain") == "real":
        raise FrameCollectionError(f"{flag} {path}: its manifest says domain 'real' (real frames, whose labels are "
                                   f"for measuring only); {fix}")


def train_translator(config: TranslatorTrainConfig) -> TranslatorResult:
    """Train (or resume) a translator as ``config`` says; artifacts go into ``config.out``."""
    c = config
    run = Path(c.out)
    run.mkdir(parents=True, exist_ok=True)
    device = resolve_device(c.device)
    real, sim = read_collection(c.real), read_collection(c.sim)
    check_not_target(real.manifest, sim.manifest, "--sim", c.sim)
    if c.judge_frames:
        check_not_target(real.manifest, _manifest(c.judge_frames), "--judge-frames", c.judge_frames)
    if real.size != sim.size:
        raise FrameCollectionError(f"real frames are {real.size} but sim frames are {sim.size}; "
                                   "collect both at the policy's image size")
    if any(v % 4 for v in real.size):
        raise FrameCollectionError(f"frame size {real.size} must be a multiple of 4 (the generator's stride)")
    seg = sim_reader = None
    if c.semantic:
        seg = _given_saved_or_trained(c.segnet, run / SEGNET, device, lambda: train_judge(
            read_collection(c.judge_frames) if c.judge_frames else sim, c, device))
    if c.semantic and c.sim_reader:
        sim_reader = _given_saved_or_trained(c.sim_reader_segnet, run / SEGNET_SIM, device,
                                             lambda: train_sim_reader(sim, c, device))
    weights = None
    if c.semantic and c.class_balance:
        weights = median_frequency_weights(torch.from_numpy(sim.labels), len(CLASSES))
    trainer = TranslatorTrainer(c, device, seg, weights, sim_reader)
    if c.resume:
        if not (run / CHECKPOINT).is_file():
            raise FileNotFoundError(f"--resume: no {CHECKPOINT} in {run}; run without --resume first")
        try:
            state = torch.load(run / CHECKPOINT, map_location="cpu", weights_only=False)  # load_state moves to device
        except Exception as exc:  # noqa: BLE001 - any unpickling failure means a damaged file
            raise ValueError(f"{run / CHECKPOINT} is not a readable checkpoint ({exc}); delete it to start over, "
                             "or restore it") from None
        if not isinstance(state, dict) or state.get("format") != "goggles-gym-translator-checkpoint":
            raise ValueError(f"{run / CHECKPOINT} is not a goggles-gym translator checkpoint")
        trainer.load_state(state)
    data_rng = np.random.default_rng([c.seed, trainer.iteration])
    real_batches = Batches(real, c.batch_size, c.flip, data_rng, device)
    sim_batches = Batches(sim, c.batch_size, c.flip, data_rng, device, with_labels=c.semantic)
    meta = {"real": c.real, "sim": c.sim, "real_look": real.manifest.get("look"),
            "sim_look": sim.manifest.get("look"), "variant": c.variant}
    atomic_write_text(run / "config.json", json.dumps({**c.to_dict(), **meta}, indent=2))
    writer = SummaryWriter(str(run / "tb"))

    def save(final: bool = False) -> Path:
        atomic_write(run / CHECKPOINT, lambda tmp: torch.save(trainer.state(), tmp))
        if trainer.opt_seg is not None:
            save_segnet(run / SEGNET_ADAPTED, trainer.seg)
        return save_translator(run / TRANSLATOR, trainer.G, method=c.variant, image_size=real.size,
                               config=c.to_dict(), extra={**meta, "iterations": trainer.iteration, "final": final})

    start = time.perf_counter()
    bar = tqdm(total=c.iterations, initial=trainer.iteration, desc=f"training {c.variant}", disable=not c.progress_bar)
    for G in (trainer.G, trainer.F, trainer.D_sim, trainer.D_real):
        G.train()
    while trainer.iteration < c.iterations:
        x_real, _ = real_batches.next()
        x_sim, y_sim = sim_batches.next()
        losses = trainer.step(x_real, x_sim, y_sim)
        it = trainer.iteration
        bar.update()
        if it % c.log_every == 0 or it == c.iterations:
            for k, v in losses.items():
                writer.add_scalar(f"loss/{k}", v, it)
            writer.add_scalar("lr", trainer.sched[0].get_last_lr()[0], it)
            bar.set_postfix(G=f"{losses['G_total']:.2f}", D=f"{losses['D_sim'] + losses['D_real']:.2f}")
        if it % c.image_every == 0 or it == c.iterations:
            with torch.no_grad():
                fake = trainer.G(x_real)
                writer.add_image("real_to_sim", _grid(x_real, fake, trainer.F(fake)), it)
                fake_r = trainer.F(x_sim)
                writer.add_image("sim_to_real", _grid(x_sim, fake_r, trainer.G(fake_r)), it)
        if it % c.checkpoint_every == 0 and it < c.iterations:
            save()
    bar.close()
    path = save(final=True)
    writer.close()
    return TranslatorResult(run, path, trainer.iteration, time.perf_counter() - start)
