"""Closed-loop evaluation of a policy under conditions (raw frames, goggles), on paired episodes.

Every condition runs the same seeded episodes (the seed decides the room and start pose), so the
comparison between No-Goggles, CycleGAN and VR-Goggles is paired. Metrics per condition: success
rate with a 95% Wilson interval, SPL, mean episode length and collisions.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from tqdm.auto import tqdm

from goggles_gym.common.cli import arg
from goggles_gym.common.files import atomic_write_text
from goggles_gym.envs.looks import LookSpec, display_name, look_name
from goggles_gym.policies.loading import LoadedPolicy
from goggles_gym.translators.backends import BACKENDS
from goggles_gym.wrappers import check_fit


def wilson_interval(successes: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion (95% by default).

    >>> tuple(round(v, 4) for v in wilson_interval(8, 10))
    (0.4902, 0.9433)
    """
    if n == 0:
        return (0.0, 1.0)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z / denom * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    lo = 0.0 if successes == 0 else max(0.0, centre - half)  # exact at the ends, no rounding residue
    hi = 1.0 if successes == n else min(1.0, centre + half)
    return (lo, hi)


@dataclass
class Episode:
    """One evaluated episode."""

    seed: int
    success: bool
    length: int
    collisions: int
    path_length: float
    shortest_path: float

    @property
    def spl(self) -> float:
        """Success weighted by (shortest path / max(path taken, shortest path))."""
        if not self.success:
            return 0.0
        return self.shortest_path / max(self.path_length, self.shortest_path, 1e-9)


@dataclass
class ConditionResult:
    """All episodes of one condition and their summary."""

    name: str
    episodes: list[Episode] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """Success rate, 95% Wilson interval, SPL, mean length, mean collisions."""
        n = len(self.episodes)
        k = sum(e.success for e in self.episodes)
        lo, hi = wilson_interval(k, n)
        return {"condition": self.name, "episodes": n, "successes": k, "success_rate": k / max(n, 1),
                "success_ci95": [lo, hi], "spl": float(np.mean([e.spl for e in self.episodes])) if n else 0.0,
                "mean_length": float(np.mean([e.length for e in self.episodes])) if n else 0.0,
                "mean_collisions": float(np.mean([e.collisions for e in self.episodes])) if n else 0.0}

    def to_dict(self) -> dict[str, Any]:
        """Summary plus every episode."""
        return {**self.summary(), "per_episode": [asdict(e) for e in self.episodes]}


@dataclass
class _Slot:
    """One env of a batched evaluation and the episode it is running."""

    env: gym.Env
    seed: int = 0
    obs: np.ndarray | None = None
    info: dict[str, Any] = field(default_factory=dict)
    step: int = 0
    path: float = 0.0
    shortest: float = 0.0

    def start_next(self, pending: Iterator[int]) -> bool:
        """Reset on the next pending seed; False when none is left."""
        seed = next(pending, None)
        if seed is None:
            return False
        self.seed, self.step, self.path = seed, 0, 0.0
        self.obs, self.info = self.env.reset(seed=seed)
        self.shortest = max(self.info["initial_distance"] - self.env.unwrapped.reach_distance, 0.0)
        return True


def run_condition(name: str, policy: LoadedPolicy, look: LookSpec, seeds: Sequence[int],
                  translator: Callable[[np.ndarray], np.ndarray] | None = None, progress: bool = True,
                  frame_hook: Callable[[int, int, dict[str, Any]], None] | None = None,
                  n_envs: int = 8) -> ConditionResult:
    """Run ``policy`` greedily in ``look`` on each seed, through ``translator`` when given.

    ``n_envs`` episodes run side by side so that the goggles and the policy see one batch a step
    (one forward pass each instead of ``n_envs``); each env takes the next seed when its episode
    ends, and the episodes come back in the order of ``seeds``. An episode depends only on its seed,
    not on which env runs it. ``frame_hook(seed, step, data)`` (optional) sees each step's raw and
    policy frames and labels, for strips and videos.
    """
    if n_envs < 1:
        raise ValueError(f"n_envs must be at least 1, got {n_envs}")
    slots = [_Slot(policy.settings.make_env(look)) for _ in range(max(1, min(n_envs, len(seeds))))]
    if translator is not None:
        check_fit(slots[0].env.observation_space, translator, policy.settings.observation_shape)
    pending = iter(int(s) for s in seeds)
    episodes: dict[int, Episode] = {}
    bar = tqdm(total=len(seeds), desc=name, disable=not progress, leave=False)
    try:
        active = [slot for slot in slots if slot.start_next(pending)]
        while active:
            raw = np.stack([s.obs for s in active])
            seen = raw if translator is None else translator(raw)
            actions = np.asarray(policy.predict(seen)).reshape(len(active))
            still = []
            for slot, frame, policy_frame, action in zip(active, raw, seen, actions, strict=True):
                if frame_hook is not None:
                    frame_hook(slot.seed, slot.step, {"policy_frame": policy_frame, "raw": frame,
                                                      "labels": slot.info["labels"]})
                base = slot.env.unwrapped
                before = base.pose
                slot.obs, _, terminated, truncated, slot.info = slot.env.step(int(action))
                slot.path += math.hypot(base.pose.x - before.x, base.pose.y - before.y)
                slot.step += 1
                if not (terminated or truncated):
                    still.append(slot)
                    continue
                info = slot.info
                episodes[slot.seed] = Episode(slot.seed, bool(info["is_success"]), slot.step,
                                              int(info["collisions"]), slot.path, slot.shortest)
                bar.update()
                if slot.start_next(pending):
                    still.append(slot)
            active = still
    finally:
        bar.close()
        for slot in slots:
            slot.env.close()
    return ConditionResult(name, [episodes[int(s)] for s in seeds])


