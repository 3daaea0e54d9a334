import dataclasses
import sys

import cv2
import numpy as np
import pytest
import yaml

from goggles_gym.envs import ChairNav, Look, LookError, get_look
from goggles_gym.envs.effects import apply_camera_effects
from goggles_gym.envs.looks import (
    RANDOMIZED_RANGES,
    TARGET_LOOKS,
    WIDE_RANGES,
    CameraEffects,
    RandomizedLooks,
    image_digest,
    texture_path,
)
from goggles_gym.envs.scene import CHAIR, write_chair_obj
from goggles_gym.envs.textures import (
    BUILTIN_TEXTURES,
    CLASSIC_KINDS,
    PHOTO_TEXTURES,
    TEXTURE_SIZE,
    WIDE_KINDS,
    MissingPackageError,
    render_texture,
    texture_file,
    wide_random_texture,
)


@pytest.mark.parametrize("name", ["sim", "real", "photo"])
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


# --- the photo look and the randomization pool ------------------------------------------------


def test_photo_look_renders_with_the_sim_labels():
    photo, sim = ChairNav(look="photo", image_size=16), ChairNav(image_size=16)
    o1, i1 = photo.reset(seed=3)
    o2, i2 = sim.reset(seed=3)
    for action in (1, 1, 0):
        o1, _, _, _, i1 = photo.step(action)
        o2, _, _, _, i2 = sim.step(action)
        assert o1.dtype == np.uint8 and o1.shape == (16, 16, 3)
        assert np.array_equal(i1["labels"], i2["labels"]) and not np.array_equal(o1, o2)
    photo.close()
    sim.close()


def test_photo_textures_are_the_photographs_not_procedural_ones():
    import skimage.data

    procedural = [render_texture(n, 32).astype(np.float32) for n in BUILTIN_TEXTURES if n not in PHOTO_TEXTURES]
    for name in PHOTO_TEXTURES:
        img = render_texture(name, 32)
        assert img.dtype == np.uint8 and img.shape == (32, 32, 3)
        assert min(np.abs(img - p).mean() for p in procedural) > 10, name
    gravel = np.repeat(skimage.data.gravel()[..., None], 3, axis=2)
    expected = cv2.resize(gravel, (32, 32), interpolation=cv2.INTER_AREA)
    assert np.array_equal(render_texture("photo_gravel", 32), expected)
    look = get_look("photo")
    assert all(getattr(look, k).texture.startswith("builtin:photo_") for k in ("floor", "walls", "chair", "obstacles"))
    path = texture_file("photo_brick")
    assert "photo_brick-v" in path.name and cv2.imread(str(path)).shape == (TEXTURE_SIZE, TEXTURE_SIZE, 3)


def _outside(value, lo, hi) -> bool:
    return value is not None and not lo <= value <= hi


def test_photo_light_and_camera_lie_outside_the_randomized_ranges():
    photo, ranges = get_look("photo"), RANDOMIZED_RANGES
    scalars = {"light.ambient": photo.light.ambient, "light.diffuse": photo.light.diffuse,
               "light.specular": photo.light.specular, "camera.gamma": photo.camera.gamma,
               "camera.vignetting": photo.camera.vignetting, "camera.blur_sigma": photo.camera.blur_sigma,
               "camera.noise_std": photo.camera.noise_std, "camera.jpeg_quality": photo.camera.jpeg_quality}
    for key, value in scalars.items():
        assert _outside(value, *ranges[key]), key
    assert all(_outside(g, *ranges["camera.color_cast"]) for g in photo.camera.color_cast)
    assert _outside(min(photo.light.color), *ranges["light.color"])
    assert all(_outside(c, *ranges["background"]) for c in photo.background)
    # the ranges are what the sampler really draws from: 200 samples stay inside them and miss the photo values
    looks = [RandomizedLooks(pool_size=2).sample(np.random.default_rng(s)) for s in range(200)]
    drawn = {
        "light.ambient": [lk.light.ambient for lk in looks], "light.diffuse": [lk.light.diffuse for lk in looks],
        "light.specular": [lk.light.specular for lk in looks], "camera.gamma": [lk.camera.gamma for lk in looks],
        "camera.vignetting": [lk.camera.vignetting for lk in looks],
        "camera.blur_sigma": [lk.camera.blur_sigma for lk in looks if lk.camera.blur_sigma > 0],
        "camera.noise_std": [lk.camera.noise_std for lk in looks],
        "camera.jpeg_quality": [lk.camera.jpeg_quality for lk in looks if lk.camera.jpeg_quality is not None],
        "camera.color_cast": [g for lk in looks for g in lk.camera.color_cast],
        "light.color": [c for lk in looks for c in lk.light.color],
        "background": [c for lk in looks for c in lk.background],
    }
    for key, values in drawn.items():
        lo, hi = ranges[key]
        assert lo <= min(values) and max(values) <= hi, key
        if key in scalars:
            assert _outside(scalars[key], min(values), max(values)), key


