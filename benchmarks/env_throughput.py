"""ChairNav steps/s per look beside the bare PyBullet render call and beside MiniWorld, memory over
many resets, and (``--vec``) SB3 vector envs.

    python benchmarks/env_throughput.py [--steps 3000] [--resets 10000] [--size 64] [--vec [--vec-steps 2000]]

(``--steps 0 --resets 0 --vec``: the vector env table alone.)

The bare render is ``pybullet.getCameraImage`` on the env's own scene, at the same pose, size and
light settings (shadows included) as the look: what drawing a frame costs. Targets (issue 2): step
<= 1.3x bare render for ``sim``, <= 2x for ``real``. A step that returns to a pose already drawn in
the episode (a blocked move, a turn undone) re-uses that frame, so a random walk's step can cost
less than a bare render.

Peers: ChairNav (``sim`` and ``real``, ``--size``) and, when the optional package ``miniworld`` is
installed, Farama MiniWorld's ``MiniWorld-OneRoom-v0`` at its default 80 x 60, in turn in this one
process (interleaved rounds, so a background load hits both alike), random actions, the same number
of steps each, resets included; pixels/s is steps/s times the observation's pixels. Without a
display MiniWorld's pyglet is run headless (``PYGLET_HEADLESS``, EGL). ``sim, every frame drawn``
turns the frame re-use off: the rate of a walk that never comes back to a pose.

``--vec``: SB3 ``DummyVecEnv`` and ``SubprocVecEnv`` of 1, 2, 4 and 8 ChairNav envs (``sim``,
``--size``), random actions through the VecEnv, all open at once and stepped in interleaved rounds;
steps/s counts env steps (all envs of a VecEnv together).
"""

from __future__ import annotations

import argparse
import functools
import os
import resource
import time
from collections.abc import Callable

import numpy as np

from goggles_gym.envs import ChairNav
from goggles_gym.envs.scene import p  # pybullet, imported without its banner (also in SubprocVecEnv workers)

MINIWORLD_ID = "MiniWorld-OneRoom-v0"


def bare_render_s(env: ChairNav) -> float:
    """Seconds of one getCameraImage alone, for the env's current look, pose and image size."""
    view, proj = env.scene.camera_matrices(env.pose, env.width, env.height)
    light = env.look.light
    start = time.perf_counter()
    p.getCameraImage(env.width, env.height, view, proj, renderer=p.ER_TINY_RENDERER,
                     lightDirection=list(light.direction), lightColor=list(light.color),
                     lightDistance=light.distance, shadow=int(light.shadows), lightAmbientCoeff=light.ambient,
                     lightDiffuseCoeff=light.diffuse, lightSpecularCoeff=light.specular,
                     physicsClientId=env.scene.client)
    return time.perf_counter() - start


def step_ms(env: ChairNav, n: int, rng: np.random.Generator) -> tuple[float, float]:
    """Mean ms per env.step (resets excluded) and of the bare render of the same frames.

    After each timed step the bare render of the pose just reached is timed separately, so both
    figures cover the same images.
    """
    env.reset(seed=0)
    spent, rendered = 0.0, 0.0
    for _ in range(n):
        a = int(rng.integers(3))
        t = time.perf_counter()
        _, _, terminated, truncated, _ = env.step(a)
        spent += time.perf_counter() - t
        rendered += bare_render_s(env)
        if terminated or truncated:
            env.reset()
    return spent / n * 1e3, rendered / n * 1e3


def rss_mb() -> float:
    """Resident memory of this process in MB (current, from /proc on Linux)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * resource.getpagesize() / 2**20
    except OSError:  # pragma: no cover - not Linux
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --- peers ------------------------------------------------------------------------------------


def make_miniworld() -> tuple[object | None, str]:
    """MiniWorld's OneRoom env, or None and why not (not installed, or no OpenGL to run it)."""
    if not os.environ.get("DISPLAY"):
        os.environ.setdefault("PYGLET_HEADLESS", "true")  # read by pyglet at import: EGL, no X server
    try:
        import gymnasium as gym
        import miniworld  # noqa: F401  (registers the MiniWorld ids)
    except ImportError:
        return None, "not installed (pip install miniworld)"
    try:
        return gym.make(MINIWORLD_ID), ""
    except Exception as exc:  # noqa: BLE001 - any OpenGL / pyglet failure: report it, keep the ChairNav rows
        return None, f"could not start ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"


class Walker:
    """One env stepped with random actions, a few steps at a time, timing only its own steps."""

    def __init__(self, name: str, env, n_actions: int, seed: int) -> None:
        self.name, self.env, self.n_actions = name, env, n_actions
        self.rng = np.random.default_rng(seed)
        obs, _ = env.reset(seed=seed)
        self.pixels = obs.shape[0] * obs.shape[1]
        self.size = f"{obs.shape[1]}x{obs.shape[0]}"
        self.steps, self.seconds = 0, 0.0

    def walk(self, n: int) -> None:
        env, rng, k = self.env, self.rng, self.n_actions
        start = time.perf_counter()
        for _ in range(n):
            _, _, terminated, truncated, _ = env.step(int(rng.integers(k)))
            if terminated or truncated:
                env.reset()
        self.seconds += time.perf_counter() - start
        self.steps += n


