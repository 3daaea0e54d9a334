import dataclasses
import json

import pytest
import torch

from goggles_gym.evaluate import main
from goggles_gym.evaluation import (
    ConditionResult,
    Episode,
    EvaluateConfig,
    evaluate,
    mcnemar_exact,
    run_condition,
    seed_summary,
    wilson_interval,
)
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


def test_batched_episodes_match_one_at_a_time(tiny_policy):
    seeds = [21, 22, 23, 24, 25]
    seen: dict[int, int] = {}

    def hook(seed, step, data):
        assert data["raw"].shape == data["policy_frame"].shape == (36, 36, 3)
        seen[seed] = max(seen.get(seed, 0), step + 1)

    one = run_condition("one", tiny_policy, "real", seeds, translator=Identity(), progress=False, n_envs=1)
    many = run_condition("many", tiny_policy, "real", seeds, translator=Identity(), progress=False, n_envs=3,
                         frame_hook=hook)
    assert [e.seed for e in many.episodes] == seeds  # back in the order of the seeds, not of finishing
    assert [dataclasses.astuple(e) for e in one.episodes] == [dataclasses.astuple(e) for e in many.episodes]
    assert seen == {e.seed: e.length for e in many.episodes}  # the hook saw every step of every episode
    with pytest.raises(ValueError, match="n_envs"):
        run_condition("none", tiny_policy, "real", seeds, n_envs=0)


def test_spl():
    r = ConditionResult("x", [Episode(0, True, 10, 0, 4.0, 2.0), Episode(1, False, 15, 1, 3.0, 2.0)])
    assert r.summary()["spl"] == pytest.approx(0.25)


@pytest.fixture(scope="module")
def translator_files(tmp_path_factory):
    from goggles_gym.translators.io import save_translator
    from goggles_gym.translators.networks import ResnetGenerator, init_weights

    folder = tmp_path_factory.mktemp("translators")
    out = {}
    for name, size in (("fits", 36), ("small", 32)):
        torch.manual_seed(0)
        out[name] = save_translator(folder / f"{name}.pt", init_weights(ResnetGenerator(ngf=4, n_blocks=1)),
                                    method="cyclegan", image_size=(size, size), config={})
    for name, wall, iterations in (("timed_a", 60.0, 500), ("timed_b", 120.0, 400)):  # files that record their cost
        torch.manual_seed(0)
        out[name] = save_translator(folder / f"{name}.pt", init_weights(ResnetGenerator(ngf=4, n_blocks=1)),
                                    method="cyclegan", image_size=(36, 36), config={},
                                    extra={"losses": ["adversarial", "cycle", "shift"], "iterations": iterations,
                                           "train_wall_s": wall})
    return out


def test_evaluate_writes_the_report_with_paired_seeds(tiny_policy, translator_files, tmp_path):
    config = EvaluateConfig(policy=str(tiny_policy.path), out=str(tmp_path), cyclegan=[str(translator_files["fits"])],
                            goggles=[f"cyclegan+shift={translator_files['fits']}"], dr_policy=str(tiny_policy.path),
                            episodes=2, metric_frames=4, strip_frames=2, progress_bar=False)
    summaries = evaluate(config)
    assert [s["condition"] for s in summaries] == ["sim oracle", "no goggles", "cyclegan", "cyclegan+shift",
                                                   "domain randomization", "domain randomization (own looks)"]
    results = json.loads((tmp_path / "results.json").read_text())
    for runs in results["per_episode"].values():
        assert all([e["seed"] for e in r["episodes"]] == [2_000_000, 2_000_001] for r in runs)
    assert results["metric_episodes"] == [3_000_000 + i for i in range(4)]
    by_name = {s["condition"]: s for s in summaries}
    assert by_name["cyclegan"]["frames_per_s"] > 0 and by_name["cyclegan"]["shift"] >= 0
    assert by_name["cyclegan"]["one_draw"] and by_name["cyclegan"]["interval"] == "Wilson (one draw)"
    assert "miou" not in by_name["cyclegan"] and "chair_iou" not in by_name["cyclegan"]  # no --segnet: left out
    assert by_name["sim oracle"]["paired_l1"] == 0.0 and by_name["no goggles"]["paired_l1"] > 0
    # the same translator under two names: identical episodes, so the paired test finds no difference
    assert by_name["cyclegan+shift"]["p_vs_cyclegan"] == 1.0 and by_name["cyclegan"]["p_vs_cyclegan"] is None
    assert by_name["cyclegan"]["p_vs_no_goggles"] is not None
    # the DR policy here is the sim policy: in its own look (sim) it is the sim oracle
    assert by_name["domain randomization (own looks)"]["success_rate"] == by_name["sim oracle"]["success_rate"]
    assert by_name["domain randomization"]["under_trained"] == (by_name["sim oracle"]["success_rate"] < 0.8)
    for name in ("report.md", "results.json", "results.csv", "success.png", "strips.png", "episode_cyclegan.mp4"):
        assert (tmp_path / name).is_file(), name
    assert "one draw" in (tmp_path / "report.md").read_text()
    assert [m["method"] for m in results["methods"]] == ["cyclegan", "cyclegan+shift"]  # goggles only, not DR


