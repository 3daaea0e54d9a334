"""The pipeline: runs the declared stages of one study in a run folder, skipping the finished ones."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

from goggles_gym.pipeline.config import PipelineConfig, check_config
from goggles_gym.pipeline.seeds import SeedPlan
from goggles_gym.pipeline.stages import STAGES, Context, Stage, to_redo
from goggles_gym.pipeline.state import RunState, append_provenance


class Pipeline:
    """One study in one run folder: each stage runs unless its outputs are there (a killed run picks
    up where it stopped); ``force`` names stages to redo, with every stage that reads their outputs."""

    def __init__(self, config: PipelineConfig, preset: str = "custom", force: Sequence[str] = (),
                 command: str = "", until: str | None = None) -> None:
        check_config(config)
        names = [s.name for s in STAGES]
        if until is not None and until not in names:
            raise ValueError(f"--until {until!r}: stages are {', '.join(names)}")
        self.until = until
        self.config, self.preset, self.command = config, preset, command
        self.run = Path(config.out)
        self.plan = SeedPlan(config.seed)
        self.force = to_redo(STAGES, force, config)
        self.state = RunState(self.run, preset, config.to_dict(), self.plan.to_dict(),
                              defaults=PipelineConfig().to_dict())
        self.ctx = Context(config, self.plan, self.run, self.state, self._log)
        self.stages: list[Stage] = [cls(self.ctx) for cls in STAGES]

    def stage(self, name: str) -> Stage:
        """The stage called ``name``."""
        for s in self.stages:
            if s.name == name:
                return s
        raise KeyError(f"no stage {name!r}")

    def run_all(self) -> Path:
        """Run (or skip) every stage of this run, or those up to ``until``; returns the report path."""
        self.run.mkdir(parents=True, exist_ok=True)
        self.state.load(start_over=self.force == {s.name for s in self.stages})
        self.state.save()
        for stage in self.stages:
            if not stage.enabled():
                self._log(f"[{stage.name}] not part of this run (switched off by its settings)")
                self.state.drop(stage.name)
                continue
            redo = stage.name in self.force
            if not redo and stage.done():
                self._log(f"[{stage.name}] done already, skipped")
                self.state.skipped(stage.name)
                if stage.name == self.until:
                    break
                continue
            self._log(f"[{stage.name}] running")
            start = time.perf_counter()
            stage.run(redo)
            wall = time.perf_counter() - start
            self.state.finished(stage.name, wall)
            self._log(f"[{stage.name}] finished in {wall / 60:.1f} min")
            if stage.name == self.until:
                self._log(f"[{stage.name}] --until {self.until}: the later stages are left for another run")
                break
        self.force = set()
        report = self.run / "report" / "report.md"
        append_provenance(report, self.state, [s.name for s in self.stages], self.command)
        return report

    def _log(self, text: str) -> None:
        # Always: --no-progress-bar silences the bars, not the stage lines a log file needs.
        print(text, flush=True)
