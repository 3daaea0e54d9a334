"""Training ChairNav policies with Stable-Baselines3: envs, callbacks, checkpoints, resume."""

from __future__ import annotations

import collections.abc
import difflib
import inspect
import json
import re
import time
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback, CallbackList, EvalCallback
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv, VecEnv, VecTransposeImage

from goggles_gym.common.cli import one_line
from goggles_gym.common.device import resolve_device
from goggles_gym.common.files import atomic_write, atomic_write_text
from goggles_gym.envs.chairnav import ChairNav
from goggles_gym.policies.algos import ALGO_CLASSES
from goggles_gym.policies.config import PolicyTrainConfig
from goggles_gym.policies.loading import ENV_SETTINGS_ATTR, EnvSettings, evaluate_policy_success
from goggles_gym.policies.networks import check_extractor_fits, policy_kwargs_with_extractor

MODEL_FILE = "model.zip"
CONFIG_FILE = "config.yaml"
CHECKPOINT_DIR = "checkpoints"
EVAL_SEED_OFFSET = 10_000  # periodic evaluation episodes use seeds apart from the training envs'
HELD_OUT_SEED = 1_000_000  # the final success rate is measured on seeds 1_000_000, 1_000_001, ...


def save_model_atomic(model: BaseAlgorithm, path: str | Path) -> Path:
    """``model.save`` through a temporary file and a rename, so a kill never leaves a broken zip."""
    return atomic_write(path, lambda tmp: model.save(tmp))


