"""Where frames come from: a ChairNav look (rolled by a policy or by sticky random actions), the
simulator's free pairs of two looks of the same pose (:func:`collect_pairs`, after RCAN: James et
al., "Sim-to-Real via Sim-to-Sim", CVPR 2019), or an OpenCV capture (video file, camera index,
stream URL)."""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from tqdm.auto import tqdm

from goggles_gym.envs.chairnav import ChairNav
from goggles_gym.envs.looks import LookSpec, look_name
from goggles_gym.frames.collection import CollectionWriter
from goggles_gym.frames.images import center_crop_resize

#: Pairs taken from one episode before the next (a new room and look): 1, a new look for every pair as RCAN
#: does. With whole episodes (0), 3000 pairs held 32 looks and the canonicalizer lost the chair in `real`
#: (0% zero-shot on quick's validation block; 42% with 1; docs/README.md, "The canonicalizer finds the chair").
PAIR_FRAMES_PER_EPISODE = 1
#: Share of the pairs taken on the way to the chair (:func:`approach_pose`) rather than at the start pose, which is
#: always at least 1.5 m from it. 0.5, with rcan's class weights from the start-pose pairs (``approach_frames``):
#: 110 / 150 against 85 / 150 for start poses only on quick's validation block, seeds 0-2 (p < 0.001); 0.5 with
#: the weights of all pairs gave 84 / 150 (the chair's median-frequency weight fell from 10 to 3 and far chairs
#: were lost; docs/README.md, "Pairs near the chair").
PAIR_APPROACH = 0.5


def approach_pose(env: ChairNav, rng: np.random.Generator, tries: int = 20) -> tuple[float, float, float] | None:
    """A pose on the way from the episode's start to its chair, as a policy that finds the chair passes:
    ``0.5`` m to the start's distance from the chair, off the straight line by up to 60 degrees, the chair
    within 45 degrees of the heading (the camera sees 90). ``None`` when ``tries`` draws all hit an object.

    The reset poses alone keep the chair at least ``min_start_distance`` away, so a canonicalizer trained on
    them never sees the chair close up, where an episode ends.
    """
    chair, start = env.layout.chair, env.layout.start
    far = max(math.hypot(start.x - chair.x, start.y - chair.y), 0.6)
    away = math.atan2(start.y - chair.y, start.x - chair.x)
    half = env.scene.config.room_size / 2
    for _ in range(tries):
        d = rng.uniform(0.5, far)
        a = away + rng.uniform(-math.pi / 3, math.pi / 3)
        x, y = chair.x + d * math.cos(a), chair.y + d * math.sin(a)
        if max(abs(x), abs(y)) < half and not env.scene.collides(x, y):
            yaw = math.atan2(chair.y - y, chair.x - x) + rng.uniform(-math.pi / 4, math.pi / 4)
            return x, y, yaw
    return None


def episode_seeds(seed: int, count: int) -> list[int]:
    """Episode seeds drawn from ``seed``: two collections with different seeds share no episode."""
    return [int(s) for s in np.random.SeedSequence(seed).generate_state(count)]


def collect_from_env(out: str | os.PathLike, look: LookSpec, count: int, seed: int, *, domain: str | None = None,
                     policy: Any = None, epsilon: float = 0.2, sticky: float = 0.8,
                     env_kwargs: dict[str, Any] | None = None, progress: bool = True,
                     episodes: Sequence[int] | None = None) -> Path:
    """Save ``count`` frames of ChairNav in ``look`` to a new collection at ``out``.

    Actions come from ``policy`` (anything with ``predict(obs) -> action``; a random action with
    probability ``epsilon``) or, without one, are random and repeated with probability ``sticky``
    for coverage. ``domain`` ``sim`` keeps label maps as training targets, ``real`` keeps them apart
    for measuring only (default: ``sim`` for the sim look, ``real`` otherwise). Episodes start from
    ``episodes`` in order (a seed plan's block) or, without them, from :func:`episode_seeds` of
    ``seed``; the manifest's ``frame_episodes`` names each frame's episode seed.
    """
    name = look_name(look)
    domain = domain or ("sim" if name == "sim" else "real")
    if domain not in ("sim", "real"):
        raise ValueError(f"domain must be 'sim' or 'real', got {domain!r}")
    env = ChairNav(look=look, **(env_kwargs or {}))
    rng = np.random.default_rng(seed)
    writer = CollectionWriter(out, source="env", look=name, size=(env.height, env.width), seed=seed,
                              labels_role="train" if domain == "sim" else "eval",
                              extra={"domain": domain, "policy": getattr(policy, "path", None) and str(policy.path),
                                     "env": env_kwargs or {}})
    seeds = iter(episode_seeds(seed, count + 1) if episodes is None else episodes)
    episode = _next_episode(seeds)
    obs, info = env.reset(seed=episode)
    action = 0
    try:
        for _ in tqdm(range(count), desc=f"collecting {name}", disable=not progress):
            writer.add(obs, info["labels"], episode=episode)
            if policy is not None and rng.random() >= epsilon:
                action = int(np.asarray(policy.predict(obs)).reshape(-1)[0])
            elif policy is not None or rng.random() >= sticky:
                action = int(rng.integers(3))
            obs, _, terminated, truncated, info = env.step(action)
            if terminated or truncated:
                episode = _next_episode(seeds)
                obs, info = env.reset(seed=episode)
    finally:
        env.close()
    return writer.close()


