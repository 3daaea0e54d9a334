import json
import math

import cv2
import numpy as np
import pytest

from goggles_gym.collect import main as collect_main
from goggles_gym.frames import (
    FrameCollectionError,
    center_crop_resize,
    export_cyclegan_layout,
    import_image_folder,
    read_collection,
    sources,
)
from goggles_gym.frames.collection import image_files, read_image
from goggles_gym.frames.sources import collect_from_capture, collect_from_env, collect_pairs, episode_seeds


@pytest.fixture(scope="module")
def sim_and_real(tmp_path_factory):
    root = tmp_path_factory.mktemp("frames")
    sim = collect_from_env(root / "sim", "sim", 30, seed=0, env_kwargs={"image_size": 16}, progress=False)
    real = collect_from_env(root / "real", "real", 30, seed=1, env_kwargs={"image_size": 16}, progress=False)
    return sim, real


def test_collection_round_trip(sim_and_real, tmp_path):
    sim, real = sim_and_real
    s = read_collection(sim)
    assert s.rgb.shape == (30, 16, 16, 3) and s.rgb.dtype == np.uint8
    assert s.labels.shape == (30, 16, 16) and s.labels.max() <= 4
    assert s.manifest["look"] == "sim" and s.manifest["count"] == 30 and s.manifest["seed"] == 0
    r = read_collection(real)
    assert r.labels is None and r.eval_labels.shape == (30, 16, 16)  # real labels: measuring only
    again = collect_from_env(tmp_path / "again", "sim", 30, seed=0, env_kwargs={"image_size": 16}, progress=False)
    assert np.array_equal(read_collection(again).rgb, s.rgb)  # same seed, same frames


def test_sim_and_real_collections_share_no_episode():
    assert not set(episode_seeds(0, 1000)) & set(episode_seeds(1, 1000))


def test_plain_image_folder_and_cyclegan_layout(sim_and_real, tmp_path):
    sim, real = sim_and_real
    out = export_cyclegan_layout(real, sim, tmp_path / "cg")
    assert len(list((out / "trainA").glob("*.png"))) == 30
    plain = read_collection(out / "trainB")
    assert np.array_equal(plain.rgb, read_collection(sim).rgb)
    imported = read_collection(import_image_folder(out / "trainA", tmp_path / "imp", (8, 8)))
    assert imported.rgb.shape == (30, 8, 8, 3)


def test_public_image_helpers_read_rgb_and_label_maps(sim_and_real):
    sim = read_collection(sim_and_real[0])
    files = image_files(sim_and_real[0] / "rgb")
    assert [f.name for f in files[:2]] == ["000000.png", "000001.png"] and len(files) == 30
    frame = read_image(files[3])
    assert frame.shape == (16, 16, 3) and frame.dtype == np.uint8 and np.array_equal(frame, sim.rgb[3])  # RGB
    label_map = read_image(image_files(str(sim_and_real[0] / "labels"))[3], labels=True)
    assert np.array_equal(label_map, sim.labels[3])
    with pytest.raises(FrameCollectionError, match="not found"):
        image_files(sim_and_real[0] / "nosuchfolder")


def test_empty_folder_fails(tmp_path):
    with pytest.raises(FrameCollectionError, match="empty"):
        read_collection(tmp_path)


def test_non_image_file_is_named(tmp_path):
    cv2.imwrite(str(tmp_path / "a.png"), np.zeros((8, 8, 3), np.uint8))
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(FrameCollectionError, match=r"notes\.txt is not an image"):
        read_collection(tmp_path)


