import socket
import threading

import cv2
import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from stable_baselines3.common.env_util import make_vec_env

import goggles_gym  # noqa: F401  (registers the env ids)
from goggles_gym.envs import ChairNav
from goggles_gym.envs.camera import RealCameraEnv, RecordingDriver, TcpLineDriver
from goggles_gym.wrappers import GogglesWrapper, VecGogglesWrapper, VectorGogglesWrapper


class Identity:
    def __init__(self, size):
        self.image_size = size
        self.calls = []

    def __call__(self, frames):
        self.calls.append(frames.shape)
        return frames


class Invert(Identity):
    def __call__(self, frames):
        super().__call__(frames)
        return 255 - frames


def write_video(path, frames, fps=10):
    h, w = frames[0].shape[:2]
    fourcc = "mp4v" if str(path).endswith(".mp4") else "MJPG"
    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (w, h))
    for f in frames:
        out.write(np.ascontiguousarray(f[..., ::-1]))
    out.release()
    return path


def test_identity_goggles_leave_observations_unchanged():
    plain, wrapped = ChairNav(look="real", image_size=16), GogglesWrapper(ChairNav(look="real", image_size=16),
                                                                          Identity((16, 16)))
    o1, _ = plain.reset(seed=3)
    o2, _ = wrapped.reset(seed=3)
    assert np.array_equal(o1, o2)
    for a in (0, 1, 2, 0):
        assert np.array_equal(plain.step(a)[0], wrapped.step(a)[0])


def test_goggles_translate_and_keep_the_raw_frame():
    env = GogglesWrapper(ChairNav(look="real", image_size=16), Invert((16, 16)))
    obs, _ = env.reset(seed=0)
    assert np.array_equal(obs, 255 - env.raw_observation)


def test_wrong_size_fails_at_construction_unless_resize():
    with pytest.raises(ValueError, match=r"16 x 16 x 3 but the translator takes 32 x 32 x 3.*resize=True"):
        GogglesWrapper(ChairNav(image_size=16), Identity((32, 32)))
    env = GogglesWrapper(ChairNav(image_size=16), Identity((32, 32)), resize=True)
    assert env.reset(seed=0)[0].shape == (32, 32, 3)
    with pytest.raises(ValueError, match="policy was trained on"):
        GogglesWrapper(ChairNav(image_size=16), Identity((16, 16)), policy_shape=(64, 64, 3))
    with pytest.raises(ValueError, match="uint8 RGB image observations"):
        GogglesWrapper(gym.make("CartPole-v1"), Identity((16, 16)))


class MovingSquare(gym.Env):
    """Not ChairNav: a white square moving over black frames, with Gymnasium's spaces."""

    observation_space = gym.spaces.Box(0, 255, (12, 20, 3), np.uint8)
    action_space = gym.spaces.Discrete(2)

    def _obs(self):
        frame = np.zeros((12, 20, 3), np.uint8)
        frame[4:8, self.x : self.x + 4] = 255
        return frame

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.x = int(self.np_random.integers(0, 16))
        return self._obs(), {}

    def step(self, action):
        self.x = int(np.clip(self.x + (1 if action else -1), 0, 16))
        return self._obs(), 0.0, False, False, {}


def test_works_on_another_gymnasium_env():
    env = GogglesWrapper(MovingSquare(), Invert((12, 20)))
    obs, _ = env.reset(seed=0)
    assert obs.shape == (12, 20, 3) and np.array_equal(obs, 255 - env.raw_observation)
    obs, *_ = env.step(1)
    assert obs.dtype == np.uint8 and obs.min() == 0 and obs.max() == 255


def test_vectorized_forms_translate_in_one_batch():
    tr = Invert((16, 16))
    venv = VecGogglesWrapper(make_vec_env(ChairNav, n_envs=3, seed=0, env_kwargs={"image_size": 16}), tr)
    obs = venv.reset()
    assert obs.shape == (3, 16, 16, 3) and tr.calls[-1] == (3, 16, 16, 3)
    assert np.array_equal(obs, 255 - venv.raw_observations)
    venv.step(np.array([0, 1, 2]))
    assert tr.calls[-1] == (3, 16, 16, 3)
    tr2 = Invert((16, 16))
    genv = VectorGogglesWrapper(gym.vector.SyncVectorEnv([lambda: ChairNav(image_size=16)] * 2), tr2)
    obs, _ = genv.reset(seed=0)
    assert obs.shape == (2, 16, 16, 3) and tr2.calls[-1] == (2, 16, 16, 3)


def test_camera_env_on_a_video_file_ends_at_eof(tmp_path):
    frames = [np.full((24, 32, 3), 10 * i, np.uint8) for i in range(6)]
    path = write_video(tmp_path / "clip.avi", frames)
    driver = RecordingDriver()
    env = RealCameraEnv(str(path), image_size=16, driver=driver)
    obs, info = env.reset()
    assert obs.shape == (16, 16, 3)
    steps, truncated = 0, False
    while not truncated:
        obs, _, terminated, truncated, info = env.step(0)
        steps += 1
    assert steps == 6 and info["truncation_reason"] == "end_of_video"
    assert [a for _, a in driver.actions] == [0] * 6
    env.close()


def test_check_env_on_camera_env(tmp_path):
    frames = [np.random.default_rng(i).integers(0, 255, (24, 32, 3), dtype=np.uint8) for i in range(40)]
    env = gym.make("GogglesGym/RealCamera-v0", source=str(write_video(tmp_path / "clip.avi", frames)), image_size=16)
    assert env.spec.nondeterministic
    check_env(env.unwrapped, skip_render_check=True)
    env.close()


