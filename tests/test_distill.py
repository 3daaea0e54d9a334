"""DR by distillation (DAgger from the sim policy on the simulator's pairs): trains, saves, loads, resumes."""

import json

import numpy as np
import pytest
import torch

from goggles_gym.policies import PolicyTrainConfig, distill, load_policy, train_policy
from goggles_gym.policies.training import latest_checkpoint
from goggles_gym.train import main

TINY_ENV = {"image_size": 36, "max_steps": 20}
TINY_PPO = {"policy": "CnnPolicy", "n_steps": 32, "batch_size": 32, "n_epochs": 1}


def student_config(out, teacher, **kw):
    base = dict(out=str(out), teacher=str(teacher), look="randomized", timesteps=48, n_envs=2, distill_rounds=2,
                distill_epochs=2, distill_batch_size=16, eval_freq=1, eval_episodes=1, final_eval_episodes=1,
                progress_bar=False, env={})
    base.update(kw)
    return PolicyTrainConfig(**base)


@pytest.fixture(scope="module")
def teacher(tmp_path_factory):
    run = tmp_path_factory.mktemp("teacher")
    train_policy(PolicyTrainConfig(out=str(run), timesteps=64, n_envs=2, eval_freq=0, checkpoint_freq=64,
                                   final_eval_episodes=0, progress_bar=False, env=dict(TINY_ENV),
                                   hyperparams=dict(TINY_PPO)))
    return run


@pytest.fixture(scope="module")
def student(tmp_path_factory, teacher):
    run = tmp_path_factory.mktemp("student")
    return train_policy(student_config(run, teacher)), run


def test_student_is_an_ordinary_policy_of_its_look(student, teacher):
    result, run = student
    loaded = load_policy(run)
    assert loaded.settings.look == "randomized" and loaded.algo == "ppo"
    assert loaded.settings.kwargs == load_policy(teacher).settings.kwargs  # the teacher's frames, another look
    summary = json.loads((run / "summary.json").read_text())
    assert summary["method"] == "distill" and [r["round"] for r in summary["rounds"]] == [1, 2]
    assert all("success_own_look" in r for r in summary["rounds"])
    assert summary["rounds"][-1]["frames"] == 48 and result.timesteps == 48
    for r in range(2):  # every round's frames, labelled by the teacher, are kept for resuming
        with np.load(run / "distill" / f"round_{r}.npz") as f:
            assert f["frames"].shape == (24, 36, 36, 3) and f["frames"].dtype == np.uint8
            assert np.allclose(f["probs"].sum(1), 1.0, atol=1e-5)
    assert latest_checkpoint(run)[1] == 48
    assert list((run / "tb").rglob("events.out.tfevents.*"))


def test_fit_learns_labels_that_depend_on_the_frame(teacher):
    """The student's update learns the teacher's labels: bright frames -> forward, dark -> right."""
    policy = load_policy(teacher).model.policy
    rng = np.random.default_rng(0)
    bright = rng.random(64) < 0.5
    frames = np.where(bright[:, None, None, None], 200, 30).astype(np.uint8) + rng.integers(0, 20, (64, 36, 36, 3),
                                                                                          dtype=np.uint8)
    probs = np.where(bright[:, None], [0.9, 0.05, 0.05], [0.05, 0.05, 0.9]).astype(np.float32)
    data = {"frames": frames, "probs": probs, "values": np.zeros(64, np.float32)}
    before = distill._probs_values(policy, frames)[0].argmax(1)
    distill._fit(policy, data, epochs=15, batch_size=16, lr=1e-3, rng=rng)
    after = distill._probs_values(policy, frames)[0].argmax(1)
    assert (after == probs.argmax(1)).mean() == 1.0 > (before == probs.argmax(1)).mean()


def test_heads_match_the_policys_own_distribution(teacher):
    policy = load_policy(teacher).model.policy
    obs = policy.obs_to_tensor(np.random.default_rng(0).integers(0, 256, (3, 36, 36, 3), dtype=np.uint8))[0]
    logits, values = distill._heads(policy, obs)
    with torch.no_grad():
        expected = policy.get_distribution(obs).distribution.probs
        assert torch.allclose(torch.softmax(logits, -1), expected, atol=1e-6)
        assert torch.allclose(values, policy.predict_values(obs).squeeze(-1), atol=1e-6)


def test_same_seed_same_student(tmp_path, teacher):
    a = train_policy(student_config(tmp_path / "a", teacher, eval_freq=0, final_eval_episodes=0))
    b = train_policy(student_config(tmp_path / "b", teacher, eval_freq=0, final_eval_episodes=0))
    wa, wb = (load_policy(r.model_path).model.policy.state_dict() for r in (a, b))
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


def test_a_killed_run_resumes_at_its_round(tmp_path, teacher, monkeypatch):
    config = student_config(tmp_path / "s", teacher, distill_rounds=3, timesteps=36, eval_freq=0,
                            final_eval_episodes=0)
    real_fit, calls = distill._fit, []

    def dies_in_round_two(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_fit(*args, **kwargs)

    monkeypatch.setattr(distill, "_fit", dies_in_round_two)
    with pytest.raises(KeyboardInterrupt):
        train_policy(config)
    assert latest_checkpoint(tmp_path / "s")[1] == 12 and (tmp_path / "s" / "distill" / "round_1.npz").is_file()
    monkeypatch.setattr(distill, "_fit", real_fit)
    collected = []
    real_collect = distill._collect
    monkeypatch.setattr(distill, "_collect", lambda *a, **k: collected.append(1) or real_collect(*a, **k))
    from dataclasses import replace
    result = train_policy(replace(config, resume=True))
    assert result.timesteps == 36 and len(collected) == 1  # rounds 1 and 2 read back, round 3 collected
    summary = json.loads((tmp_path / "s" / "summary.json").read_text())
    assert [r["round"] for r in summary["rounds"]] == [1, 2, 3]


def test_bad_teachers_and_settings_fail_clearly(tmp_path, teacher):
    with pytest.raises(ValueError, match="--env image_size=64: the teacher was trained with image_size"):
        train_policy(student_config(tmp_path / "a", teacher, env={"image_size": 64}))
    with pytest.raises(ValueError, match="--look sim"):
        train_policy(student_config(tmp_path / "b", teacher, look="sim"))
    with pytest.raises(FileNotFoundError):
        train_policy(student_config(tmp_path / "c", tmp_path / "nowhere"))
    with pytest.raises(ValueError, match="--distill-rounds 0"):
        student_config(tmp_path / "d", teacher, distill_rounds=0)


def test_cli_distils(tmp_path, teacher, capsys):
    main(["policy", "--teacher", str(teacher), "--look", "randomized", "--out", str(tmp_path / "cli"),
          "--timesteps", "16", "--n-envs", "2", "--distill-rounds", "1", "--eval-freq", "0",
          "--final-eval-episodes", "1", "--no-progress-bar", "--env", "image_size=36", "--env", "max_steps=20"])
    out = capsys.readouterr().out
    assert "held-out success (1 episodes, look randomized)" in out
    assert load_policy(tmp_path / "cli").settings.look == "randomized"
