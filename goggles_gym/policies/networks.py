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
