import json
from pathlib import Path

import pytest

from goggles_gym import translators
from goggles_gym.frames import read_collection
from goggles_gym.frames.sources import PAIR_APPROACH
from goggles_gym.pipeline import Pipeline, PipelineConfig, SeedPlan, load_pipeline_preset, main
from goggles_gym.pipeline import configs as stage_configs
from goggles_gym.translators.segmentation import load_segnet

TINY = dict(image_size=16, policy_timesteps=64, dr_timesteps=64, policy_eval_freq=0, features_extractor="small",
            frames=24, judge_frames=20, seg_iterations=2, eval_seg_iterations=2, translator_iterations=2,
            ablations=True, episodes=2, validation_episodes=2, metric_frames=6, progress_bar=False,
            env={"max_steps": 6},
            policy_hyperparams={"n_steps": 16, "batch_size": 32, "n_epochs": 1},
            translator={"batch_size": 2, "checkpoint_every": 1, "log_every": 1, "image_every": 1,
                        "sim_reader_iterations": 2})
CONDITIONS = ["sim oracle", "no goggles", "cyclegan", "vr-goggles", "cyclegan+semantic", "cyclegan+shift",
              "domain randomization", "domain randomization (own looks)"]
STAGES = {"policy", "dr_policy", "frames", "segnet", "translators", "validate", "evaluate"}


def tiny(out, **kw):
    # One stage after another in this process (spawning a process a stage costs seconds each); the
    # end-to-end run below and the tests of --jobs run the stages side by side, as users do.
    return PipelineConfig(out=str(out), **{**TINY, "jobs": 1, **kw})


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    run = tmp_path_factory.mktemp("study")
    report = Pipeline(tiny(run, jobs=2), "tiny").run_all()
    return run, report


def test_runs_end_to_end_with_every_condition_on_the_same_seeds(finished):
    run, report = finished
    results = json.loads((run / "report" / "results.json").read_text())
    assert [c["condition"] for c in results["conditions"]] == CONDITIONS
    seeds = {name: [e["seed"] for e in runs[0]["episodes"]] for name, runs in results["per_episode"].items()}
    assert all(s == seeds["sim oracle"] for s in seeds.values()) and len(seeds["sim oracle"]) == 2
    assert seeds["sim oracle"] == SeedPlan(0).evaluation_episodes(2)
    by_name = {c["condition"]: c for c in results["conditions"]}
    assert 0.0 <= by_name["vr-goggles"]["miou"] <= 1.0 and by_name["cyclegan"]["shift"] >= 0.0
    assert 0.0 <= by_name["cyclegan"]["chair_fp"] <= 1.0 and "chair_iou" in by_name["no goggles"]
    for name in ("success.png", "strips.png", "results.csv", "episode_vr_goggles.mp4", "episode_sim_oracle.mp4"):
        assert (run / "report" / name).is_file(), name
    text = report.read_text()
    assert "![success](success.png)" in text and "## How this run was made" in text and "| translators |" in text
    state = json.loads((run / "pipeline.json").read_text())
    assert set(state["stages"]) == STAGES
    validation = json.loads((run / "validation" / "results.json").read_text())
    assert validation["seeds"] == SeedPlan(0).validation_episodes(2)
    assert not (run / "validation" / "episode_cyclegan.mp4").exists()


def test_judge_learns_from_randomized_looks_and_the_sim_reader_is_shared(finished):
    run, _ = finished
    assert json.loads((run / "frames" / "judge" / "manifest.json").read_text())["look"] == "randomized"
    assert json.loads((run / "frames" / "judge" / "manifest.json").read_text())["count"] == TINY["judge_frames"]
    assert load_segnet(run / "segnet" / "judge.pt").notes["weights_averaged"]["to"] == TINY["seg_iterations"]
    for name in ("vr-goggles", "cyclegan+semantic"):
        config = translators.load(run / "translators" / name / "seed0" / "translator.pt").meta["config"]
        assert config["judge_frames"] == str(run / "frames" / "judge") and config["sim_reader"]
        assert config["sim_reader_segnet"] == str(run / "segnet" / "sim_reader.pt")
        assert not (run / "translators" / name / "seed0" / "segnet_sim.pt").exists()  # the stage's reader


