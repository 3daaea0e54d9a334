"""The study: every condition (sim oracle, no goggles, each goggles over its translator seeds, the DR
policy on the target and in its own looks) on the same seeded episodes, the translation figures on
held-out paired frames, the paired tests, and the report."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from tqdm.auto import tqdm

from goggles_gym.common.cli import arg
from goggles_gym.common.files import atomic_write_text
from goggles_gym.envs.looks import display_name, look_name
from goggles_gym.evaluation.rollout import ConditionResult, run_condition
from goggles_gym.evaluation.statistics import mcnemar_exact, seed_summary, wilson_interval
from goggles_gym.policies.loading import LoadedPolicy
from goggles_gym.translators.backends import BACKENDS

SIM_ORACLE, NO_GOGGLES = "sim oracle", "no goggles"
DR, DR_OWN = "domain randomization", "domain randomization (own looks)"
BASELINE = "cyclegan"  # every goggles row is tested against it, and against no goggles
DR_TRAINED = 0.8  # a DR policy below this success in its own looks is reported as under-trained


@dataclass
class EvaluateConfig:
    """Options of ``python -m goggles_gym.evaluate`` (also driven by the pipeline)."""

    policy: str = arg("", "sim-trained policy: run folder or model zip", required=True)
    out: str = arg("runs/eval", "output folder: results.json/csv, report.md, chart, strips, videos")
    look: str = arg("real", "target look the goggles face: built-in name or a look YAML")
    cyclegan: list[str] = arg(help="CycleGAN translator file(s), one per translator seed", factory=list, flag=False)
    vr_goggles: list[str] = arg(help="VR-Goggles translator file(s), one per translator seed", factory=list,
                                flag=False)
    goggles: list[str] = arg(help="more goggles as NAME=PATH, repeatable; a NAME given again is another translator "
                             "seed of that method", factory=list, flag=False)
    translator_seeds: int | None = arg(None, "check that every goggles method has this many translator files (one "
                                       "per seed) [default: as many as given]")
    dr_policy: str | None = arg(None, "domain-randomization policy (run folder or zip), run on raw frames in the "
                                "target look and in its own randomized looks")
    episodes: int = arg(100, "seeded episodes per condition (the same seeds in every condition)")
    envs: int = arg(8, "episodes run side by side, so the goggles and the policy see one batch a step")
    first_seed: int = arg(2_000_000, "seed of the first episode (seeds first_seed, first_seed + 1, ...)")
    segnet: str | None = arg(None, "evaluation segmentation net (segnet.pt) for mIoU; without it mIoU is left out")
    metric_frames: int = arg(400, "held-out paired frames for mIoU, L1 to sim and shift (0: skip those)")
    metric_first_seed: int = arg(3_000_000, "episode seed of the first held-out paired frame (one frame an episode)")
    strip_frames: int = arg(6, "frames in the strip image (raw | each goggles | true sim)")
    videos: bool = arg(True, "one MP4 per condition: the first episode, camera frame | what the policy sees")
    backend: str = arg("auto", "goggles inference backend: auto (ONNX Runtime on a CPU where installed, else "
                       "torch), torch, compile or onnx", choices=BACKENDS)
    device: str = arg("auto", "torch device: auto (CUDA when present), cpu, cuda")
    title: str = arg("", "report title [default: from the looks]")
    progress_bar: bool = arg(True, "show progress bars")


@dataclass
class _Run:
    """One condition's run: its episodes and, for goggles, which translator seed and file."""

    condition: str
    result: ConditionResult
    repeat: int | None = None
    file: str | None = None
    figures: dict[str, Any] = dataclasses.field(default_factory=dict)
    training: dict[str, Any] = dataclasses.field(default_factory=dict)  # goggles: what its file records


def goggles_files(config: EvaluateConfig) -> dict[str, list[str]]:
    """Method name -> its translator files (one per seed), from ``cyclegan``, ``vr_goggles`` and
    ``goggles``; names and counts checked."""
    files: dict[str, list[str]] = {}
    for name, paths in (("cyclegan", config.cyclegan), ("vr-goggles", config.vr_goggles)):
        if paths:
            files[name] = list(paths)
    for item in config.goggles:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise ValueError(f"--goggles {item!r} must look like NAME=PATH (e.g. cyclegan+shift=runs/x/translator.pt)")
        if name in (SIM_ORACLE, NO_GOGGLES, DR, DR_OWN) or (name in files and name in ("cyclegan", "vr-goggles")):
            raise ValueError(f"--goggles name {name!r} is taken; give the condition another name")
        files.setdefault(name, []).append(path)
    n = config.translator_seeds
    if n is not None:
        if n < 1:
            raise ValueError(f"--translator-seeds must be at least 1, got {n}")
        wrong = {k: len(v) for k, v in files.items() if len(v) != n}
        if wrong:
            raise ValueError(f"--translator-seeds {n}: these methods have another number of translator files: "
                             + ", ".join(f"{k} ({v})" for k, v in wrong.items()) + "; give one file per seed")
    return files