def test_the_methods_table_reads_the_translator_files(tiny_policy, translator_files, tmp_path):
    from goggles_gym.report import METHOD_COLUMNS, write_html_report

    config = EvaluateConfig(policy=str(tiny_policy.path), out=str(tmp_path), episodes=2, metric_frames=2,
                            strip_frames=0, videos=False, progress_bar=False,
                            cyclegan=[str(translator_files["timed_a"]), str(translator_files["timed_b"])],
                            vr_goggles=[str(translator_files["fits"])] * 2)  # fits: no losses, no train_wall_s
    by_name = {s["condition"]: s for s in evaluate(config)}
    assert [p["training"] for p in by_name["cyclegan"]["per_seed"]] == [
        {"losses": ["adversarial", "cycle", "shift"], "iterations": n, "train_wall_s": w}
        for w, n in ((60.0, 500), (120.0, 400))]
    methods = json.loads((tmp_path / "results.json").read_text())["methods"]
    assert [m["method"] for m in methods] == ["cyclegan", "vr-goggles"]
    cyclegan, vr = methods
    assert cyclegan["seconds_per_update"] == pytest.approx((60 / 500 + 120 / 400) / 2)  # wall / iterations, mean
    assert cyclegan["train_minutes"] == pytest.approx(1.5)
    assert vr["seconds_per_update"] is None and vr["train_minutes"] is None and vr["losses"] == []
    for m, key in ((cyclegan, "cyclegan"), (vr, "vr-goggles")):
        s = by_name[key]
        assert (m["paired_l1"], m["shift"], m["success_rate"], m["p_vs_cyclegan"]) == \
            (s["paired_l1"], s["shift"], s["success_rate"], s["p_vs_cyclegan"])  # the summaries' figures
    md = (tmp_path / "report.md").read_text()
    lines = md[md.index("## Methods"):].splitlines()
    table = [line for line in lines if line.startswith("| ")]
    assert table[0] == "| " + " | ".join(METHOD_COLUMNS) + " |" and len(table) == 3
    cells = {row.split(" | ")[0][2:]: row[2:-2].split(" | ") for row in table[1:]}
    assert cells["cyclegan"][1:4] == ["adversarial, cycle, shift", "0.21 s", "1.5 min"]
    assert cells["vr-goggles"][1:4] == ["", "", ""]  # older files: empty cells, never a made-up number
    assert all(len(c) == len(METHOD_COLUMNS) for c in cells.values())
    page = (tmp_path / "report.html").read_text()
    assert "<td>cyclegan</td><td>adversarial, cycle, shift</td><td>0.21 s</td><td>1.5 min</td>" in page
    assert write_html_report(tmp_path).read_text() == page  # rebuilt from results.json: the same page


