"""The pipeline: runs the declared stages of one study in a run folder, skipping the finished ones."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path

from goggles_gym.pipeline import configs
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
        """Run (or skip) every stage of this run, or those up to ``until``; returns the report path.
        With ``jobs`` > 1 the stages run in processes of their own, each once the stages it reads
        are done (:mod:`goggles_gym.pipeline.parallel`); with 1, one after another in this process."""
        self.run.mkdir(parents=True, exist_ok=True)
        self.state.load(start_over=self.force == {s.name for s in self.stages})
        self.state.save()
        start = time.perf_counter()
        jobs = min(self.config.jobs, os.cpu_count() or 1)
        todo: list[Stage] = []
        for stage in self.stages:
            if not stage.enabled():
                self._log(f"[{stage.name}] not part of this run (switched off by its settings)")
                self.state.drop(stage.name)
            elif stage.name not in self.force and stage.done():
                self._log(f"[{stage.name}] done already, skipped")
                self.state.skipped(stage.name)
            elif jobs > 1:
                todo.append(stage)
            else:
                self._run_here(stage)
            if stage.name == self.until:
                break
        if todo:
            from goggles_gym.pipeline.parallel import run_in_processes

            run_in_processes(todo, self.ctx, self.force, jobs, self._log)
        if self.until is not None and self.until in self.state.data["stages"]:
            self._log(f"[{self.until}] --until {self.until}: the later stages are left for another run")
        self.force = set()
        self.state.data["last_run"] = {"wall_time_s": round(time.perf_counter() - start, 1), "jobs": jobs}
        self.state.save()
        report = self.run / "report" / "report.md"
        looks = list(configs.other_looks(self.config))
        append_provenance(report, self.state, [s.name for s in self.stages], self.command, looks)
        return report

    def _run_here(self, stage: Stage) -> None:
        """Run one stage in this process and record its wall time."""
        self._log(f"[{stage.name}] running")
        start = time.perf_counter()
        stage.run(stage.name in self.force)
        wall = time.perf_counter() - start
        self.state.finished(stage.name, wall)
        self._log(f"[{stage.name}] finished in {wall / 60:.1f} min")

    def _log(self, text: str) -> None:
        # Always: --no-progress-bar silences the bars, not the stage lines a log file needs.
        print(text, flush=True)
