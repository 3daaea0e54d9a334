"""``python -m goggles_gym.pipeline``: the whole study in one command, resumable stage by stage.

    python -m goggles_gym.pipeline --preset quick --out runs/quick
    python -m goggles_gym.pipeline --preset paper --out runs/paper --look my_lab.yaml
    python -m goggles_gym.pipeline --preset paper --out runs/paper --force translators

Stages, each writing into the run folder and skipped when its artifact is there (a killed run picks
up where it stopped; policies and translators resume from their last checkpoint):

  policy       PPO in the sim look                          policy/model.zip, summary.json
  dr_policy    the same, in randomized looks (DR baseline)   policy_dr/...
  frames       unpaired sim, real and sim_eval collections  frames/{sim,real,sim_eval,judge}/manifest.json
               (and judge: the simulator in randomized looks)
  segnet       the semantic loss's judge and sim reader,    segnet/judge.pt, sim_reader.pt, eval.pt
               and a separate evaluation net (other frames,
               other seed)
  translators  CycleGAN, VR-Goggles (and the ablations)     translators/<variant>/translator.pt
  evaluate     every condition on the same seeds, report    report/results.json, report.md, ...

``--force STAGE`` redoes a stage and every stage that uses its output (``--force all``: everything).
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import os
import platform
import shlex
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from goggles_gym.common.cli import add_dataclass_args, arg, build_config, run_cli
from goggles_gym.common.files import atomic_write_text
from goggles_gym.translators.config import TranslatorTrainConfig

STAGES = ("policy", "dr_policy", "frames", "segnet", "translators", "evaluate")
DOWNSTREAM = {"policy": ("evaluate",), "dr_policy": ("evaluate",), "frames": ("segnet", "translators", "evaluate"),
              "segnet": ("translators", "evaluate"), "translators": ("evaluate",), "evaluate": ()}
VARIANTS = {"cyclegan": dict(method="cyclegan"), "vr-goggles": dict(method="vr-goggles")}
ABLATIONS = {"cyclegan+semantic": dict(method="cyclegan", semantic=True),
             "cyclegan+shift": dict(method="cyclegan", shift=True)}


@dataclass
class PipelineConfig:
    """The study's sizes; a preset fills them, flags override single ones."""

    out: str = arg("", "run folder (created; every artifact of the run goes here)")
    look: str = arg("real", "target look: built-in name or a look YAML (describe your own lab)")
    image_size: int = arg(64, "frame size of the policies and translators (square, a multiple of 4)")
    policy_timesteps: int = arg(120_000, "sim policy training steps (PPO)")
    dr_timesteps: int = arg(120_000, "domain-randomization policy training steps (0: no DR baseline)")
    policy_eval_freq: int = arg(40_000, "periodic evaluation during policy training, every N steps (0: never)")
    features_extractor: str = arg("nature", "policy CNN: nature (SB3's NatureCNN, >= 36 px) or small")
    frames: int = arg(3000, "frames per collection (sim, real; sim_eval for the evaluation net)")
    judge_look: str = arg("randomized", "look of the labelled simulator frames the semantic loss's judge learns "
                          "from: randomized (shapes over colours, so it finds the chair in real frames; a judge "
                          "collection is added) or sim (the sim collection)")
    judge_frames: int = arg(5000, "frames of the judge collection (more looks: a steadier judge)")
    seg_iterations: int = arg(700, "updates of the semantic loss's judge")
    eval_seg_iterations: int = arg(1000, "updates of the separate evaluation segmentation net")
    translator_iterations: int = arg(2000, "updates of each translator")
    ablations: bool = arg(True, "also train CycleGAN+semantic and CycleGAN+shift for the ablation rows")
    episodes: int = arg(100, "evaluation episodes per condition")
    metric_frames: int = arg(400, "held-out paired frames for mIoU / L1 / shift")
    seed: int = arg(0, "seed of everything (stages derive their own from it)")
    device: str = arg("auto", "torch device: auto (CUDA when present), cpu, cuda")
    progress_bar: bool = arg(True, "show progress bars")
    env: dict[str, Any] = arg(help="ChairNav settings for every stage (max_steps, ...)", factory=dict, flag=False)
    policy_hyperparams: dict[str, Any] = arg(help="PPO hyperparameters over the ppo preset's", factory=dict,
                                             flag=False)
    translator: dict[str, Any] = arg(help="extra TranslatorTrainConfig fields for every translator",
                                     factory=dict, flag=False)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (saved in pipeline.json)."""
        return dataclasses.asdict(self)


PRESETS: dict[str, dict[str, Any]] = {
    # 7.1 minutes measured on 2 CPU cores: 32 x 32 frames, short runs, no DR baseline, no ablations,
    # the judge learns from the sim collection (no judge collection, no sim reader: minutes saved).
    "quick": dict(image_size=32, policy_timesteps=40_000, dr_timesteps=0, policy_eval_freq=0,
                  features_extractor="small", frames=1500, judge_look="sim", seg_iterations=200,
                  eval_seg_iterations=200, translator_iterations=500, ablations=False, episodes=50,
                  metric_frames=200),
    # 64 x 64 frames and the ablations: 53.2 min measured on 2 CPU cores on `real` (four translators
    # of 600 updates, 28.8 min; the translator benchmark's 1,500 would take over 70 min here), 80
    # episodes a condition (5.1 min, 8 side by side). The shift loss weighs 15, not the default 45:
    # at 600 updates 45 smooths the room away (VR-Goggles 20% in closed loop on `real`; 15: 57%,
    # with half CycleGAN's shift error; docs/README.md).
    "paper": dict(image_size=64, policy_timesteps=100_000, dr_timesteps=60_000, policy_eval_freq=50_000,
                  frames=3000, seg_iterations=600, eval_seg_iterations=500, translator_iterations=600,
                  ablations=True, episodes=80, metric_frames=400, translator=dict(lambda_shift=15.0)),
}


def load_pipeline_preset(name_or_path: str) -> dict[str, Any]:
    """A preset by name (quick, paper) or from a YAML file of :class:`PipelineConfig` fields."""
    if name_or_path in PRESETS:
        return copy.deepcopy(PRESETS[name_or_path])
    path = Path(name_or_path)
    if path.suffix not in (".yaml", ".yml"):
        raise ValueError(f"unknown preset {name_or_path!r}: use {', '.join(PRESETS)} or a YAML path")
    if not path.is_file():
        raise FileNotFoundError(f"preset file not found: {path}")
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise ValueError(f"preset {path} must be a mapping of pipeline options")
    return data


class Pipeline:
    """Runs the stages of one study in a run folder, skipping the finished ones."""

    def __init__(self, config: PipelineConfig, preset: str = "custom", force: Sequence[str] = (),
                 command: str = "") -> None:
        if not config.out:
            raise ValueError("--out is required: the run folder for every artifact")
        self.config, self.preset, self.command = config, preset, command
        self.run = Path(config.out)
        self.force = self._expand(force)
        self.state_path = self.run / "pipeline.json"
        self.state: dict[str, Any] = {"stages": {}}

    @staticmethod
    def _expand(force: Sequence[str]) -> set[str]:
        out: set[str] = set()
        for name in force:
            if name == "all":
                return set(STAGES)
            if name not in STAGES:
                raise ValueError(f"--force {name!r}: stages are {', '.join(STAGES)} (or all)")
            todo = [name]
            while todo:
                stage = todo.pop()
                if stage not in out:
                    out.add(stage)
                    todo.extend(DOWNSTREAM[stage])
        return out

    def _load_state(self) -> None:
        settings = {"preset": self.preset, "config": self.config.to_dict()}
        if self.state_path.is_file():
            try:
                old = json.loads(self.state_path.read_text())
            except json.JSONDecodeError as exc:
                raise ValueError(f"{self.state_path} is damaged ({exc}); delete it (finished stages are still "
                                 "found by their artifacts)") from None
            keep = {k: v for k, v in old.get("config", {}).items() if k not in ("progress_bar", "device")}
            now = {k: v for k, v in settings["config"].items() if k not in ("progress_bar", "device")}
            if keep != now and self.force != set(STAGES):
                changed = sorted(k for k in set(keep) | set(now) if keep.get(k) != now.get(k))
                raise ValueError(f"{self.run} holds a run with other settings ({', '.join(changed)}); use another "
                                 "--out, or --force all to redo it with these")
            self.state = {**old, **settings, "stages": old.get("stages", {}) if self.force != set(STAGES) else {}}
        else:
            self.state = {**settings, "stages": {}}
        self.state["machine"] = machine_description()

    def _save_state(self) -> None:
        atomic_write_text(self.state_path, json.dumps(self.state, indent=2))

    def run_all(self) -> Path:
        """Run (or skip) every stage; returns the report path."""
        self.run.mkdir(parents=True, exist_ok=True)
        self._load_state()
        self._save_state()
        steps: list[tuple[str, Callable[[], bool], Callable[[], None]]] = [
            ("policy", self._policy_done("policy"), lambda: self._train_policy("policy", "policy", "sim",
                                                                                self.config.policy_timesteps)),
            ("dr_policy", self._policy_done("policy_dr"),
             lambda: self._train_policy("dr_policy", "policy_dr", "randomized", self.config.dr_timesteps)),
            ("frames", self._frames_done, self._collect),
            ("segnet", self._segnet_done, self._train_segnets),
            ("translators", self._translators_done, self._train_translators),
            ("evaluate", lambda: (self.run / "report" / "results.json").is_file(), self._evaluate),
        ]
        if self.config.dr_timesteps <= 0:  # no DR baseline asked for: the stage is not part of this run
            steps = [s for s in steps if s[0] != "dr_policy"]
            self._log("[dr_policy] not asked for (dr_timesteps 0), skipped")
            self.state["stages"].pop("dr_policy", None)
        for name, done, work in steps:
            if name not in self.force and done():
                self._log(f"[{name}] done already, skipped")
                self.state["stages"].setdefault(name, {})["skipped_last_run"] = True
                self._save_state()
                continue
            self._log(f"[{name}] running")
            start = time.perf_counter()
            work()
            wall = time.perf_counter() - start
            self.state["stages"][name] = {"wall_time_s": round(wall, 1), "skipped_last_run": False,
                                          "finished": time.strftime("%Y-%m-%d %H:%M:%S")}
            self._save_state()
            self._log(f"[{name}] finished in {wall / 60:.1f} min")
        self.force = set()
        report = self.run / "report" / "report.md"
        self._append_provenance(report)
        return report

    def _log(self, text: str) -> None:
        if self.config.progress_bar:
            print(text, flush=True)

    # -- policies ------------------------------------------------------------------------------------
    def _policy_done(self, folder: str) -> Callable[[], bool]:
        return lambda: (self.run / folder / "summary.json").is_file() and (self.run / folder / "model.zip").is_file()

    def _train_policy(self, stage: str, folder: str, look: str, timesteps: int) -> None:
        from goggles_gym.policies.config import PolicyTrainConfig, load_preset
        from goggles_gym.policies.training import latest_checkpoint, train_policy

        if timesteps <= 0:
            return
        c = self.config
        run = self.run / folder
        if stage in self.force and run.exists():
            shutil.rmtree(run)
        preset = load_preset("ppo")
        hp = {**preset.get("hyperparams", {}), **c.policy_hyperparams}
        if c.features_extractor != "nature":
            hp["features_extractor"] = c.features_extractor
        config = PolicyTrainConfig(**{**preset, "out": str(run), "look": look, "timesteps": timesteps,
                                      "seed": c.seed, "device": c.device, "eval_freq": c.policy_eval_freq,
                                      "checkpoint_freq": max(timesteps // 5, 1000), "final_eval_episodes": 0,
                                      "progress_bar": c.progress_bar,
                                      "resume": latest_checkpoint(run) is not None,
                                      "env": {**preset.get("env", {}), **c.env, "image_size": c.image_size},
                                      "hyperparams": hp})
        train_policy(config)

    # -- frames --------------------------------------------------------------------------------------
    def _collections(self) -> dict[str, tuple[str, int, str, int]]:
        """Collection name -> (look, seed, domain, frames); every collection has its own episodes."""
        c, s = self.config, self.config.seed
        out = {"sim": ("sim", 10 * s + 1, "sim", c.frames), "real": (c.look, 10 * s + 2, "real", c.frames),
               "sim_eval": ("sim", 10 * s + 3, "sim", c.frames)}
        if c.judge_look != "sim":
            out["judge"] = (c.judge_look, 10 * s + 4, "sim", c.judge_frames)
        return out

    def _frames_done(self) -> bool:
        return all((self.run / "frames" / n / "manifest.json").is_file() for n in self._collections())

    def _collect(self) -> None:
        from goggles_gym.frames.sources import collect_from_env

        for name, (look, seed, domain, count) in self._collections().items():
            path = self.run / "frames" / name
            if (path / "manifest.json").is_file() and "frames" not in self.force:
                continue
            if path.exists():
                shutil.rmtree(path)  # an interrupted (or forced) collection starts over
            collect_from_env(path, look, count, seed, domain=domain,
                             env_kwargs={**self.config.env, "image_size": self.config.image_size},
                             progress=self.config.progress_bar)

    # -- segmentation nets ---------------------------------------------------------------------------
    def _segnets(self) -> tuple[str, ...]:
        """The segmentation nets of the segnet stage (the sim reader when the translators use one)."""
        return ("judge.pt", "eval.pt") + (("sim_reader.pt",) if self._translator_config("vr-goggles").sim_reader
                                          else ())

    def _segnet_done(self) -> bool:
        return all((self.run / "segnet" / n).is_file() for n in self._segnets())

    def _train_segnets(self) -> None:
        from goggles_gym.frames import read_collection
        from goggles_gym.translators.io import resolve_device
        from goggles_gym.translators.segmentation import save_segnet, train_judge, train_segnet, train_sim_reader

        c = self.config
        device = resolve_device(c.device)
        folder = self.run / "segnet"
        tc = self._translator_config("vr-goggles")
        if not (folder / "judge.pt").is_file() or "segnet" in self.force:
            save_segnet(folder / "judge.pt", train_judge(read_collection(tc.judge_frames or tc.sim), tc, device))
        if "sim_reader.pt" in self._segnets() and (not (folder / "sim_reader.pt").is_file() or "segnet" in self.force):
            save_segnet(folder / "sim_reader.pt", train_sim_reader(read_collection(tc.sim), tc, device))
        if not (folder / "eval.pt").is_file() or "segnet" in self.force:
            # The measuring net: other frames, other seed, no augmentation (it reads frames the way a
            # sim-trained network does); never the judge the semantic loss trained against.
            net = train_segnet(read_collection(self.run / "frames" / "sim_eval"), c.eval_seg_iterations,
                               c.seed + 100, device, progress=c.progress_bar)
            save_segnet(folder / "eval.pt", net)

    # -- translators ---------------------------------------------------------------------------------
    def variants(self) -> dict[str, dict[str, Any]]:
        """The translators this run trains, by name."""
        return {**VARIANTS, **(ABLATIONS if self.config.ablations else {})}

    def _translator_config(self, name: str) -> TranslatorTrainConfig:

        c = self.config
        fields = {**c.translator, **self.variants().get(name, VARIANTS["vr-goggles"])}
        frames, segnets = self.run / "frames", self.run / "segnet"
        base = dict(real=str(frames / "real"), sim=str(frames / "sim"), out=str(self.run / "translators" / name),
                    iterations=c.translator_iterations, seg_iterations=c.seg_iterations, seed=c.seed,
                    device=c.device, segnet=str(segnets / "judge.pt"), progress_bar=c.progress_bar,
                    judge_frames=str(frames / "judge") if c.judge_look != "sim" else "")
        config = TranslatorTrainConfig(**{**base, **fields})
        if config.sim_reader and not config.sim_reader_segnet:
            config.sim_reader_segnet = str(segnets / "sim_reader.pt")
        return config

    def _translator_done(self, name: str) -> bool:
        from goggles_gym.translators.io import TranslatorFileError, read_translator_file

        path = self.run / "translators" / name / "translator.pt"
        try:
            return bool(path.is_file() and read_translator_file(path)["extra"].get("final"))
        except TranslatorFileError:
            return False

    def _translators_done(self) -> bool:
        return all(self._translator_done(n) for n in self.variants())

    def _train_translators(self) -> None:
        from goggles_gym.translators.training import CHECKPOINT, train_translator

        for name in self.variants():
            folder = self.run / "translators" / name
            if "translators" in self.force and folder.exists():
                shutil.rmtree(folder)
            if self._translator_done(name):
                continue
            config = self._translator_config(name)
            config.resume = (folder / CHECKPOINT).is_file()
            result = train_translator(config)
            self.state.setdefault("translators", {})[name] = {"wall_time_s": round(result.wall_time_s, 1),
                                                              "iterations": result.iterations}
            self._save_state()

    # -- evaluation ----------------------------------------------------------------------------------
    def _evaluate(self) -> None:
        from goggles_gym.evaluation import EvaluateConfig, evaluate

        c = self.config
        t = self.run / "translators"
        extra = [f"{n}={t / n / 'translator.pt'}" for n in self.variants() if n not in VARIANTS]
        config = EvaluateConfig(policy=str(self.run / "policy"), out=str(self.run / "report"), look=c.look,
                                cyclegan=str(t / "cyclegan" / "translator.pt"),
                                vr_goggles=str(t / "vr-goggles" / "translator.pt"), goggles=extra,
                                dr_policy=str(self.run / "policy_dr") if c.dr_timesteps > 0 else None,
                                episodes=c.episodes, segnet=str(self.run / "segnet" / "eval.pt"),
                                metric_frames=c.metric_frames, device=c.device, progress_bar=c.progress_bar)
        evaluate(config, header=f"Pipeline preset `{self.preset}`, target look `{c.look}`.")

    def _append_provenance(self, report: Path) -> None:
        """Add how the run was made (command, machine, each stage's wall time) to report.md."""
        if not report.is_file():
            return
        text = report.read_text(encoding="utf-8").split("\n## How this run was made")[0].rstrip("\n")
        stages = self.state["stages"]
        total = sum(s.get("wall_time_s", 0.0) for s in stages.values())
        lines = ["", "## How this run was made", "", f"- command: `{self.command or 'python -m goggles_gym.pipeline'}`",
                 f"- machine: {self.state['machine']}",
                 f"- wall time of the stages (as each last ran): {total / 60:.1f} min in all", ""]
        lines += ["| stage | wall time |", "|---|---|"]
        lines += [f"| {n} | {stages[n]['wall_time_s'] / 60:.1f} min |" for n in STAGES if n in stages]
        for name, t in self.state.get("translators", {}).items():
            lines.append(f"| translator {name} | {t['wall_time_s'] / 60:.1f} min ({t['iterations']} iterations) |")
        lines += ["", "Settings:", "", "```yaml", yaml.safe_dump(self.config.to_dict(), sort_keys=False).rstrip(),
                  "```", ""]
        atomic_write_text(report, text + "\n" + "\n".join(lines))


def machine_description() -> str:
    """CPU cores, platform, torch version and device: what the wall times were measured on."""
    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (f"{os.cpu_count()} CPU cores ({platform.processor() or platform.machine()}), {gpu}, "
            f"{platform.system()} {platform.release()}, Python {platform.python_version()}, torch {torch.__version__}")


def parser() -> argparse.ArgumentParser:
    """Argument parser of the pipeline CLI."""
    ap = argparse.ArgumentParser(prog="python -m goggles_gym.pipeline", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="quick",
                    help="quick (about 7 min on 2 CPU cores), paper (about 50 min) or a YAML path")
    add_dataclass_args(ap, PipelineConfig)
    ap.add_argument("--force", nargs="+", default=[], metavar="STAGE",
                    help=f"redo these stages and those after them: {', '.join(STAGES)}, or all")
    return ap


def pipeline_main(argv: Sequence[str] | None = None) -> None:
    """Parse flags, run the pipeline, print the results table and the report's path."""
    from goggles_gym.evaluate import print_table

    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser().parse_args(argv)
    config = build_config(PipelineConfig, load_pipeline_preset(args.preset), args)
    command = "python -m goggles_gym.pipeline " + shlex.join(argv)
    report = Pipeline(config, args.preset, args.force, command).run_all()
    results = json.loads((report.parent / "results.json").read_text())
    print_table(results["conditions"])
    print(f"report: {report}")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; errors become one line and exit status 2."""
    return run_cli(pipeline_main, argv)


if __name__ == "__main__":
    sys.exit(main())
