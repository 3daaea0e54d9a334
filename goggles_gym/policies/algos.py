"""The SB3 algorithm classes by name (imported by both training and loading, so neither imports
the other)."""

from __future__ import annotations

from stable_baselines3 import A2C, DQN, PPO
from stable_baselines3.common.base_class import BaseAlgorithm

from goggles_gym.policies.config import ALGOS

ALGO_CLASSES: dict[str, type[BaseAlgorithm]] = {"ppo": PPO, "a2c": A2C, "dqn": DQN}
assert tuple(ALGO_CLASSES) == ALGOS, "policies.config.ALGOS and ALGO_CLASSES must name the same algorithms"
