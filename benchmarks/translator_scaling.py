"""Translator training on 1 and 2 processes (torchrun, DistributedDataParallel): updates/s and frames/s.

    python benchmarks/translator_scaling.py [--method cyclegan --method vr-goggles] [--size 64] [--batch 8]
                                            [--updates 10] [--warmup 2] [--repeats 1] [--procs 1 --procs 2]
                                            [--threads 2] [--device cpu|cuda]

On the CPU every configuration gets the same ``--threads`` cores in all (default: all of them):
1 process with ``threads`` intra-op threads against ``N`` processes (gloo) of ``threads / N``
threads each, so the comparison is of the two ways to spend the same cores; a 1-process,
1-thread row is the per-core reference. With ``--device cuda`` each process trains on its own GPU
(NCCL), up to the GPUs present. The global batch (``--batch`` frames per domain per update) is the
same at every world size, as ``--batch-size`` is in training: N processes take ``batch / N`` each.

Each configuration is a fresh launch (``python`` for 1 process, ``python -m torch.distributed.run``
for more) of this script's ``--worker``, which builds the method's
:class:`~goggles_gym.translators.training.TranslatorTrainer` with the default options (vr-goggles:
semantic and shift losses, an untrained judge that keeps adapting) on synthetic frames, draws its
rows of each global batch through :class:`~goggles_gym.translators.data.Batches` as training does,
runs ``--warmup`` updates, then times ``--updates`` updates between two barriers. ``frames/s`` is
updates/s x the global batch (frames per domain). Launch and import time are not counted.
``--repeats`` launches every row that many times, the rows interleaved, and shows the median.

On a shared machine the absolute numbers move with the background load; compare rows of one run.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

METHODS = ("cyclegan", "vr-goggles", "rcan", "cut", "fastcut")


def worker(args: argparse.Namespace) -> None:
    """One rank of a timed run; rank 0 prints one JSON line."""
    import numpy as np
    import torch

    from goggles_gym.common import distributed
    from goggles_gym.envs.scene import CLASSES
    from goggles_gym.frames import FrameCollection
    from goggles_gym.translators import TranslatorTrainConfig
    from goggles_gym.translators.data import Batches
    from goggles_gym.translators.networks import SegNet
    from goggles_gym.translators.training import TranslatorTrainer

    with distributed.session(args.device) as dist:
        rng = np.random.default_rng(0)
        n, s = 64, args.size

        def collection(paired: bool = False) -> FrameCollection:
            rgb = rng.integers(0, 256, (n, s, s, 3), dtype=np.uint8)
            labels = rng.integers(0, len(CLASSES), (n, s, s), dtype=np.uint8)
            target = rng.integers(0, 256, (n, s, s, 3), dtype=np.uint8) if paired else None
            return FrameCollection(rgb, labels, {}, target=target)

        method = (args.method or ["cyclegan"])[-1]  # a worker runs one
        rcan = method == "rcan"
        c = TranslatorTrainConfig(method=method, batch_size=args.batch, iterations=10_000, progress_bar=False,
                                  pairs="synthetic" if rcan else "")
        seg = SegNet(n_classes=len(CLASSES)) if c.semantic else None
        trainer = TranslatorTrainer(c, dist.device, seg, dist=dist)
        shard = (dist.rank, dist.world_size)
        if rcan:
            pairs = Batches(collection(True), c.batch_size, c.flip, trainer.data_rng, dist.device,
                            with_target=True, shard=shard)
        else:
            real = Batches(collection(), c.batch_size, c.flip, trainer.data_rng, dist.device, shard=shard)
            sim = Batches(collection(), c.batch_size, c.flip, trainer.data_rng, dist.device, with_labels=c.semantic,
                          shard=shard)

        def update() -> None:
            if rcan:
                trainer.step(pairs=pairs.next_paired())
            else:
                x_real, _ = real.next()
                x_sim, y_sim = sim.next()
                trainer.step(x_real, x_sim, y_sim)

        for _ in range(args.warmup):
            update()
        distributed.barrier(dist)
        if dist.device.type == "cuda":
            torch.cuda.synchronize(dist.device)
        start = time.perf_counter()
        for _ in range(args.updates):
            update()
        if dist.device.type == "cuda":
            torch.cuda.synchronize(dist.device)
        distributed.barrier(dist)
        seconds = time.perf_counter() - start
        if dist.is_main:
            print(json.dumps({"seconds": seconds, "updates": args.updates, "world_size": dist.world_size,
                              "threads": torch.get_num_threads(), "device": str(dist.device)}), flush=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def launch(method: str, procs: int, threads: int, args: argparse.Namespace) -> dict:
    """Run one configuration in fresh processes; its worker's result."""
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_PORT")}
    env["OMP_NUM_THREADS"] = str(threads)
    script = str(Path(__file__).resolve())
    worker_args = ["--worker", "--method", method, "--size", str(args.size), "--batch", str(args.batch),
                   "--updates", str(args.updates), "--warmup", str(args.warmup), "--device", args.device]
    if procs == 1:
        cmd = [sys.executable, script, *worker_args]
    else:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc_per_node", str(procs),
               "--master_addr", "127.0.0.1", "--master_port", str(_free_port()), script, *worker_args]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise SystemExit(f"{method} on {procs} process(es) failed:\n{done.stderr[-3000:]}")
    return json.loads([line for line in done.stdout.splitlines() if line.startswith("{")][-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--method", action="append", choices=METHODS, help="repeatable [default: cyclegan]")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--batch", type=int, default=8, help="global batch: frames per domain per update")
    parser.add_argument("--updates", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=1, help="launches per row (the median is shown, then each)")
    parser.add_argument("--procs", type=int, action="append", help="repeatable [default: 1 and 2]")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="CPU threads in all, per row")
    parser.add_argument("--device", default="cpu", help="cpu, or cuda: one GPU per process (NCCL)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    methods, procs = args.method or ["cyclegan"], sorted(set(args.procs or [1, 2]))
    if args.device.startswith("cuda"):
        import torch

        gpus = torch.cuda.device_count()
        if gpus == 0:
            raise SystemExit("--device cuda: no CUDA device here; use --device cpu")
        rows = [(p, 1) for p in procs if p <= gpus]
    else:
        rows = [(1, 1)] + [(p, max(1, args.threads // p)) for p in procs if (p, max(1, args.threads // p)) != (1, 1)]
    print(f"translator training, {args.size} x {args.size}, global batch {args.batch} per domain, "
          f"{args.updates} timed updates after {args.warmup}, device {args.device}, {os.cpu_count()} CPU cores")
    print(f"{'method':12s} {'procs':>5s} {'threads':>7s} {'updates/s':>10s} {'frames/s':>9s} {'x 1 proc':>9s}"
          + ("  each launch's updates/s" if args.repeats > 1 else ""))
    for method in methods:
        runs: dict[tuple[int, int], list[float]] = {row: [] for row in rows}
        for _ in range(args.repeats):  # rows interleaved, so a change in the background load hits all of them
            for p, t in rows:
                r = launch(method, p, t, args)
                runs[p, t].append(r["updates"] / r["seconds"])
        speed = {row: statistics.median(v) for row, v in runs.items()}
        base = next((v for (p, t), v in sorted(speed.items(), key=lambda kv: -kv[0][1]) if p == 1), None)
        for (p, t), ups in speed.items():  # x 1 proc: against 1 process with the most threads
            ratio = f"{ups / base:9.2f}" if base else ""
            each = " ".join(f"{v:.3f}" for v in runs[p, t]) if args.repeats > 1 else ""
            print(f"{method:12s} {p:5d} {t:7d} {ups:10.3f} {ups * args.batch:9.1f} {ratio:>9s}  {each}", flush=True)


if __name__ == "__main__":
    main()
