"""The goggles for one Gymnasium env: :class:`GogglesWrapper`."""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from goggles_gym.wrappers.core import FrameTranslator, _setup


class GogglesWrapper(gym.ObservationWrapper):
    """Translate every observation real -> sim with ``translator`` before the agent sees it.

    The env must give uint8 RGB frames (H x W x 3) of the translator's size; with ``resize=True``
    frames of another size are resized first (never silently). ``policy_shape`` (e.g. from
    ``load_policy(...).settings.observation_shape``) is checked too. ``raw_observation`` holds the
    last untranslated frame (a reference, so it costs nothing).

    >>> from goggles_gym.envs import ChairNav
    >>> identity = lambda x: x
    >>> identity.image_size = (16, 16)
    >>> env = GogglesWrapper(ChairNav(look="real", image_size=16), identity)
    >>> obs, info = env.reset(seed=0)
    >>> bool((obs == env.raw_observation).all())
    True
    """

    def __init__(self, env: gym.Env, translator: FrameTranslator, policy_shape: tuple[int, ...] | None = None,
                 resize: bool = False) -> None:
        super().__init__(env)
        self.observation_space, self._goggles = _setup(env.observation_space, translator, policy_shape, resize)
        self.translator = translator
        self.raw_observation: np.ndarray | None = None

    def observation(self, observation: np.ndarray) -> np.ndarray:
        """The translated frame."""
        self.raw_observation = observation
        return self._goggles(observation)