# ---------------------------------------------------------------------------------------------
# The study: every condition on the same seeds, translation figures, and the report.


@dataclass
class EvaluateConfig:
    """Options of ``python -m goggles_gym.evaluate`` (also driven by the pipeline)."""

    policy: str = arg("", "sim-trained policy: run folder or model zip")
    out: str = arg("runs/eval", "output folder: results.json/csv, report.md, chart, strips, videos")
    look: str = arg("real", "target look the goggles face: built-in name or a look YAML")
    cyclegan: str | None = arg(None, "CycleGAN translator file (translator.pt)")
    vr_goggles: str | None = arg(None, "VR-Goggles translator file (translator.pt)")
    goggles: list[str] = arg(help="more goggles as NAME=PATH (ablations), repeatable", factory=list, flag=False)
    dr_policy: str | None = arg(None, "domain-randomization policy (run folder or zip), run on raw frames")
    episodes: int = arg(100, "seeded episodes per condition (the same seeds in every condition)")
    envs: int = arg(8, "episodes run side by side, so the goggles and the policy see one batch a step")
    first_seed: int = arg(2_000_000, "seed of the first episode (seeds first_seed, first_seed + 1, ...)")
    segnet: str | None = arg(None, "evaluation segmentation net (segnet.pt) for mIoU; without it mIoU is left out")
    metric_frames: int = arg(400, "held-out paired frames for mIoU, L1 to sim and shift (0: skip those)")
    metric_seed: int = arg(3, "seed of the held-out paired frames")
    strip_frames: int = arg(6, "frames in the strip image (raw | each goggles | true sim)")
    videos: bool = arg(True, "one MP4 per condition: the first episode, camera frame | what the policy sees")
    backend: str = arg("auto", "goggles inference backend: auto (ONNX Runtime on a CPU where installed, else "
                       "torch), torch, compile or onnx", choices=BACKENDS)
    device: str = arg("auto", "torch device: auto (CUDA when present), cpu, cuda")
    title: str = arg("", "report title [default: from the looks]")
    progress_bar: bool = arg(True, "show progress bars")


SIM_ORACLE, NO_GOGGLES, DR = "sim oracle", "no goggles", "domain randomization"


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name).strip("_")


def _goggles_paths(config: EvaluateConfig) -> dict[str, str]:
    paths = {}
    for name, path in (("cyclegan", config.cyclegan), ("vr-goggles", config.vr_goggles)):
        if path:
            paths[name] = path
    for item in config.goggles:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise ValueError(f"--goggles {item!r} must look like NAME=PATH (e.g. cyclegan+shift=runs/x/translator.pt)")
        if name in paths or name in (SIM_ORACLE, NO_GOGGLES, DR):
            raise ValueError(f"--goggles name {name!r} is used twice; give each condition its own name")
        paths[name] = path
    return paths


def translation_figures(frames: np.ndarray, paired: dict[str, np.ndarray], seg: Any) -> dict[str, float]:
    """Paired L1 to the true sim render and (when ``seg`` is given) mIoU of ``frames``: the held-out
    real frames of ``paired`` as one condition shows them to the policy (raw, translated, true sim)."""
    from goggles_gym.metrics import mean_iou, paired_l1, predict_labels

    out = {"paired_l1": paired_l1(frames, paired["sim"])}
    if seg is not None:
        out["miou"] = mean_iou(predict_labels(seg, frames), paired["labels"])
    return out