def translation_figures(frames: np.ndarray, paired: dict[str, np.ndarray], seg: Any) -> dict[str, float]:
    """Paired L1 to the true sim render and (when ``seg`` is given) mIoU of ``frames``: the held-out
    real frames of ``paired`` as one condition shows them to the policy (raw, translated, true sim)."""
    from goggles_gym.envs.scene import CLASSES
    from goggles_gym.metrics import class_iou, false_positive_rate, mean_iou, paired_l1, predict_labels

    out = {"paired_l1": paired_l1(frames, paired["sim"])}
    if seg is not None:
        pred, chair = predict_labels(seg, frames), CLASSES.index("chair")
        out.update(miou=mean_iou(pred, paired["labels"]), chair_iou=class_iou(pred, paired["labels"], chair),
                   chair_fp=false_positive_rate(pred, paired["labels"], chair))
    return out


def translator_training(path: str | Path) -> dict[str, Any]:
    """What a translator file records of its training: its loss families (``losses``), ``iterations``
    and the training wall time in seconds across resumes (``train_wall_s``; None in files written
    before it was recorded)."""
    from goggles_gym.translators.io import read_translator_file

    extra = read_translator_file(path).get("extra") or {}
    wall = extra.get("train_wall_s")
    return {"losses": list(extra.get("losses") or []), "iterations": extra.get("iterations"),
            "train_wall_s": None if wall is None else float(wall)}


FIGURES = ("miou", "chair_iou", "chair_fp", "paired_l1", "shift", "frames_per_s")


def _condition_summary(runs: list[_Run]) -> dict[str, Any]:
    """One row of the report: a plain condition's summary, or a goggles method's over its seeds."""
    first = runs[0]
    if first.repeat is None:
        return {**first.result.summary(), **first.figures, "interval": "Wilson"}
    per_seed = [{"translator_seed": r.repeat, "file": r.file,
                 **{k: v for k, v in r.result.summary().items() if k != "condition"}, **r.figures,
                 "training": r.training} for r in runs]
    stats = seed_summary([s["success_rate"] for s in per_seed])
    one = len(runs) == 1
    row: dict[str, Any] = {
        "condition": first.condition, "episodes": per_seed[0]["episodes"], "n_seeds": len(runs), "one_draw": one,
        "successes": sum(s["successes"] for s in per_seed), "success_rate": stats["mean"],
        "success_min": stats["min"], "success_max": stats["max"], "success_std_over_seeds": stats["std"],
        "success_ci95": per_seed[0]["success_ci95"] if one else stats["ci"],
        "interval": "Wilson (one draw)" if one else f"t over {len(runs)} translator seeds",
        "per_seed": per_seed,
    }
    for key in ("spl", "mean_length", "mean_collisions", *FIGURES):
        values = [s[key] for s in per_seed if s.get(key) is not None and not isinstance(s[key], str)]
        if values:
            row[key] = float(np.mean(values))
    row["backend"] = per_seed[0].get("backend")
    return row


def paired_tests(by_condition: dict[str, list[_Run]], baseline: str = BASELINE) -> dict[str, dict[str, Any]]:
    """Exact McNemar tests of every goggles method against ``baseline`` and against no goggles, on the
    same episodes; repeat ``k`` is paired with the baseline's repeat ``k`` and the seeds' pairs are
    pooled (each translator seed and episode one pair), with each seed's own p-value beside."""
    out: dict[str, dict[str, Any]] = {}
    raw = by_condition.get(NO_GOGGLES)
    for name, runs in by_condition.items():
        if runs[0].repeat is None:
            continue
        tests: dict[str, Any] = {}
        refs = {"no goggles": [raw[0]] * len(runs) if raw else []}
        if name != baseline and baseline in by_condition:
            refs[baseline] = by_condition[baseline]
        for ref_name, ref in refs.items():
            pairs = list(zip(runs, ref, strict=False))
            if not pairs:
                continue
            outcome = [[e.success for e in r.result.episodes] for r, _ in pairs]
            other = [[e.success for e in r.result.episodes] for _, r in pairs]
            pooled = mcnemar_exact(sum(outcome, []), sum(other, []))
            pooled["per_seed_p"] = [mcnemar_exact(a, b)["p_value"] for a, b in zip(outcome, other, strict=True)]
            tests[ref_name] = pooled
        out[name] = tests
    return out


