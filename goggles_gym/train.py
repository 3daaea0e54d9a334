"""``goggles-gym train [policy|translator] ...`` (or ``python -m goggles_gym.train``): train a sim policy
(the default) or a translator.

Policy training starts from a YAML preset (``--preset``, default: the ``--algo``'s built-in one);
flags override the preset, and ``--env KEY=VALUE`` / ``--hp KEY=VALUE`` override env settings and
algorithm hyperparameters. Example::

    python -m goggles_gym.train --out runs/ppo --timesteps 150000
    python -m goggles_gym.train policy --algo dqn --look randomized --out runs/dr --hp learning_rate=5e-5
    python -m goggles_gym.train translator --method vr-goggles --real runs/frames/real --sim runs/frames/sim \
        --out runs/vr_goggles
    python -m goggles_gym.train translator --method rcan --pairs runs/frames/pairs --out runs/rcan
    python -m goggles_gym.train translator --method cyclegan --real runs/frames/real --sim runs/frames/sim \
        --init-from runs/rcan/translator.pt --pairs runs/frames/pairs --out runs/cyclegan_from_rcan

``--method rcan`` is the canonicalizer (RCAN): randomized -> sim, trained on a paired sim collection
(``python -m goggles_gym.collect --pairs``) without any target frame; ``--init-from`` starts any
method's generator from a translator file, and ``--pairs`` keeps the paired loss while fine-tuning.

Any translator trains on several processes (CPU cores, or one GPU each) under torchrun, with
``--batch-size`` the global batch (:mod:`goggles_gym.common.distributed`)::

    torchrun --standalone --nproc_per_node 2 -m goggles_gym.train translator --method cyclegan \
        --real runs/frames/real --sim runs/frames/sim --out runs/cyclegan
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from goggles_gym.common.cli import ArgumentParser, add_dataclass_args, build_config, parse_overrides, program
from goggles_gym.policies.config import PolicyTrainConfig, load_preset
from goggles_gym.translators.config import TranslatorTrainConfig


def policy_parser(preset: dict[str, Any] | None = None, preset_name: str = "ppo") -> argparse.ArgumentParser:
    """Argument parser of ``train policy``; its help shows ``preset``'s values as the defaults."""
    parser = ArgumentParser(prog=f"{program()} train policy",
                            description="Train a ChairNav policy with Stable-Baselines3. The defaults shown are "
                                        f"those of preset {preset_name}; another --preset or --algo sets its own "
                                        "(add --help after it to see them), and flags override the preset.")
    parser.add_argument("--preset", default=None, help="preset name (ppo, a2c, dqn) or YAML path [default: --algo]")
    add_dataclass_args(parser, PolicyTrainConfig, defaults=preset, preset=preset_name)
    parser.add_argument("--env", dest="env_overrides", action="append", metavar="KEY=VALUE",
                        help="ChairNav setting, e.g. image_size=32")
    parser.add_argument("--hp", dest="hp_overrides", action="append", metavar="KEY=VALUE",
                        help="hyperparameter, e.g. learning_rate=1e-4")
    return parser


def policy_main(argv: Sequence[str] | None = None) -> None:
    """Parse flags, train, and print the held-out success rate, steps and wall time."""
    from goggles_gym.policies import train_policy

    pre = ArgumentParser(prog=f"{program()} train policy", add_help=False)
    pre.add_argument("--preset")
    pre.add_argument("--algo")
    known = pre.parse_known_args(argv)[0]
    name = known.preset or known.algo or "ppo"
    try:
        shown: dict[str, Any] | None = load_preset(name)
    except (ValueError, FileNotFoundError):  # a bad --algo or --preset: the parser or load_preset says so
        shown = None
    args = policy_parser(shown, name).parse_args(argv)
    preset = load_preset(args.preset or args.algo or "ppo")
    preset["env"] = {**preset.get("env", {}), **parse_overrides(args.env_overrides, "--env")}
    preset["hyperparams"] = {**preset.get("hyperparams", {}), **parse_overrides(args.hp_overrides, "--hp")}
    config = build_config(PolicyTrainConfig, preset, args)
    result = train_policy(config)
    rate = "skipped" if result.success_rate is None else f"{result.success_rate:.1%}"
    print(f"policy: {result.model_path}")
    print(f"steps: {result.timesteps}  wall time: {result.wall_time_s:.0f} s  "
          f"held-out success ({config.final_eval_episodes} episodes, look {config.look}): {rate}")


def translator_parser() -> argparse.ArgumentParser:
    """Argument parser of ``train translator``."""
    parser = ArgumentParser(prog=f"{program()} train translator",
                            description="Train a real->sim translator: CycleGAN, VR-Goggles, CUT or FastCUT "
                                        "on two unpaired frame collections (--real, --sim), or the RCAN "
                                        "canonicalizer on a paired sim collection (--pairs).")
    add_dataclass_args(parser, TranslatorTrainConfig)
    return parser


def translator_main(argv: Sequence[str] | None = None) -> None:
    """Parse flags, train the translator, print where it is and how long it took."""
    from goggles_gym.translators.training import train_translator

    args = translator_parser().parse_args(argv)
    config = build_config(TranslatorTrainConfig, {}, args)
    result = train_translator(config)
    if result.rank == 0:  # under torchrun, rank 0 speaks for all
        print(f"translator ({config.variant}): {result.translator_path}")
        print(f"iterations: {result.iterations}  wall time: {result.wall_time_s:.0f} s"
              + (f"  processes: {result.world_size}" if result.world_size > 1 else ""))


def main(argv: Sequence[str] | None = None) -> int:
    """``train policy`` (the default) or ``train translator``, through the one dispatcher
    (:mod:`goggles_gym.cli`); ``--help`` lists both."""
    from goggles_gym.cli import main as cli_main

    return cli_main(["train", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
