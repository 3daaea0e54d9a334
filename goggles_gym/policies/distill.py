"""Domain randomization by distillation (DAgger, Ross et al. 2011): a student policy learns to act
in randomized looks as the sim policy (its teacher) acts on the sim render of the same pose.

The simulator renders every pose twice for free, as for the canonicalizer's pairs: the teacher's
action distribution on the sim frame labels the student's randomized frame, at every step, and no
frame of a target look is used. PPO in randomized looks gets a sparse reward through frames that
change every episode and, on 2 CPU cores, plateaued at 12-25% success in its own looks from 100k to
300k steps (docs/README.md); the student here is told the right action at every frame instead.

Each round collects ``timesteps / rounds`` steps with ``n_envs`` pairs of envs (student look,
``sim``) that share episode seeds and actions; the action taken is the teacher's with probability
``0.5 ** round`` (round 0: the teacher drives) and else drawn from the student, so later rounds
visit the states the student itself reaches. The student, which starts as a copy of the teacher,
is then trained on every round's frames so far (cross-entropy to the teacher's action
probabilities, squared error to its value). Rounds are saved as they finish, so a killed run
resumes at the round it was in.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.policies import ActorCriticPolicy
from torch.nn import functional as F
from torch.utils.tensorboard import SummaryWriter
from tqdm.auto import tqdm

from goggles_gym.common.device import resolve_device
from goggles_gym.common.files import atomic_write, atomic_write_text
from goggles_gym.policies.algos import ALGO_CLASSES
from goggles_gym.policies.config import PolicyTrainConfig
from goggles_gym.policies.loading import ENV_SETTINGS_ATTR, EnvSettings, evaluate_policy_success, load_policy
from goggles_gym.policies.training import (
    CHECKPOINT_DIR,
    CONFIG_FILE,
    EVAL_SEED_OFFSET,
    HELD_OUT_SEED,
    MODEL_FILE,
    TrainResult,
    latest_checkpoint,
    save_model_atomic,
)

ROUNDS_DIR = "distill"
VALUE_WEIGHT = 0.5  # the value term's weight beside the action cross-entropy (as PPO's vf_coef)


def _heads(policy: ActorCriticPolicy, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Action logits and values of an SB3 actor-critic policy (what its ``forward`` computes)."""
    features = policy.extract_features(obs)
    if policy.share_features_extractor:
        latent_pi, latent_vf = policy.mlp_extractor(features)
    else:
        latent_pi = policy.mlp_extractor.forward_actor(features[0])
        latent_vf = policy.mlp_extractor.forward_critic(features[1])
    return policy.action_net(latent_pi), policy.value_net(latent_vf).squeeze(-1)


def _check_settings(config: PolicyTrainConfig, teacher: EnvSettings) -> EnvSettings:
    """The student's env: the teacher's settings in ``config.look``; a differing ``--env`` fails."""
    for key, value in config.env.items():
        if key not in teacher.kwargs:
            raise ValueError(f"--env {key}: not a ChairNav setting")
        wanted = list(value) if isinstance(value, (list, tuple)) else value
        if key == "image_size" and isinstance(value, int):
            wanted = [value, value]
        if wanted != teacher.kwargs[key]:
            raise ValueError(f"--env {key}={value!r}: the teacher was trained with {key}={teacher.kwargs[key]!r}, "
                             f"and the student reads the same frames; pass --env {key}={teacher.kwargs[key]!r} "
                             "or leave it out")
    if config.look == "sim":
        raise ValueError("--teacher with --look sim: the student would learn the teacher's own look; give the "
                         "look to distil into (randomized for the DR baseline)")
    return EnvSettings.from_kwargs(look=config.look, **teacher.kwargs)


