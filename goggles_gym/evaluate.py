"""``python -m goggles_gym.evaluate``: No-Goggles vs CycleGAN vs VR-Goggles, closed loop, with a report.

    python -m goggles_gym.evaluate --policy runs/x/policy --look real \\
        --cyclegan runs/x/translators/cyclegan/translator.pt \\
        --vr-goggles runs/x/translators/vr-goggles/translator.pt \\
        --goggles cyclegan+shift=runs/x/translators/cyclegan+shift/translator.pt \\
        --dr-policy runs/x/policy_dr --segnet runs/x/segnet/eval.pt --out runs/x/report

Every condition (sim oracle, no goggles, each goggles, the DR policy) runs the same seeded episodes.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Sequence

from goggles_gym.common.cli import add_dataclass_args, build_config, run_cli
from goggles_gym.evaluation import EvaluateConfig


def parser() -> argparse.ArgumentParser:
    """Argument parser of the evaluate CLI."""
    ap = argparse.ArgumentParser(prog="python -m goggles_gym.evaluate", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    add_dataclass_args(ap, EvaluateConfig)
    ap.add_argument("--goggles", action="append", default=None, metavar="NAME=PATH",
                    help="more goggles (ablations), repeatable")
    return ap


def evaluate_main(argv: Sequence[str] | None = None) -> None:
    """Parse flags, evaluate, print the table and where the report is."""
    from goggles_gym.evaluation import evaluate

    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser().parse_args(argv)
    config = build_config(EvaluateConfig, {}, args)
    command = "python -m goggles_gym.evaluate " + shlex.join(argv)
    summaries = evaluate(config, header=f"Command: `{command}`")
    print_table(summaries)
    print(f"report: {config.out}/report.md")


def print_table(summaries: Sequence[dict]) -> None:
    """The results as an aligned text table."""
    print(f"{'condition':22s} {'success':>8s} {'95% CI':>13s} {'SPL':>5s} {'len':>6s} {'mIoU':>6s} {'L1':>6s} "
          f"{'shift':>6s} {'fps':>6s}")
    def f(s: dict, key: str, spec: str) -> str:
        v = s.get(key)
        return "" if v is None else format(v, spec)

    for s in summaries:
        lo, hi = s["success_ci95"]
        print(f"{s['condition']:22s} {s['success_rate']:8.0%} {f'{lo:.0%}-{hi:.0%}':>13s} {s['spl']:5.2f} "
              f"{s['mean_length']:6.1f} {f(s, 'miou', '.3f'):>6s} {f(s, 'paired_l1', '.1f'):>6s} "
              f"{f(s, 'shift', '.2f'):>6s} {f(s, 'frames_per_s', '.0f'):>6s}")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; errors become one line and exit status 2."""
    return run_cli(evaluate_main, argv)


if __name__ == "__main__":
    sys.exit(main())
