"""Per-update cost of the unpaired translator methods, side by side in one run.

    python benchmarks/translator_cost.py [--size 64] [--batch 8] [--updates 12] [--warmup 2] [--no-memory]
                                         [--method cyclegan --method fastcut ...] [--breakdown]
                                         [--variant 'fastcut:nce_patches=128' ...]

Each method's :class:`~goggles_gym.translators.training.TranslatorTrainer` is built with the default
options (ngf 12, 3 residual blocks, a 2-layer PatchGAN; vr-goggles with its semantic and shift
losses, an untrained judge of the default width that keeps adapting, as in training; cut and
fastcut with 5 PatchNCE layers of 256 patches); the frames are ChairNav renders in the real and sim
looks (the cost does not depend on what they show, the labels are random). After ``--warmup``
updates each, ``--updates`` rounds time one update of every method in turn (interleaved, so a
background load slows all of them alike); the table gives the median seconds per update, its ratio
to CycleGAN's and, unless ``--no-memory``, the peak resident memory that building each method's
trainer and three updates add to a fresh process (one child process per method; coarse: the
allocator keeps what it freed). ``--variant`` adds rows of a method with other options, e.g. fewer
PatchNCE patches; ``--breakdown`` times the parts of a cut / fastcut generator update (G's passes,
the PatchNCE terms, the adversarial term, G's backward).

Target (issue 18): FastCUT at most 0.6 x CycleGAN's per-update cost at 64 x 64, batch 8, on this CPU.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import statistics
import time

import numpy as np
import torch

from goggles_gym.common.cli import parse_overrides
from goggles_gym.common.tensors import to_tensor
from goggles_gym.envs import ChairNav
from goggles_gym.envs.scene import CLASSES
from goggles_gym.translators import TranslatorTrainConfig
from goggles_gym.translators.losses import lsgan_loss
from goggles_gym.translators.networks import SegNet
from goggles_gym.translators.training import TranslatorTrainer

METHODS = ("cyclegan", "vr-goggles", "cut", "fastcut")


def frames(look: str, size: int, n: int, seed: int) -> np.ndarray:
    """``n`` first frames of seeded ChairNav episodes in ``look`` (uint8 N x H x W x 3)."""
    env = ChairNav(look=look, image_size=size)
    try:
        return np.stack([env.reset(seed=seed + k)[0] for k in range(n)])
    finally:
        env.close()


def batches(size: int, batch: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One real batch, one sim batch and random sim labels (the same every update: cost only)."""
    real = to_tensor(frames("real", size, batch, 1000))
    sim = to_tensor(frames("sim", size, batch, 2000))
    labels = torch.from_numpy(np.random.default_rng(0).integers(0, len(CLASSES), (batch, size, size))).long()
    return real, sim, labels


def trainer(method: str, batch: int, overrides: dict | None = None) -> TranslatorTrainer:
    """A trainer with ``method``'s default options and ``overrides`` (vr-goggles: an untrained judge,
    as at the start of training)."""
    config = TranslatorTrainConfig(method=method, batch_size=batch, iterations=10_000, progress_bar=False,
                                   **(overrides or {}))
    seg = SegNet(n_classes=len(CLASSES)) if config.semantic else None
    weights = torch.ones(len(CLASSES)) if config.semantic else None
    return TranslatorTrainer(config, torch.device("cpu"), seg, weights)


def _memory_mib(field: str) -> float:
    """``VmRSS`` (resident now) or ``VmHWM`` (its peak) of this process, from /proc/self/status (Linux),
    MiB. Not ``ru_maxrss``: a spawned child inherits its parent's across exec."""
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024  # kB
    raise OSError(f"no {field} in /proc/self/status")


def _peak_mib(method: str, size: int, batch: int, overrides: dict, queue: mp.Queue) -> None:
    torch.set_num_threads(queue.get())
    gen = torch.Generator().manual_seed(0)  # random frames: no renderer in this process, no peak of its own
    real, sim = (torch.rand(batch, 3, size, size, generator=gen) * 2 - 1 for _ in range(2))
    labels = torch.randint(0, len(CLASSES), (batch, size, size), generator=gen)
    trainer(method, 1, overrides).step(real[:1, :, :16, :16], sim[:1, :, :16, :16], labels[:1, :16, :16])
    before = _memory_mib("VmRSS")  # after a tiny update: the libraries torch loads at its first convolution are in
    t = trainer(method, batch, overrides)
    for _ in range(3):
        t.step(real, sim, labels)
    queue.put(_memory_mib("VmHWM") - before)


