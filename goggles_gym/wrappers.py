"""The goggles: observation wrappers that translate real frames to the sim look before a policy
sees them, for a single Gymnasium env, SB3 VecEnvs and Gymnasium vector envs (one batched pass)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import cv2
import gymnasium as gym
import numpy as np
from gymnasium import spaces
from stable_baselines3.common.vec_env import VecEnv, VecEnvWrapper

FrameTranslator = Callable[[np.ndarray], np.ndarray]


def _translator_size(translator: Any) -> tuple[int, int]:
    size = getattr(translator, "image_size", None)
    if size is None:
        raise TypeError("the translator must have an image_size (height, width); "
                        "load one with goggles_gym.translators.load(path)")
    return tuple(size)


def check_fit(space: spaces.Space, translator: Any, policy_shape: tuple[int, ...] | None = None,
              resize: bool = False) -> tuple[int, int]:
    """Check that ``space`` (an env's observations) fits ``translator`` (and the policy's frames).

    Returns the env's (height, width). Raises ``ValueError`` naming both shapes and the fix.
    """
    if not isinstance(space, spaces.Box) or space.dtype != np.uint8 or len(space.shape) != 3 or space.shape[2] != 3:
        raise ValueError(f"the goggles need uint8 RGB image observations H x W x 3 (channels last); the env gives "
                         f"{space}. Wrap the env to produce such frames first")
    size = _translator_size(translator)
    env_hw = tuple(space.shape[:2])
    if env_hw != size and not resize:
        raise ValueError(f"the env's frames are {env_hw[0]} x {env_hw[1]} x 3 but the translator takes "
                         f"{size[0]} x {size[1]} x 3: pass resize=True to resize every frame, or train a translator "
                         "at the env's size")
    if policy_shape is not None and tuple(policy_shape) != (*size, 3):
        raise ValueError(f"the translator outputs {size[0]} x {size[1]} x 3 frames but the policy was trained on "
                         f"{tuple(policy_shape)}: use a translator trained at the policy's image size")
    return env_hw


def _setup(space: spaces.Space, translator: Any, policy_shape: tuple[int, ...] | None,
           resize: bool) -> tuple[spaces.Box, FrameTranslator]:
    """Check the fit; return the translated frames' space and the frame function (resize if asked,
    then translate), shared by every form of the wrapper."""
    env_hw = check_fit(space, translator, policy_shape, resize)
    size = _translator_size(translator)
    if env_hw == size:
        return spaces.Box(0, 255, (*size, 3), np.uint8), translator
    resizer = _resizer(size)
    return spaces.Box(0, 255, (*size, 3), np.uint8), lambda frames: translator(resizer(frames))


def _resizer(size: tuple[int, int]) -> Callable[[np.ndarray], np.ndarray]:
    h, w = size

    def resize(frames: np.ndarray) -> np.ndarray:
        if frames.ndim == 3:
            return cv2.resize(frames, (w, h), interpolation=cv2.INTER_AREA)
        return np.stack([cv2.resize(f, (w, h), interpolation=cv2.INTER_AREA) for f in frames])

    return resize


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