def test_seed_blocks_are_disjoint_down_to_the_frames(finished):
    """No held-out frame or episode of the report comes from an episode that a training collection,
    the validation episodes or another block used."""
    run, _ = finished
    plan = SeedPlan(0)
    blocks = [plan.block(n) for n in ("policy", "dr_policy", "frames/sim", "frames/real", "frames/sim_eval",
                                      "frames/judge", "frames/pairs", "segnet/judge", "segnet/sim_reader",
                                      "segnet/eval", "translators", "validation", "validation/metrics",
                                      "evaluation", "evaluation/metrics")]
    ranges = sorted((b.first, b.first + b.size) for b in blocks)
    assert all(a_end <= b_start for (_, a_end), (b_start, _) in zip(ranges, ranges[1:], strict=False))
    other = SeedPlan(1)
    assert all(plan.block(b.name).first + b.size <= other.block(b.name).first for b in blocks)  # runs apart too
    training = {}
    for name in ("sim", "real", "sim_eval", "judge"):
        episodes = read_collection(run / "frames" / name).manifest["frame_episodes"]
        assert len(episodes) == TINY["judge_frames" if name == "judge" else "frames"]
        assert {plan.owner(e) for e in episodes} == {f"frames/{name}"}
        training[name] = set(episodes)
    assert not set.intersection(*training.values())
    used = set().union(*training.values())
    report = json.loads((run / "report" / "results.json").read_text())
    validation = json.loads((run / "validation" / "results.json").read_text())
    for results, split in ((report, "evaluation"), (validation, "validation")):
        assert {plan.owner(e) for e in results["metric_episodes"]} == {f"{split}/metrics"}
        assert {plan.owner(e) for e in results["seeds"]} == {split}
        assert not used & (set(results["metric_episodes"]) | set(results["seeds"]))
    assert not set(report["seeds"]) & set(validation["seeds"])
    seeds = {translators.load(run / "translators" / v / "seed0" / "translator.pt").meta["config"]["seed"]
             for v in ("cyclegan", "vr-goggles")}
    assert seeds == {plan.translator_seed(0)}  # paired repeats: every method's seed 0 shares its seed


def test_translator_seeds_train_each_method_with_its_own_seeds(tmp_path):
    config = tiny(tmp_path, translator_seeds=2, ablations=False, dr_timesteps=0, judge_look="sim",
                  validation_episodes=0)
    Pipeline(config, "tiny").run_all()
    plan = SeedPlan(0)
    for variant in ("cyclegan", "vr-goggles"):
        seeds = [translators.load(tmp_path / "translators" / variant / f"seed{k}" / "translator.pt")
                 .meta["config"]["seed"] for k in range(2)]
        assert seeds == [plan.translator_seed(0), plan.translator_seed(1)]
    results = json.loads((tmp_path / "report" / "results.json").read_text())
    by_name = {c["condition"]: c for c in results["conditions"]}
    assert by_name["vr-goggles"]["n_seeds"] == 2 and len(by_name["vr-goggles"]["per_seed"]) == 2
    assert by_name["vr-goggles"]["p_vs_cyclegan"] is not None and by_name["vr-goggles"]["p_vs_no_goggles"] is not None
    assert "validate" not in json.loads((tmp_path / "pipeline.json").read_text())["stages"]


def test_until_stops_after_a_stage_and_the_next_run_goes_on(tmp_path, capsys):
    config = tiny(tmp_path, ablations=False, dr_timesteps=0, judge_look="sim")
    Pipeline(config, "tiny", until="frames").run_all()
    assert (tmp_path / "frames" / "sim" / "manifest.json").is_file() and not (tmp_path / "segnet").exists()
    assert set(json.loads((tmp_path / "pipeline.json").read_text())["stages"]) == {"policy", "frames"}
    assert main(["--out", str(tmp_path / "v"), "--preset", "quick", "--until", "nope"]) == 2
    assert "--until" in capsys.readouterr().err


def test_dr_policy_distilled_from_the_sim_policy(tmp_path):
    """--dr-method distill: the DR stage reads the sim policy (its teacher) and writes an ordinary
    policy of randomized looks, which the evaluation runs as the DR rows."""
    from goggles_gym.policies import load_policy

    config = tiny(tmp_path, ablations=False, dr_method="distill", dr_timesteps=24, judge_look="sim",
                  policy_eval_freq=8, validation_episodes=0)
    dr = stage_configs.policy_config(config, SeedPlan(0), tmp_path, "dr_policy")
    assert dr.teacher == str(tmp_path / "policy") and dr.look == "randomized"
    assert stage_configs.policy_config(tiny(tmp_path), SeedPlan(0), tmp_path, "dr_policy").teacher == ""
    Pipeline(config, "tiny", until="dr_policy").run_all()
    student = load_policy(tmp_path / "policy_dr")
    assert student.settings.look == "randomized"
    assert student.settings.kwargs == load_policy(tmp_path / "policy").settings.kwargs
    summary = json.loads((tmp_path / "policy_dr" / "summary.json").read_text())
    assert summary["method"] == "distill" and summary["teacher"].startswith(str(tmp_path / "policy"))
    assert "success_own_look" in summary["rounds"][-1]


