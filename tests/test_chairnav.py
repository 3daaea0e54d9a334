import dataclasses
import math

import cv2
import gymnasium as gym
import numpy as np
import pybullet as p
import pytest
from gymnasium.utils.env_checker import check_env

import goggles_gym  # noqa: F401  (registers the env ids)
from goggles_gym.envs import ChairNav
from goggles_gym.envs.chairnav import FORWARD, TURN_LEFT, TURN_RIGHT
from goggles_gym.envs.effects import CameraPipeline
from goggles_gym.envs.looks import CameraEffects, RandomizedLooks, get_look
from goggles_gym.envs.textures import random_texture_files

LOOKS = ["sim", "real", "photo", "randomized"]


def rollout(env, seed, actions):
    obs, info = env.reset(seed=seed)
    frames, labels, poses = [obs], [info["labels"]], [env.pose]
    for a in actions:
        obs, _, terminated, truncated, info = env.step(a)
        frames.append(obs)
        labels.append(info["labels"])
        poses.append(env.pose)
        if terminated or truncated:
            break
    return frames, labels, poses


ACTIONS = [int(a) for a in np.random.default_rng(0).integers(0, 3, 40)]


@pytest.mark.parametrize("look", LOOKS)
def test_check_env(look):
    env = gym.make("GogglesGym/ChairNav-v0", look=look, image_size=16, render_mode="rgb_array")
    check_env(env.unwrapped)
    env.close()


@pytest.mark.parametrize("env_id", ["GogglesGym/ChairNav-v0", "GogglesGym/ChairNavReal-v0",
                                    "GogglesGym/ChairNavPhoto-v0", "GogglesGym/ChairNavRandomized-v0"])
def test_registered_ids(env_id):
    env = gym.make(env_id, image_size=(16, 24))
    obs, info = env.reset(seed=1)
    assert obs.shape == (16, 24, 3) and obs.dtype == np.uint8
    assert info["labels"].shape == (16, 24)
    env.close()


@pytest.mark.parametrize("look", LOOKS)
def test_same_seed_same_frames_and_trajectory(look):
    a, b = ChairNav(look=look, image_size=16), ChairNav(look=look, image_size=16)
    fa, la, pa = rollout(a, 7, ACTIONS)
    fb, lb, pb = rollout(b, 7, ACTIONS)
    assert pa == pb
    assert all(np.array_equal(x, y) for x, y in zip(fa, fb, strict=True))
    assert all(np.array_equal(x, y) for x, y in zip(la, lb, strict=True))
    fc, _, _ = rollout(a, 8, ACTIONS)
    assert not np.array_equal(fa[0], fc[0])


def test_same_seed_in_two_looks_same_geometry_and_labels():
    envs = [ChairNav(look=look, image_size=16) for look in LOOKS]
    runs = [rollout(env, 11, ACTIONS) for env in envs]
    (f0, l0, p0), others = runs[0], runs[1:]
    for f, labels, poses in others:
        assert poses == p0
        assert all(np.array_equal(x, y) for x, y in zip(labels, l0, strict=True))
        assert not np.array_equal(f[0], f0[0])  # the looks do look different


def test_oracle_controller_succeeds():
    """Steering by the true bearing reaches the chair: success is reachable and reported."""
    env = ChairNav(image_size=16, n_obstacles=0)
    successes = 0
    for seed in range(5):
        env.reset(seed=seed)
        done, info = False, {}
        while not done:
            bearing = env._chair_geometry()[1]
            action = FORWARD if abs(bearing) < math.radians(15) else (TURN_LEFT if bearing > 0 else TURN_RIGHT)
            _, reward, terminated, truncated, info = env.step(action)
            done = terminated or truncated
        successes += info["is_success"]
        if info["is_success"]:
            assert terminated and reward > 5 and info["distance"] <= env.reach_distance
    assert successes == 5


def test_wall_collision_blocks_and_is_flagged():
    env = ChairNav(image_size=16)
    env.reset(seed=2)
    collided = False
    for _ in range(60):
        before = env.pose
        _, reward, terminated, truncated, info = env.step(FORWARD)
        if info["collision"]:
            collided = True
            assert env.pose == before and reward < 0
            break
        if terminated or truncated:
            env.reset()
    assert collided and info["collisions"] >= 1


def test_resets_do_not_create_bodies_or_textures():
    env = ChairNav(look="randomized", image_size=16)
    env.reset(seed=0)
    bodies = p.getNumBodies(physicsClientId=env.scene.client)
    for _ in range(50):
        env.reset()
    for _ in range(200):
        env.reset()
    assert p.getNumBodies(physicsClientId=env.scene.client) == bodies
    assert len(env.scene._textures) <= env._look_source.pool_size


def test_render_rgb_array_is_larger():
    env = ChairNav(image_size=16, render_mode="rgb_array", render_size=48)
    env.reset(seed=0)
    assert env.render().shape == (48, 48, 3)


