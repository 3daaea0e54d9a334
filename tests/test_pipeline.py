import json

import pytest

from goggles_gym import translators
from goggles_gym.pipeline import Pipeline, PipelineConfig, load_pipeline_preset, main
from goggles_gym.translators.segmentation import load_segnet

TINY = dict(image_size=16, policy_timesteps=64, dr_timesteps=64, policy_eval_freq=0, features_extractor="small",
            frames=24, judge_frames=20, seg_iterations=2, eval_seg_iterations=2, translator_iterations=2,
            ablations=True, episodes=2, metric_frames=6, progress_bar=False, env={"max_steps": 6},
            policy_hyperparams={"n_steps": 16, "batch_size": 32, "n_epochs": 1},
            translator={"batch_size": 2, "checkpoint_every": 1, "log_every": 1, "image_every": 1,
                        "sim_reader_iterations": 2})
CONDITIONS = ["sim oracle", "no goggles", "cyclegan", "vr-goggles", "cyclegan+semantic", "cyclegan+shift",
              "domain randomization"]


def tiny(out, **kw):
    return PipelineConfig(out=str(out), **{**TINY, **kw})


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    run = tmp_path_factory.mktemp("study")
    report = Pipeline(tiny(run), "tiny").run_all()
    return run, report


def test_runs_end_to_end_with_every_condition_on_the_same_seeds(finished):
    run, report = finished
    results = json.loads((run / "report" / "results.json").read_text())
    assert [c["condition"] for c in results["conditions"]] == CONDITIONS
    seeds = {name: [e["seed"] for e in eps] for name, eps in results["per_episode"].items()}
    assert all(s == seeds["sim oracle"] for s in seeds.values()) and len(seeds["sim oracle"]) == 2
    by_name = {c["condition"]: c for c in results["conditions"]}
    assert 0.0 <= by_name["vr-goggles"]["miou"] <= 1.0 and by_name["cyclegan"]["shift"] >= 0.0
    for name in ("success.png", "strips.png", "results.csv", "episode_vr_goggles.mp4", "episode_sim_oracle.mp4"):
        assert (run / "report" / name).is_file(), name
    text = report.read_text()
    assert "![success](success.png)" in text and "## How this run was made" in text and "| translators |" in text
    state = json.loads((run / "pipeline.json").read_text())
    assert set(state["stages"]) == {"policy", "dr_policy", "frames", "segnet", "translators", "evaluate"}


def test_judge_learns_from_randomized_looks_and_the_sim_reader_is_shared(finished):
    run, _ = finished
    assert json.loads((run / "frames" / "judge" / "manifest.json").read_text())["look"] == "randomized"
    assert json.loads((run / "frames" / "judge" / "manifest.json").read_text())["count"] == TINY["judge_frames"]
    assert load_segnet(run / "segnet" / "judge.pt").notes["weights_averaged"]["to"] == TINY["seg_iterations"]
    for name in ("vr-goggles", "cyclegan+semantic"):
        config = translators.load(run / "translators" / name / "translator.pt").meta["config"]
        assert config["judge_frames"] == str(run / "frames" / "judge") and config["sim_reader"]
        assert config["sim_reader_segnet"] == str(run / "segnet" / "sim_reader.pt")
        assert not (run / "translators" / name / "segnet_sim.pt").exists()  # the stage's reader, not a new one


def test_judge_look_sim_keeps_the_sim_collection(tmp_path):
    pipeline = Pipeline(tiny(tmp_path, judge_look="sim"), "tiny")
    assert "judge" not in pipeline._collections() and pipeline._segnets() == ("judge.pt", "eval.pt")
    config = pipeline._translator_config("vr-goggles")
    assert config.judge_frames == "" and not config.sim_reader and not config.judge_class_balance


def test_second_run_skips_finished_stages(finished):
    run, _ = finished
    model = run / "policy" / "model.zip"
    translator = run / "translators" / "vr-goggles" / "translator.pt"
    before = model.stat().st_mtime_ns, translator.stat().st_mtime_ns
    Pipeline(tiny(run), "tiny").run_all()
    assert (model.stat().st_mtime_ns, translator.stat().st_mtime_ns) == before
    state = json.loads((run / "pipeline.json").read_text())
    assert all(s["skipped_last_run"] for s in state["stages"].values())


def test_killed_run_redoes_only_what_is_missing(finished):
    run, _ = finished
    (run / "report" / "results.json").unlink()
    (run / "translators" / "cyclegan+shift" / "translator.pt").unlink()
    model = run / "policy" / "model.zip"
    before = model.stat().st_mtime_ns
    Pipeline(tiny(run), "tiny").run_all()
    state = json.loads((run / "pipeline.json").read_text())
    stages = state["stages"]
    assert not stages["translators"]["skipped_last_run"] and not stages["evaluate"]["skipped_last_run"]
    assert state["stages"]["policy"]["skipped_last_run"] and model.stat().st_mtime_ns == before
    assert (run / "report" / "results.json").is_file()


def test_force_redoes_a_stage_and_what_follows(finished):
    run, _ = finished
    segnet = run / "segnet" / "eval.pt"
    before = segnet.stat().st_mtime_ns
    Pipeline(tiny(run), "tiny", force=["translators"]).run_all()
    state = json.loads((run / "pipeline.json").read_text())
    stages = state["stages"]
    assert not stages["translators"]["skipped_last_run"] and not stages["evaluate"]["skipped_last_run"]
    assert state["stages"]["segnet"]["skipped_last_run"] and segnet.stat().st_mtime_ns == before


def test_other_settings_in_the_same_folder_fail_clearly(finished, capsys):
    run, _ = finished
    with pytest.raises(ValueError, match="other settings.*episodes"):
        Pipeline(tiny(run, episodes=3), "tiny").run_all()
    assert main(["--out", str(run), "--preset", "quick", "--no-progress-bar"]) == 2
    assert "--force all" in capsys.readouterr().err


def test_presets_and_bad_names():
    assert load_pipeline_preset("quick")["image_size"] == 32 and load_pipeline_preset("paper")["ablations"]
    with pytest.raises(ValueError, match="unknown preset"):
        load_pipeline_preset("fast")
    with pytest.raises(ValueError, match="stages are"):
        Pipeline(PipelineConfig(out="x"), force=["policies"])


def test_paper_preset_sets_the_shift_weight_of_every_translator():
    preset = load_pipeline_preset("paper")
    preset["translator"]["lambda_shift"] = 1.0  # a caller's change must not leak into the next load
    config = PipelineConfig(**{**load_pipeline_preset("paper"), "out": "x"})
    pipe = Pipeline(config, "paper")
    assert {n: pipe._translator_config(n).lambda_shift for n in pipe.variants()} == {
        "cyclegan": 15.0, "vr-goggles": 15.0, "cyclegan+semantic": 15.0, "cyclegan+shift": 15.0}
    assert pipe._translator_config("cyclegan+shift").shift and not pipe._translator_config("cyclegan").shift
    assert "lambda_shift" not in load_pipeline_preset("quick").get("translator", {})  # quick keeps the default