def test_camera_source_that_never_opens(tmp_path):
    with pytest.raises(FileNotFoundError, match="video file not found"):
        RealCameraEnv(str(tmp_path / "none.mp4"))

    class Closed:
        def __init__(self, src):
            pass

        def isOpened(self):
            return False

        def release(self):
            pass

    with pytest.raises(RuntimeError, match="could not open camera source"):
        RealCameraEnv(5, open_capture=Closed)


class FlakyCapture:
    """A fake live camera: fails after `good` frames until reopened; `dead` makes reopening useless."""

    opened = 0
    dead = False

    def __init__(self, src):
        FlakyCapture.opened += 1
        self.left = 3

    def isOpened(self):
        return True

    def read(self):
        if FlakyCapture.dead or self.left == 0:
            return False, None
        self.left -= 1
        return True, np.full((20, 20, 3), 100, np.uint8)

    def release(self):
        pass


def test_camera_reconnects_then_times_out():
    FlakyCapture.opened, FlakyCapture.dead = 0, False
    env = RealCameraEnv(0, image_size=8, open_capture=FlakyCapture, frame_timeout=1.0)
    env.reset()
    for _ in range(6):  # more frames than one capture gives: needs reconnects
        _, _, _, truncated, info = env.step(1)
        assert not truncated
    assert FlakyCapture.opened >= 2 and info["reconnects"] >= 1
    FlakyCapture.dead = True
    truncated, steps = False, 0
    while not truncated and steps < 10:
        _, _, _, truncated, info = env.step(1)
        steps += 1
    assert truncated and info["truncation_reason"] == "camera_timeout"
    env.close()


def test_tcp_line_driver_sends_lines():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    got = []

    def serve():
        conn, _ = server.accept()
        with conn:
            data = b""
            while data.count(b"\n") < 3:
                chunk = conn.recv(100)
                if not chunk:
                    break
                data += chunk
            got.append(data.decode())

    t = threading.Thread(target=serve)
    t.start()
    driver = TcpLineDriver("127.0.0.1", server.getsockname()[1])
    driver.send(0)
    driver.send(2)
    driver.stop()
    t.join(timeout=5)
    driver.close()
    server.close()
    assert got == ["forward\nturn_right\nstop\n"]


def test_recording_writes_video_collections_and_actions(tmp_path):
    from goggles_gym.frames import read_collection
    from goggles_gym.recording import EpisodeRecorder

    env = EpisodeRecorder(GogglesWrapper(ChairNav(look="real", image_size=16, max_steps=5), Invert((16, 16))),
                          tmp_path, look="real")
    env.reset(seed=0)
    done = False
    while not done:
        _, _, terminated, truncated, _ = env.step(1)
        done = terminated or truncated
    env.close()
    raw = read_collection(tmp_path / "episode_0000" / "raw")
    trans = read_collection(tmp_path / "episode_0000" / "translated")
    assert len(raw) == 6 and raw.manifest["domain"] == "real"
    assert np.array_equal(trans.rgb, 255 - raw.rgb)
    lines = (tmp_path / "episode_0000" / "actions.csv").read_text().strip().splitlines()
    assert lines[0] == "step,time,action,reward" and len(lines) == 6
    cap = cv2.VideoCapture(str(tmp_path / "episode_0000.mp4"))
    assert int(cap.get(cv2.CAP_PROP_FOURCC)).to_bytes(4, "little") == b"h264"
    n = 0
    while cap.read()[0]:
        n += 1
    assert n == 6


def test_sim_policy_runs_unchanged_on_a_real_video_through_the_goggles(tmp_path):
    """The user's path: sim-trained policy + translator + RealCameraEnv reading real-look video."""
    from goggles_gym import translators
    from goggles_gym.frames.sources import collect_from_env
    from goggles_gym.policies import PolicyTrainConfig, load_policy
    from goggles_gym.policies.training import train_policy
    from goggles_gym.translators.training import train_translator

    size = 36
    train_policy(PolicyTrainConfig(out=str(tmp_path / "policy"), timesteps=64, n_envs=2, eval_freq=0,
                                   final_eval_episodes=0, progress_bar=False, env={"image_size": size},
                                   hyperparams={"n_steps": 32, "batch_size": 32, "n_epochs": 1}))
    policy = load_policy(tmp_path / "policy")
    sim = collect_from_env(tmp_path / "sim", "sim", 12, 0, env_kwargs={"image_size": size}, progress=False)
    real = collect_from_env(tmp_path / "real", "real", 12, 1, env_kwargs={"image_size": size}, progress=False)
    tr = translators.load(train_translator(translators.TranslatorTrainConfig(
        real=str(real), sim=str(sim), out=str(tmp_path / "tr"), method="vr-goggles", iterations=2, batch_size=2,
        ngf=4, n_blocks=1, seg_iterations=2, progress_bar=False)).translator_path)

    renders = ChairNav(look="real", image_size=size, render_mode="rgb_array", render_size=72)
    renders.reset(seed=5)
    frames = [renders.render()]
    for a in (1, 1, 0, 0, 2, 0, 0, 1):
        renders.step(a)
        frames.append(renders.render())
    video = write_video(tmp_path / "real.mp4", frames)

    driver = RecordingDriver()
    env = GogglesWrapper(RealCameraEnv(str(video), image_size=policy.settings.image_size, driver=driver), tr,
                         policy_shape=policy.settings.observation_shape)
    obs, _ = env.reset()
    truncated, steps = False, 0
    while not truncated:
        obs, _, _, truncated, info = env.step(int(policy.predict(obs)))
        steps += 1
    assert info["truncation_reason"] == "end_of_video" and steps == len(frames)
    assert len(driver.actions) == steps and all(a in (0, 1, 2) for _, a in driver.actions)
