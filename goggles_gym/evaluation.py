"""Closed-loop evaluation of a policy under conditions (raw frames, goggles), on paired episodes.

Every condition runs the same seeded episodes (the seed decides the room and start pose), so the
comparison between No-Goggles, CycleGAN and VR-Goggles is paired. Metrics per condition: success
rate with a 95% Wilson interval, SPL, mean episode length and collisions.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from goggles_gym.envs.looks import LookSpec
from goggles_gym.policies.loading import LoadedPolicy
from goggles_gym.wrappers import GogglesWrapper


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


def run_condition(name: str, policy: LoadedPolicy, look: LookSpec, seeds: Sequence[int],
                  translator: Callable[[np.ndarray], np.ndarray] | None = None, progress: bool = True,
                  frame_hook: Callable[[int, int, dict[str, Any]], None] | None = None) -> ConditionResult:
    """Run ``policy`` greedily in ``look`` on each seed, through ``translator`` when given.

    ``frame_hook(seed, step, data)`` (optional) sees each step's raw and policy frames and labels,
    for strips and videos.
    """
    env = policy.settings.make_env(look)
    if translator is not None:
        env = GogglesWrapper(env, translator, policy_shape=policy.settings.observation_shape)
    base = env.unwrapped
    result = ConditionResult(name)
    try:
        for seed in tqdm(seeds, desc=name, disable=not progress, leave=False):
            obs, info = env.reset(seed=int(seed))
            shortest = max(info["initial_distance"] - base.reach_distance, 0.0)
            path, step, done = 0.0, 0, False
            while not done:
                if frame_hook is not None:
                    raw = getattr(env, "raw_observation", None)
                    frame_hook(int(seed), step, {"policy_frame": obs, "raw": obs if raw is None else raw,
                                                 "labels": info["labels"]})
                before = base.pose
                obs, _, terminated, truncated, info = env.step(int(policy.predict(obs)))
                path += math.hypot(base.pose.x - before.x, base.pose.y - before.y)
                step += 1
                done = terminated or truncated
            result.episodes.append(Episode(int(seed), bool(info["is_success"]), step, int(info["collisions"]), path,
                                           shortest))
    finally:
        env.close()
    return result