def test_translator_seeds_give_a_mean_with_per_seed_figures(tiny_policy, translator_files, tmp_path):
    fits = str(translator_files["fits"])
    config = EvaluateConfig(policy=str(tiny_policy.path), out=str(tmp_path), cyclegan=[fits, fits],
                            vr_goggles=[fits, fits], translator_seeds=2, episodes=3, metric_frames=2,
                            strip_frames=1, videos=False, progress_bar=False)
    by_name = {s["condition"]: s for s in evaluate(config)}
    vr = by_name["vr-goggles"]
    assert vr["n_seeds"] == 2 and len(vr["per_seed"]) == 2 and not vr["one_draw"]
    assert vr["success_rate"] == pytest.approx(sum(p["success_rate"] for p in vr["per_seed"]) / 2)
    assert vr["success_min"] <= vr["success_rate"] <= vr["success_max"]
    assert vr["paired_tests"]["cyclegan"]["pairs"] == 6 and len(vr["paired_tests"]["cyclegan"]["per_seed_p"]) == 2
    text = (tmp_path / "report.md").read_text()
    assert "(mean of 2)" in text and "p vs CycleGAN" in text
    with pytest.raises(ValueError, match="translator-seeds 3.*cyclegan \\(2\\)"):
        evaluate(dataclasses.replace(config, translator_seeds=3))


def test_mcnemar_exact_and_seed_summary():
    a = [True] * 8 + [False] * 12
    b = [False] * 8 + [False] * 12
    r = mcnemar_exact(a, b)
    assert (r["a_only"], r["b_only"]) == (8, 0) and r["p_value"] == pytest.approx(2 * 0.5**8)
    assert mcnemar_exact(a, a)["p_value"] == 1.0
    assert mcnemar_exact([True, False, True], [False, True, True])["p_value"] == 1.0  # one discordant pair each way
    with pytest.raises(ValueError, match="equal-length"):
        mcnemar_exact([True], [True, False])
    one = seed_summary([0.5])
    assert one["ci"] is None and one["mean"] == 0.5
    three = seed_summary([0.1, 0.5, 0.9])
    assert three["ci"][0] == 0.0 and three["ci"][1] == 1.0 and three["mean"] == pytest.approx(0.5)
    assert seed_summary([0.4, 0.5, 0.6])["ci"] == pytest.approx([0.5 - 0.2484, 0.5 + 0.2484], abs=1e-3)


def test_evaluate_rejects_a_translator_of_the_wrong_size_before_running(tiny_policy, translator_files, tmp_path,
                                                                        capsys):
    code = main(["--policy", str(tiny_policy.path), "--out", str(tmp_path), "--vr-goggles",
                 str(translator_files["small"]), "--no-progress-bar"])
    err = capsys.readouterr().err
    assert code == 2 and "goggles 'vr-goggles'" in err and "36 x 36 x 3" in err
    assert not (tmp_path / "results.json").exists()
    assert main(["--policy", str(tiny_policy.path), "--goggles", "nameonly", "--no-progress-bar"]) == 2
    assert "NAME=PATH" in capsys.readouterr().err


def test_the_terminal_table_is_a_rich_table_with_seeds_and_p_values():
    from rich.console import Console

    from goggles_gym.evaluate import print_table

    rows = [{"condition": "no goggles", "success_rate": 0.0, "success_ci95": [0.0, 0.07]},
            {"condition": "vr-goggles", "success_rate": 0.3, "success_ci95": [0.1, 0.5], "success_min": 0.2,
             "success_max": 0.4, "per_seed": [{"success_rate": 0.2}, {"success_rate": 0.4}], "p_vs_no_goggles": 1e-5},
            {"condition": "cyclegan", "success_rate": 0.1, "success_ci95": [0.04, 0.2],
             "per_seed": [{"success_rate": 0.1}], "p_vs_no_goggles": 0.06}]
    console = Console(record=True, width=160)
    print_table(rows, console)
    text = console.export_text()
    assert "20% / 40%" in text and "20%-40%" in text and "<0.001" in text and "10% (one draw)" in text
    assert "0.060" in text and "┃" in text
