"""The run state (``pipeline.json``: settings, each stage's wall time, the machine) and the
provenance that goes at the end of the report; apart from the stages, which only do the work."""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from goggles_gym.common.files import atomic_write_text
from goggles_gym.report.markdown import OTHER_LOOKS_HEADING, PROVENANCE_HEADING

IGNORED = ("progress_bar", "device", "jobs", "out")  # how and where a run is carried out, not what it is
# How many draws: repeat k takes its own seed from the seed plan whatever the count, so a run folder
# can be given more (the new ones are trained, the report re-scored) and keeps the earlier ones.
REPEATS = ("translator_seeds", "canonicalizer_seeds")
# What else is scored: changing it adds (or leaves) reports of its own and changes no other artifact.
SCORED_TOO = ("other_looks",)
# Which translator rows are trained: each row has its folders and its seeds of its own (translator seed k is
# the seed plan's whatever the rows beside it), so switching rows on trains only theirs and scores every row
# again; switched off, their folders stay and are no longer scored.
ROWS = ("ablations", "peers")


def machine_description() -> str:
    """CPU cores, platform, torch version and device: what the wall times were measured on."""
    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (f"{os.cpu_count()} CPU cores ({platform.processor() or platform.machine()}), {gpu}, "
            f"{platform.system()} {platform.release()}, Python {platform.python_version()}, torch {torch.__version__}")


class RunState:
    """``pipeline.json`` of a run folder: what the run was asked for and what each stage did."""

    def __init__(self, run: Path, preset: str, config: dict[str, Any], seeds: dict[str, Any],
                 defaults: dict[str, Any] | None = None) -> None:
        self.path = run / "pipeline.json"
        self.data: dict[str, Any] = {"preset": preset, "config": config, "seed_plan": seeds, "stages": {}}
        self.defaults = defaults or {}  # an option newer than a run folder reads as its default there

    def load(self, start_over: bool) -> None:
        """Read the folder's earlier state; other settings fail unless the run starts over."""
        if not self.path.is_file():
            return
        try:
            old = json.loads(self.path.read_text())
        except json.JSONDecodeError as exc:
            raise ValueError(f"{self.path} is damaged ({exc}); delete it (finished stages are still found by "
                             "their artifacts)") from None
        before = {k: v for k, v in {**self.defaults, **old.get("config", {})}.items() if k not in IGNORED}
        now = {k: v for k, v in self.data["config"].items() if k not in IGNORED}
        changed = sorted(k for k in set(before) | set(now) if before.get(k) != now.get(k))
        if changed and not start_over and not _earlier_draws_hold(changed, now):
            raise ValueError(f"{self.path.parent} holds a run with other settings ({', '.join(changed)}); use another "
                             "--out, or --force all to redo it with these")
        if not start_over:
            self.data = {**old, **self.data, "stages": old.get("stages", {}),
                         "translators": old.get("translators", {})}

    def save(self) -> None:
        """Write the state atomically."""
        self.data["machine"] = machine_description()
        atomic_write_text(self.path, json.dumps(self.data, indent=2))

    def finished(self, stage: str, wall_s: float) -> None:
        """A stage ran to its end."""
        self.data["stages"][stage] = {"wall_time_s": round(wall_s, 1), "skipped_last_run": False,
                                      "finished": time.strftime("%Y-%m-%d %H:%M:%S")}
        self.save()

    def skipped(self, stage: str) -> None:
        """A stage's outputs were there, so it did not run."""
        self.data["stages"].setdefault(stage, {})["skipped_last_run"] = True
        self.save()

    def drop(self, stage: str) -> None:
        """A stage that is not part of this run (switched off by its settings)."""
        self.data["stages"].pop(stage, None)

    def translator_trained(self, name: str, wall_s: float, iterations: int) -> None:
        """One translator (``variant/seedK``) finished training."""
        self.data.setdefault("translators", {})[name] = {"wall_time_s": round(wall_s, 1), "iterations": iterations}
        self.save()


def _earlier_draws_hold(changed: Sequence[str], now: dict[str, Any]) -> bool:
    """Whether only the numbers of draws (or what else is scored, or which rows) changed, in a way the folder's
    earlier draws still hold: a +pretrain translator of seed k starts from canonicalizer k mod
    ``canonicalizer_seeds``, so with those rows another number of canonicalizers would change what
    the earlier translators started from."""
    if not set(changed) <= {*REPEATS, *SCORED_TOO, *ROWS}:
        return False
    pretrain = now.get("pretrain_rows") and now.get("canonicalizer_iterations", 0) > 0 and not now.get("pretrained")
    return "canonicalizer_seeds" not in changed or not pretrain


