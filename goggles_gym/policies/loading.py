"""Loading a trained policy together with the env settings it was trained with.

Every policy zip written by goggles-gym carries its env settings (image size, look, action set,
step sizes) as an attribute of the SB3 model, so one file says what it expects; it still loads
with plain ``PPO.load``.
"""

from __future__ import annotations

import inspect
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.save_util import load_from_zip_file

from goggles_gym.common.device import resolve_device
from goggles_gym.envs.chairnav import ACTION_NAMES, ChairNav, check_image_size
from goggles_gym.envs.looks import LookSpec
from goggles_gym.policies.algos import ALGO_CLASSES

ENV_SETTINGS_ATTR = "goggles_env"
_ENV_DEFAULTS = {k: v.default for k, v in inspect.signature(ChairNav.__init__).parameters.items()
                 if k not in ("self", "look", "render_mode", "render_size")}


@dataclass(frozen=True)
class EnvSettings:
    """The ChairNav settings a policy was trained with: look, image size, actions, everything else."""

    look: str = "sim"
    kwargs: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_kwargs(cls, look: str = "sim", **kwargs: Any) -> EnvSettings:
        """Resolve ChairNav keyword arguments against the env's defaults (unknown keys fail)."""
        unknown = sorted(set(kwargs) - set(_ENV_DEFAULTS))
        if unknown:
            raise ValueError(f"unknown ChairNav setting(s) {unknown}; allowed: {sorted(_ENV_DEFAULTS)}")
        for key, value in kwargs.items():
            default = _ENV_DEFAULTS[key]
            if key == "image_size" or isinstance(default, bool) or not isinstance(default, (int, float)):
                continue
            wanted = (int, float) if isinstance(default, float) else int
            if isinstance(value, bool) or not isinstance(value, wanted):
                kind = "a number" if isinstance(default, float) else "a whole number"
                raise ValueError(f"--env {key}={value!r}: ChairNav takes {kind} there (e.g. --env {key}={default})")
        resolved = {**_ENV_DEFAULTS, **kwargs}
        resolved["image_size"] = list(check_image_size(resolved["image_size"]))
        return cls(look=str(look), kwargs=resolved)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EnvSettings:
        """Inverse of :meth:`to_dict`."""
        data = {k: v for k, v in data.items() if k not in ("actions", "algo")}
        return cls.from_kwargs(**data)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (YAML / JSON friendly), including the action names."""
        return {"look": self.look, **self.kwargs, "actions": list(ACTION_NAMES)}

    @property
    def image_size(self) -> tuple[int, int]:
        """(height, width) of the observations."""
        return tuple(self.kwargs["image_size"])

    @property
    def observation_shape(self) -> tuple[int, int, int]:
        """H x W x 3, the uint8 RGB frames the policy reads."""
        return (*self.image_size, 3)

    def env_kwargs(self, look: LookSpec | None = None) -> dict[str, Any]:
        """Keyword arguments for :class:`ChairNav`, optionally in another look."""
        return {"look": self.look if look is None else look, **self.kwargs}

    def make_env(self, look: LookSpec | None = None, **overrides: Any) -> ChairNav:
        """A ChairNav with these settings (in ``look`` if given)."""
        return ChairNav(**{**self.env_kwargs(look), **overrides})


@dataclass
class LoadedPolicy:
    """An SB3 model with the env settings it was trained with."""

    model: BaseAlgorithm
    settings: EnvSettings
    path: Path
    algo: str

    def predict(self, obs: np.ndarray, deterministic: bool = True) -> np.ndarray:
        """Greedy (by default) actions for one H x W x 3 frame or a batch of them."""
        return self.model.predict(obs, deterministic=deterministic)[0]


def _policy_zip(path: Path) -> Path:
    if path.is_dir():
        for candidate in (path / "model.zip", path / "best" / "best_model.zip"):
            if candidate.is_file():
                return candidate
        raise FileNotFoundError(f"no model.zip or best/best_model.zip in run folder {path}; train a policy there first")
    if not path.is_file():
        raise FileNotFoundError(f"policy file not found: {path}")
    return path


def load_policy(path: str | Path, device: str | torch.device = "auto") -> LoadedPolicy:
    """Load a goggles-gym policy from a run folder or a model zip, with its env settings.

    Fails clearly on a missing, corrupt or foreign file (a zip that is not a goggles-gym policy).
    """
    zip_path = _policy_zip(Path(path))
    try:
        data, _, _ = load_from_zip_file(zip_path, device="cpu", load_data=True)
    except (zipfile.BadZipFile, ValueError, KeyError, EOFError, RuntimeError) as exc:
        raise ValueError(f"{zip_path} is not a readable policy zip ({exc}); is the file truncated?") from exc
    meta = (data or {}).get(ENV_SETTINGS_ATTR)
    if not isinstance(meta, dict) or meta.get("algo") not in ALGO_CLASSES:
        raise ValueError(f"{zip_path} is not a goggles-gym policy (no '{ENV_SETTINGS_ATTR}' settings inside); "
                         "train one with `python -m goggles_gym.train`")
    model = ALGO_CLASSES[meta["algo"]].load(zip_path, device=resolve_device(device))
    return LoadedPolicy(model, EnvSettings.from_dict(meta), zip_path, meta["algo"])


def evaluate_policy_success(model: BaseAlgorithm, settings: EnvSettings, episodes: int, first_seed: int,
                            look: LookSpec | None = None) -> float:
    """Greedy success rate over ``episodes`` seeded episodes (seeds ``first_seed + i``) in ``look``."""
    env = settings.make_env(look)
    successes = 0
    try:
        for i in range(episodes):
            obs, info = env.reset(seed=first_seed + i)
            done = False
            while not done:
                action = model.predict(obs, deterministic=True)[0]
                obs, _, terminated, truncated, info = env.step(int(action))
                done = terminated or truncated
            successes += bool(info["is_success"])
    finally:
        env.close()
    return successes / max(episodes, 1)
