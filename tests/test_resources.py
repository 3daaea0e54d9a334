"""What holds a resource frees it: PyBullet clients of dropped envs, capture threads, sockets,
SubprocVecEnv workers and TensorBoard writers on failure paths; and the camera env's bounds
(a threaded video file ends, a mute stream is bounded by the env's timeout, frame_time is the capture's)."""

import gc
import multiprocessing
import socket
import threading
import time

import cv2
import gymnasium as gym
import numpy as np
import pybullet as p
import pytest

import goggles_gym  # noqa: F401 - registers the env ids
from goggles_gym.envs.camera import RealCameraEnv, RecordingDriver, TcpLineDriver
from goggles_gym.frames.sources import collect_from_env
from goggles_gym.policies import PolicyTrainConfig
from goggles_gym.policies.training import train_policy
from goggles_gym.translators import TranslatorTrainConfig
from goggles_gym.translators import training as training_mod


def write_mp4(path, n=12, size=(24, 32)):
    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, (size[1], size[0]))
    for i in range(n):
        out.write(np.full((*size, 3), 15 * i, np.uint8))
    out.release()
    return path


def test_dropped_envs_free_their_pybullet_clients():
    ids = []
    for i in range(30):
        env = gym.make("GogglesGym/ChairNav-v0", image_size=16)
        env.reset(seed=i)
        ids.append(env.unwrapped.scene.client)
        del env  # never closed
    gc.collect()
    assert not [c for c in set(ids) if p.getConnectionInfo(c)["isConnected"]]
    assert len(set(ids)) < 30  # the ids were handed out again: the clients were gone


def test_threaded_video_file_ends_at_its_end(tmp_path):
    env = RealCameraEnv(str(write_mp4(tmp_path / "clip.mp4")), image_size=16, threaded=True, frame_timeout=2.0)
    env.reset()
    truncated, steps, info = False, 0, {}
    while not truncated and steps < 50:
        _, _, _, truncated, info = env.step(0)
        steps += 1
    assert truncated and info["truncation_reason"] == "end_of_video"
    assert env.frames.reconnects == 0  # the file was not reopened and looped
    env.close()


class _MuteServer:
    """A TCP server on 127.0.0.1 that accepts connections and never sends a byte."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                self.conns.append(self.sock.accept()[0])
            except OSError:
                return

    def close(self):
        for c in self.conns:
            c.close()
        self.sock.close()


def test_a_stream_that_never_answers_is_bounded_by_the_env_timeout():
    server = _MuteServer()
    start = time.monotonic()
    try:
        with pytest.raises(RuntimeError, match="camera source"):
            RealCameraEnv(f"http://127.0.0.1:{server.port}/video", image_size=16, open_timeout=1.0)
        elapsed = time.monotonic() - start
    finally:
        server.close()
    assert elapsed < 5.0  # OpenCV's FFmpeg default waits 30 s

    release = threading.Event()

    def never_opens(source):  # an opener that hangs: the watchdog bounds it
        release.wait(10)
        raise OSError("gave up")

    start = time.monotonic()
    with pytest.raises(RuntimeError, match="did not answer within 0.5 s"):
        RealCameraEnv("rtsp://camera.invalid/stream", image_size=16, open_capture=never_opens, open_timeout=0.5)
    assert time.monotonic() - start < 3.0
    release.set()


class GatedCapture:
    """A fake live camera: one frame at once, the next only when `gate` is set; records releases."""

    instances = []

    def __init__(self, source):
        self.gate = threading.Event()
        self.reads = 0
        self.released_by = None
        GatedCapture.instances.append(self)

    def isOpened(self):
        return True

    def read(self):
        self.reads += 1
        if self.reads == 1 or (self.reads == 2 and self.gate.wait(5)):
            return True, np.full((20, 20, 3), 40 * self.reads, np.uint8)
        time.sleep(0.01)
        return False, None

    def release(self):
        self.released_by = threading.current_thread().name


def test_frame_time_is_the_capture_time_and_close_stops_the_thread_before_release():
    GatedCapture.instances = []
    driver = RecordingDriver()
    env = RealCameraEnv(0, image_size=8, driver=driver, open_capture=GatedCapture, frame_timeout=2.0)
    time.sleep(0.3)  # frame 1 waits in the grabber
    _, info = env.reset()
    assert time.monotonic() - info["frame_time"] >= 0.3 and info["frame_index"] == 1
    cap = GatedCapture.instances[0]
    before = time.monotonic()
    cap.gate.set()
    _, _, _, _, info = env.step(1)
    assert info["frame_index"] == 2 and info["frame_time"] >= before
    thread = env.frames._g.thread
    env.close()
    assert not thread.is_alive() and cap.released_by == thread.name  # released by the stopped grab thread


def test_a_dropped_camera_env_stops_its_grab_thread():
    GatedCapture.instances = []
    env = RealCameraEnv(0, image_size=8, open_capture=GatedCapture)
    env.reset()
    GatedCapture.instances[0].gate.set()
    thread = env.frames._g.thread
    del env
    gc.collect()
    thread.join(3.0)
    assert not thread.is_alive() and all(c.released_by is not None for c in GatedCapture.instances)


def test_camera_env_close_closes_the_tcp_driver(tmp_path):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    try:
        driver = TcpLineDriver("127.0.0.1", server.getsockname()[1])
        env = RealCameraEnv(str(write_mp4(tmp_path / "clip.mp4", n=3)), image_size=16, driver=driver)
        env.reset()
        env.close()
        assert driver.sock.fileno() == -1
        env.close()  # idempotent
    finally:
        server.close()


def test_subproc_workers_are_closed_when_training_fails(tmp_path):
    before = len(multiprocessing.active_children())
    config = PolicyTrainConfig(out=str(tmp_path / "p"), timesteps=8, n_envs=2, vec_env="subproc", eval_freq=0,
                               final_eval_episodes=0, progress_bar=False, env={"image_size": 16},
                               hyperparams={"n_steps": 8, "batch_size": 1, "features_extractor": "small"})
    with pytest.raises(ValueError, match="PPO rejected"):  # SB3 refuses batch_size 1, after the envs started
        train_policy(config)
    deadline = time.monotonic() + 10
    while len(multiprocessing.active_children()) > before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(multiprocessing.active_children()) <= before


def test_the_tensorboard_writer_is_closed_when_a_translator_update_fails(tmp_path, monkeypatch):
    sim = collect_from_env(tmp_path / "sim", "sim", 4, seed=0, env_kwargs={"image_size": 16}, progress=False)
    real = collect_from_env(tmp_path / "real", "real", 4, seed=1, env_kwargs={"image_size": 16}, progress=False)
    closed = []

    class Writer(training_mod.SummaryWriter):
        def close(self):
            closed.append(True)
            super().close()

    def boom(self, *args, **kwargs):
        raise RuntimeError("an update failed")

    monkeypatch.setattr(training_mod, "SummaryWriter", Writer)
    monkeypatch.setattr(training_mod.TranslatorTrainer, "step", boom)
    config = TranslatorTrainConfig(real=str(real), sim=str(sim), out=str(tmp_path / "t"), method="cyclegan",
                                   iterations=2, batch_size=2, ngf=4, n_blocks=1, ndf=8, progress_bar=False)
    with pytest.raises(RuntimeError, match="an update failed"):
        training_mod.train_translator(config)
    assert closed == [True]
