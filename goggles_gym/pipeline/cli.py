"""``goggles-gym pipeline`` (or ``python -m goggles_gym.pipeline``): the whole study in one command,
resumable stage by stage.

    python -m goggles_gym.pipeline --preset quick --out runs/quick
    python -m goggles_gym.pipeline --preset paper --out runs/paper --look my_lab.yaml
    python -m goggles_gym.pipeline --preset paper --out runs/paper --translator-seeds 3
    python -m goggles_gym.pipeline --preset paper --out runs/paper --other-looks photo docs/looks/harsh_lab.yaml
    python -m goggles_gym.pipeline --preset paper --out runs/paper --force translators
    python -m goggles_gym.pipeline --preset paper --out runs/w --validation-episodes 80 --until validate

Stages, each writing into the run folder and skipped when its outputs are there (a killed run picks
up where it stopped; policies and translators resume from their last checkpoint):

  policy       PPO in the sim look                          policy/model.zip, summary.json
  dr_policy    the same, in randomized looks (DR baseline)   policy_dr/...
  frames       unpaired sim, real and sim_eval collections  frames/{sim,real,sim_eval,judge,pairs}/manifest.json
               (judge: randomized looks, labelled; pairs: randomized -> sim renders of the same pose)
  segnet       the semantic loss's judge and sim reader,    segnet/judge.pt, sim_reader.pt, eval.pt
               and a separate evaluation net
  canonicalizer  rcan on the simulator's pairs (optional)   canonicalizer/translator.pt
  translators  each method x each translator seed           translators/<variant>/seed<k>/translator.pt
  validate     the conditions on the validation episodes    validation/ (with --validation-episodes N)
  evaluate     the conditions on the evaluation episodes    report/results.json, report.md, ...
  other_looks  sim oracle, no goggles, rcan and DR on each  report/looks/<name>/results.json, ...
               of --other-looks (rows that never saw the target)

One seed plan (``--seed``) hands every stage its own disjoint block of seeds. ``--force STAGE``
redoes a stage and every stage that reads its outputs (``--force all``: everything).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

from goggles_gym.common.cli import ArgumentParser, add_dataclass_args, build_config, program, run_cli
from goggles_gym.pipeline.config import PipelineConfig, load_pipeline_preset
from goggles_gym.pipeline.runner import Pipeline
from goggles_gym.pipeline.stages import STAGE_NAMES


def parser(preset: str = "quick") -> argparse.ArgumentParser:
    """Argument parser of the pipeline CLI; its help shows ``preset``'s values as the defaults."""
    ap = ArgumentParser(prog=f"{program()} pipeline", description=__doc__,
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="quick",
                    help="quick (6 to 10 min on 2 CPU cores, by machine), paper (about 45 min a translator seed) or a "
                         f"YAML path. The defaults below are preset {preset}'s; another preset overrides them with its "
                         "own (`--preset paper --help` shows them), and a flag overrides the preset [default: quick]")
    add_dataclass_args(ap, PipelineConfig, defaults=load_pipeline_preset(preset), preset=preset)
    ap.add_argument("--force", nargs="+", default=[], metavar="STAGE",
                    help=f"redo these stages and those that read them: {', '.join(STAGE_NAMES)}, or all")
    ap.add_argument("--until", default=None, metavar="STAGE", choices=STAGE_NAMES,
                    help="stop after this stage (e.g. validate: choose a setting on the validation episodes "
                         "without running the report's evaluation)")
    return ap


def pipeline_main(argv: Sequence[str] | None = None) -> None:
    """Parse flags, run the pipeline, print the results table and the report's path."""
    from goggles_gym.evaluate import print_table

    argv = list(sys.argv[1:] if argv is None else argv)
    pre = ArgumentParser(prog=f"{program()} pipeline", add_help=False)
    pre.add_argument("--preset", default="quick")
    args = parser(pre.parse_known_args(argv)[0].preset).parse_args(argv)
    config = build_config(PipelineConfig, load_pipeline_preset(args.preset), args)
    command = "python -m goggles_gym.pipeline " + shlex.join(argv)
    report = Pipeline(config, args.preset, args.force, command, until=args.until).run_all()
    if not (report.parent / "results.json").is_file():  # stopped before the evaluation (--until)
        shown = config.out + "/validation/results.json"
        if args.until == "validate":
            print_table(json.loads(Path(shown).read_text())["conditions"])
            print(f"validation results (for choosing settings): {shown}")
        return
    results = json.loads((report.parent / "results.json").read_text())
    print_table(results["conditions"])
    print(f"report: {report}")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; errors become one line and exit status 2."""
    return run_cli(pipeline_main, argv)
