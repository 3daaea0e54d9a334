"""Train CycleGAN and VR-Goggles on built-in sim and real looks and measure them on held-out frames.

    python benchmarks/translator_quality.py --out runs/bench_translators [--frames 3000] [--heldout 400]

Stages (each skipped when its artifact exists in --out): unpaired sim and real collections from
different seeds, and a labelled collection of the simulator in randomized looks that VR-Goggles'
judge learns from (as the pipeline's); an *evaluation* segmentation net trained on a separate sim
collection with its own seed (not the net VR-Goggles trained against, so the mIoU is not measured by
the loss's own judge);
both translators with the default preset. Held-out real frames come with their true labels and the
true ``sim`` render of the same seed and pose (the env gives pairs; they are used for measuring only).

Targets (issue 3): mIoU VR-Goggles > CycleGAN > raw; paired L1 VR-Goggles <= CycleGAN < raw; shift
consistency of VR-Goggles at most half of CycleGAN's; training <= 30 min each on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from goggles_gym import translators
from goggles_gym.frames import read_collection
from goggles_gym.frames.sources import collect_from_env, paired_frames
from goggles_gym.metrics import frames_per_second, mean_iou, paired_l1, predict_labels, shift_consistency
from goggles_gym.pipeline.seeds import SeedPlan
from goggles_gym.translators.io import Translator
from goggles_gym.translators.networks import ResnetGenerator, init_weights
from goggles_gym.translators.segmentation import load_segnet, save_segnet, train_segnet
from goggles_gym.translators.training import SEGNET, train_translator


def fps(generator: torch.nn.Module, size: int, batch: int, seconds: float = 3.0) -> float:
    """Frames per second of a generator forward pass on CPU at ``size``, ``batch`` frames a call."""
    tr = Translator(generator.eval(), (size, size), device="cpu")
    return frames_per_second(tr, np.zeros((batch, size, size, 3), np.uint8) + 128, seconds)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="runs/bench_translators", help="run folder")
    ap.add_argument("--frames", type=int, default=3000, help="frames per domain (<= 5000)")
    ap.add_argument("--judge-frames", type=int, default=5000, help="randomized-look frames for VR-Goggles' judge")
    ap.add_argument("--heldout", type=int, default=400, help="held-out paired real frames")
    ap.add_argument("--size", type=int, default=64, help="frame size")
    ap.add_argument("--iterations", type=int, default=None, help="override the preset's iterations")
    args = ap.parse_args()
    out = Path(args.out)
    env_kwargs = {"image_size": args.size}
    print(f"torch threads: {torch.get_num_threads()}, device: cpu, frames per domain: {args.frames}")

    plan = SeedPlan(0)  # every collection, net and the held-out frames from its own block of seeds
    collections = (("sim", "sim", args.frames), ("real", "real", args.frames), ("sim_eval", "sim", args.frames),
                   ("judge", "randomized", args.judge_frames))
    for name, look, count in collections:
        if not (out / "frames" / name / "manifest.json").exists():
            block = plan.block(f"frames/{name}")
            collect_from_env(out / "frames" / name, look, count, block.first, env_kwargs=env_kwargs,
                             domain="real" if look == "real" else "sim", episodes=block.take(count + 1))
    if not (out / SEGNET).exists():
        save_segnet(out / SEGNET, train_segnet(read_collection(out / "frames" / "sim_eval"), 1000,
                                               seed=plan.seed_of("segnet/eval"), device=torch.device("cpu")))
    eval_seg = load_segnet(out / SEGNET)

    results: dict[str, dict] = {}
    for method in ("cyclegan", "vr-goggles"):
        run = out / method
        done = run / "translator.pt"
        if not (done.exists() and translators.load(done).meta["extra"].get("final")):
            frames = out / "frames"
            judge = str(frames / "judge") if method == "vr-goggles" else ""
            cfg = translators.TranslatorTrainConfig(real=str(frames / "real"), sim=str(frames / "sim"), out=str(run),
                                                    method=method, resume=(run / "checkpoint.pt").exists(),
                                                    judge_frames=judge, seed=plan.translator_seed(0))
            if args.iterations:
                cfg.iterations = args.iterations
            start = time.perf_counter()
            res = train_translator(cfg)
            (run / "wall_time.json").write_text(json.dumps({"seconds": time.perf_counter() - start,
                                                            "iterations": res.iterations}))
        results[method] = {"wall": json.loads((run / "wall_time.json").read_text())}

    metrics = plan.block("evaluation/metrics")
    held = paired_frames(metrics.take(args.heldout), args.size, metrics.first)
    real, sim, labels = held["real"], held["sim"], held["labels"]
    rows = {"raw real": real}
    gens = {}
    for method in ("cyclegan", "vr-goggles"):
        tr = translators.load(out / method / "translator.pt", device="cpu")
        gens[method] = tr.generator
        rows[method] = np.concatenate([tr(real[i : i + 64]) for i in range(0, len(real), 64)])
    print(f"\nheld-out: {len(real)} real frames {args.size}x{args.size} (the seed plan's evaluation/metrics block), "
          "true labels and true sim renders of the same poses")
    print(f"{'frames':<12} {'mIoU':>6} {'L1 to sim':>10} {'shift':>7}")
    print(f"{'true sim':<12} {mean_iou(predict_labels(eval_seg, sim), labels):6.3f} {0.0:10.2f} {'':>7}")
    for name, frames in rows.items():
        l1 = paired_l1(frames, sim)
        shift = shift_consistency(gens[name], real[:128]) if name in gens else float("nan")
        results.setdefault(name, {}).update(miou=mean_iou(predict_labels(eval_seg, frames), labels), l1=l1,
                                            shift=shift)
        print(f"{name:<12} {results[name]['miou']:6.3f} {l1:10.2f} {shift:7.2f}")
    print("(mIoU: evaluation seg net trained on separate sim frames; L1 and shift in 0..255 units)")

    print("\ntraining wall time (2 CPU cores):")
    for method in ("cyclegan", "vr-goggles"):
        w = results[method]["wall"]
        print(f"  {method:<11} {w['seconds'] / 60:5.1f} min for {w['iterations']} iterations")
    print("\ninference frames/s at 64x64 on CPU (generator forward):")
    ref = init_weights(ResnetGenerator(ngf=64, n_blocks=9))
    for name, g in [*gens.items(), ("reference resnet_9blocks ngf64", ref)]:
        print(f"  {name:<31} batch 1: {fps(g, args.size, 1):7.1f}   batch 8: {fps(g, args.size, 8):7.1f}")
    r = results
    print("\ntargets:")
    print(f"  mIoU VR > CycleGAN > raw: {r['vr-goggles']['miou'] > r['cyclegan']['miou'] > r['raw real']['miou']}")
    print(f"  L1 VR <= CycleGAN < raw: {r['vr-goggles']['l1'] <= r['cyclegan']['l1'] < r['raw real']['l1']}")
    print(f"  shift VR <= CycleGAN / 2: {r['vr-goggles']['shift'] <= r['cyclegan']['shift'] / 2}")
    print(f"  training <= 30 min each: {all(r[m]['wall']['seconds'] <= 1800 for m in ('cyclegan', 'vr-goggles'))}")
    (out / "results.json").write_text(json.dumps(results, indent=2, default=float))


if __name__ == "__main__":
    main()
