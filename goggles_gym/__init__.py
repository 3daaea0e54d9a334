"""goggles-gym: real-to-sim visual transfer for robot learning (VR-Goggles), on Gymnasium and SB3."""

from goggles_gym.envs import register_envs

__version__ = "0.1.0"

register_envs()