class _Pairs:
    """``n`` pairs of envs (student look, sim) stepping the same poses; episodes from ``seeds``."""

    def __init__(self, settings: EnvSettings, n: int, seeds: list[int]) -> None:
        self.student = [settings.make_env() for _ in range(n)]
        self.teacher = [settings.make_env("sim") for _ in range(n)]
        self.seeds = iter(seeds)
        self.obs = [self._reset(i) for i in range(n)]

    def _reset(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        seed = next(self.seeds, None)
        if seed is None:
            raise ValueError("a distillation round ran out of episode seeds (its episodes ended very early); "
                             "give more --distill-rounds")
        return self.student[i].reset(seed=seed)[0], self.teacher[i].reset(seed=seed)[0]

    def step(self, actions: np.ndarray) -> None:
        for i, action in enumerate(actions):
            obs, _, terminated, truncated, _ = self.student[i].step(int(action))
            sim, _, t_terminated, t_truncated, _ = self.teacher[i].step(int(action))
            if (terminated, truncated) != (t_terminated, t_truncated):  # pragma: no cover - a geometry bug
                raise AssertionError("the student's and the teacher's envs disagree on an episode's end")
            self.obs[i] = self._reset(i) if terminated or truncated else (obs, sim)

    def close(self) -> None:
        for env in (*self.student, *self.teacher):
            env.close()


@torch.no_grad()
def _probs_values(policy: ActorCriticPolicy, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    obs = policy.obs_to_tensor(frames)[0]
    logits, values = _heads(policy, obs)
    return torch.softmax(logits, -1).cpu().numpy(), values.cpu().numpy()


def _collect(student: ActorCriticPolicy, teacher: ActorCriticPolicy, settings: EnvSettings, n_envs: int,
             steps: int, seeds: list[int], beta: float, rng: np.random.Generator,
             progress: bool, desc: str) -> dict[str, np.ndarray]:
    pairs = _Pairs(settings, n_envs, seeds)
    frames, probs, values = [], [], []
    try:
        with tqdm(total=steps, desc=desc, disable=not progress) as bar:
            while len(frames) * n_envs < steps:
                obs = np.stack([o for o, _ in pairs.obs])
                sim = np.stack([s for _, s in pairs.obs])
                t_probs, t_values = _probs_values(teacher, sim)
                s_probs, _ = _probs_values(student, obs)
                drawn = np.array([rng.choice(len(p), p=p / p.sum()) for p in s_probs])
                actions = np.where(rng.random(n_envs) < beta, t_probs.argmax(1), drawn)
                frames.append(obs)
                probs.append(t_probs.astype(np.float32))
                values.append(t_values.astype(np.float32))
                pairs.step(actions)
                bar.update(n_envs)
    finally:
        pairs.close()
    return {"frames": np.concatenate(frames)[:steps], "probs": np.concatenate(probs)[:steps],
            "values": np.concatenate(values)[:steps]}


def _fit(policy: ActorCriticPolicy, data: dict[str, np.ndarray], epochs: int, batch_size: int, lr: float,
         rng: np.random.Generator) -> float:
    """Train the student on the aggregated rounds; returns the last epoch's mean loss."""
    policy.set_training_mode(True)
    for group in policy.optimizer.param_groups:
        group["lr"] = lr
    n, device = len(data["frames"]), policy.device
    mean = 0.0
    for _ in range(epochs):
        order, total = rng.permutation(n), 0.0
        for start in range(0, n, batch_size):
            idx = order[start:start + batch_size]
            obs = policy.obs_to_tensor(data["frames"][idx])[0]
            logits, values = _heads(policy, obs)
            target = torch.as_tensor(data["probs"][idx], device=device)
            loss = -(target * F.log_softmax(logits, -1)).sum(-1).mean()
            loss = loss + VALUE_WEIGHT * F.mse_loss(values, torch.as_tensor(data["values"][idx], device=device))
            policy.optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(policy.parameters(), 0.5)
            policy.optimizer.step()
            total += loss.item() * len(idx)
        mean = total / n
    policy.set_training_mode(False)
    return mean


def _save_round(path: Path, data: dict[str, np.ndarray]) -> None:
    atomic_write(path, lambda tmp: np.savez_compressed(tmp, **data))


def _load_round(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path) as f:
            return {k: f[k] for k in ("frames", "probs", "values")}
    except (OSError, ValueError, KeyError) as exc:
        raise ValueError(f"{path} is not a readable distillation round ({exc}); delete it to collect the round "
                         "again") from None


def distill_policy(config: PolicyTrainConfig) -> TrainResult:
    """Distil ``config.teacher`` (a sim policy) into a student acting in ``config.look`` by DAgger;
    the student is saved as an ordinary policy of the teacher's algorithm (``model.zip``)."""
    device = resolve_device(config.device)
    teacher = load_policy(config.teacher, device=device)
    if not isinstance(teacher.model.policy, ActorCriticPolicy):
        raise ValueError(f"--teacher {config.teacher}: a {teacher.algo} policy has no action distribution to "
                         "distil; use a ppo or a2c teacher")
    settings = _check_settings(config, teacher.settings)
    rounds, run = config.distill_rounds, Path(config.out)
    per_round = -(-config.timesteps // rounds)
    span = EVAL_SEED_OFFSET // rounds  # each round's episode seeds, apart from the periodic evaluation's
    checkpoint = latest_checkpoint(run) if config.resume else None
    if config.resume and checkpoint is None:
        raise FileNotFoundError(f"--resume: no checkpoint in {run / CHECKPOINT_DIR}; run without --resume first")
    run.mkdir(parents=True, exist_ok=True)
    atomic_write_text(run / CONFIG_FILE, yaml.safe_dump({**config.to_dict(), "env_settings": settings.to_dict()},
                                                        sort_keys=False))
    algo_cls = ALGO_CLASSES[teacher.algo]
    source = checkpoint[0] if checkpoint else teacher.path
    student: BaseAlgorithm = algo_cls.load(source, device=device)
    if checkpoint is None:
        student.set_random_seed(config.seed)
    setattr(student, ENV_SETTINGS_ATTR, {**settings.to_dict(), "algo": teacher.algo})
    done_rounds = checkpoint[1] // per_round if checkpoint else 0
    history: list[dict[str, Any]] = []
    if checkpoint and (run / "summary.json").is_file():
        history = json.loads((run / "summary.json").read_text(encoding="utf-8")).get("rounds", [])[:done_rounds]
    writer = SummaryWriter(str(run / "tb" / "distill"))
    start = time.perf_counter()
    data: dict[str, list[np.ndarray]] = {"frames": [], "probs": [], "values": []}
    try:
        for r in range(rounds):
            path = run / ROUNDS_DIR / f"round_{r}.npz"
            if path.is_file():
                new = _load_round(path)
            else:
                rng = np.random.default_rng([config.seed, r])
                new = _collect(student.policy, teacher.model.policy, settings, config.n_envs, per_round,
                               list(range(config.seed + r * span, config.seed + (r + 1) * span)), 0.5 ** r, rng,
                               config.progress_bar, f"distill round {r + 1}/{rounds}")
                _save_round(path, new)
            for key in data:
                data[key].append(new[key])
            if r < done_rounds:
                continue
            joined = {k: np.concatenate(v) for k, v in data.items()}
            loss = _fit(student.policy, joined, config.distill_epochs, config.distill_batch_size, config.distill_lr,
                        np.random.default_rng([config.seed, r, 1]))
            steps = min((r + 1) * per_round, config.timesteps)
            student.num_timesteps = steps
            entry: dict[str, Any] = {"round": r + 1, "steps": steps, "frames": len(joined["frames"]),
                                     "loss": round(loss, 5)}
            writer.add_scalar("distill/loss", loss, steps)
            if config.eval_episodes > 0 and config.eval_freq > 0:
                own = evaluate_policy_success(student, settings, config.eval_episodes, config.seed + EVAL_SEED_OFFSET)
                entry["success_own_look"] = own
                writer.add_scalar("distill/success_own_look", own, steps)
            history.append(entry)
            save_model_atomic(student, run / CHECKPOINT_DIR / f"model_{steps}_steps.zip")
            atomic_write_text(run / "summary.json", json.dumps({"rounds": history, "partial": True}, indent=2))
    finally:
        writer.close()
    wall = time.perf_counter() - start
    model_path = save_model_atomic(student, run / MODEL_FILE)
    success = None
    if config.final_eval_episodes > 0:
        success = evaluate_policy_success(student, settings, config.final_eval_episodes, HELD_OUT_SEED)
    summary: dict[str, Any] = {"timesteps": int(student.num_timesteps), "wall_time_s": round(wall, 1),
                               "held_out_success_rate": success, "held_out_episodes": config.final_eval_episodes,
                               "held_out_first_seed": HELD_OUT_SEED, "look": settings.look, "device": str(device),
                               "method": "distill", "teacher": str(teacher.path), "rounds": history}
    atomic_write_text(run / "summary.json", json.dumps(summary, indent=2))
    return TrainResult(run, model_path, int(student.num_timesteps), wall, success)


def check_distill_env(config: PolicyTrainConfig) -> None:
    """Fail before anything runs when the teacher is missing or does not fit the student's settings."""
    teacher = load_policy(config.teacher, device="cpu")
    _check_settings(config, teacher.settings)