def test_canonicalizer_stage_and_the_pretrained_rows(tmp_path):
    config = tiny(tmp_path / "a", ablations=False, dr_timesteps=0, judge_look="sim", validation_episodes=0,
                  canonicalizer_iterations=2, pair_frames=12)
    Pipeline(config, "tiny").run_all()
    run, plan = tmp_path / "a", SeedPlan(0)
    pairs = read_collection(run / "frames" / "pairs")
    assert pairs.manifest["kind"] == "paired" and pairs.target is not None and len(pairs) == 12
    assert {plan.owner(e) for e in pairs.manifest["frame_episodes"]} == {"frames/pairs"}
    canon = translators.load(run / "canonicalizer" / "translator.pt")
    assert canon.method == "rcan" and canon.meta["config"]["seed"] == plan.seed_of("canonicalizer")
    for name in ("cyclegan+pretrain", "vr-goggles+pretrain"):
        tc = translators.load(run / "translators" / name / "seed0" / "translator.pt").meta["config"]
        assert tc["init_from"] == str(run / "canonicalizer" / "translator.pt") and tc["pairs"] == str(
            run / "frames" / "pairs")
    results = json.loads((run / "report" / "results.json").read_text())
    assert [c["condition"] for c in results["conditions"]] == ["sim oracle", "no goggles", "cyclegan", "vr-goggles",
                                                               "rcan", "cyclegan+pretrain", "vr-goggles+pretrain"]
    # a canonicalizer trained elsewhere: no canonicalizer stage, the +pretrain rows start from it
    other = tiny(tmp_path / "b", ablations=False, dr_timesteps=0, judge_look="sim", validation_episodes=0,
                 canonicalizer_iterations=2, pair_frames=12, pretrained=str(run / "canonicalizer" / "translator.pt"))
    Pipeline(other, "tiny", until="translators").run_all()
    assert not (tmp_path / "b" / "canonicalizer").exists()
    tc = translators.load(tmp_path / "b" / "translators" / "vr-goggles+pretrain" / "seed0" / "translator.pt")
    assert tc.meta["config"]["init_from"] == str(run / "canonicalizer" / "translator.pt")
    with pytest.raises(FileNotFoundError, match="--pretrained"):
        Pipeline(tiny(tmp_path / "c", canonicalizer_iterations=2, pretrained=str(tmp_path / "nope.pt")))


def test_judge_look_sim_keeps_the_sim_collection(tmp_path):
    config, plan = tiny(tmp_path, judge_look="sim"), SeedPlan(0)
    assert "judge" not in stage_configs.collections(config, plan)
    assert list(stage_configs.segnet_configs(config, plan, tmp_path)) == ["judge"]
    tc = stage_configs.translator_config(config, plan, tmp_path, "vr-goggles", 0)
    assert tc.judge_frames == "" and not tc.sim_reader and not tc.judge_class_balance


def test_bad_settings_fail_before_anything_is_written(tmp_path, capsys):
    for flags, words in ((["--image-size", "30"], "image_size"), (["--look", str(tmp_path / "nope.yaml")], "nope"),
                         (["--translator-seeds", "0"], "translator-seeds"), (["--seed", "-1"], "--seed"),
                         (["--judge-look", "real"], "judge-look"), (["--dr-method", "bc"], "--dr-method 'bc'")):
        out = tmp_path / "run"
        assert main(["--out", str(out), "--no-progress-bar", *flags]) == 2
        assert words in capsys.readouterr().err
        assert not out.exists()
    assert main(["--out", str(tmp_path / "run"), "--no-progress-bar", "--image-size", "32", "--episodes", "0"]) == 2


def test_bad_other_looks_fail_before_anything_is_written(tmp_path, capsys):
    for flags, words in ((["--other-looks", "randomized"], "draws a new look every episode"),
                         (["--other-looks", "photo", "photo"], "names photo more than once"),
                         (["--other-looks", str(tmp_path / "nope.yaml")], "nope.yaml"),
                         (["--other-looks", "photo", "--canonicalizer-iterations", "0"], "has neither")):
        out = tmp_path / "run"
        assert main(["--out", str(out), "--no-progress-bar", *flags]) == 2
        assert words in capsys.readouterr().err
        assert not out.exists()