def collect_pairs(out: str | os.PathLike, count: int, seed: int, *, episodes: Sequence[int] | None = None,
                  input_look: LookSpec = "randomized", env_kwargs: dict[str, Any] | None = None,
                  progress: bool = True, sticky: float = 0.8,
                  frames_per_episode: int = PAIR_FRAMES_PER_EPISODE, approach: float = PAIR_APPROACH) -> Path:
    """Save ``count`` poses of ChairNav, each rendered twice, as a paired collection at ``out``.

    Two envs, ``input_look`` (``randomized``: a new look every episode) and ``sim``, get the same
    episode seeds and the same sticky random actions, so they hold the same pose at every frame:
    ``rgb/`` is the ``input_look`` render, ``target/`` the ``sim`` render, ``labels/`` the shared
    class maps (sim domain: training targets). Episodes, actions and ``frame_episodes`` follow
    :func:`collect_from_env` exactly, so ``target/`` and ``labels/`` equal a ``sim`` collection of
    the same ``seed`` / ``episodes`` when ``frames_per_episode`` is 0 (every episode to its end).
    ``frames_per_episode`` > 0 moves to the next episode (a new room and, for ``randomized``, a new
    look) after that many frames: more looks and rooms for the same count (RCAN draws a new look per
    frame); see :data:`PAIR_FRAMES_PER_EPISODE`. ``approach`` is the share of episodes that start from
    :func:`approach_pose` instead of the reset pose (both looks at the same pose), so that the pairs see
    the chair near as well as far; the manifest's ``approach_frames`` lists their pairs. Raises
    ``AssertionError`` if the two envs' labels ever differ (appearance moved geometry: a bug of the env).
    """
    if frames_per_episode < 0:
        raise ValueError(f"frames_per_episode must be >= 0 (0: whole episodes), got {frames_per_episode}")
    if not 0.0 <= approach <= 1.0:
        raise ValueError(f"approach must be a share in [0, 1], got {approach}")
    name = look_name(input_look)
    if name == "sim":
        raise ValueError("collect_pairs: input_look 'sim' is the pairs' target look (the pairs would be identical); "
                         "give randomized (the usual input look) or another look")
    kwargs = env_kwargs or {}
    env, sim = ChairNav(look=input_look, **kwargs), ChairNav(look="sim", **kwargs)
    try:
        rng = np.random.default_rng(seed)
        writer = CollectionWriter(out, source="env", look=name, size=(env.height, env.width), seed=seed,
                                  labels_role="train", target_look="sim",
                                  extra={"domain": "sim", "policy": None, "env": kwargs, "approach": approach})
        seeds = iter(episode_seeds(seed, count + 1) if episodes is None else episodes)
        pose_rng = np.random.default_rng([seed, 7])  # its own stream: approach 0 leaves the collection as it was

        near: list[int] = []  # indices of the pairs of approach episodes (the manifest's approach_frames)

        def start(episode: int) -> tuple:
            """Both envs reset to ``episode``, at its start pose or at an approach pose; and whether it is one."""
            sim_reset = sim.reset(seed=episode)  # the sim look's reset is cheap: it finds the room for the pose
            pose = approach_pose(sim, pose_rng) if approach > 0 and pose_rng.random() < approach else None
            if pose is not None:
                sim_reset = sim.reset(seed=episode, options={"pose": pose})
            return env.reset(seed=episode, options={"pose": pose}), sim_reset, pose is not None

        episode = _next_episode(seeds)
        (obs, info), (sim_obs, sim_info), in_near = start(episode)
        action, in_episode, terminated, truncated = 0, 0, False, False
        for i in tqdm(range(count), desc=f"collecting {name} -> sim pairs", disable=not progress):
            if not np.array_equal(info["labels"], sim_info["labels"]):
                raise AssertionError(f"looks {name} and sim disagree on geometry in episode {episode} "
                                     f"(step {env.steps}): appearance must not move anything")
            if in_near:
                near.append(writer.count)
            writer.add(obs, info["labels"], episode=episode, target=sim_obs)
            in_episode += 1
            if i == count - 1:
                break  # no step (nor reset) after the last pair
            if rng.random() >= sticky:
                action = int(rng.integers(3))
            if in_episode != frames_per_episode:  # (a step the next reset would undo is not rendered)
                obs, _, terminated, truncated, info = env.step(action)
                sim_obs, _, sim_terminated, sim_truncated, sim_info = sim.step(action)
                if (terminated, truncated) != (sim_terminated, sim_truncated):
                    raise AssertionError(f"looks {name} and sim disagree on the end of episode {episode}")
            if in_episode == frames_per_episode or terminated or truncated:
                episode, in_episode = _next_episode(seeds), 0
                (obs, info), (sim_obs, sim_info), in_near = start(episode)
        if approach > 0:
            writer.meta["approach_frames"] = near
    finally:
        env.close()
        sim.close()
    return writer.close()


