"""What each stage builds, as pure functions of the pipeline config, the seed plan and the run folder:
the policies' training configs, the frame collections, the translators' training configs and the
evaluations' configs. Nothing here reads or writes a file."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from goggles_gym.envs.looks import display_name
from goggles_gym.evaluation.study import EvaluateConfig
from goggles_gym.pipeline.config import PipelineConfig
from goggles_gym.pipeline.seeds import SeedPlan
from goggles_gym.policies.config import PolicyTrainConfig, load_preset
from goggles_gym.translators.config import TranslatorTrainConfig

VARIANTS = {"cyclegan": dict(method="cyclegan"), "vr-goggles": dict(method="vr-goggles")}
ABLATIONS = {"cyclegan+semantic": dict(method="cyclegan", semantic=True),
             "cyclegan+shift": dict(method="cyclegan", shift=True)}
#: The successors' rows (``--peers``): one-sided contrastive translation (CUT, FastCUT, Park et al.
#: 2020) and VR-Goggles held to the sim policy's decisions (after RL-CycleGAN, Rao et al. 2020).
PEERS = {"cut": dict(method="cut"), "fastcut": dict(method="fastcut"), "vr-goggles+policy": dict(method="vr-goggles")}
POLICY_ROWS = ("vr-goggles+policy",)  # trained with --policy-consistency on the run's own sim policy
POLICY_FOLDERS = {"policy": ("policy", "sim"), "dr_policy": ("policy_dr", "randomized")}


@dataclass(frozen=True)
class CollectionSpec:
    """One frame collection of the frames stage: its look, domain, size and episodes."""

    name: str
    look: str
    domain: str
    count: int
    episodes: tuple[int, ...]
    action_seed: int
    frames_per_episode: int = 0  # paired collections: pairs from one episode before the next (0: whole episodes)
    approach: float = 0.0  # paired collections: share of the pairs taken on the way to the chair


PRETRAINED = {"cyclegan+pretrain": dict(method="cyclegan"), "vr-goggles+pretrain": dict(method="vr-goggles")}
RCAN = "rcan"  # the canonicalizer itself, zero-shot: the goggles row that uses no target frame


def variants(c: PipelineConfig) -> dict[str, dict[str, Any]]:
    """The translator methods this run trains, by name, with their loss switches (the +pretrain
    ones start from the canonicalizer and keep its paired loss; the +policy ones are held to the
    run's sim policy)."""
    return {**VARIANTS, **(ABLATIONS if c.ablations else {}), **(PEERS if c.peers else {}),
            **(PRETRAINED if c.canonicalizer_iterations > 0 and c.pretrain_rows else {})}


def canonicalizer_folder(run: Path, repeat: int = 0) -> Path:
    """Run folder of canonicalizer repeat ``repeat``: ``canonicalizer/`` (as before repeats), then
    ``canonicalizer_seed1/``, ..."""
    return run / ("canonicalizer" if repeat == 0 else f"canonicalizer_seed{repeat}")


def canonicalizer_file(c: PipelineConfig, run: Path, repeat: int = 0) -> Path:
    """Canonicalizer ``repeat`` (the +pretrain translators of repeat k start from repeat k mod
    ``canonicalizer_seeds``): ``--pretrained`` or the run's own."""
    return Path(c.pretrained) if c.pretrained else canonicalizer_folder(run, repeat) / "translator.pt"


def canonicalizer_config(c: PipelineConfig, plan: SeedPlan, run: Path, repeat: int = 0) -> TranslatorTrainConfig:
    """The rcan canonicalizer's training config: the run's paired sim collection, its own seed."""
    return TranslatorTrainConfig(**{
        **dict(method="rcan", pairs=str(run / "frames" / "pairs"), real=str(run / "frames" / "real"),
               out=str(canonicalizer_folder(run, repeat)), iterations=c.canonicalizer_iterations,
               seed=plan.canonicalizer_seed(repeat), device=c.device, progress_bar=c.progress_bar,
               seg_iterations=c.seg_iterations,
               policy_consistency=str(run / "policy") if c.canonicalizer_policy else ""),
        **{k: v for k, v in c.translator.items() if k in ("ngf", "n_blocks", "batch_size", "lr")},
        **c.canonicalizer})


def canonicalizer_upsample(c: PipelineConfig, plan: SeedPlan, run: Path) -> str:
    """The upsampling of the canonicalizer's generator (``--pretrained``'s file, or the run's recipe),
    which the +pretrain rows must build to start from its weights."""
    if c.pretrained:
        from goggles_gym.translators.io import read_translator_file

        return str(read_translator_file(c.pretrained).get("architecture", {}).get("upsample", "transpose"))
    return str(canonicalizer_config(c, plan, run).upsample)


def policy_config(c: PipelineConfig, plan: SeedPlan, run: Path, stage: str) -> PolicyTrainConfig:
    """The training config of the sim policy (``policy``) or the DR baseline (``dr_policy``)."""
    folder, look = POLICY_FOLDERS[stage]
    timesteps = c.policy_timesteps if stage == "policy" else c.dr_timesteps
    preset = load_preset("ppo")
    hp = {**preset.get("hyperparams", {}), **c.policy_hyperparams}
    if c.features_extractor != "nature":
        hp["features_extractor"] = c.features_extractor
    return PolicyTrainConfig(**{**preset, "out": str(run / folder), "look": look, "timesteps": timesteps,
                                "seed": plan.seed_of(stage), "device": c.device, "eval_freq": c.policy_eval_freq,
                                "checkpoint_freq": max(timesteps // 5, 1000), "final_eval_episodes": 0,
                                "progress_bar": c.progress_bar,
                                "env": {**preset.get("env", {}), **c.env, "image_size": c.image_size},
                                "hyperparams": hp,
                                # DAgger from the sim policy (policies/distill.py) instead of PPO
                                "teacher": str(run / "policy") if stage == "dr_policy" and c.dr_method == "distill"
                                else ""})


def collections(c: PipelineConfig, plan: SeedPlan) -> dict[str, CollectionSpec]:
    """The frames stage's collections, each from its own block of episodes: ``sim`` and ``real``
    (the translators' unpaired data), ``sim_eval`` (the evaluation net's) and, unless the judge reads
    the sim collection, ``judge`` (the simulator in randomized looks, labelled) and, with a canonicalizer,
    ``pairs`` (``pairs_look`` renders paired with sim renders of the same poses)."""
    specs = [("sim", "sim", "sim", c.frames), ("real", c.look, "real", c.frames), ("sim_eval", "sim", "sim", c.frames)]
    if c.judge_look != "sim":
        specs.append(("judge", c.judge_look, "sim", c.judge_frames))
    if c.canonicalizer_iterations > 0:  # the simulator's own pairs: randomized (or wide) render -> sim render
        specs.append(("pairs", c.pairs_look, "paired", c.pair_frames))
    out = {}
    for name, look, domain, count in specs:
        block = plan.block(f"frames/{name}")
        # A collection ends an episode when it is done or truncated, so it needs at most count + 1.
        out[name] = CollectionSpec(name, look, domain, count, tuple(block.take(count + 1)), block.first,
                                   c.pair_frames_per_episode if domain == "paired" else 0,
                                   c.pair_approach if domain == "paired" else 0.0)
    return out


def translator_config(c: PipelineConfig, plan: SeedPlan, run: Path, variant: str, repeat: int) -> TranslatorTrainConfig:
    """Translator ``variant``'s training config for translator seed ``repeat``: the run's frames, the
    segnet stage's judge (and sim reader), the seed plan's translator seed, the preset's extras."""
    frames, segnets = run / "frames", run / "segnet"
    base = dict(real=str(frames / "real"), sim=str(frames / "sim"),
                out=str(translator_folder(run, variant, repeat)), iterations=c.translator_iterations,
                seg_iterations=c.seg_iterations, seed=plan.translator_seed(repeat), device=c.device,
                segnet=str(segnets / "judge.pt"), progress_bar=c.progress_bar,
                judge_frames=str(frames / "judge") if c.judge_look != "sim" else "")
    if variant in PRETRAINED:  # G is the canonicalizer's generator, upsampling included
        base.update(init_from=str(canonicalizer_file(c, run, repeat % c.canonicalizer_seeds)),
                    pairs=str(frames / "pairs"), upsample=canonicalizer_upsample(c, plan, run))
    if variant in POLICY_ROWS:  # held to the run's own sim policy (the policy_translators stage)
        base["policy_consistency"] = str(run / POLICY_FOLDERS["policy"][0])
    config = TranslatorTrainConfig(**{**base, **c.translator, **variants(c).get(variant, VARIANTS["vr-goggles"])})
    if config.sim_reader and not config.sim_reader_segnet:
        config.sim_reader_segnet = str(segnets / "sim_reader.pt")
    return config


def segnet_configs(c: PipelineConfig, plan: SeedPlan, run: Path) -> dict[str, TranslatorTrainConfig]:
    """The training configs of the semantic loss's nets (``judge``, and ``sim_reader`` when the
    translators use one): VR-Goggles' settings, with the seed plan's seed of each net."""
    vr = translator_config(c, plan, run, "vr-goggles", 0)
    out = {"judge": dataclasses.replace(vr, seed=plan.seed_of("segnet/judge"))}
    if vr.sim_reader:
        out["sim_reader"] = dataclasses.replace(vr, seed=plan.seed_of("segnet/sim_reader"))
    return out


def translator_folder(run: Path, variant: str, repeat: int) -> Path:
    """``translators/<variant>/seed<k>``: translator seed ``k``'s run folder."""
    return run / "translators" / variant / f"seed{repeat}"


def evaluate_config(c: PipelineConfig, plan: SeedPlan, run: Path, split: str) -> EvaluateConfig:
    """The closed-loop evaluation on the seed plan's ``evaluation`` block (the report) or its
    ``validation`` block (for choosing settings; no videos)."""
    if split not in ("evaluation", "validation"):
        raise ValueError(f"split must be evaluation or validation, got {split!r}")
    episodes = c.episodes if split == "evaluation" else c.validation_episodes
    files = {v: [str(translator_folder(run, v, k) / "translator.pt") for k in range(c.translator_seeds)]
             for v in variants(c)}
    extra = [f"{v}={p}" for v, paths in files.items() if v not in VARIANTS for p in paths]
    if c.canonicalizer_iterations > 0:
        extra[:0] = [f"{RCAN}={canonicalizer_file(c, run, k)}" for k in range(c.canonicalizer_seeds)]
    return EvaluateConfig(policy=str(run / "policy"), out=str(run / ("report" if split == "evaluation" else split)),
                          look=c.look, cyclegan=files["cyclegan"], vr_goggles=files["vr-goggles"], goggles=extra,
                          translator_seeds=None if c.canonicalizer_iterations > 0 else c.translator_seeds,
                          dr_policy=str(run / "policy_dr") if c.dr_timesteps > 0 else None, episodes=episodes,
                          first_seed=plan.block(split).first, segnet=str(run / "segnet" / "eval.pt"),
                          metric_frames=c.metric_frames, metric_first_seed=plan.block(f"{split}/metrics").first,
                          videos=split == "evaluation", device=c.device, progress_bar=c.progress_bar)


def other_looks(c: PipelineConfig) -> dict[str, str]:
    """The looks beside the target that the target-free rows are scored on (``--other-looks``), by
    folder name (:func:`~goggles_gym.envs.looks.display_name`); the target itself is left out, its
    rows are the report."""
    return {display_name(spec): spec for spec in c.other_looks if display_name(spec) != display_name(c.look)}


def other_look_config(c: PipelineConfig, plan: SeedPlan, run: Path, name: str) -> EvaluateConfig:
    """The closed loop on another look (``report/looks/<name>``): the report's evaluation episodes and
    held-out frames, and only the rows that never saw a target frame (sim oracle, no goggles, each
    rcan canonicalizer, the DR policy); the translators trained on the target are not run there."""
    base = evaluate_config(c, plan, run, "evaluation")
    rcan = [g for g in base.goggles if g.partition("=")[0] == RCAN]
    return dataclasses.replace(base, look=other_looks(c)[name], out=str(run / "report" / "looks" / name),
                               cyclegan=[], vr_goggles=[], goggles=rcan, translator_seeds=None)
