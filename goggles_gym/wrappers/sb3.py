"""The goggles for Stable-Baselines3 VecEnvs: :class:`VecGogglesWrapper` (imports SB3; the other
wrappers need only Gymnasium)."""

from __future__ import annotations

import numpy as np
from stable_baselines3.common.vec_env import VecEnv, VecEnvWrapper

from goggles_gym.wrappers.core import FrameTranslator, _setup


class VecGogglesWrapper(VecEnvWrapper):
    """SB3 form of :class:`GogglesWrapper`: all sub-env frames translated in one batched pass.

    ``raw_observations`` holds the last untranslated batch (a reference).
    """

    def __init__(self, venv: VecEnv, translator: FrameTranslator, policy_shape: tuple[int, ...] | None = None,
                 resize: bool = False) -> None:
        space, self._goggles = _setup(venv.observation_space, translator, policy_shape, resize)
        super().__init__(venv, observation_space=space)
        self.translator = translator
        self.raw_observations: np.ndarray | None = None

    def _translate(self, obs: np.ndarray) -> np.ndarray:
        self.raw_observations = obs
        return self._goggles(obs)

    def reset(self) -> np.ndarray:
        return self._translate(self.venv.reset())

    def step_wait(self):
        obs, rewards, dones, infos = self.venv.step_wait()
        for info in infos:  # SB3 puts the last frame of a finished episode here; translate it too
            if "terminal_observation" in info:
                info["terminal_observation"] = self._goggles(info["terminal_observation"])
        return self._translate(obs), rewards, dones, infos