def test_real_lies_inside_the_randomized_ranges():
    real, ranges = get_look("real"), RANDOMIZED_RANGES
    values = {"light.ambient": [real.light.ambient], "light.diffuse": [real.light.diffuse],
              "light.specular": [real.light.specular], "light.color": real.light.color,
              "camera.color_cast": real.camera.color_cast, "camera.gamma": [real.camera.gamma],
              "camera.vignetting": [real.camera.vignetting], "camera.blur_sigma": [real.camera.blur_sigma],
              "camera.noise_std": [real.camera.noise_std], "camera.jpeg_quality": [real.camera.jpeg_quality],
              "background": real.background}
    for key, vals in values.items():
        assert all(not _outside(v, *ranges[key]) for v in vals), key
    lo, hi = ranges["light.direction"]
    assert all(a <= d <= b for a, d, b in zip(lo, real.light.direction, hi, strict=True))


def test_default_pool_excludes_the_target_looks_textures():
    pool = RandomizedLooks()
    pool.check_excludes()  # TARGET_LOOKS
    pool.check_excludes("real", "photo", "sim")
    pool_digests = {image_digest(p) for p in pool.pool()}
    for name in ("real", "photo"):
        look = get_look(name)
        for key in ("floor", "walls", "chair", "obstacles"):
            assert image_digest(texture_path(getattr(look, key).texture)) not in pool_digests


def test_a_pool_holding_a_target_texture_fails(tmp_path):
    with pytest.raises(LookError, match=r"'photo' look's walls\.texture 'builtin:photo_brick'"):
        RandomizedLooks(pool_size=2, extra_textures=("builtin:photo_brick",)).check_excludes()
    # a copy under another name (re-encoded, same pixels) is caught too
    copy = tmp_path / "my_floor.bmp"
    cv2.imwrite(str(copy), cv2.imread(str(texture_path("builtin:oak_floor"))))
    pool = RandomizedLooks(pool_size=2, extra_textures=(str(copy),))
    assert pool.pool()[-1] == copy and len(pool.pool()) == 3
    with pytest.raises(LookError, match=r"'real' look's floor\.texture.*my_floor\.bmp"):
        pool.check_excludes("real")
    pool.check_excludes("photo")
    # a target look from a file, with its own texture file
    cv2.imwrite(str(tmp_path / "lab.png"), np.full((8, 8, 3), 77, np.uint8))
    (tmp_path / "lab.yaml").write_text(yaml.safe_dump({"name": "lab", "chair": {"texture": "lab.png"}}))
    RandomizedLooks(pool_size=2).check_excludes(tmp_path / "lab.yaml")
    with pytest.raises(LookError, match=r"'lab' look's chair\.texture"):
        RandomizedLooks(pool_size=2, extra_textures=(str(tmp_path / "lab.png"),)).check_excludes(tmp_path / "lab.yaml")
    with pytest.raises(LookError, match="look sampler"):
        RandomizedLooks(pool_size=2).check_excludes("randomized")


def test_missing_scikit_image_is_named(tmp_path, monkeypatch):
    monkeypatch.setenv("GOGGLES_GYM_CACHE", str(tmp_path))
    monkeypatch.setitem(sys.modules, "skimage.data", None)
    with pytest.raises(MissingPackageError, match=r"scikit-image.*pip install"):
        render_texture("photo_grass", 16)
    with pytest.raises(LookError, match=r"builtin:photo_grass.*scikit-image"):
        texture_path("builtin:photo_grass")
    assert texture_path("builtin:plaster").is_file()  # procedural textures do not need it


def test_unreadable_texture_or_mesh_files_are_named(tmp_path):
    (tmp_path / "broken.png").write_bytes(b"not an image at all")
    (tmp_path / "empty.obj").write_text("# no vertices, no faces\n")
    (tmp_path / "binary.obj").write_bytes(bytes(range(256)) * 4)
    (tmp_path / "chair.stl").write_text("solid x\nendsolid x\n")
    cases = [({"floor": {"texture": "broken.png"}}, r"floor\.texture: .*broken\.png cannot be read as an image"),
             ({"chair_mesh": "empty.obj"}, r"chair_mesh: .*empty\.obj cannot be read as a mesh.*\(v\) and face \(f\)"),
             ({"chair_mesh": "binary.obj"}, r"chair_mesh: .*binary\.obj cannot be read as a mesh \(binary"),
             ({"chair_mesh": "chair.stl"}, r"chair_mesh: .*chair\.stl is not a Wavefront \.obj mesh")]
    for data, message in cases:
        path = tmp_path / "look.yaml"
        path.write_text(yaml.safe_dump(data))
        with pytest.raises(LookError, match=message):
            Look.from_yaml(path)
    # a look built in Python skips from_dict's check; loading it into a scene checks too
    with pytest.raises(LookError, match=r"broken\.png cannot be read as an image"):
        ChairNav(look=Look(floor=dataclasses.replace(Look().floor, texture=str(tmp_path / "broken.png"))),
                 image_size=16)
    with pytest.raises(LookError, match=r"empty\.obj cannot be read as a mesh"):
        ChairNav(look=Look(chair_mesh=str(tmp_path / "empty.obj")), image_size=16)


