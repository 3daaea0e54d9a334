import json

import numpy as np
import pytest
import yaml
from stable_baselines3 import PPO

from goggles_gym.policies import PolicyTrainConfig, load_policy
from goggles_gym.policies.training import latest_checkpoint, train_policy
from goggles_gym.train import main

TINY_ENV = {"image_size": 36, "max_steps": 20}
TINY_PPO = {"policy": "CnnPolicy", "n_steps": 32, "batch_size": 32, "n_epochs": 1}


def tiny_config(out, **kw):
    base = dict(out=str(out), timesteps=128, n_envs=2, eval_freq=64, eval_episodes=1, checkpoint_freq=64,
                final_eval_episodes=2, progress_bar=False, env=dict(TINY_ENV), hyperparams=dict(TINY_PPO))
    base.update(kw)
    return PolicyTrainConfig(**base)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    run = tmp_path_factory.mktemp("run")
    return train_policy(tiny_config(run)), run


def test_training_writes_a_loadable_policy(trained):
    result, run = trained
    assert result.model_path == run / "model.zip" and result.timesteps >= 128
    assert 0.0 <= result.success_rate <= 1.0
    for artifact in ("config.yaml", "summary.json", "best/best_model.zip"):
        assert (run / artifact).is_file(), artifact
    assert list((run / "tb").rglob("events.out.tfevents.*"))
    assert latest_checkpoint(run)[1] >= 64
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert config["env_settings"]["image_size"] == [36, 36] and config["env_settings"]["look"] == "sim"
    assert json.loads((run / "summary.json").read_text())["timesteps"] == result.timesteps

    loaded = load_policy(run)
    assert loaded.settings.observation_shape == (36, 36, 3)
    assert loaded.settings.kwargs["max_steps"] == 20 and loaded.algo == "ppo"
    env = loaded.settings.make_env()
    obs, _ = env.reset(seed=0)
    action = loaded.predict(obs)
    assert env.action_space.contains(int(action))
    plain = PPO.load(run / "model.zip")  # also loads with plain SB3
    assert np.array_equal(plain.predict(obs, deterministic=True)[0], action)


def test_same_seed_same_weights(tmp_path):
    a = train_policy(tiny_config(tmp_path / "a", timesteps=64, eval_freq=0, final_eval_episodes=0))
    b = train_policy(tiny_config(tmp_path / "b", timesteps=64, eval_freq=0, final_eval_episodes=0))
    wa = load_policy(a.model_path).model.policy.state_dict()
    wb = load_policy(b.model_path).model.policy.state_dict()
    assert all(np.array_equal(wa[k].numpy(), wb[k].numpy()) for k in wa)


def test_resume_continues_from_checkpoint_steps(tmp_path):
    run = tmp_path / "run"
    train_policy(tiny_config(run, timesteps=128, eval_freq=0, final_eval_episodes=0))
    (run / "model.zip").unlink()  # as if killed before the end: only checkpoints remain
    path, steps = latest_checkpoint(run)
    assert steps == 128
    resumed = train_policy(tiny_config(run, timesteps=256, eval_freq=0, final_eval_episodes=0, resume=True))
    assert resumed.timesteps == 256
    assert latest_checkpoint(run)[1] == 256


def test_resume_without_checkpoint_fails_clearly(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        train_policy(tiny_config(tmp_path / "empty", resume=True))


def test_corrupt_and_foreign_policy_files(tmp_path, trained):
    _, run = trained
    truncated = tmp_path / "truncated.zip"
    truncated.write_bytes((run / "model.zip").read_bytes()[:500])
    with pytest.raises(ValueError, match="not a readable policy zip"):
        load_policy(truncated)
    foreign = tmp_path / "foreign.zip"
    PPO.load(run / "model.zip").__class__("MlpPolicy", "CartPole-v1", n_steps=16, batch_size=16).save(foreign)
    with pytest.raises(ValueError, match="not a goggles-gym policy"):
        load_policy(foreign)
    with pytest.raises(FileNotFoundError, match="no model.zip"):
        load_policy(tmp_path)


def test_cli_trains_and_reports(tmp_path, capsys):
    code = main(["policy", "--out", str(tmp_path / "cli"), "--timesteps", "64", "--n-envs", "2", "--eval-freq", "0",
                 "--final-eval-episodes", "1", "--no-progress-bar", "--env", "image_size=36", "--env", "max_steps=10",
                 "--hp", "n_steps=32", "--hp", "batch_size=32", "--hp", "n_epochs=1"])
    assert code == 0
    out = capsys.readouterr().out
    assert "held-out success" in out and "steps: 64" in out
    assert load_policy(tmp_path / "cli").settings.kwargs["max_steps"] == 10


def test_cli_bad_flag_value_is_one_clear_line(tmp_path, capsys):
    code = main(["--out", str(tmp_path / "x"), "--env", "image_size=30", "--no-progress-bar"])
    assert code == 2
    assert "multiples of 4" in capsys.readouterr().err


@pytest.mark.parametrize("algo, hp", [("a2c", {"n_steps": 8}),
                                      ("dqn", {"buffer_size": 256, "learning_starts": 16, "batch_size": 8})])
def test_other_presets_train_and_load(tmp_path, algo, hp):
    from goggles_gym.policies import load_preset

    preset = load_preset(algo)
    config = PolicyTrainConfig(**{**preset, "out": str(tmp_path), "timesteps": 64, "n_envs": 2, "eval_freq": 0,
                                  "final_eval_episodes": 0, "progress_bar": False, "env": dict(TINY_ENV),
                                  "hyperparams": {**preset["hyperparams"], **hp}})
    train_policy(config)
    assert load_policy(tmp_path).algo == algo


def test_subproc_vec_env(tmp_path):
    result = train_policy(tiny_config(tmp_path, timesteps=64, eval_freq=0, final_eval_episodes=0, vec_env="subproc"))
    assert result.timesteps == 64
