"""Policy training options (one dataclass, CleanRL style) and the YAML presets they start from."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from goggles_gym.common.cli import arg, check_at_least

ALGOS = ("ppo", "a2c", "dqn")


@dataclass
class PolicyTrainConfig:
    """Everything a policy training run needs; saved resolved as ``config.yaml`` in the run folder."""

    out: str = arg("runs/policy", "run folder for the model, logs, checkpoints and config")
    algo: str = arg("ppo", "SB3 algorithm", choices=ALGOS)
    look: str = arg("sim", "look to train in: built-in name (sim, real, randomized) or a look YAML path")
    timesteps: int = arg(120_000, "total environment steps to train for")
    n_envs: int = arg(8, "parallel environments")
    vec_env: str = arg("dummy", "VecEnv class (on 2 cores 'dummy' measured faster)", choices=("dummy", "subproc"))
    seed: int = arg(0, "seed of the envs, the network initialisation and the algorithm")
    device: str = arg("auto", "torch device: auto (CUDA when present), cpu, cuda, cuda:N")
    resume: bool = arg(False, "continue from the newest checkpoint in --out")
    eval_freq: int = arg(20_000, "evaluate the greedy policy every this many total steps (0: never)")
    eval_episodes: int = arg(20, "episodes per periodic evaluation")
    checkpoint_freq: int = arg(20_000, "write a checkpoint every this many total steps")
    final_eval_episodes: int = arg(100, "held-out seeded episodes for the final success rate (0: skip)")
    progress_bar: bool = arg(True, "show a progress bar")
    teacher: str = arg("", "a sim policy (run folder or zip) to distil into --look by DAgger on the simulator's "
                       "pairs instead of RL: the student learns the teacher's action on the sim render of each "
                       "pose it sees (policies/distill.py); --timesteps then counts the student's frames")
    distill_rounds: int = arg(8, "DAgger rounds (collect timesteps/rounds frames, then train on all so far)")
    distill_epochs: int = arg(3, "passes over the aggregated frames after each round")
    distill_batch_size: int = arg(256, "minibatch of the student's updates")
    distill_lr: float = arg(3e-4, "Adam learning rate of the student")
    env: dict[str, Any] = arg(help="ChairNav keyword arguments (image_size, max_steps, ...)", factory=dict,
                              flag=False)
    hyperparams: dict[str, Any] = arg(help="algorithm keyword arguments (policy, learning_rate, ...)",
                                      factory=dict, flag=False)

    def __post_init__(self) -> None:
        if self.algo not in ALGOS:
            raise ValueError(f"--algo {self.algo!r}: unknown algorithm; use one of {', '.join(ALGOS)}")
        check_at_least(self, 1, "timesteps", "n_envs", "checkpoint_freq", "distill_rounds", "distill_epochs",
                       "distill_batch_size")
        if not self.distill_lr > 0:
            raise ValueError(f"--distill-lr must be > 0, got {self.distill_lr!r}")
        check_at_least(self, 0, "eval_freq", "final_eval_episodes", "seed")
        if self.eval_freq > 0:
            check_at_least(self, 1, "eval_episodes")
        for name in ("env", "hyperparams"):
            if not isinstance(getattr(self, name), dict):
                raise ValueError(f"{name} must be a mapping of keyword arguments, got {getattr(self, name)!r}")

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for YAML."""
        return dataclasses.asdict(self)


def preset_path(name_or_path: str) -> Path:
    """A preset by built-in name (``ppo``, ``a2c``, ``dqn``) or a YAML file path."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml"):
        if not path.is_file():
            raise FileNotFoundError(f"preset file not found: {path}")
        return path
    builtin = resources.files("goggles_gym.policies") / "presets" / f"{name_or_path}.yaml"
    if not builtin.is_file():
        raise ValueError(f"unknown preset {name_or_path!r}: use one of {', '.join(ALGOS)} or a YAML path")
    return Path(str(builtin))


def load_preset(name_or_path: str) -> dict[str, Any]:
    """Read a preset's mapping of :class:`PolicyTrainConfig` fields."""
    path = preset_path(name_or_path)
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise ValueError(f"preset {path} must be a mapping of config keys")
    return data