def evaluate(config: EvaluateConfig, header: str = "") -> list[dict[str, Any]]:
    """Run every condition on the same seeds, measure the translators, write the report; returns
    one summary dict per condition (also in ``results.json``)."""
    from goggles_gym import report
    from goggles_gym.metrics import frames_per_second, paired_frames, shift_consistency
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
    goggles = {name: load(path, device=config.device, backend=config.backend)
               for name, path in _goggles_paths(config).items()}
    box = gym.spaces.Box(0, 255, shape, np.uint8)
    for name, tr in goggles.items():
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

    runs: list[tuple[str, LoadedPolicy, Any, Any]] = [(SIM_ORACLE, policy, policy.settings.look, None),
                                                      (NO_GOGGLES, policy, config.look, None)]
    runs += [(name, policy, config.look, tr) for name, tr in goggles.items()]
    if dr_policy is not None:
        runs.append((DR, dr_policy, config.look, None))
    summaries, videos = [], []
    for name, pol, look, tr in tqdm(runs, desc="conditions", disable=not config.progress_bar):
        shown: dict[str, list[np.ndarray]] = {"raw": [], "policy": []}

        def hook(seed: int, step: int, data: dict[str, Any], shown: dict = shown) -> None:
            if seed == seeds[0]:
                shown["raw"].append(data["raw"])
                shown["policy"].append(data["policy_frame"])

        result = run_condition(name, pol, look, seeds, tr, config.progress_bar, hook if config.videos else None,
                               n_envs=config.envs)
        summaries.append(result.to_dict())
        if config.videos and shown["raw"]:
            cols, heads = [shown["raw"]], [f"camera ({display_name(look)})"]
            if tr is not None:
                cols, heads = cols + [shown["policy"]], heads + ["policy sees"]
            videos.append(report.side_by_side_video(out / f"episode_{_slug(name)}.mp4", cols, heads).name)

    images = ["success.png"]
    if config.metric_frames > 0:
        paired = paired_frames(config.metric_frames, policy.settings.image_size, config.metric_seed, config.look,
                               env_kwargs=policy.settings.kwargs)
        translated = {name: tr(paired["real"]) for name, tr in goggles.items()}
        figures = {SIM_ORACLE: translation_figures(paired["sim"], paired, seg),
                   NO_GOGGLES: translation_figures(paired["real"], paired, seg)}
        for name, tr in goggles.items():
            figures[name] = {**translation_figures(translated[name], paired, seg),
                             "shift": shift_consistency(tr.generator, paired["real"][:64]),
                             "frames_per_s": frames_per_second(tr, paired["real"][:1], seconds=1.0),
                             "backend": tr.backend}
        for s in summaries:
            s.update(figures.get(s["condition"], {}))
        k = min(config.strip_frames, len(paired["real"]))
        if k > 0:
            rows = [[paired["real"][i], *(t[i] for t in translated.values()), paired["sim"][i]] for i in range(k)]
            report.frame_strip(out / "strips.png", rows, [f"raw {shown_target}", *goggles, "true sim"])
            images.append("strips.png")

    title = config.title or f"Policy trained in `{own}`, evaluated in `{shown_target}`: No-Goggles vs goggles"
    report.success_chart(out / "success.png", summaries,
                         f"success in {shown_target} ({len(seeds)} paired episodes, 95% CI)")
    wall = time.perf_counter() - start
    backends = ", ".join(sorted({t.backend for t in goggles.values()})) or "none"
    about = (f"Policy `{policy.path}` ({policy.algo}, trained in `{own}`, {shape[0]} x {shape[1]} frames); "
             f"{len(seeds)} episodes per condition, seeds {seeds[0]}..{seeds[-1]}, the same in every condition. "
             f"Translation figures on {config.metric_frames} held-out paired frames (mIoU of an evaluation "
             f"segmentation net trained on sim frames; L1 to the true sim render and shift in 0..255 units; "
             f"frames/s at batch 1, inference backend {backends}). Evaluation wall time {wall / 60:.1f} min.")
    extra = {"policy": str(policy.path), "look": look_name(config.look), "seeds": seeds, "wall_time_s": round(wall, 1),
             "config": dataclasses.asdict(config)}
    report.write_tables(out, [{k: v for k, v in s.items() if k != "per_episode"} for s in summaries],
                        {**extra, "per_episode": {s["condition"]: s["per_episode"] for s in summaries}})
    md = report.markdown_report(summaries, title, "\n\n".join(p for p in (header, about) if p), images, videos)
    atomic_write_text(out / "report.md", md)
    return summaries