def test_a_binary_file_given_as_a_look_is_named(tmp_path):
    path = tmp_path / "photo.yaml"
    path.write_bytes(cv2.imencode(".png", np.zeros((4, 4, 3), np.uint8))[1].tobytes())
    with pytest.raises(LookError, match=r"look file .*photo\.yaml is not a text file"):
        get_look(str(path))


# --- the wide randomization -------------------------------------------------------------------


def test_wide_renders_and_its_draws_vary_by_episode_and_repeat_for_a_seed():
    wide, sim = ChairNav(look="wide", image_size=16), ChairNav(image_size=16)
    o1, i1 = wide.reset(seed=5)
    look1 = wide.look
    o2, i2 = sim.reset(seed=5)
    assert look1.name == "wide" and np.array_equal(i1["labels"], i2["labels"])
    for action in (1, 0):
        o1, _, _, _, i1 = wide.step(action)
        o2, _, _, _, i2 = sim.step(action)
        assert o1.dtype == np.uint8 and o1.shape == (16, 16, 3) and np.array_equal(i1["labels"], i2["labels"])
    again, _ = wide.reset(seed=5)
    assert wide.look == look1
    wide.reset(seed=6)
    assert wide.look != look1
    first, _ = ChairNav(look="wide", image_size=16).reset(seed=5)
    assert np.array_equal(first, again)
    wide.close()
    sim.close()


def _bounds(value):
    return np.atleast_1d(np.asarray(value, np.float64))


def test_wide_ranges_hold_the_randomized_ranges_and_bound_the_draws():
    assert set(RANDOMIZED_RANGES) <= set(WIDE_RANGES)
    for key, (lo, hi) in RANDOMIZED_RANGES.items():
        wlo, whi = WIDE_RANGES[key]
        assert np.all(_bounds(wlo) <= _bounds(lo)) and np.all(_bounds(whi) >= _bounds(hi)), key
    assert any(WIDE_RANGES[k] != RANDOMIZED_RANGES[k] for k in RANDOMIZED_RANGES)
    assert get_look("randomized").ranges is RANDOMIZED_RANGES and get_look("wide").ranges is WIDE_RANGES
    looks = [RandomizedLooks(name="wide", pool_size=2, textures="wide", ranges=WIDE_RANGES).sample(
        np.random.default_rng(s)) for s in range(100)]
    drawn = {"light.ambient": [lk.light.ambient for lk in looks], "camera.gamma": [lk.camera.gamma for lk in looks],
             "camera.noise_std": [lk.camera.noise_std for lk in looks],
             "camera.jpeg_quality": [lk.camera.jpeg_quality for lk in looks if lk.camera.jpeg_quality is not None],
             "light.color": [c for lk in looks for c in lk.light.color],
             "camera.color_cast": [g for lk in looks for g in lk.camera.color_cast]}
    for key, values in drawn.items():
        lo, hi = WIDE_RANGES[key]
        assert lo <= min(values) and max(values) <= hi, key
        if key != "camera.jpeg_quality":  # 30..95 against 30..94: too close to show in 100 draws
            assert min(values) < RANDOMIZED_RANGES[key][0] or max(values) > RANDOMIZED_RANGES[key][1], key
    with pytest.raises(LookError, match=r"ranges: missing key.*camera\.gamma"):
        RandomizedLooks(ranges={k: v for k, v in RANDOMIZED_RANGES.items() if k != "camera.gamma"})
    with pytest.raises(LookError, match="textures: unknown kinds"):
        RandomizedLooks(textures="photos")


def test_wide_pool_has_more_kinds_than_randomized_and_none_of_its_textures():
    assert set(CLASSIC_KINDS) < set(WIDE_KINDS) and len(WIDE_KINDS) == 12
    wide, randomized = get_look("wide"), get_look("randomized")
    pool = wide.pool()
    assert {p.name.split("-")[3] for p in pool} == set(WIDE_KINDS)  # every kind, named in the file name
    assert len(pool) > len(randomized.pool())
    assert not {image_digest(p) for p in pool} & {image_digest(p) for p in randomized.pool()}
    assert len({image_digest(p) for p in pool}) == len(pool)
    for kind in WIDE_KINDS:  # seeded: the same rng gives the same pixels
        a = wide_random_texture(np.random.default_rng(3), 16, kind)
        assert a.dtype == np.uint8 and a.shape == (16, 16, 3)
        assert np.array_equal(a, wide_random_texture(np.random.default_rng(3), 16, kind)), kind


def test_wide_pool_excludes_every_target_look_and_photo_stays_outside():
    from pathlib import Path

    wide = get_look("wide")
    assert {"real", "photo"} <= set(TARGET_LOOKS)
    wide.check_excludes()  # every TARGET_LOOKS entry
    for name in TARGET_LOOKS:
        wide.check_excludes(name)
    wide.check_excludes(*sorted((Path(__file__).parents[1] / "docs" / "looks").glob("*.yaml")))
    extra = RandomizedLooks(name="wide", pool_size=2, textures="wide", ranges=WIDE_RANGES,
                            extra_textures=("builtin:photo_gravel",))
    with pytest.raises(LookError, match=r"'photo' look's floor\.texture 'builtin:photo_gravel'"):
        extra.check_excludes()