def other_looks_section(report: Path, names: Sequence[str]) -> list[str]:
    """The report's table of the target-free rows on each other look (``report/looks/<name>``):
    success of the sim oracle, no goggles, rcan (mean and each canonicalizer seed) and DR."""
    rows = []
    for name in names:
        try:
            results = json.loads((report.parent / "looks" / name / "results.json").read_text())
            rows.append(_look_row(name, {c["condition"]: c for c in results["conditions"]}))
        except (OSError, ValueError, KeyError, TypeError):
            continue  # not scored yet (a run stopped before the stage): no row
    if not rows:
        return []
    return ["", OTHER_LOOKS_HEADING, "",
            "The rows that never saw a frame of the target look, on the same evaluation episodes in other looks "
            "(nothing was trained for them): rcan is the mean over its canonicalizer seeds (each seed in brackets).",
            "", "| look | sim oracle | no goggles | rcan | rcan / oracle | DR | report |",
            "|---|---|---|---|---|---|---|",
            *rows, ""]


def _look_row(name: str, conditions: dict[str, dict[str, Any]]) -> str:
    """One look's row of :func:`other_looks_section`, from its results by condition."""
    def rate(key: str) -> str:
        return f"{conditions[key]['success_rate']:.0%}" if key in conditions else "-"

    rcan = conditions.get("rcan", {})
    per_seed = rcan.get("per_seed", [])
    oracle = conditions.get("sim oracle", {}).get("success_rate")
    each = " / ".join(f"{s['success_rate']:.0%}" for s in per_seed)
    seeds = f" ({each})" if len(per_seed) > 1 else ""
    share = f"{rcan['success_rate'] / oracle:.0%}" if rcan and oracle else "-"
    return (f"| `{name}` | {rate('sim oracle')} | {rate('no goggles')} | {rate('rcan')}{seeds} | {share} | "
            f"{rate('domain randomization')} | [report.md](looks/{name}/report.md), "
            f"[report.html](looks/{name}/report.html) |")


def append_provenance(report: Path, state: RunState, order: Sequence[str], command: str,
                      other_looks: Sequence[str] = ()) -> None:
    """Add the other looks' table (``other_looks``: their folders under report/looks) and how the run
    was made (command, machine, each stage's wall time, settings) to report.md, and rebuild
    report.html beside it so that the page shows them too."""
    if not report.is_file():
        return
    text = report.read_text(encoding="utf-8")
    text = text.split("\n" + OTHER_LOOKS_HEADING)[0].split("\n" + PROVENANCE_HEADING)[0].rstrip("\n")
    text += "\n".join(other_looks_section(report, other_looks)).rstrip("\n")
    data = state.data
    stages = data["stages"]
    total = sum(s.get("wall_time_s", 0.0) for s in stages.values())
    lines = ["", PROVENANCE_HEADING, "", f"- command: `{command or 'python -m goggles_gym.pipeline'}`",
             f"- machine: {data.get('machine', machine_description())}",
             f"- wall time of the stages (as each last ran): {total / 60:.1f} min in all"]
    if "last_run" in data:  # stages side by side (--jobs) take less than their sum
        last = data["last_run"]
        lines.append(f"- the last run of the command: {last['wall_time_s'] / 60:.1f} min from start to end, "
                     f"{last['jobs']} stage{'s' if last['jobs'] > 1 else ''} at a time")
    lines.append("")
    lines += ["| stage | wall time |", "|---|---|"]
    lines += [f"| {n} | {stages[n]['wall_time_s'] / 60:.1f} min |" for n in order
              if n in stages and "wall_time_s" in stages[n]]
    for name, t in data.get("translators", {}).items():
        lines.append(f"| translator {name} | {t['wall_time_s'] / 60:.1f} min ({t['iterations']} iterations) |")
    lines += ["", "Settings:", "", "```yaml", yaml.safe_dump(data["config"], sort_keys=False).rstrip(), "```", "",
              "Seed plan (first and last seed of each block; the report's episodes are the `evaluation` block's):", "",
              "```yaml", yaml.safe_dump(data.get("seed_plan", {}), sort_keys=False, default_flow_style=None).rstrip(),
              "```", ""]
    atomic_write_text(report, text + "\n" + "\n".join(lines))
    if (report.parent / "results.json").is_file():
        from goggles_gym.report.html import write_html_report

        write_html_report(report.parent)
