"""The one command line: every command behind `goggles-gym`, help that shows the defaults used, and
every bad flag value as one `error:` line naming the flag, exit status 2, no traceback."""

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import goggles_gym
from goggles_gym import cli
from goggles_gym.frames.sources import collect_from_env
from goggles_gym.policies import PolicyTrainConfig
from goggles_gym.policies.training import check_hyperparams, train_policy
from goggles_gym.translators import TranslatorFileError, TranslatorTrainConfig
from goggles_gym.translators.io import read_translator_file
from goggles_gym.translators.training import train_translator

ROOT = Path(__file__).resolve().parents[1]
TINY_TR = dict(iterations=2, batch_size=2, ngf=4, n_blocks=1, ndf=8, log_every=1, image_every=1, checkpoint_every=1,
               progress_bar=False, method="cyclegan")


def one_error_line(err: str) -> str:
    """The stderr of a bad command: exactly one `error:` line and no traceback (PyBullet's banner aside)."""
    lines = [ln for ln in err.splitlines() if ln.strip() and not ln.startswith("pybullet build time")]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    return lines[0]


@pytest.fixture(scope="module")
def frames(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli_frames")
    sim = collect_from_env(root / "sim", "sim", 4, seed=0, env_kwargs={"image_size": 16}, progress=False)
    real = collect_from_env(root / "real", "real", 4, seed=1, env_kwargs={"image_size": 16}, progress=False)
    return str(real), str(sim)


def test_every_command_is_in_one_table_and_in_the_help(capsys):
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    for name in ("train policy", "train translator", "collect", "evaluate", "translate", "export", "pipeline"):
        assert name in cli.COMMANDS and name in out
        module, _, function = cli.COMMANDS[name][0].partition(":")
        assert callable(getattr(__import__(module, fromlist=[function]), function))
    assert cli.main(["train", "--help"]) == 0
    out = capsys.readouterr().out
    assert "policy" in out and "translator" in out
    assert cli.main(["--version"]) == 0 and goggles_gym.__version__ in capsys.readouterr().out


def test_console_script_and_module_entry_points_are_declared():
    text = (ROOT / "pyproject.toml").read_text()
    assert 'goggles-gym = "goggles_gym.cli:main"' in text and 'dynamic = ["version"]' in text
    assert 'attr = "goggles_gym.__version__"' in text and "\nversion =" not in text.split("[tool.")[0]
    assert (ROOT / "goggles_gym" / "__main__.py").is_file()
    licence = (ROOT / "LICENSE").read_text()
    assert "MIT License" in licence and "the goggles-gym authors" in licence


def test_python_dash_m_train_help_lists_both_subcommands():
    done = subprocess.run([sys.executable, "-m", "goggles_gym.train", "--help"], capture_output=True, text=True,
                          timeout=120, cwd=ROOT)
    assert done.returncode == 0 and "translator" in done.stdout and "policy" in done.stdout


def test_unknown_command_and_argparse_errors_are_one_line(capsys):
    assert cli.main(["frobnicate"]) == 2
    assert "unknown command 'frobnicate'" in one_error_line(capsys.readouterr().err)
    cases = [(["train", "--algo", "sac"], "invalid choice: 'sac'"),
             (["train", "policy", "--n-envs", "x"], "--n-envs: expected a whole number"),
             (["train", "translator", "--lr", "fast"], "--lr: expected a number"),
             (["collect", "--out", "x", "--count", "many"], "--count: expected a whole number"),
             (["evaluate", "--backend", "tpu"], "--backend: invalid choice"),
             (["pipeline", "--until", "nope"], "--until: invalid choice"),
             (["train", "policy", "--no-such-flag"], "unrecognized arguments: --no-such-flag")]
    for argv, words in cases:
        assert cli.main(argv) == 2, argv
        assert words in one_error_line(capsys.readouterr().err), argv


def test_pipeline_help_shows_the_presets_values(capsys):
    with pytest.raises(SystemExit):
        cli.main(["pipeline", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "[default: 32 (preset quick)]" in out and "[default: 500 (preset quick)]" in out
    assert "another preset overrides them" in out
    with pytest.raises(SystemExit):
        cli.main(["pipeline", "--preset", "paper", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "[default: 64 (preset paper)]" in out and "[default: 600 (preset paper)]" in out
    with pytest.raises(SystemExit):
        cli.main(["train", "policy", "--algo", "dqn", "--help"])
    assert "[default: 300000 (preset dqn)]" in " ".join(capsys.readouterr().out.split())


def test_help_marks_required_options_and_empty_defaults(capsys):
    with pytest.raises(SystemExit):
        cli.main(["translate", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "[default: ]" not in out
    for words in ("translator file (translator.pt) (required)", "stream URL (required)",
                  "a new frame collection (required)", "frames translated at once [default: 64]"):
        assert words in out, words
    with pytest.raises(SystemExit):
        cli.main(["train", "translator", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "[default: ]" not in out and "] [default:" not in out  # no empty default, no second default
    assert "[default: on for vr-goggles]" in out and "instead of training one on the sim labels [default: none]" in out
    with pytest.raises(SystemExit):
        cli.main(["export", "--help"])
    out = " ".join(capsys.readouterr().out.split())  # the help says what an empty --out means: no tag
    assert "--direction sim2real)" in out and "sim2real) [default" not in out and "[default: ]" not in out


@pytest.mark.parametrize("argv, words", [
    (["--timesteps", "0"], "--timesteps 0: must be at least 1"),
    (["--timesteps", "-5"], "--timesteps -5: must be at least 1"),
    (["--n-envs", "0"], "--n-envs 0: must be at least 1"),
    (["--checkpoint-freq", "0"], "--checkpoint-freq 0: must be at least 1"),
    (["--hp", "n_step=4"], "--hp n_step: not a PPO hyperparameter"),
    (["--hp", "learning_rate=fast"], "--hp learning_rate='fast': PPO takes a number"),
    (["--hp", "n_epochs=2.5"], "--hp n_epochs=2.5: PPO takes a whole number"),
    (["--hp", "seed=3"], "--hp seed: goggles-gym sets it; use --seed"),
    (["--hp", "batch_size=1"], "--hp: PPO rejected the hyperparameters"),
    (["--env", "image_size=32"], "add --hp features_extractor=small"),
    (["--env", "max_steps=x"], "--env max_steps='x': ChairNav takes a whole number"),
    (["--env", "image_size=abc"], "image_size must be an int or (height, width)"),
])
def test_bad_policy_values_are_one_line(tmp_path, capsys, argv, words):
    base = ["train", "policy", "--out", str(tmp_path / "p"), "--no-progress-bar", "--eval-freq", "0",
            "--env", "image_size=16", "--hp", "features_extractor=small", "--hp", "n_steps=8", "--timesteps", "16",
            "--n-envs", "1", "--final-eval-episodes", "0"]
    if argv == ["--env", "image_size=32"]:
        base = [a for a in base if a != "features_extractor=small"]
        base.remove("--hp")
    assert cli.main([*base, *argv]) == 2
    assert words in one_error_line(capsys.readouterr().err)


def test_hyperparams_are_checked_against_the_sb3_signature():
    check_hyperparams("ppo", {"learning_rate": 1e-4, "n_steps": 8, "policy": "CnnPolicy", "clip_range_vf": None,
                              "policy_kwargs": {"net_arch": [8]}, "features_extractor": "small"})
    check_hyperparams("dqn", {"train_freq": [4, "step"], "optimize_memory_usage": True})
    with pytest.raises(ValueError, match="--hp buffer_size: not a PPO hyperparameter"):
        check_hyperparams("ppo", {"buffer_size": 10})
    with pytest.raises(ValueError, match="--hp optimize_memory_usage='yes': DQN takes true or false"):
        check_hyperparams("dqn", {"optimize_memory_usage": "yes"})
    with pytest.raises(ValueError, match="--n-envs 0"):
        PolicyTrainConfig(n_envs=0)  # the library raises too


@pytest.mark.parametrize("argv, words", [
    (["--iterations", "0"], "--iterations 0: must be at least 1"),
    (["--iterations", "-3"], "--iterations -3: must be at least 1"),
    (["--batch-size", "0"], "--batch-size 0: must be at least 1"),
    (["--batch-size", "5"], "--batch-size 5: larger than the 4 frames of --real"),
    (["--log-every", "0"], "--log-every 0: must be at least 1"),
    (["--checkpoint-every", "0"], "--checkpoint-every 0: must be at least 1"),
    (["--decay-start", "2"], "--decay-start 2.0: a fraction"),
])
def test_bad_translator_values_are_one_line(tmp_path, capsys, frames, argv, words):
    real, sim = frames
    base = ["train", "translator", "--method", "cyclegan", "--real", real, "--sim", sim, "--out", str(tmp_path / "t"),
            "--no-progress-bar", "--ngf", "4", "--n-blocks", "1", "--iterations", "1", "--batch-size", "2"]
    assert cli.main([*base, *argv]) == 2
    assert words in one_error_line(capsys.readouterr().err)
    assert not (tmp_path / "t" / "translator.pt").exists()


def test_bad_collect_values_are_one_line(tmp_path, capsys):
    for argv, words in ((["--count", "0"], "--count 0: must be at least 1"), (["--epsilon", "3"], "--epsilon 3.0")):
        assert cli.main(["collect", "--out", str(tmp_path / "c"), *argv]) == 2
        assert words in one_error_line(capsys.readouterr().err)


def test_the_device_used_is_recorded_and_cuda_without_cuda_fails(tmp_path, frames, capsys, monkeypatch):
    from goggles_gym.common import device as device_mod

    real, sim = frames
    result = train_translator(TranslatorTrainConfig(real=real, sim=sim, out=str(tmp_path / "t"), **TINY_TR))
    used = str(device_mod.resolve_device("auto"))
    assert read_translator_file(result.translator_path)["config"]["device"] == used
    assert json.loads((tmp_path / "t" / "config.json").read_text())["device"] == used
    train_policy(PolicyTrainConfig(out=str(tmp_path / "p"), timesteps=8, n_envs=1, eval_freq=0, final_eval_episodes=0,
                                   progress_bar=False, env={"image_size": 16},
                                   hyperparams={"n_steps": 8, "batch_size": 8, "n_epochs": 1,
                                                "features_extractor": "small"}))
    assert json.loads((tmp_path / "p" / "summary.json").read_text())["device"] == used
    monkeypatch.setattr(device_mod, "_cuda_works", lambda: False)
    for argv in (["train", "translator", "--real", real, "--sim", sim, "--out", str(tmp_path / "c")],
                 ["train", "policy", "--out", str(tmp_path / "c2")]):
        assert cli.main([*argv, "--device", "cuda", "--no-progress-bar"]) == 2
        assert "no CUDA device is available" in one_error_line(capsys.readouterr().err)


def test_a_policy_zip_or_a_run_folder_given_as_a_translator_says_what_to_pass(tmp_path, frames):
    policy_zip = tmp_path / "model.zip"
    with zipfile.ZipFile(policy_zip, "w") as zf:
        zf.writestr("data", "{}")
        zf.writestr("policy.pth", b"")
    with pytest.raises(TranslatorFileError, match="is a policy .*pass the translator.pt"):
        read_translator_file(policy_zip)
    run = tmp_path / "run"
    run.mkdir()
    (run / "translator.pt").write_bytes(b"")
    with pytest.raises(TranslatorFileError, match=f"translator run folder: pass .*{run / 'translator.pt'}"):
        read_translator_file(run)
    (tmp_path / "policy_run").mkdir()
    (tmp_path / "policy_run" / "model.zip").write_bytes(policy_zip.read_bytes())
    with pytest.raises(TranslatorFileError, match="policy run folder, not a translator"):
        read_translator_file(tmp_path / "policy_run")


def test_resume_with_another_width_names_the_flags(tmp_path, frames, capsys):
    real, sim = frames
    train_translator(TranslatorTrainConfig(real=real, sim=sim, out=str(tmp_path / "t"), **TINY_TR))
    argv = ["train", "translator", "--method", "cyclegan", "--real", real, "--sim", sim, "--out", str(tmp_path / "t"),
            "--resume", "--ngf", "8", "--n-blocks", "1", "--ndf", "8", "--batch-size", "2", "--iterations", "3",
            "--no-progress-bar"]
    assert cli.main(argv) == 2
    line = one_error_line(capsys.readouterr().err)
    assert "another size (--ngf 4; given --ngf 8): resume with --ngf 4" in line


def test_report_command_rebuilds_the_page_of_a_report_folder(tmp_path, capsys):
    from goggles_gym.report import markdown_report, write_tables

    summaries = [{"condition": "no goggles", "episodes": 2, "successes": 1, "success_rate": 0.5,
                  "success_ci95": [0.1, 0.9], "spl": 0.2, "mean_length": 50.0, "mean_collisions": 1.0}]
    write_tables(tmp_path, summaries, {})
    (tmp_path / "report.md").write_text(markdown_report(summaries, "A title", "how", [], []))
    assert "report" in cli.COMMANDS and cli.main(["--help"]) == 0 and "report" in capsys.readouterr().out
    assert cli.main(["report", str(tmp_path)]) == 0
    assert f"page: {tmp_path / 'report.html'}" in capsys.readouterr().out
    page = (tmp_path / "report.html").read_text()
    assert "<h1>A title</h1>" in page and "<td>no goggles</td><td>50% (1/2)</td>" in page
    assert cli.main(["report", str(tmp_path / "missing")]) == 2
    assert "results.json not found" in one_error_line(capsys.readouterr().err)
    with pytest.raises(SystemExit):
        cli.main(["report", "--help"])
    assert "--screenshot" in capsys.readouterr().out


def test_a_reader_that_stops_early_ends_the_cli_quietly(tmp_path, monkeypatch, capsys):
    """``goggles-gym --help | head -1``: the broken pipe is exit status 1, not a traceback."""
    sink = open(tmp_path / "out", "w")  # noqa: SIM115 - a real descriptor for dup2

    class ClosedPipe:
        def write(self, text):
            raise BrokenPipeError(32, "Broken pipe")

        def flush(self):
            pass

        def fileno(self):
            return sink.fileno()

    monkeypatch.setattr(sys, "stdout", ClosedPipe())
    assert cli.main(["--help"]) == 1
    sink.close()
