"""The goggles: observation wrappers that translate real frames to the sim look before a policy
sees them, for a single Gymnasium env (:class:`GogglesWrapper`), Gymnasium vector envs
(:class:`VectorGogglesWrapper`) and SB3 VecEnvs (:class:`VecGogglesWrapper`, one batched pass).

``VecGogglesWrapper`` is imported on first use, so plain Gymnasium users never import SB3.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from goggles_gym.wrappers.core import FrameTranslator, check_fit
from goggles_gym.wrappers.single import GogglesWrapper
from goggles_gym.wrappers.vector import VectorGogglesWrapper

if TYPE_CHECKING:
    from goggles_gym.wrappers.sb3 import VecGogglesWrapper

__all__ = ["FrameTranslator", "GogglesWrapper", "VecGogglesWrapper", "VectorGogglesWrapper", "check_fit"]


def __getattr__(name: str) -> Any:
    if name == "VecGogglesWrapper":
        from goggles_gym.wrappers.sb3 import VecGogglesWrapper

        return VecGogglesWrapper
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
