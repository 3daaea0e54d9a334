"""Policies: SB3 training in ChairNav, YAML presets, and loading a policy with its env settings."""

from goggles_gym.policies.config import PolicyTrainConfig, load_preset
from goggles_gym.policies.loading import EnvSettings, LoadedPolicy, evaluate_policy_success, load_policy

__all__ = ["EnvSettings", "LoadedPolicy", "PolicyTrainConfig", "evaluate_policy_success", "load_policy",
           "load_preset", "train_policy"]


def train_policy(config: PolicyTrainConfig):  # noqa: ANN201 - re-exported lazily to keep imports light
    """Train a policy by RL (:func:`goggles_gym.policies.training.train_policy`) or, with
    ``config.teacher``, distil one (:func:`goggles_gym.policies.distill.distill_policy`)."""
    if config.teacher:
        from goggles_gym.policies.distill import distill_policy

        return distill_policy(config)
    from goggles_gym.policies.training import train_policy as _train

    return _train(config)
