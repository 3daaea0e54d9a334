"""Stages at once: each stage whose declared reads are done runs in a process of its own, up to
``jobs`` at a time, like ``make -j``.

Why: on 2 CPU cores the study's stages leave a core idle. PPO steps one env, the collections render
one frame at a time, and the 32 x 32 canonicalizer updates no faster on 2 torch threads than on 1
(0.073 against 0.066 s an update on this project's 2-core Xeon), so the sim policy can train while
the frames, the nets and the canonicalizer are made. Each stage process gets
``cpu_count // jobs`` torch threads, fixed by the settings and never by timing, so a stage's result
does not depend on which other stage ran beside it. A stage writes only its own outputs (atomically,
as in one process); its process sends back what it adds to the run state, which the parent alone
writes. A failed stage stops the others (they resume from their checkpoints on the next run) and
its error is raised in the parent as it was raised in the stage.
"""

from __future__ import annotations

import dataclasses
import multiprocessing as mp
import os
import pickle
import time
import traceback
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

from goggles_gym.pipeline.config import PipelineConfig
from goggles_gym.pipeline.seeds import SeedPlan
from goggles_gym.pipeline.stages import STAGES, Context, Stage
from goggles_gym.pipeline.state import RunState


def stage_threads(jobs: int, cpus: int | None = None) -> int:
    """Torch threads of each stage process when ``jobs`` stages run at once on ``cpus`` cores.

    >>> stage_threads(2, 2), stage_threads(2, 16), stage_threads(4, 2)
    (1, 8, 1)
    """
    return max(1, (cpus or os.cpu_count() or 1) // jobs)


class _DetachedState(RunState):
    """The run state inside a stage process: stages record into it, only the parent writes the file."""

    def save(self) -> None:
        return None


def _stage_process(conn: Connection, config: PipelineConfig, data: dict[str, Any], name: str, redo: bool,
                   threads: int) -> None:
    """A stage process's body: run stage ``name`` with ``threads`` torch threads, send back the
    translators it trained (or the error it raised)."""
    try:
        import torch

        torch.set_num_threads(threads)
        state = _DetachedState(Path(config.out), "", {}, {})
        state.data = data  # the parent's state as it was when the stage started
        ctx = Context(config, SeedPlan(config.seed), Path(config.out), state, lambda text: print(text, flush=True))
        stage = next(cls for cls in STAGES if cls.name == name)(ctx)
        stage.run(redo)
        conn.send(("ok", state.data.get("translators", {})))
    except BaseException as exc:  # noqa: BLE001 - every failure goes back to the parent, which raises it
        try:
            pickle.loads(pickle.dumps(exc))  # the parent must be able to rebuild it
            conn.send(("error", exc, traceback.format_exc()))
        except Exception:  # noqa: BLE001 - an exception that does not pickle goes back as its text
            conn.send(("error", RuntimeError(f"stage {name}: {type(exc).__name__}: {exc}"), traceback.format_exc()))
    finally:
        conn.close()


class StageProcessError(Exception):
    """The traceback of an error raised in a stage process (the cause of the error the parent raises)."""


def run_in_processes(stages: Sequence[Stage], ctx: Context, redo: set[str], jobs: int,
                     log: Callable[[str], None]) -> None:
    """Run ``stages`` (those of this run that are not done, in running order), each in its own
    process as soon as the stages it reads under ``ctx.config`` are done, at most ``jobs`` at once."""
    spawn = mp.get_context("spawn")  # a fresh interpreter: no torch or PyBullet state is forked
    threads = stage_threads(jobs)
    pending = list(stages)
    running: dict[Any, tuple[Stage, Connection, Any, float]] = {}
    config = dataclasses.replace(ctx.config, progress_bar=False)  # bars of processes side by side garble
    try:
        while pending or running:
            busy = {s.name for s in pending} | {s.name for s, *_ in running.values()}
            for stage in list(pending):
                if len(running) >= jobs:
                    break
                if any(r in busy for r in type(stage).reads_of(config)):
                    continue
                pending.remove(stage)
                parent_end, child_end = spawn.Pipe(duplex=False)
                process = spawn.Process(target=_stage_process, name=f"goggles-gym {stage.name}", daemon=False,
                                        args=(child_end, config, ctx.state.data, stage.name, stage.name in redo,
                                              threads))
                process.start()
                child_end.close()
                running[process.sentinel] = (stage, parent_end, process, time.perf_counter())
                log(f"[{stage.name}] running (a process of its own, {threads} torch thread"
                    f"{'s' if threads > 1 else ''}; up to {jobs} stages at once)")
            if not running:
                names = ", ".join(s.name for s in pending)
                raise RuntimeError(f"stages {names} wait on each other; their declared reads form a cycle")
            for sentinel in wait(list(running)):
                stage, conn, process, start = running.pop(sentinel)
                message = conn.recv() if conn.poll() else None
                process.join()
                conn.close()
                if message is None:
                    raise RuntimeError(f"stage {stage.name}'s process ended (exit code {process.exitcode}) without "
                                       "finishing; run the same command again to resume it")
                if message[0] == "error":  # raised as the stage raised it; a traceback shows the stage's own
                    raise message[1] from StageProcessError(f"in stage {stage.name}'s process:\n{message[2]}")
                ctx.state.data.setdefault("translators", {}).update(message[1])
                wall = time.perf_counter() - start
                ctx.state.finished(stage.name, wall)
                log(f"[{stage.name}] finished in {wall / 60:.1f} min")
    finally:
        for _, _, process, _ in running.values():  # a failed or interrupted run stops the rest
            process.terminate()
            process.join()
