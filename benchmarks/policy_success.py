"""Train the default policy preset in ``sim`` and measure greedy success in ``sim`` and ``real``.

    python benchmarks/policy_success.py --out runs/bench_policy [--algo ppo] [--skip-train]

Prints training steps and wall time, then the success rate over 100 held-out seeded episodes in
``sim`` and, on the same seeds, in ``real``. Targets (issue 2): sim >= 90% within 10 minutes of
training on 2 CPU cores; real <= 30% (the real look must break the sim policy).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from goggles_gym.policies import PolicyTrainConfig, evaluate_policy_success, load_policy, load_preset
from goggles_gym.policies.training import HELD_OUT_SEED, train_policy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="runs/bench_policy", help="run folder")
    parser.add_argument("--algo", default="ppo", help="preset to train")
    parser.add_argument("--episodes", type=int, default=100, help="held-out episodes per look")
    parser.add_argument("--skip-train", action="store_true", help="measure the policy already in --out")
    args = parser.parse_args()
    print(f"torch threads: {torch.get_num_threads()}, device: cpu")
    if not args.skip_train:
        preset = load_preset(args.algo)
        config = PolicyTrainConfig(**{**preset, "out": args.out, "final_eval_episodes": 0})
        result = train_policy(config)
        print(f"trained {config.algo}: {result.timesteps} steps in {result.wall_time_s:.0f} s "
              f"({result.wall_time_s / 60:.1f} min, periodic evaluation included)")
    else:
        summary = json.loads((Path(args.out) / "summary.json").read_text())
        print(f"policy in {args.out}: {summary['timesteps']} steps, trained in {summary['wall_time_s']:.0f} s")
    policy = load_policy(args.out, device="cpu")
    for look in ("sim", "real"):
        start = time.perf_counter()
        rate = evaluate_policy_success(policy.model, policy.settings, args.episodes, HELD_OUT_SEED, look=look)
        print(f"success in {look:<4}: {rate:.0%} over {args.episodes} held-out episodes "
              f"(seeds {HELD_OUT_SEED}..{HELD_OUT_SEED + args.episodes - 1}, greedy, "
              f"{time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