def test_other_looks_score_the_target_free_rows_and_join_a_finished_run(tmp_path):
    """--other-looks runs the sim oracle, no goggles, rcan and DR on other looks (the target left out),
    on the report's episodes; given to a finished run it adds only those reports, and its table sits
    in report.md and report.html before how the run was made."""
    run = tmp_path / "run"
    base = dict(ablations=False, judge_look="sim", validation_episodes=0, canonicalizer_iterations=2, pair_frames=12,
                pretrain_rows=False)
    Pipeline(tiny(run, **base), "tiny").run_all()
    canon = run / "canonicalizer" / "translator.pt"
    before = canon.stat().st_mtime_ns
    report = Pipeline(tiny(run, **base, other_looks=["photo", "real"]), "tiny").run_all()  # real: the target
    assert canon.stat().st_mtime_ns == before
    looks = run / "report" / "looks"
    assert sorted(p.name for p in looks.iterdir()) == ["photo"]
    photo, main_results = (json.loads((p / "results.json").read_text()) for p in (looks / "photo", run / "report"))
    assert photo["look"] == "photo" and photo["seeds"] == main_results["seeds"]
    assert photo["metric_episodes"] == main_results["metric_episodes"]
    assert [c["condition"] for c in photo["conditions"]] == ["sim oracle", "no goggles", "rcan", "domain randomization",
                                                             "domain randomization (own looks)"]
    stages = json.loads((run / "pipeline.json").read_text())["stages"]
    assert stages["evaluate"]["skipped_last_run"] and not stages["other_looks"]["skipped_last_run"]
    text = report.read_text()
    assert text.index("## The same goggles on other looks") < text.index("## How this run was made")
    assert "| `photo` |" in text and "(looks/photo/report.md)" in text
    assert 'href="looks/photo/report.html"' in (run / "report" / "report.html").read_text()
    report = Pipeline(tiny(run, **base, other_looks=["photo"]), "tiny").run_all()
    assert report.read_text().count("## The same goggles on other looks") == 1
    assert json.loads((run / "pipeline.json").read_text())["stages"]["other_looks"]["skipped_last_run"]


def test_other_looks_flag_takes_several_looks():
    from goggles_gym.pipeline.cli import parser

    args = parser("paper").parse_args(["--out", "r", "--other-looks", "photo", "docs/looks/harsh_lab.yaml"])
    assert args.other_looks == ["photo", "docs/looks/harsh_lab.yaml"]
    assert parser().parse_args(["--out", "r"]).other_looks is None  # not given: the preset's stays


def test_bad_settings_pairs_look_is_checked_and_the_pairs_collection_takes_it(tmp_path, capsys):
    plan = SeedPlan(0)
    assert "pairs" not in stage_configs.collections(tiny(tmp_path / "a"), plan)  # no canonicalizer, no pairs
    assert stage_configs.collections(tiny(tmp_path / "a", canonicalizer_iterations=2), plan)["pairs"].look == \
        "wide"  # the default
    narrow = tiny(tmp_path / "a", canonicalizer_iterations=2, pairs_look="randomized")
    specs = stage_configs.collections(narrow, plan)
    assert specs["pairs"].look == "randomized" and specs["pairs"].domain == "paired"
    assert specs["judge"].look == "randomized"  # the judge keeps the narrower randomization
    assert specs["pairs"].episodes == stage_configs.collections(tiny(tmp_path / "a", canonicalizer_iterations=2),
                                                                plan)["pairs"].episodes  # same block of episodes
    for bad in ("real", "sim", "photo"):
        out = tmp_path / "run"
        assert main(["--out", str(out), "--no-progress-bar", "--pairs-look", bad]) == 2
        err = capsys.readouterr().err
        assert "--pairs-look" in err and "randomized or wide" in err and len(err.strip().splitlines()) == 1
        assert not out.exists()
    near = stage_configs.collections(tiny(tmp_path / "a", canonicalizer_iterations=2, pair_approach=0.25), plan)
    assert near["pairs"].approach == 0.25 and near["sim"].approach == 0.0  # only the pairs are taken near the chair
    assert main(["--out", str(tmp_path / "run"), "--no-progress-bar", "--pair-approach", "2"]) == 2
    assert "--pair-approach 2.0: a share of the pairs" in capsys.readouterr().err


def test_second_run_skips_finished_stages(finished):
    run, _ = finished
    model = run / "policy" / "model.zip"
    translator = run / "translators" / "vr-goggles" / "seed0" / "translator.pt"
    before = model.stat().st_mtime_ns, translator.stat().st_mtime_ns
    Pipeline(tiny(run), "tiny").run_all()
    assert (model.stat().st_mtime_ns, translator.stat().st_mtime_ns) == before
    state = json.loads((run / "pipeline.json").read_text())
    assert all(s["skipped_last_run"] for s in state["stages"].values())


def test_a_moved_run_folder_is_the_same_run(finished, tmp_path):
    """A run folder moved (or copied) elsewhere resumes there: where it lies is not a setting, and
    its report counts as scored for the translators it holds now."""
    import shutil

    run, _ = finished
    moved = tmp_path / "moved"
    shutil.copytree(run, moved)
    Pipeline(tiny(moved), "tiny").run_all()
    state = json.loads((moved / "pipeline.json").read_text())
    assert all(s["skipped_last_run"] for s in state["stages"].values())
    assert state["config"]["out"] == str(moved)


