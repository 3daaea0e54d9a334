"""ChairNav steps/s per look beside the bare PyBullet render call, and memory over many resets.

    python benchmarks/env_throughput.py [--steps 3000] [--resets 10000] [--size 64]

The bare render is ``pybullet.getCameraImage`` on the env's own scene, at the same pose, size and
light settings (shadows included) as the look: the floor the env step cannot go below. Targets
(issue 2): step <= 1.3x bare render for ``sim``, <= 2x for ``real``.
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import pybullet as p

from goggles_gym.envs import ChairNav


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=3000, help="env steps timed per look")
    parser.add_argument("--resets", type=int, default=10_000, help="resets for the memory check (0: skip)")
    parser.add_argument("--size", type=int, default=64, help="image size")
    args = parser.parse_args()
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
    if args.resets:
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


if __name__ == "__main__":
    main()
