"""``goggles-gym collect`` (or ``python -m goggles_gym.collect``): save sim or real frames as a collection
(PNG folder + manifest).

    python -m goggles_gym.collect --look sim --count 5000 --seed 0 --out runs/frames/sim
    python -m goggles_gym.collect --look real --count 5000 --seed 1 --out runs/frames/real
    python -m goggles_gym.collect --pairs --look randomized --count 5000 --seed 2 --out runs/frames/pairs
    python -m goggles_gym.collect --source video.mp4 --stride 2 --size 64 --out runs/frames/lab
    python -m goggles_gym.collect --source 0 --count 2000 --out runs/frames/webcam

``--pairs`` makes a paired sim collection: every pose of sticky random actions rendered in
``--look`` (default randomized) and in the sim look, with its labels (the canonicalizer's data:
``python -m goggles_gym.train translator --method rcan --pairs DIR``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from goggles_gym.common.cli import ArgumentParser, number, program, run_cli, whole_number


def parser() -> argparse.ArgumentParser:
    """Argument parser of the collect CLI."""
    ap = ArgumentParser(prog=f"{program()} collect", description=__doc__,
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="new collection folder")
    ap.add_argument("--look", default=None, help="env look to render (built-in name or YAML); not with --source "
                    "[default: sim; with --pairs: randomized]")
    ap.add_argument("--pairs", action="store_true", help="paired sim collection: each pose in --look (rgb/) and in "
                    "the sim look (target/), with labels; sticky random actions; not with --source or --policy")
    ap.add_argument("--frames-per-episode", type=whole_number, default=None,
                    help="--pairs: pairs taken from one episode before the next, a new room and look (0: whole "
                    "episodes) [default: 1]")
    ap.add_argument("--approach", type=number, default=None,
                    help="--pairs: share of episodes whose pair is taken on the way to the chair, near it as well as "
                    "far, instead of at the start pose [default: 0]")
    ap.add_argument("--source", default=None, help="video file, camera index or stream URL instead of the env")
    ap.add_argument("--count", type=whole_number, default=5000, help="number of frames")
    ap.add_argument("--seed", type=whole_number, default=0, help="seed of the episodes and actions (env only)")
    ap.add_argument("--size", type=whole_number, default=64, help="frame size (square; env: its image_size)")
    ap.add_argument("--domain", choices=("sim", "real"), default=None,
                    help="sim keeps labels for training, real keeps them for measuring only [default: by look]")
    ap.add_argument("--policy", default=None, help="policy run folder or zip to drive the env (default: sticky random)")
    ap.add_argument("--epsilon", type=number, default=0.2, help="random action probability with --policy")
    ap.add_argument("--stride", type=whole_number, default=1, help="keep every N-th capture frame (--source only)")
    ap.add_argument("--no-progress-bar", action="store_true", help="hide the progress bar")
    return ap


def collect_main(argv: Sequence[str] | None = None) -> None:
    """Parse flags and write the collection."""
    from goggles_gym.frames.sources import collect_from_capture, collect_from_env

    args = parser().parse_args(argv)
    for name, value, least in (("--count", args.count, 1), ("--size", args.size, 4), ("--stride", args.stride, 1)):
        if value < least:
            raise ValueError(f"{name} {value}: must be at least {least}")
    if not 0.0 <= args.epsilon <= 1.0:
        raise ValueError(f"--epsilon {args.epsilon}: a probability, give a value from 0 to 1")
    progress = not args.no_progress_bar
    for flag, value in (("--frames-per-episode", args.frames_per_episode), ("--approach", args.approach)):
        if value is not None and not args.pairs:
            raise ValueError(f"{flag} is an option of --pairs (paired sim collections)")
    if args.pairs:
        from goggles_gym.frames.sources import PAIR_APPROACH, PAIR_FRAMES_PER_EPISODE, collect_pairs

        for flag, given in (("--source", args.source is not None), ("--policy", bool(args.policy)),
                            ("--domain real", args.domain == "real")):
            if given:
                raise ValueError(f"--pairs renders the env with sticky random actions in the sim domain: drop {flag}")
        path = collect_pairs(args.out, args.count, args.seed, input_look=args.look or "randomized",
                             env_kwargs={"image_size": args.size}, progress=progress,
                             frames_per_episode=PAIR_FRAMES_PER_EPISODE if args.frames_per_episode is None
                             else args.frames_per_episode,
                             approach=PAIR_APPROACH if args.approach is None else args.approach)
    elif args.source is not None:
        if args.look is not None:
            raise ValueError("give either --look (render the env) or --source (a capture), not both")
        path = collect_from_capture(args.out, args.source, args.count, (args.size, args.size), args.stride,
                                    progress=progress)
    else:
        policy = None
        env_kwargs = {"image_size": args.size}
        if args.policy:
            from goggles_gym.policies import load_policy

            policy = load_policy(args.policy, device="cpu")
            env_kwargs = dict(policy.settings.kwargs)
        path = collect_from_env(args.out, args.look or "sim", args.count, args.seed, domain=args.domain,
                                policy=policy, epsilon=args.epsilon, env_kwargs=env_kwargs, progress=progress)
    print(f"collection: {path}")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; errors become one line and exit status 2."""
    return run_cli(collect_main, argv)


if __name__ == "__main__":
    sys.exit(main())
