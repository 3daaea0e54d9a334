"""``goggles-gym evaluate`` (or ``python -m goggles_gym.evaluate``): No-Goggles vs CycleGAN vs VR-Goggles,
closed loop, with a report.

    python -m goggles_gym.evaluate --policy runs/x/policy --look real \\
        --cyclegan runs/x/translators/cyclegan/seed{0,1,2}/translator.pt \\
        --vr-goggles runs/x/translators/vr-goggles/seed{0,1,2}/translator.pt \\
        --goggles cyclegan+shift=runs/x/translators/cyclegan+shift/translator.pt \\
        --dr-policy runs/x/policy_dr --segnet runs/x/segnet/eval.pt --out runs/x/report

Every condition (sim oracle, no goggles, each goggles over its translator seeds, the DR policy on the target and in
its own looks) runs the same seeded episodes; every goggles row is tested against CycleGAN and against no goggles
(exact McNemar on the paired episodes).
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Sequence

from rich.console import Console
from rich.table import Table

from goggles_gym.common.cli import ArgumentParser, add_dataclass_args, build_config, program, run_cli
from goggles_gym.evaluation import EvaluateConfig
from goggles_gym.report import p_value


def parser() -> argparse.ArgumentParser:
    """Argument parser of the evaluate CLI."""
    ap = ArgumentParser(prog=f"{program()} evaluate", description=__doc__,
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    add_dataclass_args(ap, EvaluateConfig)
    ap.add_argument("--cyclegan", nargs="+", default=None, metavar="TRANSLATOR",
                    help="CycleGAN translator file(s), one per translator seed")
    ap.add_argument("--vr-goggles", nargs="+", default=None, metavar="TRANSLATOR",
                    help="VR-Goggles translator file(s), one per translator seed")
    ap.add_argument("--goggles", action="append", default=None, metavar="NAME=PATH",
                    help="more goggles (ablations), repeatable; the same NAME again is another translator seed")
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


def print_table(summaries: Sequence[dict], console: Console | None = None) -> None:
    """The results as a rich table on the terminal (a goggles row: the mean over translator seeds,
    each seed's success, the min-max and the paired tests' p-values)."""
    table = Table(title="closed-loop success (mean over translator seeds for goggles)", title_justify="left")
    for column in ("condition", "success", "per seed", "min-max", "95% CI", "p vs CycleGAN", "p vs no goggles",
                   "mIoU", "chair IoU", "L1", "shift"):
        table.add_column(column, justify="left" if column == "condition" else "right")

    def f(s: dict, key: str, spec: str) -> str:
        v = s.get(key)
        return "" if v is None or isinstance(v, str) else format(v, spec)

    for s in summaries:
        lo, hi = s["success_ci95"]
        seeds = s.get("per_seed", [])
        spread = f"{s['success_min']:.0%}-{s['success_max']:.0%}" if len(seeds) > 1 else ""
        name = s["condition"] + (" (under-trained)" if s.get("under_trained") else "")
        table.add_row(name, f"{s['success_rate']:.0%}" + (" (one draw)" if len(seeds) == 1 else ""),
                      " / ".join(f"{p['success_rate']:.0%}" for p in seeds), spread, f"{lo:.0%}-{hi:.0%}",
                      p_value(s.get("p_vs_cyclegan")), p_value(s.get("p_vs_no_goggles")), f(s, "miou", ".3f"),
                      f(s, "chair_iou", ".3f"), f(s, "paired_l1", ".1f"), f(s, "shift", ".2f"))
    if console is None:
        console = Console()
        if not console.is_terminal:  # a log file or a pipe: full columns, not a table squeezed to 80
            console = Console(width=200)
    console.print(table)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; errors become one line and exit status 2."""
    return run_cli(evaluate_main, argv)


if __name__ == "__main__":
    sys.exit(main())
