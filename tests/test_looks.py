import cv2
import numpy as np
import pytest
import yaml

from goggles_gym.envs import ChairNav, Look, LookError, get_look
from goggles_gym.envs.effects import apply_camera_effects
from goggles_gym.envs.looks import CameraEffects, RandomizedLooks
from goggles_gym.envs.scene import CHAIR, write_chair_obj
from goggles_gym.envs.textures import BUILTIN_TEXTURES, render_texture


@pytest.mark.parametrize("name", ["sim", "real"])
def test_builtin_look_yaml_round_trip(tmp_path, name):
    look = get_look(name)
    path = look.to_yaml(tmp_path / f"{name}.yaml")
    assert Look.from_yaml(path) == look
    assert get_look(str(path)) == look


def test_unknown_key_is_named(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"light": {"ambiant": 0.3}}))
    with pytest.raises(LookError, match=r"bad.yaml.*light.*'ambiant'.*allowed"):
        Look.from_yaml(path)


def test_missing_texture_is_named(tmp_path):
    path = tmp_path / "lab.yaml"
    path.write_text(yaml.safe_dump({"floor": {"texture": "textures/oak.png"}}))
    with pytest.raises(LookError, match=r"floor\.texture.*not found.*textures/oak\.png"):
        Look.from_yaml(path)


@pytest.mark.parametrize(
    "data, match",
    [
        ({"camera": {"gamma": -1}}, r"camera\.gamma.*out of range"),
        ({"light": {"shadows": "yes"}}, r"light\.shadows.*true or false"),
        ({"chair": {"color": [1, 0, 0]}}, r"chair\.color.*list of 4"),
        ({"camera": {"jpeg_quality": 50.5}}, r"jpeg_quality.*whole number"),
        ({"walls": {"texture": "builtin:velvet"}}, r"walls\.texture.*unknown built-in texture"),
        ({"floor": "red"}, r"floor.*expected a mapping"),
    ],
)
def test_bad_values_are_named(tmp_path, data, match):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(LookError, match=match):
        Look.from_yaml(path)


def test_unknown_look_name():
    with pytest.raises(LookError, match="built-in name"):
        get_look("photoreal")


def test_user_texture_relative_to_yaml_changes_pixels_not_labels(tmp_path):
    tex = np.zeros((16, 16, 3), np.uint8)
    tex[::2] = (0, 255, 0)
    cv2.imwrite(str(tmp_path / "stripes.png"), tex)
    path = tmp_path / "lab.yaml"
    path.write_text(yaml.safe_dump({"name": "lab", "floor": {"color": [1, 1, 1, 1], "texture": "stripes.png"}}))
    lab, sim = ChairNav(look=path, image_size=32), ChairNav(image_size=32)
    o1, i1 = lab.reset(seed=4)
    o2, i2 = sim.reset(seed=4)
    assert np.array_equal(i1["labels"], i2["labels"])
    floor = i1["labels"] == 1
    assert floor.any() and not np.array_equal(o1[floor], o2[floor])
    lab.close()
    sim.close()


def test_chair_mesh_look_renders_the_chair(tmp_path):
    mesh = write_chair_obj(tmp_path / "chair.obj")
    look = Look(name="mesh", chair_mesh=str(mesh))
    env = ChairNav(look=look, image_size=32)
    env.reset(seed=0)
    # turn until the chair is in view; the mesh chair is labelled like the built-in one
    seen = False
    for _ in range(20):
        _, _, _, _, info = env.step(1)
        seen = seen or bool((info["labels"] == CHAIR).any())
    assert seen
    env.close()


def test_camera_effects_change_frames_deterministically():
    frame = np.full((16, 16, 3), 128, np.uint8)
    fx = CameraEffects(noise_std=5, jpeg_quality=50, vignetting=0.5, gamma=1.3, color_cast=(1.1, 1, 0.9))
    a = apply_camera_effects(frame, fx, np.random.default_rng(0))
    b = apply_camera_effects(frame, fx, np.random.default_rng(0))
    assert a.dtype == np.uint8 and a.shape == frame.shape
    assert np.array_equal(a, b) and not np.array_equal(a, frame)
    assert apply_camera_effects(frame, CameraEffects(), np.random.default_rng(0)) is frame


def test_textures_are_deterministic():
    for name in BUILTIN_TEXTURES:
        assert np.array_equal(render_texture(name, 32), render_texture(name, 32))


def test_randomized_looks_vary_with_rng_only():
    r = RandomizedLooks()
    assert r.sample(np.random.default_rng(1)) == r.sample(np.random.default_rng(1))
    assert r.sample(np.random.default_rng(1)) != r.sample(np.random.default_rng(2))


def test_example_looks_in_docs_load_and_render():
    from pathlib import Path

    from goggles_gym.envs import ChairNav

    files = sorted((Path(__file__).parents[1] / "docs" / "looks").glob("*.yaml"))
    assert files
    for path in files:
        env = ChairNav(look=str(path), image_size=16)
        obs, _ = env.reset(seed=0)
        assert obs.shape == (16, 16, 3)
        env.close()