def peak_memory_mib(method: str, size: int, batch: int, overrides: dict) -> float:
    """Peak resident memory (MiB) that building ``method``'s trainer and 3 updates add to a fresh
    process (its peak minus its resident memory just before; nan where /proc is missing)."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    queue.put(torch.get_num_threads())
    proc = ctx.Process(target=_peak_mib, args=(method, size, batch, overrides, queue))
    proc.start()
    proc.join()
    return queue.get(timeout=10) if proc.exitcode == 0 else float("nan")


def breakdown(t: TranslatorTrainer, real: torch.Tensor, sim: torch.Tensor, rounds: int) -> dict[str, float]:
    """Median seconds of the parts of a cut / fastcut generator update: G's forward passes, each
    PatchNCE term and the adversarial term on G's outputs (forward and backward, to G's outputs), and
    G's backward from its outputs."""
    parts: dict[str, list[float]] = {}

    def clock(name: str, start: float) -> None:
        parts.setdefault(name, []).append(time.perf_counter() - start)

    for _ in range(rounds):
        t.opt_G.zero_grad(set_to_none=True)
        start = time.perf_counter()
        outs = {"NCE": (real, t.G(real))}
        if t.config.nce_identity:
            outs["NCE_identity"] = (sim, t.G(sim))
        clock("G forward", start)
        cut = {k: out.detach().requires_grad_(True) for k, (_, out) in outs.items()}  # the graph stops here
        for name, (source, _) in outs.items():
            start = time.perf_counter()
            t.patch_nce(source, cut[name]).backward()
            clock(name, start)
        start = time.perf_counter()
        lsgan_loss(t.D_sim(cut["NCE"]), True).backward()
        clock("G_adv", start)
        start = time.perf_counter()
        torch.autograd.backward([out for _, out in outs.values()], [cut[k].grad for k in outs])
        clock("G backward", start)
    return {k: statistics.median(v) for k, v in parts.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=64, help="frame side (pixels)")
    ap.add_argument("--batch", type=int, default=8, help="frames per domain per update")
    ap.add_argument("--updates", type=int, default=12, help="timed updates of each method")
    ap.add_argument("--warmup", type=int, default=2, help="untimed updates of each method first")
    ap.add_argument("--method", action="append", choices=METHODS, help="methods to time (default: all four)")
    ap.add_argument("--variant", action="append", default=[], metavar="METHOD:KEY=VALUE[;KEY=VALUE]",
                    help="one more row: a method with other options, e.g. 'fastcut:nce_patches=128'")
    ap.add_argument("--no-memory", action="store_true", help="skip the per-method peak memory (child processes)")
    ap.add_argument("--breakdown", action="store_true", help="also time the parts of a cut / fastcut update")
    args = ap.parse_args()
    rows = {m: (m, {}) for m in dict.fromkeys(["cyclegan", *(args.method or METHODS)])}  # CycleGAN: the yardstick
    for spec in args.variant:
        method, _, options = spec.partition(":")
        if method not in METHODS:
            ap.error(f"--variant {spec!r}: start with one of {', '.join(METHODS)} and a colon")
        rows[spec] = (method, parse_overrides([o for o in options.split(";") if o], "--variant"))
    methods = list(rows)

    real, sim, labels = batches(args.size, args.batch)
    trainers = {}
    for m in methods:
        torch.manual_seed(0)
        trainers[m] = trainer(*rows[m][:1], args.batch, rows[m][1])
    for m in methods:
        for _ in range(args.warmup):
            trainers[m].step(real, sim, labels)
    times: dict[str, list[float]] = {m: [] for m in methods}
    for _ in range(args.updates):
        for m in methods:  # interleaved: a background load slows every method alike
            start = time.perf_counter()
            trainers[m].step(real, sim, labels)
            times[m].append(time.perf_counter() - start)
    memory = {} if args.no_memory else {m: peak_memory_mib(*rows[m][:1], args.size, args.batch, rows[m][1])
                                        for m in methods}

    print(f"per-update cost, {args.size} x {args.size}, batch {args.batch}, CPU, {torch.get_num_threads()} torch "
          f"thread(s); median of {args.updates} interleaved updates after {args.warmup} warm-up")
    base = statistics.median(times["cyclegan"])
    width = max(12, *(len(m) + 2 for m in methods))
    header = f"{'method':<{width}}{'s/update':>10}{'(min-max)':>16}{'x CycleGAN':>12}"
    print(header + (f"{'+peak MiB':>11}" if memory else ""))
    for m in methods:
        med = statistics.median(times[m])
        row = f"{m:<{width}}{med:>10.3f}{f'({min(times[m]):.3f}-{max(times[m]):.3f})':>16}{med / base:>12.2f}"
        print(row + (f"{memory[m]:>11.0f}" if memory else ""))
    if "fastcut" in times:
        ratio = statistics.median(times["fastcut"]) / base
        print(f"FastCUT / CycleGAN = {ratio:.2f} (target <= 0.6): {'met' if ratio <= 0.6 else 'NOT met'}")
    if args.breakdown:
        for m in (m for m in methods if rows[m][0] in ("cut", "fastcut")):
            parts = breakdown(trainers[m], real, sim, max(3, args.updates // 2))
            print(f"{m} generator-update parts (s, forward + backward): "
                  + ", ".join(f"{k} {v:.3f}" for k, v in parts.items()))


if __name__ == "__main__":
    main()