def test_bad_arguments_fail_clearly():
    with pytest.raises(ValueError, match="multiples of 4"):
        ChairNav(image_size=30)
    env = ChairNav(image_size=16)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="forward"):
        env.step(5)
    with pytest.raises(RuntimeError, match="reset"):
        ChairNav(image_size=16).step(0)


def test_robot_body_never_hides_the_floor():
    """Regression: the robot's collision cylinder stayed where the last move was checked, and its top
    covered the bottom of the camera view (labelled background) after every forward step."""
    env = ChairNav(look="sim", image_size=32)
    env.reset(seed=1)
    for _ in range(6):
        _, _, terminated, truncated, info = env.step(0)
        assert not (info["labels"][-10:] == 0).any()
        if terminated or truncated:
            break
    env.close()


# --- the fast paths give the frames of the full render path -----------------------------------

# Turns undone, blocked moves into a wall, and moves: a walk that comes back to poses it has drawn.
REVISITS = [1, 2, 2, 1, 0, 1, 2, 0, 0, 2, 1, 1, 2] + [0] * 25 + [1, 2, 1, 1, 2, 2, 0]


def _drawn_counter(env):
    calls = []
    draw = env.scene._draw
    env.scene._draw = lambda *a: calls.append(1) or draw(*a)
    return calls


@pytest.mark.parametrize("look", ["sim", "real", "randomized"])
def test_kept_frames_equal_drawn_frames(look):
    """A pose seen again is answered from the kept frames: the same observation, labels, rewards and
    infos as drawing every frame (frame_cache_bytes = 0), over resets and new randomized looks; and
    what a step returns is the caller's to change."""
    fast, full = ChairNav(look=look, image_size=16), ChairNav(look=look, image_size=16)
    full.scene.frame_cache_bytes = 0
    drawn = _drawn_counter(fast)
    for seed in (3, None, 5):
        (fo, fi), (go, gi) = fast.reset(seed=seed), full.reset(seed=seed)
        assert np.array_equal(fo, go) and np.array_equal(fi["labels"], gi["labels"])
        for a in REVISITS:
            f, g = fast.step(a), full.step(a)
            assert np.array_equal(f[0], g[0]) and np.array_equal(f[4]["labels"], g[4]["labels"])
            assert f[1:4] == g[1:4] and {k: v for k, v in f[4].items() if k != "labels"} == \
                {k: v for k, v in g[4].items() if k != "labels"}
            f[0].fill(7)  # the caller owns its arrays: spoiling them spoils no later frame
            f[4]["labels"].fill(7)
            if f[2] or f[3]:
                break
    steps = 3 * (len(REVISITS) + 1)
    assert len(drawn) < steps * 0.7  # the walk did come back to poses: fewer draws than frames
    fast.close()
    full.close()


@pytest.mark.parametrize("look", ["sim", "real"])
def test_draw_equals_plain_getcameraimage(look):
    """Scene._draw's RGB and labels equal PyBullet's own buffers read the plain way: RGB of the
    RGBA buffer, the label of each pixel's body id, the sky (background) in the look's colour."""
    env = ChairNav(look=look, image_size=(24, 32))
    env.reset(seed=2)
    scene, light = env.scene, env.look.light
    seen = set()
    for a in (0, 1, 1, 0, 2, 2, 2, 2, 2, 2):
        env.step(a)
        view, proj = scene.camera_matrices(env.pose, 32, 24)
        _, _, rgba, _, seg = p.getCameraImage(
            32, 24, view, proj, renderer=p.ER_TINY_RENDERER, lightDirection=list(light.direction),
            lightColor=list(light.color), lightDistance=light.distance, shadow=int(light.shadows),
            lightAmbientCoeff=light.ambient, lightDiffuseCoeff=light.diffuse, lightSpecularCoeff=light.specular,
            physicsClientId=scene.client)
        want_rgb = np.array(np.reshape(rgba, (24, 32, 4))[..., :3], dtype=np.uint8)
        want_labels = scene._lut[np.reshape(seg, (24, 32)) + 1]
        want_rgb[want_labels == 0] = np.asarray(env.look.background, np.float32) * 255.0
        rgb, labels = scene.render(env.pose, 32, 24, env.look)
        assert np.array_equal(rgb, want_rgb) and np.array_equal(labels, want_labels)
        seen |= set(np.unique(labels).tolist())
    assert seen == {0, 1, 2, 3, 4}  # sky, floor, wall, chair and obstacles were all in view
    env.close()


def test_scene_changes_forget_kept_frames():
    """A new layout or new materials are drawn anew at a pose drawn before."""
    env = ChairNav(look="sim", image_size=16)
    env.reset(seed=0)
    scene, pose = env.scene, env.pose
    before = scene.render(pose, 16, 16, env.look)
    scene.apply_layout(scene.sample_layout(np.random.default_rng(9)))
    moved = scene.render(pose, 16, 16, env.look)
    assert not np.array_equal(before[1], moved[1])
    assert all(np.array_equal(x, y) for x, y in zip(moved, scene._draw(pose, 16, 16, env.look), strict=True))
    red = dataclasses.replace(env.look, floor=dataclasses.replace(env.look.floor, color=(1.0, 0.0, 0.0, 1.0)))
    scene.apply_look(red)
    recoloured = scene.render(pose, 16, 16, env.look)  # the same look object: the materials changed
    assert not np.array_equal(recoloured[0], moved[0])
    assert np.array_equal(recoloured[0], scene._draw(pose, 16, 16, env.look)[0])
    env.close()


