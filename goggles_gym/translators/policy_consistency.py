"""Policy consistency (after RL-CycleGAN, Rao et al. CVPR 2020): a frozen sim policy must act on a
translation as it acts on the sim frame the translation came from.

There is no right action for a real frame, so the term uses the translations whose right action is
known: the round trip ``G(F(sim))`` of a sim frame (methods with F) or ``G(sim)`` (the one-sided
methods). ``policy`` is KL(pi(.|sim) || pi(.|translation)), ``policy_value`` the squared difference
of the value estimates; an actor-critic policy (PPO, A2C) gives its action distribution and value, a
DQN the softmax of its Q-values and the Q-values themselves (RL-CycleGAN's Q consistency). The policy
is frozen (eval mode, no gradients of its own); gradients flow through it into the generators.

Stable-Baselines3 is imported only when a policy is loaded, so the goggles never pull it in.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor


class PolicyConsistency:
    """A frozen SB3 policy that scores how far a translation moves its action distribution and value.

    ``policy`` is the SB3 policy module (``model.policy``), checked to read frames of ``image_size``; call
    the object on sim frames and their translations (N x 3 x H x W in [-1, 1], the generators'
    tensors) for ``(kl, value)``, each a scalar mean over the batch. ``source`` names it in errors.
    """

    def __init__(self, policy: Any, image_size: tuple[int, int] | None = None, source: str = "policy",
                 look: str | None = None) -> None:
        from gymnasium import spaces
        from stable_baselines3.common.policies import ActorCriticPolicy
        from stable_baselines3.common.preprocessing import is_image_space_channels_first

        space = policy.observation_space
        if not isinstance(space, spaces.Box) or len(space.shape) != 3 or 3 not in (space.shape[0], space.shape[-1]):
            raise ValueError(f"--policy-consistency {source}: the policy reads {space}, not RGB frames; "
                             "give a policy trained on ChairNav's image observations")
        self.channels_first = is_image_space_channels_first(space)
        size = tuple(space.shape[1:] if self.channels_first else space.shape[:2])
        if image_size is not None and size != tuple(image_size):
            raise ValueError(f"--policy-consistency {source}: the policy reads {size[0]} x {size[1]} frames but the "
                             f"translator's are {image_size[0]} x {image_size[1]}; give a policy trained at the "
                             "frames' size, or collect the frames at the policy's")
        if isinstance(policy, ActorCriticPolicy):
            self.kind = "actor-critic"
        elif hasattr(policy, "q_net"):
            self.kind = "q"
        else:
            raise ValueError(f"--policy-consistency {source}: a {type(policy).__name__} gives neither an action "
                             "distribution and value (PPO, A2C) nor Q-values (DQN)")
        policy.set_training_mode(False)
        self.policy = policy.requires_grad_(False)
        self.image_size = size
        self.source, self.look = source, look  # where it came from; the look it was trained in

    def observations(self, x: Tensor) -> Tensor:
        """Generator tensors (N x 3 x H x W in [-1, 1]) as the policy's observations: pixel values
        0..255 (the inverse of ``x / 127.5 - 1``, unrounded so gradients flow), in its layout. The
        policy's own preprocessing then scales them as it does the env's uint8 frames."""
        pixels = (x + 1.0) * 127.5
        return pixels if self.channels_first else pixels.permute(0, 2, 3, 1)

    def _outputs(self, obs: Tensor) -> tuple[torch.distributions.Distribution, Tensor]:
        if self.kind == "actor-critic":
            return self.policy.get_distribution(obs).distribution, self.policy.predict_values(obs)
        q = self.policy.q_net(obs)
        return torch.distributions.Categorical(logits=q), q

    def __call__(self, sim: Tensor, translated: Tensor) -> tuple[Tensor, Tensor]:
        """``(KL(pi(.|sim) || pi(.|translated)), mean squared value difference)``: zero when the
        translation is the sim frame itself."""
        with torch.no_grad():
            target, target_value = self._outputs(self.observations(sim))
        dist, value = self._outputs(self.observations(translated))
        kl = torch.distributions.kl_divergence(target, dist)
        if kl.dim() > 1:  # a diagonal Gaussian's per-dimension KLs
            kl = kl.flatten(1).sum(1)
        return kl.mean(), F.mse_loss(value, target_value)


def load_policy_consistency(path: str | Path, device: torch.device,
                            image_size: tuple[int, int] | None = None) -> PolicyConsistency:
    """Load the goggles-gym policy at ``path`` (run folder or model zip) on ``device``, frozen, and
    check that it reads frames of ``image_size`` (if given); errors name the flag and the fix."""
    from goggles_gym.policies.loading import load_policy

    try:
        loaded = load_policy(path, device=device)
    except (FileNotFoundError, ValueError) as exc:
        raise type(exc)(f"--policy-consistency: {exc}") from None
    return PolicyConsistency(loaded.model.policy, image_size, str(path), loaded.settings.look)
