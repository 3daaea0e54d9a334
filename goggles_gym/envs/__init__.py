"""Environments: ChairNav (PyBullet visual navigation) and its looks."""

from goggles_gym.envs.chairnav import ACTION_NAMES, ChairNav
from goggles_gym.envs.looks import (
    BUILTIN_LOOKS,
    CameraEffects,
    Light,
    Look,
    LookError,
    Material,
    RandomizedLooks,
    get_look,
)
from goggles_gym.envs.scene import CLASSES

__all__ = ["ACTION_NAMES", "BUILTIN_LOOKS", "CLASSES", "CameraEffects", "ChairNav", "Light", "Look", "LookError",
           "Material", "RandomizedLooks", "get_look", "register_envs"]

ENV_IDS = {
    "GogglesGym/ChairNav-v0": {},
    "GogglesGym/ChairNavReal-v0": {"look": "real"},
    "GogglesGym/ChairNavPhoto-v0": {"look": "photo"},
    "GogglesGym/ChairNavRandomized-v0": {"look": "randomized"},
}


def register_envs() -> None:
    """Register the ChairNav ids with Gymnasium (idempotent; done on ``import goggles_gym``)."""
    import gymnasium as gym

    for env_id, kwargs in ENV_IDS.items():
        if env_id not in gym.registry:
            gym.register(env_id, entry_point="goggles_gym.envs.chairnav:ChairNav", kwargs=kwargs)
    if "GogglesGym/RealCamera-v0" not in gym.registry:
        gym.register("GogglesGym/RealCamera-v0", entry_point="goggles_gym.envs.camera:RealCameraEnv",
                     nondeterministic=True)