def _next_episode(seeds: Iterator[int]) -> int:
    seed = next(seeds, None)
    if seed is None:
        raise ValueError("the episode seeds ran out before the collection was full; give more episodes")
    return int(seed)


def paired_frames(episodes: Sequence[int], size: int | tuple[int, int], action_seed: int, look: LookSpec = "real",
                  env_kwargs: dict | None = None) -> dict[str, np.ndarray]:
    """One frame of ``look`` per episode seed, with its true labels and the true ``sim`` render of the
    same pose (``real``, ``sim``, ``labels``, and ``episodes``: each frame's episode seed).

    Each frame is a random point of a sticky random walk (actions drawn from ``action_seed``) in a
    fresh episode; both looks get the same seed and actions, so geometry (and labels) are identical.
    These pairs of a target look are for measuring only: no translator trains on them.
    """
    kwargs = {**(env_kwargs or {}), "image_size": size}
    target, sim = ChairNav(look=look, **kwargs), ChairNav(look="sim", **kwargs)
    rng = np.random.default_rng(action_seed)
    out: dict[str, list] = {"real": [], "sim": [], "labels": [], "episodes": []}
    action = 0
    try:
        for s in episodes:
            (ro, ri), (so, si) = target.reset(seed=int(s)), sim.reset(seed=int(s))
            for _ in range(int(rng.integers(0, 30))):
                action = action if rng.random() < 0.8 else int(rng.integers(3))
                ro, _, terminated, truncated, ri = target.step(action)
                so, _, _, _, si = sim.step(action)
                if terminated or truncated:
                    break
            if not np.array_equal(ri["labels"], si["labels"]):  # pragma: no cover - a geometry bug
                raise AssertionError(f"looks {look} and sim disagree on geometry for seed {s}")
            out["real"].append(ro)
            out["sim"].append(so)
            out["labels"].append(ri["labels"])
            out["episodes"].append(int(s))
    finally:
        target.close()
        sim.close()
    if not out["real"]:
        raise ValueError("paired_frames needs at least one episode seed")
    return {k: np.stack(v) for k, v in out.items()}


def open_capture(source: str | int) -> cv2.VideoCapture:
    """Open a camera index (``0`` or ``"0"``), video file or stream URL; fail clearly if it won't."""
    if isinstance(source, str) and source.isdigit():
        source = int(source)
    if isinstance(source, str) and "://" not in source and not Path(source).exists():
        raise FileNotFoundError(f"video file not found: {source}")
    cap = cv2.VideoCapture(source)
    if not cap.isOpened():
        raise RuntimeError(f"could not open capture source {source!r}: check the camera index, file or URL")
    return cap


def collect_from_capture(out: str | os.PathLike, source: str | int, count: int, size: tuple[int, int],
                         stride: int = 1, look: str | None = None, progress: bool = True) -> Path:
    """Save up to ``count`` frames (every ``stride``-th) from an OpenCV capture, centre-cropped and resized."""
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    cap = open_capture(source)
    writer = CollectionWriter(out, source=f"capture:{source}", look=look, size=size, seed=None, labels_role="eval",
                              extra={"domain": "real", "stride": stride})
    index = 0
    try:
        with tqdm(total=count, desc=f"collecting {source}", disable=not progress) as bar:
            while writer.count < count:
                ok, frame = cap.read()
                if not ok:
                    break
                if index % stride == 0:
                    writer.add(center_crop_resize(frame[..., ::-1], size))
                    bar.update()
                index += 1
    finally:
        cap.release()
    return writer.close()
