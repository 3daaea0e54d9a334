"""The goggles for Gymnasium vector envs: :class:`VectorGogglesWrapper` (one batched pass per step)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from goggles_gym.wrappers.core import FrameTranslator, _setup


class VectorGogglesWrapper(gym.vector.VectorObservationWrapper):
    """Gymnasium vector-env form of :class:`GogglesWrapper` (one batched pass per step)."""

    def __init__(self, env: gym.vector.VectorEnv, translator: FrameTranslator,
                 policy_shape: tuple[int, ...] | None = None, resize: bool = False) -> None:
        super().__init__(env)
        self.single_observation_space, self._goggles = _setup(env.single_observation_space, translator, policy_shape,
                                                              resize)
        self.translator = translator
        self.observation_space = gym.vector.utils.batch_space(self.single_observation_space, env.num_envs)
        self.raw_observations: np.ndarray | None = None

    def observations(self, observations: np.ndarray) -> np.ndarray:
        """The translated batch."""
        self.raw_observations = observations
        return self._goggles(observations)
