"""Rolling out episodes: a policy, greedily, in a look, through optional goggles, on seeded episodes.

Every condition runs the same seeded episodes (the seed decides the room and start pose), so
conditions compare paired. Several episodes run side by side so that the goggles and the policy see
one batch a step.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np
from tqdm.auto import tqdm

from goggles_gym.envs.looks import LookSpec
from goggles_gym.evaluation.statistics import wilson_interval
from goggles_gym.policies.loading import LoadedPolicy
from goggles_gym.wrappers import check_fit


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