def evaluate(config: EvaluateConfig, header: str = "") -> list[dict[str, Any]]:
    """Run every condition on the same seeds, measure the translators, test the goggles against
    CycleGAN and no goggles, write the report; returns one summary per condition (``results.json``)."""
    from goggles_gym import report
    from goggles_gym.frames.sources import paired_frames
    from goggles_gym.metrics import frames_per_second, shift_consistency
    from goggles_gym.policies.loading import load_policy
    from goggles_gym.translators import load
    from goggles_gym.translators.segmentation import load_segnet
    from goggles_gym.wrappers import check_fit

    if not config.policy:
        raise ValueError("--policy is required: a policy run folder or zip from `python -m goggles_gym.train`")
    if config.episodes < 1:
        raise ValueError(f"--episodes must be at least 1, got {config.episodes}")
    if config.envs < 1:
        raise ValueError(f"--envs must be at least 1, got {config.envs}")
    start = time.perf_counter()
    out = Path(config.out)
    policy = load_policy(config.policy, device=config.device)
    shape = policy.settings.observation_shape
    files = goggles_files(config)
    goggles = {name: [load(p, device=config.device, backend=config.backend) for p in paths]
               for name, paths in files.items()}
    training = {name: [translator_training(p) for p in paths] for name, paths in files.items()}
    box = gym.spaces.Box(0, 255, shape, np.uint8)
    for name, trs in goggles.items():
        for tr in trs:
            try:
                check_fit(box, tr, shape)
            except ValueError as exc:
                raise ValueError(f"goggles {name!r}: {exc}") from None
    dr_policy = load_policy(config.dr_policy, device=config.device) if config.dr_policy else None
    if dr_policy is not None and dr_policy.settings.observation_shape != shape:
        raise ValueError(f"the DR policy reads {dr_policy.settings.observation_shape} frames but the sim policy "
                         f"{shape}: train both at the same image_size")
    seg = load_segnet(config.segnet) if config.segnet else None
    out.mkdir(parents=True, exist_ok=True)  # only once every input has loaded and fits
    seeds = list(range(config.first_seed, config.first_seed + config.episodes))
    own, shown_target = display_name(policy.settings.look), display_name(config.look)

    todo: list[tuple[str, LoadedPolicy, Any, Any, int | None, str | None]] = [
        (SIM_ORACLE, policy, policy.settings.look, None, None, None),
        (NO_GOGGLES, policy, config.look, None, None, None)]
    for name, trs in goggles.items():
        todo += [(name, policy, config.look, tr, k, files[name][k]) for k, tr in enumerate(trs)]
    if dr_policy is not None:
        todo += [(DR, dr_policy, config.look, None, None, None),
                 (DR_OWN, dr_policy, dr_policy.settings.look, None, None, None)]
    runs: list[_Run] = []
    videos = []
    for name, pol, look, tr, k, path in tqdm(todo, desc="conditions", disable=not config.progress_bar):
        shown: dict[str, list[np.ndarray]] = {"raw": [], "policy": []}
        record = config.videos and not k  # the first episode of each condition (seed 0's goggles)

        def hook(seed: int, step: int, data: dict[str, Any], shown: dict = shown) -> None:
            if seed == seeds[0]:
                shown["raw"].append(data["raw"])
                shown["policy"].append(data["policy_frame"])

        result = run_condition(name, pol, look, seeds, tr, config.progress_bar, hook if record else None,
                               n_envs=config.envs)
        runs.append(_Run(name, result, k, path, training={} if k is None else training[name][k]))
        if record and shown["raw"]:
            cols, heads = [shown["raw"]], [f"camera ({display_name(look)})"]
            if tr is not None:
                cols, heads = cols + [shown["policy"]], heads + ["policy sees"]
            videos.append(report.side_by_side_video(out / report.video_file(name), cols, heads).name)
    if config.videos:  # scored again with other rows: no video is left of a row the report no longer has
        for stale in {p.name for p in out.glob("episode_*.mp4")} - set(videos):
            (out / stale).unlink()

    images = ["success.png"]
    metric_episodes: list[int] = []
    if config.metric_frames > 0:
        metric_episodes = list(range(config.metric_first_seed, config.metric_first_seed + config.metric_frames))
        paired = paired_frames(metric_episodes, policy.settings.image_size, config.metric_first_seed, config.look,
                               env_kwargs=policy.settings.kwargs)
        translated = {name: [tr(paired["real"]) for tr in trs] for name, trs in goggles.items()}
        plain = {SIM_ORACLE: translation_figures(paired["sim"], paired, seg),
                 NO_GOGGLES: translation_figures(paired["real"], paired, seg)}
        for run in runs:
            if run.repeat is None:
                run.figures = plain.get(run.condition, {})
                continue
            tr = goggles[run.condition][run.repeat]
            run.figures = {**translation_figures(translated[run.condition][run.repeat], paired, seg),
                           "shift": shift_consistency(tr.generator, paired["real"][:64]),
                           "frames_per_s": frames_per_second(tr, paired["real"][:1], seconds=1.0),
                           "backend": tr.backend}
        k = min(config.strip_frames, len(paired["real"]))
        if k > 0:
            rows = [[paired["real"][i], *(t[0][i] for t in translated.values()), paired["sim"][i]] for i in range(k)]
            report.frame_strip(out / "strips.png", rows, [f"raw {shown_target}", *goggles, "true sim"])
            images.append("strips.png")

    by_condition: dict[str, list[_Run]] = {}
    for run in runs:
        by_condition.setdefault(run.condition, []).append(run)
    summaries = [_condition_summary(r) for r in by_condition.values()]
    tests = paired_tests(by_condition)
    own_dr = by_condition[DR_OWN][0].result.summary()["success_rate"] if DR_OWN in by_condition else None
    for s in summaries:
        t = tests.get(s["condition"], {})
        s["paired_tests"] = t
        s["p_vs_cyclegan"] = t.get(BASELINE, {}).get("p_value")
        s["p_vs_no_goggles"] = t.get("no goggles", {}).get("p_value")
        if s["condition"] in (DR, DR_OWN) and own_dr is not None:
            s["under_trained"] = own_dr < DR_TRAINED

    title = config.title or f"Policy trained in `{own}`, evaluated in `{shown_target}`: No-Goggles vs goggles"
    report.success_chart(out / "success.png", summaries,
                         f"success in {shown_target} ({len(seeds)} paired episodes, 95% CI)")
    wall = time.perf_counter() - start
    backends = ", ".join(sorted({t.backend for trs in goggles.values() for t in trs})) or "none"
    n_seeds = sorted({len(v) for v in goggles.values()})
    about = (f"Policy `{policy.path}` ({policy.algo}, trained in `{own}`, {shape[0]} x {shape[1]} frames); "
             f"{len(seeds)} episodes per condition, seeds {seeds[0]}..{seeds[-1]}, the same in every condition. "
             + (f"Goggles: {'/'.join(map(str, n_seeds))} translator seed(s) a method"
                + (" (**one draw**: a row says nothing about another seed's translator)" if n_seeds == [1] else
                   "; success is the mean over seeds with its t interval, per-seed figures beside") + "; "
                if goggles else "")
             + "p: exact McNemar test on the paired episodes (seeds pooled, each seed paired with the same seed of "
             f"CycleGAN). Translation figures on {config.metric_frames} held-out paired frames (mIoU, chair IoU and "
             f"chair FP, the share of other classes' pixels read as chair, by an evaluation segmentation net trained "
             f"on sim frames; L1 to the true sim render and shift in 0..255 units; "
             f"frames/s at batch 1, inference backend {backends}). Evaluation wall time {wall / 60:.1f} min.")
    if dr_policy is not None:
        about += (f" The DR policy succeeds in {own_dr:.0%} of the episodes in its own looks "
                  f"(`{display_name(dr_policy.settings.look)}`)"
                  + (f": **under-trained** (below {DR_TRAINED:.0%}), so its row on the target says little about "
                     "domain randomization." if own_dr < DR_TRAINED else "."))
    extra = {"policy": str(policy.path), "look": look_name(config.look), "seeds": seeds,
             "metric_episodes": metric_episodes, "wall_time_s": round(wall, 1), "config": dataclasses.asdict(config)}
    per_episode = {name: [{"translator_seed": r.repeat, "file": r.file,
                           "episodes": [dataclasses.asdict(e) for e in r.result.episodes]} for r in rs]
                   for name, rs in by_condition.items()}
    report.write_tables(out, summaries, {**extra, "per_episode": per_episode})
    text = "\n\n".join(p for p in (header, about) if p)
    atomic_write_text(out / "report.md", report.markdown_report(summaries, title, text, images, videos))
    report.write_html_report(out, title=title, header=text)  # the same report as one page, report.html
    return summaries


__all__ = ["BASELINE", "DR", "DR_OWN", "NO_GOGGLES", "SIM_ORACLE", "EvaluateConfig", "evaluate", "goggles_files",
           "paired_tests", "translation_figures", "translator_training", "wilson_interval"]