def test_killed_run_redoes_only_what_is_missing(finished):
    run, _ = finished
    (run / "report" / "results.json").unlink()
    (run / "translators" / "cyclegan+shift" / "seed0" / "translator.pt").unlink()
    model = run / "policy" / "model.zip"
    before = model.stat().st_mtime_ns
    Pipeline(tiny(run, jobs=2), "tiny").run_all()
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


def test_force_follows_the_declared_reads():
    from goggles_gym.pipeline.stages import STAGES, to_redo

    assert to_redo(STAGES, ["policy"]) == {"policy", "dr_policy", "canonicalizer", "translators", "policy_translators",
                                           "validate", "evaluate", "other_looks"}  # every stage that may read it
    plain = tiny("run")
    assert to_redo(STAGES, ["policy"], plain) == {"policy", "policy_translators", "validate", "evaluate"}
    held = tiny("run", dr_method="distill", canonicalizer_iterations=2, canonicalizer_policy=True)
    assert to_redo(STAGES, ["policy"], held) == {"policy", "dr_policy", "canonicalizer", "translators",
                                                 "policy_translators", "validate", "evaluate"}
    scored = tiny("run", canonicalizer_iterations=2, pretrain_rows=False, other_looks=["photo"])
    assert to_redo(STAGES, ["canonicalizer"], scored) == {"canonicalizer", "validate", "evaluate", "other_looks"}
    assert to_redo(STAGES, ["dr_policy"], scored) == {"dr_policy", "validate", "evaluate", "other_looks"}
    assert to_redo(STAGES, ["dr_policy"], tiny("run", dr_timesteps=0, canonicalizer_iterations=2,
                                               other_looks=["photo"])) == {"dr_policy", "validate", "evaluate"}
    canon = stage_configs.canonicalizer_config(held, SeedPlan(0), Path("run"))
    assert canon.policy_consistency == str(Path("run") / "policy") and canon.variant == "rcan+policy"
    unheld = tiny("run", canonicalizer_iterations=2)
    assert stage_configs.canonicalizer_config(unheld, SeedPlan(0), Path("run")).policy_consistency == ""
    assert to_redo(STAGES, ["frames"]) == {"frames", "segnet", "canonicalizer", "translators", "policy_translators",
                                           "validate", "evaluate", "other_looks"}
    assert to_redo(STAGES, ["evaluate"]) == {"evaluate"}

    assert to_redo(STAGES, ["all"]) == STAGES_SET


def test_a_canonicalizer_without_pretrain_rows_is_not_read_by_the_translators():
    from goggles_gym.pipeline.stages import STAGES, to_redo

    alone = tiny("run", canonicalizer_iterations=2, pretrain_rows=False)
    assert to_redo(STAGES, ["canonicalizer"], alone) == {"canonicalizer", "validate", "evaluate"}
    rows = tiny("run", canonicalizer_iterations=2)
    assert "translators" in to_redo(STAGES, ["canonicalizer"], rows)


STAGES_SET = {"policy", "dr_policy", "frames", "segnet", "canonicalizer", "translators", "policy_translators",
              "validate", "evaluate", "other_looks"}


def test_paper_preset_sets_the_shift_weight_of_every_translator(tmp_path):
    preset = load_pipeline_preset("paper")
    preset["translator"]["lambda_shift"] = 1.0  # a caller's change must not leak into the next load
    config, plan = PipelineConfig(**{**load_pipeline_preset("paper"), "out": "x"}), SeedPlan(0)
    tcs = {n: stage_configs.translator_config(config, plan, tmp_path, n, 0) for n in stage_configs.variants(config)}
    assert {n: tc.lambda_shift for n, tc in tcs.items()} == {
        "cyclegan": 15.0, "vr-goggles": 15.0, "cyclegan+semantic": 15.0, "cyclegan+shift": 15.0}
    assert tcs["cyclegan+shift"].shift and not tcs["cyclegan"].shift
    assert "lambda_shift" not in load_pipeline_preset("quick").get("translator", {})  # quick keeps the default