def peers(steps: int, size: int, rounds: int = 10) -> None:
    """ChairNav beside MiniWorld: steps/s, pixels/s and the ratio of pixels/s, in turn in one process."""
    walkers = [Walker("ChairNav sim", ChairNav(look="sim", image_size=size), 3, 0),
               Walker("ChairNav real", ChairNav(look="real", image_size=size), 3, 0)]
    drawn = ChairNav(look="sim", image_size=size)
    drawn.scene.frame_cache_bytes = 0
    walkers.append(Walker("ChairNav sim, every frame drawn", drawn, 3, 0))
    mw, why = make_miniworld()
    if mw is not None:
        walkers.append(Walker(MINIWORLD_ID, mw, int(mw.action_space.n), 0))
    per_round = max(steps // rounds, 1)
    for w in walkers:
        w.walk(min(per_round, 50))  # warm-up (caches, GL context), not counted
        w.steps, w.seconds = 0, 0.0
    for _ in range(rounds):
        for w in walkers:
            w.walk(per_round)
    print(f"\nPeers, one process, random actions, {per_round * rounds} steps each (in {rounds} interleaved rounds, "
          "resets included)")
    print(f"{'env':<32} {'size':>6} {'steps/s':>8} {'pixels/s':>10} {'px/s vs MiniWorld':>18}")
    ref = walkers[-1] if mw is not None else None
    ref_px = ref.steps / ref.seconds * ref.pixels if ref is not None else None
    for w in walkers:
        rate = w.steps / w.seconds
        ratio = "" if ref_px is None or w is ref else f"{rate * w.pixels / ref_px:.2f}"
        print(f"{w.name:<32} {w.size:>6} {rate:8.0f} {rate * w.pixels / 1e6:9.2f}M {ratio:>18}")
    if mw is None:
        print(f"{MINIWORLD_ID}: {why}; no MiniWorld row")
    for w in walkers:
        w.env.close()


# --- SB3 vector envs ----------------------------------------------------------------------------


def vec_rates(steps: int, size: int, counts: tuple[int, ...] = (1, 2, 4, 8), rounds: int = 5) -> None:
    """Env steps/s of SB3 DummyVecEnv and SubprocVecEnv over ``counts`` ChairNav envs (sim, random actions).

    All vector envs are opened first and stepped in turn, ``steps / rounds`` env steps each per round,
    so a changing background load hits every row alike; a cell is the median of its rounds' rates.
    """
    try:
        from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv
    except ImportError:
        print("\n--vec: stable-baselines3 is not installed; no vector env table")
        return
    make = functools.partial(ChairNav, look="sim", image_size=size)
    kinds: dict[str, Callable] = {"DummyVecEnv": DummyVecEnv, "SubprocVecEnv": SubprocVecEnv}
    vecs = {}
    try:
        for n in counts:
            for kind, cls in kinds.items():
                vec = vecs[(n, kind)] = cls([make] * n)
                vec.seed(0)
                vec.reset()
        rng = np.random.default_rng(0)
        rates: dict[tuple[int, str], list[float]] = {key: [] for key in vecs}
        for r in range(rounds + 1):  # round 0 warms up and is not counted
            for (n, kind), vec in vecs.items():
                calls = max(steps // rounds // n, 1)
                start = time.perf_counter()
                for _ in range(calls):
                    vec.step(rng.integers(3, size=n))
                if r:
                    rates[(n, kind)].append(calls * n / (time.perf_counter() - start))
    finally:
        for vec in vecs.values():
            vec.close()
    print(f"\nSB3 vector envs, ChairNav sim {size}x{size}, random actions, {steps} env steps each in {rounds} "
          f"interleaved rounds (median round; {os.cpu_count()} CPUs)")
    print(f"{'n_envs':>6} " + " ".join(f"{k + ' steps/s':>22}" for k in kinds))
    for n in counts:
        print(f"{n:>6} " + " ".join(f"{np.median(rates[(n, k)]):22.0f}" for k in kinds))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=3000, help="env steps timed per look and per peer (0: skip)")
    parser.add_argument("--resets", type=int, default=10_000, help="resets for the memory check (0: skip)")
    parser.add_argument("--size", type=int, default=64, help="image size")
    parser.add_argument("--vec", action="store_true", help="also time SB3 DummyVecEnv / SubprocVecEnv of 1-8 envs")
    parser.add_argument("--vec-steps", type=int, default=2000, help="env steps timed per vector env")
    args = parser.parse_args()
    if args.steps:
        rng = np.random.default_rng(0)
        targets = {"sim": 1.3, "real": 2.0, "randomized": None}
        print(f"ChairNav {args.size}x{args.size}, one process, {args.steps} steps per look")
        print(f"{'look':<11} {'steps/s':>8} {'step ms':>8} {'render ms':>10} {'ratio':>6} {'target':>7}")
        for look, target in targets.items():
            env = ChairNav(look=look, image_size=args.size)
            ms, render = step_ms(env, args.steps, rng)
            ratio = ms / render
            verdict = "" if target is None else f"<= {target}  {'met' if ratio <= target else 'MISSED'}"
            print(f"{look:<11} {1e3 / ms:8.0f} {ms:8.3f} {render:10.3f} {ratio:6.2f} {verdict}")
            env.close()
        peers(args.steps, args.size)
    if args.resets:
        print()
        for look in ("sim", "randomized"):
            env = ChairNav(look=look, image_size=args.size)
            env.reset(seed=0)
            for _ in range(200):  # warm-up: caches, allocator
                env.reset()
            before = rss_mb()
            start = time.perf_counter()
            for _ in range(args.resets):
                env.reset()
            after = rss_mb()
            print(f"{args.resets} resets ({look}): RSS {before:.1f} MB -> {after:.1f} MB "
                  f"({after - before:+.1f} MB), {args.resets / (time.perf_counter() - start):.0f} resets/s")
            env.close()
    if args.vec:
        vec_rates(args.vec_steps, args.size)


if __name__ == "__main__":
    main()
