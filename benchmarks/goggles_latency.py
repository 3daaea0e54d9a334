"""Latency of the goggles: translator backends, per-frame cost, and wrapped vs unwrapped env steps/s.

    python benchmarks/goggles_latency.py [--translator PATH] [--seconds 3]

Without --translator a generator of the default preset's size (``TranslatorTrainConfig``'s ngf and
blocks) is built with random weights: latency does not depend on the weights. Prints, on CPU:

- per-frame latency and frames/s of each backend (torch eager, torch.compile, ONNX Runtime) at
  64 x 64 and 128 x 128, batch 1 and batch 8;
- the reference CycleGAN generator (resnet_9blocks, ngf 64) at the same inputs, for scale;
- ChairNav ``real`` steps/s unwrapped, through the goggles, and over 8 envs in an SB3 VecEnv with
  one batched translation per step.

Target (issue 4): at 64 x 64, batch 1, the goggles add at most 5 ms a frame on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import DummyVecEnv

from goggles_gym import translators
from goggles_gym.envs import ChairNav
from goggles_gym.metrics import frames_per_second
from goggles_gym.translators.io import Translator
from goggles_gym.translators.networks import ResnetGenerator, init_weights, make_generator
from goggles_gym.wrappers import GogglesWrapper, VecGogglesWrapper


def per_frame_ms(fn, frames: np.ndarray, seconds: float) -> float:
    """Mean milliseconds per frame of ``fn(frames)``."""
    return 1e3 / frames_per_second(fn, frames, seconds)


def env_steps_per_s(env, n: int, batch: int = 1) -> float:
    """Steps/s (of all sub-envs together for a VecEnv) with random actions."""
    rng = np.random.default_rng(0)
    if batch == 1:
        env.reset(seed=0)
        start = time.perf_counter()
        for _ in range(n):
            _, _, terminated, truncated, _ = env.step(int(rng.integers(3)))
            if terminated or truncated:
                env.reset()
    else:
        env.reset()
        start = time.perf_counter()
        for _ in range(n // batch):
            env.step(rng.integers(0, 3, batch))
    return n / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--translator", default=None, help="translator file to time (default: preset-sized, random)")
    ap.add_argument("--generator", default="resnet", choices=("resnet", "unet"), help="architecture (no --translator)")
    ap.add_argument("--upsample", default=None, choices=("transpose", "resize"), help="upsampling (no --translator)")
    ap.add_argument("--seconds", type=float, default=3.0, help="timing window per measurement")
    ap.add_argument("--steps", type=int, default=2000, help="env steps per steps/s measurement")
    ap.add_argument("--rounds", type=int, default=5, help="interleaved unwrapped/wrapped rounds (median reported)")
    args = ap.parse_args()
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, CPU")
    torch.manual_seed(0)
    if args.translator:
        base = translators.load(args.translator, device="cpu")
        gen, size0 = base.generator, base.image_size
        print(f"translator: {args.translator} ({base.method}, {size0[0]}x{size0[1]})")
    else:
        preset = translators.TranslatorTrainConfig()
        gen = init_weights(make_generator(args.generator, preset.ngf, preset.n_blocks, upsample=args.upsample)).eval()
        size0 = (64, 64)
        print(f"translator: preset-sized generator ({gen.architecture()}), random weights")
    reference = init_weights(ResnetGenerator(ngf=64, n_blocks=9)).eval()
    rng = np.random.default_rng(0)

    print(f"\n{'generator':<22} {'backend':<8} {'size':>7} {'batch':>5} {'ms/frame':>9} {'frames/s':>9}")
    fastest: dict[int, tuple[float, str]] = {}
    ours = "translator file" if args.translator else "preset"
    for name, g in ((ours, gen), ("reference 9blk ngf64", reference)):
        for backend in ("torch", "compile", "onnx"):
            if name.startswith("reference") and backend != "torch":
                continue
            for size in (64, 128):
                try:
                    tr = Translator(g, (size, size), device="cpu", backend=backend)
                except Exception as exc:  # noqa: BLE001 - report a backend that cannot run here
                    print(f"{name:<22} {backend:<8} unavailable: {exc}")
                    break
                for batch in (1, 8):
                    frames = rng.integers(0, 256, (batch, size, size, 3), dtype=np.uint8)
                    ms = per_frame_ms(tr, frames, args.seconds)
                    print(f"{name:<22} {backend:<8} {size:>4}x{size:<3}{batch:>4} {ms:9.2f} {1e3 / ms:9.1f}")
                    if name == ours and size == 64 and batch == 1:
                        fastest[size] = min(fastest.get(size, (1e9, "")), (ms, backend))
    best_ms, best = fastest[64]
    print(f"\nfastest backend at 64x64 batch 1: {best} ({best_ms:.2f} ms/frame); target <= 5 ms: "
          f"{'met' if best_ms <= 5 else 'MISSED'}")

    tr = Translator(gen, size0, device="cpu", backend=best)
    plain = ChairNav(look="real", image_size=size0)
    wrapped = GogglesWrapper(ChairNav(look="real", image_size=size0), tr)
    # interleaved rounds, so a slow moment of the machine hits both sides alike; the median is reported
    added, rates = [], []
    for _ in range(args.rounds):
        a, b = env_steps_per_s(plain, args.steps), env_steps_per_s(wrapped, args.steps)
        added.append((1 / b - 1 / a) * 1e3)
        rates.append((a, b))
    k = int(np.argsort(added)[len(added) // 2])
    a, b = rates[k]
    print(f"\nChairNav real {size0[0]}x{size0[1]}, {args.rounds} interleaved rounds of {args.steps} steps: "
          f"unwrapped {a:.0f} steps/s, with goggles ({best}) {b:.0f} steps/s (median +{added[k]:.2f} ms/step; "
          f"rounds {', '.join(f'{v:+.2f}' for v in added)}); target <= 5 ms: {'met' if added[k] <= 5 else 'MISSED'}")
    kwargs = {"look": "real", "image_size": size0}
    venv = make_vec_env(ChairNav, n_envs=8, seed=0, env_kwargs=kwargs, vec_env_cls=DummyVecEnv)
    vplain = env_steps_per_s(venv, args.steps, batch=8)
    vwrapped = env_steps_per_s(VecGogglesWrapper(make_vec_env(ChairNav, n_envs=8, seed=0, env_kwargs=kwargs,
                                                              vec_env_cls=DummyVecEnv), tr), args.steps, batch=8)
    print(f"8 envs (DummyVecEnv): unwrapped {vplain:.0f} steps/s, with batched goggles {vwrapped:.0f} steps/s "
          f"(+{(1 / vwrapped - 1 / vplain) * 1e3:.2f} ms/frame)")


if __name__ == "__main__":
    main()