def test_peers_rows_train_cut_fastcut_and_vr_goggles_held_to_the_policy(tmp_path):
    config, plan = PipelineConfig(**{**load_pipeline_preset("peers"), "out": str(tmp_path)}), SeedPlan(0)
    tcs = {n: stage_configs.translator_config(config, plan, tmp_path, n, 0) for n in stage_configs.variants(config)}
    assert list(tcs) == ["cyclegan", "vr-goggles", "cut", "fastcut", "vr-goggles+policy"]
    assert [tcs[n].method for n in ("cut", "fastcut")] == ["cut", "fastcut"]
    assert tcs["vr-goggles+policy"].policy_consistency == str(tmp_path / "policy")
    assert not any(tcs[n].policy_consistency for n in tcs if n != "vr-goggles+policy")
    assert len({tc.seed for tc in tcs.values()}) == 1  # paired repeats: one translator seed for every method
    from goggles_gym.pipeline.stages import Context, PolicyTranslatorsStage, TranslatorsStage

    ctx = Context(config, plan, tmp_path, None, print)
    assert list(PolicyTranslatorsStage(ctx).jobs()) == ["vr-goggles+policy/seed0"]
    assert "vr-goggles+policy/seed0" not in TranslatorsStage(ctx).jobs()
    quick = PipelineConfig(**{**load_pipeline_preset("quick"), "out": str(tmp_path)})
    assert not PolicyTranslatorsStage(Context(quick, plan, tmp_path, None, print)).enabled()


def test_canonicalizer_repeats_each_with_its_seed_and_its_own_pretrain_rows(tmp_path):
    config = tiny(tmp_path / "a", ablations=False, dr_timesteps=0, judge_look="sim", validation_episodes=0,
                  canonicalizer_iterations=2, pair_frames=12, canonicalizer_seeds=2, translator_seeds=2)
    Pipeline(config, "tiny", until="translators").run_all()
    run, plan = tmp_path / "a", SeedPlan(0)
    seeds = [translators.load(stage_configs.canonicalizer_file(config, run, k)).meta["config"]["seed"] for k in (0, 1)]
    assert seeds == [plan.seed_of("canonicalizer"), plan.canonicalizer_seed(1)] and seeds[0] != seeds[1]
    assert stage_configs.canonicalizer_file(config, run, 1) == run / "canonicalizer_seed1" / "translator.pt"
    for k in (0, 1):  # +pretrain repeat k starts from canonicalizer k
        tc = translators.load(run / "translators" / "vr-goggles+pretrain" / f"seed{k}" / "translator.pt")
        assert tc.meta["config"]["init_from"] == str(stage_configs.canonicalizer_file(config, run, k))
    rows = stage_configs.evaluate_config(config, plan, run, "evaluation").goggles
    assert [g for g in rows if g.startswith("rcan=")] == [f"rcan={stage_configs.canonicalizer_file(config, run, k)}"
                                                          for k in (0, 1)]  # one rcan row, two seeds
    with pytest.raises(ValueError, match="--canonicalizer-seeds 2: --pretrained gives one canonicalizer"):
        Pipeline(tiny(tmp_path / "b", canonicalizer_iterations=2, canonicalizer_seeds=2,
                      pretrained=str(stage_configs.canonicalizer_file(config, run))))


def test_a_finished_run_given_more_seeds_trains_only_the_new_ones_and_scores_them_all(tmp_path):
    run = tmp_path / "run"
    base = dict(ablations=False, dr_timesteps=0, judge_look="sim", validation_episodes=0,
                canonicalizer_iterations=2, pair_frames=12, pretrain_rows=False)
    Pipeline(tiny(run, **base), "tiny").run_all()
    first, canon = run / "translators" / "cyclegan" / "seed0" / "translator.pt", run / "canonicalizer" / "translator.pt"
    before = first.stat().st_mtime_ns, canon.stat().st_mtime_ns
    Pipeline(tiny(run, **base, translator_seeds=2, canonicalizer_seeds=2), "tiny").run_all()
    assert (first.stat().st_mtime_ns, canon.stat().st_mtime_ns) == before  # the earlier draws are kept
    assert (run / "translators" / "vr-goggles" / "seed1" / "translator.pt").is_file()
    assert (run / "canonicalizer_seed1" / "translator.pt").is_file()
    scored = json.loads((run / "report" / "results.json").read_text())["config"]
    assert len(scored["cyclegan"]) == 2 and sum(g.startswith("rcan=") for g in scored["goggles"]) == 2
    stages = json.loads((run / "pipeline.json").read_text())["stages"]
    assert stages["policy"]["skipped_last_run"] and not stages["evaluate"]["skipped_last_run"]
    Pipeline(tiny(run, **base, translator_seeds=2, canonicalizer_seeds=2), "tiny").run_all()
    assert json.loads((run / "pipeline.json").read_text())["stages"]["evaluate"]["skipped_last_run"]
    # Rows switched on train only theirs (the +policy rows in their own stage); switched off, they stay unscored.
    Pipeline(tiny(run, **base, translator_seeds=2, canonicalizer_seeds=2, peers=True), "tiny").run_all()
    assert (first.stat().st_mtime_ns, canon.stat().st_mtime_ns) == before
    assert all((run / "translators" / v / "seed1" / "translator.pt").is_file()
               for v in ("cut", "fastcut", "vr-goggles+policy"))
    scored = json.loads((run / "report" / "results.json").read_text())
    assert {"cut", "fastcut", "vr-goggles+policy"} <= {c["condition"] for c in scored["conditions"]}
    assert (run / "report" / "episode_cut.mp4").is_file()
    Pipeline(tiny(run, **base, translator_seeds=2, canonicalizer_seeds=2), "tiny").run_all()
    scored = json.loads((run / "report" / "results.json").read_text())
    assert "cut" not in {c["condition"] for c in scored["conditions"]}
    assert not (run / "report" / "episode_cut.mp4").exists()
    assert (run / "translators" / "cut" / "seed0" / "translator.pt").is_file()