class AtomicCheckpointCallback(BaseCallback):
    """Save ``checkpoints/model_<steps>_steps.zip`` every ``save_freq`` total steps, atomically."""

    def __init__(self, save_freq: int, save_dir: Path, verbose: int = 0) -> None:
        super().__init__(verbose)
        self.save_freq = max(int(save_freq), 1)
        self.save_dir = Path(save_dir)
        self._next = None

    def _on_training_start(self) -> None:
        self._next = (self.num_timesteps // self.save_freq + 1) * self.save_freq

    def _on_step(self) -> bool:
        if self.num_timesteps >= self._next:
            self._next += self.save_freq
            save_model_atomic(self.model, self.save_dir / f"model_{self.num_timesteps}_steps.zip")
        return True


class SaveBestCallback(BaseCallback):
    """Used as EvalCallback's ``callback_on_new_best``: writes ``best/best_model.zip`` atomically."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = Path(path)

    def _on_step(self) -> bool:
        save_model_atomic(self.model, self.path)
        return True


def latest_checkpoint(run_dir: str | Path) -> tuple[Path, int] | None:
    """The checkpoint with the most steps in ``run_dir/checkpoints`` and its step count, if any."""
    found = []
    for f in (Path(run_dir) / CHECKPOINT_DIR).glob("model_*_steps.zip"):
        m = re.fullmatch(r"model_(\d+)_steps\.zip", f.name)
        if m:
            found.append((int(m.group(1)), f))
    if not found:
        return None
    steps, path = max(found)
    return path, steps


def make_envs(settings: EnvSettings, n_envs: int, seed: int, vec_env: str = "dummy") -> VecEnv:
    """``n_envs`` ChairNav copies with the given settings, seeded ``seed, seed + 1, ...``."""
    cls = {"dummy": DummyVecEnv, "subproc": SubprocVecEnv}[vec_env]
    return make_vec_env(ChairNav, n_envs=n_envs, seed=seed, env_kwargs=settings.env_kwargs(), vec_env_cls=cls)


#: Constructor arguments goggles-gym sets itself, and the flag that sets each.
_SET_BY_US = {"env": "--env KEY=VALUE / --look", "seed": "--seed", "device": "--device", "tensorboard_log": "--out",
              "verbose": "(fixed)", "_init_setup_model": "(fixed)"}


def _fits(value: Any, hint: Any) -> bool:
    """Whether a YAML value can be an argument annotated ``hint`` (unknown annotations pass)."""
    if hint is inspect.Parameter.empty or hint is Any or isinstance(hint, (str, typing.ForwardRef)):
        return True
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_fits(value, a) for a in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint in (int, float):
        return isinstance(value, (int, float) if hint is float else int) and not isinstance(value, bool)
    if hint is collections.abc.Callable or origin is collections.abc.Callable:
        return callable(value)
    if origin is type:
        return isinstance(value, type)
    if origin in (tuple, list):
        return isinstance(value, (list, tuple))
    if origin is dict:
        return isinstance(value, dict)
    return isinstance(value, hint) if isinstance(hint, type) else True


def _describe(hint: Any) -> str:
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return " or ".join(dict.fromkeys(_describe(a) for a in typing.get_args(hint)))
    names = {int: "a whole number", float: "a number", bool: "true or false", str: "a string", type(None): "null"}
    if hint in names:
        return names[hint]
    origin = typing.get_origin(hint)
    if hint is collections.abc.Callable or origin is collections.abc.Callable:
        return "a schedule (Python only)"
    return {dict: "a mapping", tuple: "a list", list: "a list", type: "a class (Python only)"}.get(
        origin, getattr(hint, "__name__", str(hint)))


def check_hyperparams(algo: str, hyperparams: dict[str, Any]) -> None:
    """Raise ``ValueError`` naming the ``--hp`` key and the fix for a key the SB3 algorithm's
    constructor does not take, one goggles-gym sets itself, or a value of the wrong type."""
    cls = ALGO_CLASSES[algo]
    params = inspect.signature(cls.__init__).parameters
    allowed = sorted(set(params) - set(_SET_BY_US) - {"self"} | {"features_extractor"})
    for key, value in hyperparams.items():
        if key in _SET_BY_US:
            raise ValueError(f"--hp {key}: goggles-gym sets it; use {_SET_BY_US[key]}")
        if key == "features_extractor":
            continue
        if key not in params:
            close = difflib.get_close_matches(key, allowed, n=1)
            hint = f"did you mean {close[0]}? " if close else ""
            raise ValueError(f"--hp {key}: not a {cls.__name__} hyperparameter; {hint}use one of {', '.join(allowed)}")
        hint = params[key].annotation
        if not _fits(value, hint):
            default = params[key].default
            example = "" if default in (None, inspect.Parameter.empty) else f" (e.g. --hp {key}={default})"
            raise ValueError(f"--hp {key}={value!r}: {cls.__name__} takes {_describe(hint)} there{example}")


@dataclass
class TrainResult:
    """What :func:`train_policy` produced."""

    run_dir: Path
    model_path: Path
    timesteps: int
    wall_time_s: float
    success_rate: float | None


def train_policy(config: PolicyTrainConfig) -> TrainResult:
    """Train (or resume) a policy as ``config`` says; every artifact goes into ``config.out``."""
    if config.algo not in ALGO_CLASSES:
        raise ValueError(f"unknown algo {config.algo!r}; use one of {', '.join(ALGO_CLASSES)}")
    device = resolve_device(config.device)  # fails before anything is written
    run = Path(config.out)
    settings = EnvSettings.from_kwargs(look=config.look, **config.env)
    checkpoint = latest_checkpoint(run) if config.resume else None
    if config.resume and checkpoint is None:
        raise FileNotFoundError(f"--resume: no checkpoint in {run / CHECKPOINT_DIR}; run without --resume first")
    if checkpoint is None:
        check_hyperparams(config.algo, config.hyperparams)
        check_extractor_fits(config.hyperparams, settings.image_size)
    run.mkdir(parents=True, exist_ok=True)
    atomic_write_text(run / CONFIG_FILE, yaml.safe_dump({**config.to_dict(), "env_settings": settings.to_dict()},
                                                        sort_keys=False))
    algo_cls = ALGO_CLASSES[config.algo]
    venv = make_envs(settings, config.n_envs, config.seed, config.vec_env)
    eval_env = model = None
    try:  # the envs (SubprocVecEnv workers) and the TensorBoard writer are closed on every path
        if checkpoint is not None:
            model = algo_cls.load(checkpoint[0], env=venv, device=device, tensorboard_log=str(run / "tb"))
        else:
            hp = policy_kwargs_with_extractor(config.hyperparams)
            policy = hp.pop("policy", "CnnPolicy")
            try:
                model = algo_cls(policy, venv, seed=config.seed, device=device, tensorboard_log=str(run / "tb"),
                                 verbose=0, **hp)
            except (TypeError, ValueError, AssertionError, KeyError, RuntimeError) as exc:
                raise ValueError(f"--hp: {algo_cls.__name__} rejected the hyperparameters "
                                 f"{config.hyperparams}: {one_line(exc)}") from None
        setattr(model, ENV_SETTINGS_ATTR, {**settings.to_dict(), "algo": config.algo})  # travels in every saved zip

        callbacks: list[BaseCallback] = [AtomicCheckpointCallback(config.checkpoint_freq, run / CHECKPOINT_DIR)]
        if config.eval_freq > 0:
            eval_env = VecTransposeImage(make_envs(settings, 1, config.seed + EVAL_SEED_OFFSET))
            callbacks.append(EvalCallback(
                eval_env, callback_on_new_best=SaveBestCallback(run / "best" / "best_model.zip"),
                n_eval_episodes=config.eval_episodes, eval_freq=max(config.eval_freq // config.n_envs, 1),
                log_path=str(run / "eval"), best_model_save_path=None, deterministic=True, verbose=0))
        remaining = config.timesteps - (checkpoint[1] if checkpoint else 0)
        start = time.perf_counter()
        if remaining > 0:
            model.learn(remaining, callback=CallbackList(callbacks), reset_num_timesteps=checkpoint is None,
                        tb_log_name="policy", progress_bar=config.progress_bar)
        wall = time.perf_counter() - start
        model_path = save_model_atomic(model, run / MODEL_FILE)
    finally:
        venv.close()
        if eval_env is not None:
            eval_env.close()
        logger = getattr(model, "_logger", None)
        if logger is not None:
            logger.close()  # the TensorBoard writer, also when learn() failed

    success = None
    if config.final_eval_episodes > 0:
        success = evaluate_policy_success(model, settings, config.final_eval_episodes, HELD_OUT_SEED)
    summary: dict[str, Any] = {"timesteps": int(model.num_timesteps), "wall_time_s": round(wall, 1),
                               "held_out_success_rate": success, "held_out_episodes": config.final_eval_episodes,
                               "held_out_first_seed": HELD_OUT_SEED, "look": settings.look, "device": str(device)}
    atomic_write_text(run / "summary.json", json.dumps(summary, indent=2))
    return TrainResult(run, model_path, int(model.num_timesteps), wall, success)
