"""Feature extractors a preset can name (``hyperparams: {features_extractor: small}``).

SB3's default ``NatureCNN`` needs frames of at least 36 x 36 pixels (its 8 x 8 stride-4 first
layer); ``small`` is a three-layer 3 x 3 CNN for the quick 32 x 32 runs, a few times cheaper.
"""

from __future__ import annotations

import gymnasium as gym
import torch
from stable_baselines3.common.preprocessing import is_image_space
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor, NatureCNN
from torch import nn


class SmallCNN(BaseFeaturesExtractor):
    """Three stride-2 3 x 3 convolutions (32, 64, 64 channels) and a linear layer, for frames from
    16 x 16 up; SB3 scales the uint8 pixels to [0, 1] before it."""

    def __init__(self, observation_space: gym.spaces.Box, features_dim: int = 256) -> None:
        super().__init__(observation_space, features_dim)
        if not is_image_space(observation_space, check_channels=False):
            raise ValueError(f"SmallCNN needs an image observation space, got {observation_space}")
        channels = observation_space.shape[0]  # SB3 hands channel-first images to extractors
        self.cnn = nn.Sequential(
            nn.Conv2d(channels, 32, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(32, 64, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(64, 64, 3, stride=2, padding=1), nn.ReLU(),
            nn.Flatten(),
        )
        with torch.no_grad():
            n_flat = self.cnn(torch.zeros(1, *observation_space.shape)).shape[1]
        self.linear = nn.Sequential(nn.Linear(n_flat, features_dim), nn.ReLU())

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        return self.linear(self.cnn(observations))


FEATURE_EXTRACTORS: dict[str, type[BaseFeaturesExtractor]] = {"nature": NatureCNN, "small": SmallCNN}


#: The smallest frame SB3's NatureCNN takes (8 x 8 stride 4, 4 x 4 stride 2, 3 x 3 stride 1).
NATURE_MIN_SIZE = 36


def check_extractor_fits(hyperparams: dict, image_size: tuple[int, int]) -> None:
    """Raise ``ValueError`` with the fix if a CNN policy would use NatureCNN on frames it cannot take.

    >>> check_extractor_fits({"features_extractor": "small"}, (32, 32))
    >>> check_extractor_fits({}, (32, 32))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ValueError: frames of 32 x 32 are too small for SB3's default NatureCNN ...: add --hp features_extractor=small ...
    """
    hp = policy_kwargs_with_extractor(hyperparams)
    if hp.get("policy", "CnnPolicy") not in ("CnnPolicy", "MultiInputPolicy"):
        return
    extractor = (hp.get("policy_kwargs") or {}).get("features_extractor_class", NatureCNN)
    if extractor is NatureCNN and min(image_size) < NATURE_MIN_SIZE:
        raise ValueError(f"frames of {image_size[0]} x {image_size[1]} are too small for SB3's default NatureCNN "
                         f"({NATURE_MIN_SIZE} x {NATURE_MIN_SIZE} at least): add --hp features_extractor=small "
                         "(a CNN for 16 x 16 and up; pipeline: --features-extractor small), or use --env "
                         f"image_size={NATURE_MIN_SIZE} or more")


def policy_kwargs_with_extractor(hyperparams: dict) -> dict:
    """Turn a preset's ``features_extractor: NAME`` into SB3's ``policy_kwargs`` (other keys kept)."""
    hp = dict(hyperparams)
    name = hp.pop("features_extractor", None)
    if name is None:
        return hp
    if name not in FEATURE_EXTRACTORS:
        raise ValueError(f"unknown features_extractor {name!r}; use one of {', '.join(FEATURE_EXTRACTORS)}")
    hp["policy_kwargs"] = {**hp.get("policy_kwargs", {}), "features_extractor_class": FEATURE_EXTRACTORS[name]}
    return hp
