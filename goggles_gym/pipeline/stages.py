"""The study's stages. Each declares its name, the stages whose outputs it reads, its outputs,
``done()`` (its outputs are there) and ``run()``; what ``--force`` redoes follows from ``reads``.

  policy       PPO in the sim look                          policy/model.zip, summary.json
  dr_policy    randomized looks (DR baseline): PPO, or      policy_dr/...
               DAgger from the sim policy (--dr-method distill)
  frames       unpaired sim, real and sim_eval collections  frames/{sim,real,sim_eval,judge,pairs}/manifest.json
               (judge: randomized looks, labelled; pairs: randomized -> sim renders of the same pose)
               (and judge: the simulator in randomized looks)
  segnet       the semantic loss's judge and sim reader,    segnet/judge.pt, sim_reader.pt, eval.pt
               and a separate evaluation net
  canonicalizer  rcan on the simulator's pairs (optional;   canonicalizer/translator.pt
               --canonicalizer-policy: held to the sim policy's actions too)
  translators  each method x each translator seed           translators/<variant>/seed<k>/translator.pt
  validate     every condition on the validation episodes   validation/results.json (for choosing settings)
  evaluate     every condition on the evaluation episodes   report/results.json, report.md, ...
  other_looks  the target-free rows on --other-looks        report/looks/<name>/results.json, ...
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from goggles_gym.evaluation.study import EvaluateConfig
from goggles_gym.pipeline import configs
from goggles_gym.pipeline.config import PipelineConfig
from goggles_gym.pipeline.seeds import SeedPlan
from goggles_gym.pipeline.state import RunState
from goggles_gym.policies.config import PolicyTrainConfig
from goggles_gym.translators.config import TranslatorTrainConfig


@dataclass
class Context:
    """What every stage shares: the config, the seed plan, the run folder and its state."""

    config: PipelineConfig
    plan: SeedPlan
    run: Path
    state: RunState
    log: Callable[[str], None]


class Stage:
    """One step of the study; subclasses set ``name`` and ``reads`` and implement the rest."""

    name: ClassVar[str]
    reads: ClassVar[tuple[str, ...]] = ()  # every stage it may read; reads_of narrows it to one config

    @classmethod
    def reads_of(cls, config: PipelineConfig) -> tuple[str, ...]:
        """The stages whose outputs this stage reads under ``config``."""
        return cls.reads

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def enabled(self) -> bool:
        """Whether this run has the stage at all (a baseline switched off has none)."""
        return True

    def outputs(self) -> list[Path]:
        """The files that say the stage is done."""
        raise NotImplementedError

    def done(self) -> bool:
        """Every output is there."""
        return all(p.is_file() for p in self.outputs())

    def run(self, redo: bool) -> None:
        """Make the outputs (``redo``: throw away what an earlier run left first)."""
        raise NotImplementedError


class PolicyStage(Stage):
    """The policy trained in the sim look (resumes from its last checkpoint)."""

    name = "policy"

    def outputs(self) -> list[Path]:
        folder = Path(self.config().out)
        return [folder / "model.zip", folder / "summary.json"]

    def config(self) -> PolicyTrainConfig:
        return configs.policy_config(self.ctx.config, self.ctx.plan, self.ctx.run, self.name)

    def run(self, redo: bool) -> None:
        from goggles_gym.policies import train_policy
        from goggles_gym.policies.training import latest_checkpoint

        config = self.config()
        if redo and Path(config.out).exists():
            shutil.rmtree(config.out)
        train_policy(dataclasses.replace(config, resume=latest_checkpoint(config.out) is not None))


class DRPolicyStage(PolicyStage):
    """The domain-randomization baseline: a policy trained in randomized looks, by PPO or distilled
    from the sim policy (``--dr-method distill``: the sim policy is its teacher, hence ``reads``)."""

    name = "dr_policy"
    reads = ("policy",)

    @classmethod
    def reads_of(cls, config: PipelineConfig) -> tuple[str, ...]:
        return cls.reads if config.dr_method == "distill" else ()

    def enabled(self) -> bool:
        return self.ctx.config.dr_timesteps > 0


class FramesStage(Stage):
    """The frame collections, each from its own block of the seed plan."""

    name = "frames"

    def outputs(self) -> list[Path]:
        return [self.ctx.run / "frames" / n / "manifest.json" for n in configs.collections(self.ctx.config,
                                                                                           self.ctx.plan)]

    def run(self, redo: bool) -> None:
        from goggles_gym.frames.sources import collect_from_env, collect_pairs

        c = self.ctx.config
        env = {**c.env, "image_size": c.image_size}
        for spec in configs.collections(c, self.ctx.plan).values():
            path = self.ctx.run / "frames" / spec.name
            if (path / "manifest.json").is_file() and not redo:
                continue
            if path.exists():
                shutil.rmtree(path)  # an interrupted (or forced) collection starts over
            if spec.domain == "paired":
                collect_pairs(path, spec.count, spec.action_seed, episodes=spec.episodes, input_look=spec.look,
                              env_kwargs=env, progress=c.progress_bar, frames_per_episode=spec.frames_per_episode,
                              approach=spec.approach)
            else:
                collect_from_env(path, spec.look, spec.count, spec.action_seed, domain=spec.domain, env_kwargs=env,
                                 progress=c.progress_bar, episodes=spec.episodes)


class SegnetStage(Stage):
    """The semantic loss's judge (and sim reader), and the evaluation's own segmentation net."""

    name = "segnet"
    reads = ("frames",)

    def nets(self) -> dict[str, Path]:
        folder = self.ctx.run / "segnet"
        names = [*configs.segnet_configs(self.ctx.config, self.ctx.plan, self.ctx.run), "eval"]
        return {n: folder / f"{n}.pt" for n in names}

    def outputs(self) -> list[Path]:
        return list(self.nets().values())

    def run(self, redo: bool) -> None:
        from goggles_gym.common.device import resolve_device
        from goggles_gym.frames import read_collection
        from goggles_gym.translators.segmentation import save_segnet, train_judge, train_segnet, train_sim_reader

        c, run = self.ctx.config, self.ctx.run
        device = resolve_device(c.device)
        todo = {n: p for n, p in self.nets().items() if redo or not p.is_file()}
        trained = configs.segnet_configs(c, self.ctx.plan, run)
        if "judge" in todo:
            tc = trained["judge"]
            save_segnet(todo["judge"], train_judge(read_collection(tc.judge_frames or tc.sim), tc, device))
        if "sim_reader" in todo:
            tc = trained["sim_reader"]
            save_segnet(todo["sim_reader"], train_sim_reader(read_collection(tc.sim), tc, device))
        if "eval" in todo:
            # The measuring net: other frames, its own seed, no augmentation (it reads frames the way a
            # sim-trained network does); never the judge the semantic loss trained against.
            net = train_segnet(read_collection(run / "frames" / "sim_eval"), c.eval_seg_iterations,
                               self.ctx.plan.seed_of("segnet/eval"), device, progress=c.progress_bar)
            save_segnet(todo["eval"], net)


class CanonicalizerStage(Stage):
    """The rcan canonicalizer (randomized -> sim, on the simulator's own pairs): trained once per run,
    unless ``--pretrained`` gives one trained elsewhere; the +pretrain translators start from it."""

    name = "canonicalizer"
    reads = ("frames", "policy")

    @classmethod
    def reads_of(cls, config: PipelineConfig) -> tuple[str, ...]:
        return cls.reads if config.canonicalizer_policy else ("frames",)  # policy_pairs reads the sim policy

    def enabled(self) -> bool:
        return self.ctx.config.canonicalizer_iterations > 0 and not self.ctx.config.pretrained

    def outputs(self) -> list[Path]:
        c = self.ctx.config
        return [configs.canonicalizer_file(c, self.ctx.run, k) for k in range(c.canonicalizer_seeds)]

    def done(self) -> bool:
        return all(_translator_final(path) for path in self.outputs())

    def run(self, redo: bool) -> None:
        from goggles_gym.translators.training import CHECKPOINT, train_translator

        for k in range(self.ctx.config.canonicalizer_seeds):
            config = configs.canonicalizer_config(self.ctx.config, self.ctx.plan, self.ctx.run, k)
            if not redo and _translator_final(Path(config.out) / "translator.pt"):
                continue
            if redo and Path(config.out).exists():
                shutil.rmtree(config.out)
            result = train_translator(dataclasses.replace(config, resume=(Path(config.out) / CHECKPOINT).is_file()))
            self.ctx.state.translator_trained("canonicalizer" if k == 0 else f"canonicalizer/seed{k}",
                                              result.wall_time_s, result.iterations)


class TranslatorsStage(Stage):
    """Every translator method, once per translator seed (each resumes from its checkpoint)."""

    name = "translators"
    reads = ("frames", "segnet", "canonicalizer")
    held_to_policy = False  # the +policy rows read the sim policy too: a stage of their own

    @classmethod
    def reads_of(cls, config: PipelineConfig) -> tuple[str, ...]:
        # Only the +pretrain rows start from the run's canonicalizer (--pretrained: a file of elsewhere).
        starts = bool(set(configs.PRETRAINED) & set(configs.variants(config))) and not config.pretrained
        return tuple(r for r in cls.reads if r != "canonicalizer" or starts)

    def jobs(self) -> dict[str, TranslatorTrainConfig]:
        c = self.ctx.config
        return {f"{v}/seed{k}": configs.translator_config(c, self.ctx.plan, self.ctx.run, v, k)
                for v in configs.variants(c) if (v in configs.POLICY_ROWS) == self.held_to_policy
                for k in range(c.translator_seeds)}

    def outputs(self) -> list[Path]:
        return [Path(tc.out) / "translator.pt" for tc in self.jobs().values()]

    def done(self) -> bool:
        return all(_translator_final(p) for p in self.outputs())

    def run(self, redo: bool) -> None:
        from goggles_gym.translators.training import CHECKPOINT, train_translator

        for name, config in self.jobs().items():
            folder = Path(config.out)
            if redo and folder.exists():
                shutil.rmtree(folder)
            if _translator_final(folder / "translator.pt"):
                continue
            result = train_translator(dataclasses.replace(config, resume=(folder / CHECKPOINT).is_file()))
            self.ctx.state.translator_trained(name, result.wall_time_s, result.iterations)


class PolicyTranslatorsStage(TranslatorsStage):
    """The translators held to the sim policy's decisions (``+policy`` rows): they read the policy,
    so redoing the policy redoes them, and only them."""

    name = "policy_translators"
    reads = ("policy", "frames", "segnet", "canonicalizer")
    held_to_policy = True

    def enabled(self) -> bool:
        return bool(self.jobs())


def _translator_final(path: Path) -> bool:
    from goggles_gym.translators.io import TranslatorFileError, read_translator_file

    try:
        return bool(path.is_file() and read_translator_file(path)["extra"].get("final"))
    except TranslatorFileError:
        return False


class EvaluateStage(Stage):
    """Every condition on the seed plan's evaluation episodes, and the report."""

    name = "evaluate"
    reads = ("policy", "dr_policy", "segnet", "canonicalizer", "translators", "policy_translators")
    split = "evaluation"

    def config(self) -> EvaluateConfig:
        return configs.evaluate_config(self.ctx.config, self.ctx.plan, self.ctx.run, self.split)

    def outputs(self) -> list[Path]:
        return [Path(self.config().out) / "results.json"]

    def done(self) -> bool:
        """The results are there and scored the goggles this run has now (a run given more
        translator or canonicalizer seeds is scored again, with all of them)."""
        return _scored(self.config(), self.ctx.run)

    def run(self, redo: bool) -> None:
        from goggles_gym.evaluation.study import evaluate

        c = self.ctx.config
        what = "evaluation episodes (the report)" if self.split == "evaluation" else \
            "validation episodes: for choosing settings, not for reporting"
        evaluate(self.config(), header=f"Pipeline preset `{self.ctx.state.data['preset']}`, target look `{c.look}`, "
                                       f"{what}.")


class ValidateStage(EvaluateStage):
    """The same conditions on the validation episodes, for choosing settings (never reported)."""

    name = "validate"
    split = "validation"

    def enabled(self) -> bool:
        return self.ctx.config.validation_episodes > 0


class OtherLooksStage(Stage):
    """The target-free rows (sim oracle, no goggles, rcan, DR) on each of ``--other-looks``, on the
    report's evaluation episodes: what the same goggles give on looks nobody trained for."""

    name = "other_looks"
    reads = ("policy", "dr_policy", "segnet", "canonicalizer")

    @classmethod
    def reads_of(cls, config: PipelineConfig) -> tuple[str, ...]:
        if not configs.other_looks(config):
            return ()
        has = {"dr_policy": config.dr_timesteps > 0,
               "canonicalizer": config.canonicalizer_iterations > 0 and not config.pretrained}
        return tuple(r for r in cls.reads if has.get(r, True))

    def enabled(self) -> bool:
        return bool(configs.other_looks(self.ctx.config))

    def evaluations(self) -> dict[str, EvaluateConfig]:
        """Look folder name -> its evaluation config."""
        c = self.ctx.config
        return {name: configs.other_look_config(c, self.ctx.plan, self.ctx.run, name)
                for name in configs.other_looks(c)}

    def outputs(self) -> list[Path]:
        return [Path(e.out) / "results.json" for e in self.evaluations().values()]

    def done(self) -> bool:
        return all(_scored(e, self.ctx.run) for e in self.evaluations().values())

    def run(self, redo: bool) -> None:
        from goggles_gym.evaluation.study import evaluate

        for name, config in self.evaluations().items():
            if redo or not _scored(config, self.ctx.run):
                evaluate(config, header=f"Pipeline preset `{self.ctx.state.data['preset']}`, trained for target look "
                                        f"`{self.ctx.config.look}`, scored on `{name}` (another look: only the rows "
                                        "that never saw a target frame), evaluation episodes.")


def _scored(config: EvaluateConfig, run: Path) -> bool:
    """``config``'s results are there and scored the goggles it names now (in a run folder that was
    moved since, the paths they were scored under are read inside the folder they were scored in)."""
    try:
        scored = json.loads((Path(config.out) / "results.json").read_text())["config"]
        depth = len(Path(config.out).relative_to(run).parts)
        scored_run = Path(scored["out"]).parents[depth - 1] if depth else Path(scored["out"])
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        return False
    return _goggles_of(scored, scored_run) == _goggles_of(dataclasses.asdict(config), run)


def _goggles_of(config: dict, run: Path) -> tuple[tuple[str, ...], ...]:
    """The translator files an evaluation config scores, as paths inside the run folder (where they
    are), with each extra row's name."""
    def inside(path: str) -> str:
        p = Path(path)
        return p.relative_to(run).as_posix() if p.is_relative_to(run) else path

    named = (g.partition("=") for g in config.get("goggles", []))
    return (tuple(inside(p) for p in config.get("cyclegan", [])),
            tuple(inside(p) for p in config.get("vr_goggles", [])),
            tuple(f"{name}={inside(path)}" for name, _, path in named))


STAGES: tuple[type[Stage], ...] = (PolicyStage, DRPolicyStage, FramesStage, SegnetStage, CanonicalizerStage,
                                   TranslatorsStage, PolicyTranslatorsStage, ValidateStage, EvaluateStage,
                                   OtherLooksStage)
STAGE_NAMES = tuple(s.name for s in STAGES)


def to_redo(stages: Sequence[type[Stage]], force: Sequence[str], config: PipelineConfig | None = None) -> set[str]:
    """The stages ``--force`` redoes: those named and, from the declared reads (under ``config``
    where given, else every stage a stage may read), every stage that reads what a redone stage
    writes (``all``: every stage). ``stages`` are in running order.

    >>> sorted(to_redo(STAGES, ["segnet"]))
    ['evaluate', 'other_looks', 'policy_translators', 'segnet', 'translators', 'validate']
    >>> sorted(to_redo(STAGES, ["policy"], PipelineConfig(out="run")))
    ['evaluate', 'policy', 'policy_translators', 'validate']
    """
    names = [s.name for s in stages]
    for name in force:
        if name != "all" and name not in names:
            raise ValueError(f"--force {name!r}: stages are {', '.join(names)} (or all)")
    if "all" in force:
        return set(names)
    redo = set(force)
    for stage in stages:
        if any(r in redo for r in (stage.reads if config is None else stage.reads_of(config))):
            redo.add(stage.name)
    return redo