def test_corrupt_png_is_named(sim_and_real, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(sim_and_real[0], copy)
    victim = copy / "rgb" / "000007.png"
    victim.write_bytes(victim.read_bytes()[:20])
    with pytest.raises(FrameCollectionError, match=r"000007\.png is not a readable image"):
        read_collection(copy)


def test_incomplete_collection(sim_and_real, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(sim_and_real[0], copy)
    (copy / "rgb" / "000003.png").unlink()
    with pytest.raises(FrameCollectionError, match="incomplete"):
        read_collection(copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    assert manifest["format"] == "goggles-gym-frames"


def test_capture_source_crops_and_strides(tmp_path):
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (40, 20))
    for i in range(12):
        frame = np.full((20, 40, 3), i * 20, np.uint8)
        writer.write(frame)
    writer.release()
    out = collect_from_capture(tmp_path / "cap", str(path), 100, (8, 8), stride=3, progress=False)
    c = read_collection(out)
    assert len(c) == 4 and c.size == (8, 8)  # 12 frames, every 3rd, ends at end of file
    assert c.rgb[1].mean() > c.rgb[0].mean()
    with pytest.raises(FileNotFoundError, match="video file not found"):
        collect_from_capture(tmp_path / "x", str(tmp_path / "missing.mp4"), 5, (8, 8))


def test_center_crop_resize_keeps_the_centre():
    frame = np.zeros((20, 40, 3), np.uint8)
    frame[:, 10:30] = 255  # the central square
    assert center_crop_resize(frame, (10, 10)).min() == 255


def test_collect_cli(tmp_path, capsys):
    assert collect_main(["--look", "real", "--count", "5", "--size", "16", "--out", str(tmp_path / "c"),
                         "--no-progress-bar"]) == 0
    assert read_collection(tmp_path / "c").manifest["domain"] == "real"
    assert collect_main(["--source", str(tmp_path / "nope.mp4"), "--out", str(tmp_path / "d")]) == 2
    assert "video file not found" in capsys.readouterr().err


@pytest.fixture(scope="module")
def pairs(tmp_path_factory):
    root = tmp_path_factory.mktemp("pairs")
    # whole episodes, so that the pairs equal a sim / randomized collection of the same seed frame for frame
    return collect_pairs(root / "pairs", 30, seed=0, env_kwargs={"image_size": 16}, progress=False,
                         frames_per_episode=0, approach=0.0)


def test_paired_collection_shares_labels_and_geometry(sim_and_real, pairs, tmp_path):
    p, s = read_collection(pairs), read_collection(sim_and_real[0])  # both: seed 0, 30 frames, sticky random actions
    assert p.kind == "paired" and s.kind == "frames" and s.target is None
    assert p.rgb.shape == p.target.shape == (30, 16, 16, 3) and p.target.dtype == np.uint8
    m = p.manifest
    assert (m["look"], m["target_look"], m["domain"], m["labels_role"]) == ("randomized", "sim", "sim", "train")
    assert m["frame_episodes"] == s.manifest["frame_episodes"]  # the same episode seeds
    assert np.array_equal(p.labels, s.labels)  # the same geometry as a sim collection of those seeds
    assert np.array_equal(p.target, s.rgb)  # the sim env's render at those seeds and actions
    randomized = collect_from_env(tmp_path / "dr", "randomized", 30, seed=0, domain="sim",
                                  env_kwargs={"image_size": 16}, progress=False)
    assert np.array_equal(p.rgb, read_collection(randomized).rgb)  # inputs: the randomized env's render
    assert not np.array_equal(p.rgb, p.target)


def test_paired_collection_follows_given_episodes(tmp_path):
    episodes = [11, 22, 33, 44]
    p = read_collection(collect_pairs(tmp_path / "p", 5, seed=3, episodes=episodes, env_kwargs={"image_size": 16},
                                      progress=False, frames_per_episode=0, approach=0.0))
    assert p.manifest["frame_episodes"][0] == 11 and set(p.manifest["frame_episodes"]) <= set(episodes)
    with pytest.raises(ValueError, match="input_look 'sim'"):
        collect_pairs(tmp_path / "q", 2, seed=0, input_look="sim", env_kwargs={"image_size": 16}, progress=False)


def test_paired_collection_frames_per_episode_moves_to_the_next_episode(tmp_path):
    episodes = list(range(100, 110))
    p = read_collection(collect_pairs(tmp_path / "p", 9, seed=3, episodes=episodes, env_kwargs={"image_size": 16},
                                      progress=False, frames_per_episode=3))
    assert p.manifest["frame_episodes"] == [100] * 3 + [101] * 3 + [102] * 3  # a new room (and look) every 3 frames
    whole = read_collection(collect_pairs(tmp_path / "w", 3, seed=3, episodes=episodes,
                                          env_kwargs={"image_size": 16}, progress=False, frames_per_episode=0))
    assert np.array_equal(p.rgb[:3], whole.rgb) and np.array_equal(p.target[:3], whole.target)  # same first frames
    assert not np.array_equal(p.rgb[3], p.rgb[2])
    default = read_collection(collect_pairs(tmp_path / "d", 3, seed=3, episodes=episodes,
                                            env_kwargs={"image_size": 16}, progress=False))
    assert default.manifest["frame_episodes"] == [100, 101, 102]  # the default: a new room and look every pair
    with pytest.raises(ValueError, match="frames_per_episode must be >= 0"):
        collect_pairs(tmp_path / "q", 2, seed=0, frames_per_episode=-1, progress=False)


def test_approach_pairs_see_the_chair_near_and_share_labels(tmp_path):
    episodes = list(range(200, 240))
    kw = dict(seed=5, episodes=episodes, env_kwargs={"image_size": 16}, progress=False)
    start = read_collection(collect_pairs(tmp_path / "s", 40, approach=0.0, **kw))
    near = read_collection(collect_pairs(tmp_path / "n", 40, approach=1.0, **kw))
    assert near.manifest["frame_episodes"] == start.manifest["frame_episodes"] == episodes  # the same rooms
    assert near.manifest["approach"] == 1.0
    assert (near.labels == 3).mean() > 3 * (start.labels == 3).mean()  # the chair, seen closer
    env = sources.ChairNav(image_size=16)
    rng = np.random.default_rng(0)
    for seed in episodes[:10]:  # each pose: clear, on the way (0.5 m to the start's distance), facing the chair
        far = env.reset(seed=seed)[1]["distance"]
        x, y, yaw = sources.approach_pose(env, rng)
        _, info = env.reset(seed=seed, options={"pose": (x, y, yaw)})
        assert 0.5 <= info["distance"] <= max(far, 0.6) + 1e-9
        assert abs(info["bearing"]) <= math.pi / 4 + 1e-9
    env.close()
    half = read_collection(collect_pairs(tmp_path / "h", 40, approach=0.5, **kw))  # some episodes near, some not
    moved = [i for i, (a, b) in enumerate(zip(half.labels, start.labels, strict=True)) if not np.array_equal(a, b)]
    assert 0 < len(moved) < 40 and set(moved) <= set(half.manifest["approach_frames"])
    assert near.manifest["approach_frames"] == list(range(40)) and "approach_frames" not in start.manifest
    # the paired loss's class weights come from the start-pose pairs only (all of them if there are none)
    from goggles_gym.translators.training import start_pose_labels

    kept = [i for i in range(40) if i not in set(half.manifest["approach_frames"])]
    assert np.array_equal(start_pose_labels(half), half.labels[kept])
    assert np.array_equal(start_pose_labels(start), start.labels)
    assert np.array_equal(start_pose_labels(near), near.labels)
    with pytest.raises(ValueError, match=r"approach must be a share in \[0, 1\]"):
        collect_pairs(tmp_path / "q", 2, seed=0, approach=1.5, progress=False)


def test_paired_collection_geometry_bug_is_caught(tmp_path, monkeypatch):
    class Shifted(sources.ChairNav):  # a sim env whose labels disagree with its twin's
        def _observe(self):
            rgb, labels = super()._observe()
            return rgb, (labels + 1) % 5 if self.look.name == "sim" else labels

    monkeypatch.setattr(sources, "ChairNav", Shifted)
    with pytest.raises(AssertionError, match="disagree on geometry"):
        collect_pairs(tmp_path / "p", 3, seed=0, env_kwargs={"image_size": 16}, progress=False)


def test_paired_reader_checks_its_target_folder(pairs, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(pairs, copy)
    (copy / "target" / "000004.png").unlink()
    with pytest.raises(FrameCollectionError, match="target frames for 30 frames"):
        read_collection(copy)
    cv2.imwrite(str(copy / "target" / "000004.png"), np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(FrameCollectionError, match=r"000004\.png is 8x8 but the collection's frames are 16x16"):
        read_collection(copy)
    shutil.rmtree(copy / "target")
    with pytest.raises(FrameCollectionError, match="frame folder not found"):
        read_collection(copy)


def test_collect_cli_pairs(tmp_path, capsys):
    assert collect_main(["--pairs", "--count", "4", "--size", "16", "--seed", "2", "--out", str(tmp_path / "p"),
                         "--no-progress-bar"]) == 0
    c = read_collection(tmp_path / "p")
    assert c.kind == "paired" and c.manifest["look"] == "randomized" and c.target.shape == (4, 16, 16, 3)
    assert len(set(c.manifest["frame_episodes"])) == 4  # a new episode every pair by default
    assert collect_main(["--pairs", "--count", "4", "--size", "16", "--seed", "2", "--out", str(tmp_path / "w"),
                         "--frames-per-episode", "0", "--no-progress-bar"]) == 0
    assert len(set(read_collection(tmp_path / "w").manifest["frame_episodes"])) == 1  # whole episodes
    capsys.readouterr()
    assert collect_main(["--frames-per-episode", "2", "--count", "2", "--size", "16", "--out", str(tmp_path / "y"),
                         "--no-progress-bar"]) == 2
    assert "--frames-per-episode is an option of --pairs" in capsys.readouterr().err
    assert collect_main(["--approach", "0.2", "--count", "2", "--size", "16", "--out", str(tmp_path / "y"),
                         "--no-progress-bar"]) == 2
    assert "--approach is an option of --pairs" in capsys.readouterr().err
    assert collect_main(["--pairs", "--count", "3", "--size", "16", "--seed", "2", "--out", str(tmp_path / "a"),
                         "--approach", "1", "--no-progress-bar"]) == 0
    assert read_collection(tmp_path / "a").manifest["approach"] == 1.0
    for bad, why in ((["--source", "clip.mp4"], "drop --source"), (["--policy", "runs/ppo"], "drop --policy"),
                     (["--domain", "real"], "drop --domain real"), (["--look", "sim"], "input_look 'sim'")):
        assert collect_main(["--pairs", *bad, "--count", "2", "--size", "16", "--out", str(tmp_path / "x"),
                             "--no-progress-bar"]) == 2
        err = capsys.readouterr().err
        assert why in err and err.count("\n") == 1