def _reference_effects(frame, fx, bank, rng):
    """CameraPipeline's effects written out plainly (the formulas its faster code must reproduce)."""
    out = frame
    if fx.color_cast != (1.0, 1.0, 1.0) or fx.gamma != 1.0:
        levels = np.arange(256, dtype=np.float32) / 255.0
        lut = np.clip(levels[:, None] * np.asarray(fx.color_cast, np.float32)[None, :], 0.0, 1.0) ** (1.0 / fx.gamma)
        out = cv2.LUT(frame, np.round(lut * 255.0).astype(np.uint8).reshape(256, 1, 3))
    if fx.vignetting > 0 or fx.blur_sigma > 0 or fx.noise_std > 0:
        img = out.astype(np.float32)
        if fx.vignetting > 0:
            h, w = frame.shape[:2]
            yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
            r2 = ((yy - (h - 1) / 2) / (h / 2)) ** 2 + ((xx - (w - 1) / 2) / (w / 2)) ** 2
            img *= (1.0 - fx.vignetting * np.clip(r2 / 2.0, 0.0, 1.0))[..., None].astype(np.float32)
        if fx.blur_sigma > 0:
            img = cv2.GaussianBlur(img, (0, 0), fx.blur_sigma)
        if fx.noise_std > 0:
            start = int(rng.integers(0, bank.size - img.size + 1))
            img += bank[start : start + img.size].reshape(img.shape)
        out = np.clip(img, 0.0, 255.0).astype(np.uint8)
    if fx.jpeg_quality is not None:
        _, buf = cv2.imencode(".jpg", out[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(fx.jpeg_quality)])
        out = cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1]
    return np.ascontiguousarray(out)


def test_camera_pipeline_equals_plain_effects():
    effects = [get_look("real").camera, get_look("photo").camera, CameraEffects(vignetting=0.3),
               CameraEffects(blur_sigma=0.8), CameraEffects(jpeg_quality=50)]
    effects += [RandomizedLooks().sample(np.random.default_rng(s)).camera for s in range(4)]
    env = ChairNav(look="real", image_size=(16, 24))
    frame, _ = env.reset(seed=1)
    for fx in effects:
        pipe = CameraPipeline(fx, (16, 24), np.random.default_rng(0))
        bank = np.random.default_rng(0).standard_normal(max(1 << 16, 2 * 16 * 24 * 3), dtype=np.float32)
        bank *= np.float32(fx.noise_std)
        a, b = np.random.default_rng(3), np.random.default_rng(3)
        for _ in range(3):
            assert np.array_equal(pipe(frame, a), _reference_effects(frame, fx, bank, b)), fx
    env.close()


def test_texture_pool_is_found_again_when_a_file_goes(tmp_path, monkeypatch):
    monkeypatch.setenv("GOGGLES_GYM_CACHE", str(tmp_path))
    looks = RandomizedLooks(pool_size=2)
    first = looks.pool()
    assert first == random_texture_files(2, looks.pool_seed) and first == looks.pool()
    first[0].unlink()
    assert looks.pool() == first and first[0].is_file()


def test_reset_pose_option_places_the_robot_in_the_seeds_room():
    env = ChairNav(image_size=16)
    _, start = env.reset(seed=4)
    layout, chair = env.layout, env.layout.chair
    pose = (chair.x - 0.7, chair.y, 0.0)  # 0.7 m from the chair, facing it along +x
    if env.scene.collides(pose[0], pose[1]):
        pose = (chair.x + 0.7, chair.y, math.pi)
    obs, info = env.reset(seed=4, options={"pose": pose})
    assert env.layout == layout and (env.pose.x, env.pose.y) == pytest.approx(pose[:2])
    assert info["distance"] == pytest.approx(0.7) and abs(info["bearing"]) < 1e-6
    assert (info["labels"] == 3).mean() > (start["labels"] == 3).mean()  # the chair fills more of the frame
    info = env.step(TURN_LEFT)[-1]
    assert env.steps == 1 and info["distance"] == pytest.approx(0.7)
    for options, why in (({"pose": (9.0, 0.0, 0.0)}, "outside the room"), ({"pose": (chair.x, chair.y, 0.0)},
                         "inside a wall, the chair or an obstacle"), ({"pose": "here"}, r"\(x, y, yaw\) numbers"),
                         ({"start": (0, 0, 0)}, "unknown key")):
        with pytest.raises(ValueError, match=why):
            env.reset(seed=4, options=options)
    env.reset(seed=4, options={"pose": None})
    assert env.pose == layout.start