def test_another_number_of_canonicalizers_under_pretrain_rows_is_another_run(tmp_path):
    """+pretrain translator k starts from canonicalizer k mod their number: changing it would change
    what the earlier translators started from, so it fails like any other setting."""
    from goggles_gym.pipeline.state import RunState

    now = {**PipelineConfig().to_dict(), "out": str(tmp_path), "canonicalizer_iterations": 2, "pretrain_rows": True}
    (tmp_path / "pipeline.json").write_text(json.dumps({"config": now, "stages": {}}))
    RunState(tmp_path, "custom", {**now, "translator_seeds": 3}, {}).load(start_over=False)  # more translators: fine
    with pytest.raises(ValueError, match="other settings.*canonicalizer_seeds"):
        RunState(tmp_path, "custom", {**now, "canonicalizer_seeds": 2}, {}).load(start_over=False)
    alone = {**now, "pretrain_rows": False}
    (tmp_path / "pipeline.json").write_text(json.dumps({"config": alone, "stages": {}}))
    RunState(tmp_path, "custom", {**alone, "canonicalizer_seeds": 2}, {}).load(start_over=False)  # nothing reads it


def test_quick_trains_the_canonicalizer_without_pretrain_rows_and_its_recipe_reaches_them(tmp_path):
    quick = PipelineConfig(**{**load_pipeline_preset("quick"), "out": str(tmp_path)})
    plan = SeedPlan(0)
    assert quick.canonicalizer_iterations > 0 and not quick.pretrain_rows
    assert not any(v.endswith("+pretrain") for v in stage_configs.variants(quick))
    pairs = stage_configs.collections(quick, plan)["pairs"]
    assert pairs.domain == "paired" and pairs.frames_per_episode == 1 and pairs.count == quick.pair_frames
    assert pairs.approach == PAIR_APPROACH == 0.5  # half the pairs near the chair, weights from the start poses
    canon = stage_configs.canonicalizer_config(quick, plan, tmp_path)
    assert canon.method == "rcan" and canon.paired_class_balance and canon.upsample == "resize"
    with_rows = PipelineConfig(**{**load_pipeline_preset("quick"), "out": str(tmp_path), "pretrain_rows": True})
    assert {"cyclegan+pretrain", "vr-goggles+pretrain"} <= set(stage_configs.variants(with_rows))
    ft = stage_configs.translator_config(with_rows, plan, tmp_path, "vr-goggles+pretrain", 0)
    assert ft.upsample == "resize" and ft.init_from == str(tmp_path / "canonicalizer" / "translator.pt")


def test_a_run_folder_older_than_an_option_resumes_at_its_default(tmp_path):
    from goggles_gym.pipeline.state import RunState

    defaults = PipelineConfig().to_dict()
    now = {**defaults, "out": str(tmp_path)}
    old = {k: v for k, v in now.items() if k not in ("peers", "pairs_look")}  # written before those options
    (tmp_path / "pipeline.json").write_text(json.dumps({"config": old, "stages": {"policy": {"wall_time_s": 1.0}}}))
    state = RunState(tmp_path, "custom", now, {}, defaults=defaults)
    state.load(start_over=False)
    assert state.data["stages"]["policy"]["wall_time_s"] == 1.0
    with pytest.raises(ValueError, match="other settings.*pairs_look"):  # not at its default: another run
        RunState(tmp_path, "custom", {**now, "pairs_look": "randomized"}, {}, defaults=defaults).load(start_over=False)


