import pytest

from goggles_gym.evaluation import ConditionResult, Episode, run_condition, wilson_interval
from goggles_gym.policies import PolicyTrainConfig, load_policy
from goggles_gym.policies.training import train_policy


class Identity:
    image_size = (36, 36)

    def __call__(self, frames):
        return frames


@pytest.fixture(scope="module")
def tiny_policy(tmp_path_factory):
    run = tmp_path_factory.mktemp("policy")
    train_policy(PolicyTrainConfig(out=str(run), timesteps=64, n_envs=2, eval_freq=0, final_eval_episodes=0,
                                   progress_bar=False, env={"image_size": 36, "max_steps": 15},
                                   hyperparams={"n_steps": 32, "batch_size": 32, "n_epochs": 1}))
    return load_policy(run)


def test_wilson_interval_known_values():
    assert wilson_interval(8, 10) == pytest.approx((0.4902, 0.9433), abs=1e-4)
    assert wilson_interval(0, 20) == pytest.approx((0.0, 0.1611), abs=1e-4)
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_conditions_run_the_same_seeds(tiny_policy):
    seeds = [11, 12, 13]
    raw = run_condition("no-goggles", tiny_policy, "real", seeds, progress=False)
    goggles = run_condition("identity", tiny_policy, "real", seeds, translator=Identity(), progress=False)
    assert [e.seed for e in raw.episodes] == [e.seed for e in goggles.episodes] == seeds
    # identity goggles change nothing: the paired episodes are identical
    assert [(e.success, e.length, e.collisions) for e in raw.episodes] == \
        [(e.success, e.length, e.collisions) for e in goggles.episodes]
    s = raw.summary()
    assert s["episodes"] == 3 and 0 <= s["success_rate"] <= 1 and s["success_ci95"][0] <= s["success_rate"]


def test_spl():
    r = ConditionResult("x", [Episode(0, True, 10, 0, 4.0, 2.0), Episode(1, False, 15, 1, 3.0, 2.0)])
    assert r.summary()["spl"] == pytest.approx(0.25)