def test_gpu_preset_runs_end_to_end_on_the_cpu_at_tiny_sizes(tmp_path):
    """paper-gpu is the preset a GPU would run (no GPU was lent to check it there): with the device
    and the sizes overridden, and nothing else, the whole study runs on the CPU: every method and
    repeat, the +pretrain rows from their canonicalizers, DR, and the other looks."""
    preset = load_pipeline_preset("paper-gpu")
    assert preset["device"] == "cuda" and preset["translator_seeds"] == 3 and preset["canonicalizer_seeds"] == 3
    paper = load_pipeline_preset("paper")
    for budget in ("translator_iterations", "canonicalizer_iterations", "pair_frames", "episodes"):
        assert preset[budget] >= paper[budget], f"paper-gpu's {budget} is below paper's"
    sizes = {k: v for k, v in TINY.items() if k != "ablations"}  # the preset's rows stay
    config = PipelineConfig(**{**preset, **sizes, "out": str(tmp_path), "device": "cpu", "jobs": 1,
                               "canonicalizer_iterations": 2, "pair_frames": 12, "dr_timesteps": 24,
                               "validation_episodes": 0, "episodes": 1, "metric_frames": 4,
                               "translator": {**TINY["translator"], **preset["translator"]}})
    names = set(stage_configs.variants(config))
    assert {"cyclegan", "vr-goggles", "cyclegan+semantic", "cyclegan+shift", "cut", "fastcut", "vr-goggles+policy",
            "cyclegan+pretrain", "vr-goggles+pretrain"} == names
    Pipeline(config, "paper-gpu").run_all()
    results = json.loads((tmp_path / "report" / "results.json").read_text())
    conditions = {c["condition"]: c for c in results["conditions"]}
    assert names | {"sim oracle", "no goggles", "rcan", "domain randomization"} <= set(conditions)
    assert all(len(conditions[v]["per_seed"]) == 3 for v in names | {"rcan"})
    assert json.loads((tmp_path / "report" / "looks" / "photo" / "results.json").read_text())["conditions"]
    assert "## The same goggles on other looks" in (tmp_path / "report" / "report.md").read_text()


def _weights(path):
    import torch

    return torch.load(path, map_location="cpu", weights_only=False)


def test_jobs_run_stages_side_by_side_with_the_results_of_one_process(tmp_path):
    """Stages in processes of their own (``--jobs 2``) train the same policy and translators as one
    stage after another with the same torch threads: which stage ran beside which changes nothing."""
    import torch

    from goggles_gym.pipeline.parallel import stage_threads

    kw = dict(ablations=False, dr_timesteps=0, judge_look="sim", validation_episodes=0)
    threads = torch.get_num_threads()
    torch.set_num_threads(stage_threads(2))
    try:
        Pipeline(tiny(tmp_path / "one", **kw), "tiny", until="translators").run_all()
    finally:
        torch.set_num_threads(threads)
    Pipeline(tiny(tmp_path / "two", jobs=2, **kw), "tiny", until="translators").run_all()
    state = json.loads((tmp_path / "two" / "pipeline.json").read_text())
    assert {"policy", "frames", "segnet", "translators"} <= set(state["stages"])
    assert set(state["translators"]) == {"cyclegan/seed0", "vr-goggles/seed0"}  # sent back by the stage's process
    assert state["last_run"]["jobs"] == 2
    for part in ("translators/cyclegan/seed0/translator.pt", "translators/vr-goggles/seed0/translator.pt"):
        one, two = _weights(tmp_path / "one" / part), _weights(tmp_path / "two" / part)
        for name, tensor in one["state_dict"].items():
            assert torch.equal(tensor, two["state_dict"][name]), f"{part}: {name}"
    policies = [_policy_weights(tmp_path / run / "policy" / "model.zip") for run in ("one", "two")]
    assert policies[0].keys() == policies[1].keys()
    assert all(torch.equal(policies[0][k], policies[1][k]) for k in policies[0])


def _policy_weights(model_zip):
    import io
    import zipfile

    import torch

    with zipfile.ZipFile(model_zip) as z:  # SB3's zip: the policy's state dict is policy.pth
        return torch.load(io.BytesIO(z.read("policy.pth")), map_location="cpu", weights_only=True)


def test_a_stage_that_fails_in_its_process_fails_the_run_with_its_own_error(tmp_path, capsys):
    kw = dict(ablations=False, dr_timesteps=0, judge_look="sim", validation_episodes=0)
    Pipeline(tiny(tmp_path, **kw), "tiny", until="frames").run_all()
    for image in (tmp_path / "frames" / "sim" / "rgb").iterdir():
        image.unlink()  # the collection's frames are gone, its manifest is left
    with pytest.raises(Exception, match="is empty") as failed:
        Pipeline(tiny(tmp_path, jobs=2, **kw), "tiny", until="segnet").run_all()
    assert type(failed.value).__name__ != "StageProcessError"
    assert "in stage segnet's process" in str(failed.value.__cause__)
    state = json.loads((tmp_path / "pipeline.json").read_text())  # the run state stays readable
    assert "segnet" not in state["stages"] and state["stages"]["frames"]["skipped_last_run"]
