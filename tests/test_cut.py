"""CUT / FastCUT (PatchNCE) and policy consistency (RL-CycleGAN) in the one translator loop."""

import dataclasses

import numpy as np
import pytest
import torch
from torch import nn

from goggles_gym import translators
from goggles_gym.envs import ChairNav
from goggles_gym.frames.sources import collect_from_env, collect_pairs
from goggles_gym.policies import PolicyTrainConfig
from goggles_gym.policies.training import train_policy
from goggles_gym.train import main as train_main
from goggles_gym.translators import TranslatorTrainConfig
from goggles_gym.translators import training as training_mod
from goggles_gym.translators.networks import ResnetGenerator, UnetGenerator, init_weights
from goggles_gym.translators.patchnce import PatchHeads, patch_nce, patch_nce_loss
from goggles_gym.translators.policy_consistency import PolicyConsistency, load_policy_consistency
from goggles_gym.translators.training import loss_families, train_translator
from goggles_gym.wrappers import GogglesWrapper

TINY = dict(iterations=4, batch_size=2, ngf=4, n_blocks=1, ndf=8, log_every=1, image_every=2, checkpoint_every=2,
            progress_bar=False, nce_patches=16)
CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def collections(tmp_path_factory):
    root = tmp_path_factory.mktemp("cut")
    sim = collect_from_env(root / "sim", "sim", 8, seed=0, env_kwargs={"image_size": 32}, progress=False)
    real = collect_from_env(root / "real", "real", 8, seed=1, env_kwargs={"image_size": 32}, progress=False)
    return str(real), str(sim)


def _tiny_policy(out, algo="ppo"):
    hp = {"policy": "CnnPolicy", "features_extractor": "small"}
    hp.update({"n_steps": 16, "batch_size": 16, "n_epochs": 1} if algo == "ppo" else
              {"buffer_size": 64, "learning_starts": 8, "batch_size": 8})
    train_policy(PolicyTrainConfig(out=str(out), algo=algo, timesteps=16, n_envs=1, eval_freq=0,
                                   final_eval_episodes=0, checkpoint_freq=1000, progress_bar=False,
                                   env={"image_size": 32, "max_steps": 10}, hyperparams=hp))
    return str(out)


@pytest.fixture(scope="module")
def policy(tmp_path_factory):
    return _tiny_policy(tmp_path_factory.mktemp("policy"))


def _scalars(run) -> set[str]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run / "tb"))
    acc.Reload()
    return set(acc.Tags()["scalars"])


def _state(path):
    return torch.load(path, map_location="cpu", weights_only=False)


@pytest.mark.parametrize("cls", [ResnetGenerator, UnetGenerator])
def test_encode_gives_the_generators_own_features(cls):
    torch.manual_seed(0)
    g = init_weights(cls(ngf=4, n_blocks=3))
    x = torch.rand(2, 3, 16, 16) * 2 - 1
    seen = {}
    blocks = [m for m in g.modules() if type(m).__name__ == "ResnetBlock"]
    downs = [m for m in g.modules() if isinstance(m, nn.Conv2d) and m.stride == (2, 2)]
    hooks = [m.register_forward_hook(lambda m, i, o, k=k: seen.setdefault(k, o))
             for k, m in [*((f"block{j + 1}", b) for j, b in enumerate(blocks)),
                          *((f"down{j + 1}", d) for j, d in enumerate(downs))]]
    g(x)
    for h in hooks:
        h.remove()
    points = ["block2", "input", "down1", "down2", "block1"]
    feats = g.encode(x, points)
    assert torch.equal(feats[1], x)
    for name, f in zip(points, feats, strict=True):
        if name != "input":
            assert torch.allclose(f, seen[name]), name
    assert g.encoder_points() == ("input", "down1", "down2", "block1", "block2", "block3")
    with pytest.raises(ValueError, match="unknown encoder feature"):
        g.encode(x, ["block4"])


def test_patch_nce_is_lower_for_the_identity_than_for_a_shuffled_output():
    torch.manual_seed(0)
    g = init_weights(ResnetGenerator(ngf=4, n_blocks=2))
    layers = ["input", "down1", "down2", "block1"]
    heads = PatchHeads.for_generator(g, layers)
    assert heads.channels == [3, 8, 16, 16]
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    perm = torch.randperm(32 * 32)
    shuffled = x.flatten(2)[:, :, perm].reshape_as(x)  # the same pixels, elsewhere

    def nce(out):
        return patch_nce(g, heads, layers, x, out, n_patches=64, rng=torch.Generator().manual_seed(1)).item()

    same, moved = nce(x), nce(shuffled)
    assert same < 0.5 * moved and moved > np.log(64) * 0.5
    q = torch.nn.functional.normalize(torch.randn(2, 8, 16), dim=-1)
    assert patch_nce_loss(q, q).item() < patch_nce_loss(q, q[:, torch.randperm(8)]).item()
    x.requires_grad_(True)
    out = x * 1.0
    patch_nce(g, heads, layers, x.detach(), out, n_patches=8).backward()
    assert heads.mlps[0][0].weight.grad is not None and g.model[1].weight.grad is not None


def test_cut_and_fastcut_options_defaults_and_errors():
    cut, fast = TranslatorTrainConfig(method="cut"), TranslatorTrainConfig(method="fastcut")
    assert (cut.lambda_nce, cut.nce_identity, cut.nce_flip, cut.pool_size) == (1.0, True, False, 0)
    assert (fast.lambda_nce, fast.nce_identity, fast.nce_flip, fast.pool_size) == (10.0, False, True, 0)
    assert cut.nce_layers == "input,down1,down2,block1,block2" and cut.nce_patches == 256
    assert cut.nce_temperature == 0.07 and cut.variant == "cut" and fast.variant == "fastcut"
    assert TranslatorTrainConfig(method="cut", n_blocks=9).nce_layers == "input,down1,down2,block1,block5"
    assert TranslatorTrainConfig(method="cut", n_blocks=1).nce_layers == "input,down1,down2,block1"
    assert TranslatorTrainConfig(method="cyclegan").pool_size == 50
    assert TranslatorTrainConfig(method="cut", pool_size=5).pool_size == 5
    assert TranslatorTrainConfig(method="cut", policy_consistency="p").variant == "cut+policy"
    assert TranslatorTrainConfig(method="vr-goggles", policy_consistency="p").variant == "vr-goggles+policy"
    for kwargs, why in ((dict(method="cut", semantic=True), "no sim->real generator F, which --semantic needs"),
                        (dict(method="fastcut", shift=True, lambda_identity=0.5), "--shift, --lambda-identity need"),
                        (dict(method="cyclegan", lambda_nce=2.0), "--lambda-nce: options of --method cut / fastcut"),
                        (dict(method="vr-goggles", nce_flip=True), "--nce-flip: options of --method cut"),
                        (dict(method="cut", nce_layers="input,block7"), "unknown 'block7'; choose comma-separated"),
                        (dict(method="cut", nce_layers="input,input"), "empty or repeated"),
                        (dict(method="cut", lambda_nce=0.0), "--lambda-nce 0.0: must be above 0"),
                        (dict(method="cut", nce_temperature=0.0), "--nce-temperature 0.0"),
                        (dict(method="cut", nce_patches=0), "--nce-patches 0: must be at least 1"),
                        (dict(method="fastcut", nce_head_dim=0), "--nce-head-dim 0: must be at least 1"),
                        (dict(method="cut", lambda_policy=0.0), "--lambda-policy 0.0: must be above 0")):
        with pytest.raises(ValueError, match=why.replace("(", r"\(")):
            TranslatorTrainConfig(**kwargs)


def test_cut_builds_g_d_sim_and_heads_only():
    cases = [(dict(method="cut"), ("adversarial_sim", "nce", "nce_identity")),
             (dict(method="fastcut", pairs="p"), ("adversarial_sim", "nce", "paired"))]
    for kwargs, families in cases:
        cfg = TranslatorTrainConfig(**{**TINY, **kwargs})
        assert loss_families(cfg) == families
        trainer = training_mod.TranslatorTrainer(cfg, CPU, seg=None)
        assert trainer.nets == ("G", "D_sim", "patch_heads") and trainer.F is None and trainer.D_real is None
        head_params = {id(p) for p in trainer.patch_heads.parameters()}
        in_opt = {id(p) for g in trainer.opt_G.param_groups for p in g["params"]}
        assert head_params <= in_opt  # the heads learn with G
    narrow = training_mod.TranslatorTrainer(TranslatorTrainConfig(**{**TINY, "method": "fastcut", "nce_head_dim": 16}),
                                            CPU, seg=None)
    assert {m[2].out_features for m in narrow.patch_heads.mlps} == {16}  # --nce-head-dim sizes every head


@pytest.mark.parametrize("method", ["cut", "fastcut"])
def test_cut_trains_saves_loads_wraps_and_resumes_to_the_same_weights(tmp_path, monkeypatch, collections, method):
    real, sim = collections
    cfg = dict(real=real, sim=sim, method=method, **TINY)
    result = train_translator(TranslatorTrainConfig(out=str(tmp_path / "a"), **cfg))
    assert result.iterations == 4
    names = {"NCE", "G_adv", "D_sim"} | ({"NCE_identity"} if method == "cut" else set())
    assert names <= set(result.losses) and "cycle" not in result.losses and "D_real" not in result.losses
    assert ("NCE_identity" in result.losses) == (method == "cut")
    assert {f"loss/{n}" for n in names} <= _scalars(tmp_path / "a")
    state = _state(tmp_path / "a" / "checkpoint.pt")
    assert set(state["nets"]) == {"G", "D_sim", "patch_heads"}
    tr = translators.load(result.translator_path)
    assert tr.method == method and tr.image_size == (32, 32) and "sim2real" not in tr.meta
    assert tr.meta["extra"]["losses"][:2] == ["adversarial_sim", "nce"]
    assert all(torch.equal(v, state["nets"]["G"][k]) for k, v in tr.generator.state_dict().items())
    env = GogglesWrapper(ChairNav(look="real", image_size=32), tr, policy_shape=(32, 32, 3))
    obs, _ = env.reset(seed=0)
    assert obs.shape == (32, 32, 3) and obs.dtype == np.uint8
    assert env.step(0)[0].shape == (32, 32, 3)
    env.close()

    step = training_mod.TranslatorTrainer.step

    def stop_at_2(self, *args, **kwargs):
        if self.iteration == 2:  # just after the checkpoint of iteration 2
            raise KeyboardInterrupt
        return step(self, *args, **kwargs)

    monkeypatch.setattr(training_mod.TranslatorTrainer, "step", stop_at_2)
    with pytest.raises(KeyboardInterrupt):
        train_translator(TranslatorTrainConfig(out=str(tmp_path / "b"), **cfg))
    monkeypatch.undo()
    assert _state(tmp_path / "b" / "checkpoint.pt")["iteration"] == 2
    assert train_translator(TranslatorTrainConfig(out=str(tmp_path / "b"), resume=True, **cfg)).iterations == 4
    a, b = _state(tmp_path / "a" / "checkpoint.pt"), _state(tmp_path / "b" / "checkpoint.pt")
    for net in ("G", "D_sim", "patch_heads"):
        for k, v in a["nets"][net].items():
            assert torch.equal(v, b["nets"][net][k]), (net, k)
    with pytest.raises(ValueError, match="holds networks of another size"):
        train_translator(TranslatorTrainConfig(out=str(tmp_path / "b"), resume=True,
                                               **{**cfg, "nce_layers": "input,down1", "iterations": 6}))


def test_cut_fine_tunes_an_rcan_canonicalizer_with_pairs(tmp_path, collections):
    real, sim = collections
    pairs = str(collect_pairs(tmp_path / "pairs", 4, seed=2, env_kwargs={"image_size": 32}, progress=False))
    rcan = train_translator(TranslatorTrainConfig(out=str(tmp_path / "rcan"), method="rcan", pairs=pairs,
                                                  **{**TINY, "iterations": 1})).translator_path
    cfg = TranslatorTrainConfig(real=real, sim=sim, out=str(tmp_path / "ft"), method="fastcut", pairs=pairs,
                                init_from=str(rcan), **{**TINY, "iterations": 2})
    trainer = training_mod.TranslatorTrainer(cfg, CPU, seg=None)
    weights = translators.io.read_translator_file(rcan)["state_dict"]
    assert all(torch.equal(v, weights[k]) for k, v in trainer.G.state_dict().items())
    result = train_translator(cfg)
    assert "paired" in result.losses and translators.load(result.translator_path).meta["extra"]["init_from_method"] \
        == "rcan"


class Identity(nn.Module):
    def forward(self, x):
        return x


def test_policy_consistency_is_zero_for_the_identity_and_positive_otherwise(tmp_path, policy):
    consistency = load_policy_consistency(policy, CPU, (32, 32))
    assert consistency.look == "sim" and consistency.kind == "actor-critic" and consistency.image_size == (32, 32)
    assert not any(p.requires_grad for p in consistency.policy.parameters())
    frames = ChairNav(image_size=32)
    sim = torch.stack([torch.from_numpy(frames.reset(seed=s)[0]) for s in range(3)]).permute(0, 3, 1, 2)
    sim = sim.float() / 127.5 - 1.0
    frames.close()
    kl, value = consistency(sim, sim.clone())
    assert kl.item() == pytest.approx(0.0, abs=1e-6) and value.item() == pytest.approx(0.0, abs=1e-8)
    moved = (-sim).requires_grad_(True)  # inverted colours: another action distribution and value
    kl, value = consistency(sim, moved)
    assert kl.item() > 0 and value.item() > 0
    (kl + value).backward()
    assert moved.grad is not None and moved.grad.abs().sum() > 0  # gradients reach the translation

    cfg = TranslatorTrainConfig(real="r", sim="s", method="cut", policy_consistency=policy, **TINY)
    trainer = training_mod.TranslatorTrainer(cfg, CPU, seg=None)  # loads the policy itself
    assert "policy" in trainer.families and trainer.policy is not None
    fw = training_mod.Forward(real=sim, sim=sim)
    trainer.G = Identity()  # the identity on sim frames: nothing to penalise
    terms = training_mod.LOSS_FAMILIES["policy"].generator(trainer, fw)
    assert terms["policy"].item() == pytest.approx(0.0, abs=1e-6)
    assert terms["policy_value"].item() == pytest.approx(0.0, abs=1e-8)
    cyc = training_mod.TranslatorTrainer(TranslatorTrainConfig(method="cyclegan", policy_consistency=policy, **TINY),
                                         CPU, seg=None, policy=consistency)
    assert cyc.policy is consistency
    fw = training_mod.Forward(real=sim, sim=sim, rec_sim=-sim)  # the round trip G(F(sim)) is what is held
    assert training_mod.LOSS_FAMILIES["policy"].generator(cyc, fw)["policy"].item() > 0


def test_policy_consistency_reads_a_dqn_through_its_q_values(tmp_path):
    consistency = load_policy_consistency(_tiny_policy(tmp_path / "dqn", "dqn"), CPU, (32, 32))
    assert consistency.kind == "q"
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    kl, value = consistency(x, x)
    assert kl.item() == pytest.approx(0.0, abs=1e-6) and value.item() == 0.0
    assert sum(consistency(x, -x)).item() > 0


def test_policy_consistency_on_the_simulators_pairs(tmp_path, policy):
    """rcan (and any method given pairs) holds G(randomized render) to the policy's action on the
    same pose's sim render: zero where G gives back the sim render, and it trains, saves and names it."""
    pairs = collect_pairs(tmp_path / "pairs", 6, seed=5, env_kwargs={"image_size": 32}, progress=False)
    cfg = TranslatorTrainConfig(method="rcan", pairs=str(pairs), policy_consistency=policy, **TINY)
    assert training_mod.loss_families(cfg) == ("paired", "paired_policy") and cfg.variant == "rcan+policy"
    assert "paired_policy" in training_mod.loss_families(TranslatorTrainConfig(
        method="vr-goggles", pairs="p", policy_consistency=policy))
    no_pairs = TranslatorTrainConfig(method="cut", policy_consistency="p")
    assert "paired_policy" not in training_mod.loss_families(no_pairs)
    trainer = training_mod.TranslatorTrainer(cfg, CPU, seg=None)
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    same = training_mod.LOSS_FAMILIES["paired_policy"].generator(trainer, training_mod.Forward(
        real=x, sim=x, pair_target=x, pair_out=x.clone()))
    assert same["policy_pairs"].item() == pytest.approx(0.0, abs=1e-6)
    assert same["policy_pairs_value"].item() == pytest.approx(0.0, abs=1e-8)
    moved = training_mod.LOSS_FAMILIES["paired_policy"].generator(trainer, training_mod.Forward(
        real=x, sim=x, pair_target=x, pair_out=-x))
    assert moved["policy_pairs"].item() > 0
    result = train_translator(dataclasses.replace(cfg, out=str(tmp_path / "rcan"), iterations=2))
    assert {"paired", "policy_pairs", "policy_pairs_value"} <= set(result.losses)
    assert translators.load(result.translator_path).method == "rcan+policy"


@pytest.mark.parametrize("method", ["cyclegan", "cut"])
def test_policy_consistency_trains_for_cyclegan_and_cut(tmp_path, collections, policy, method):
    real, sim = collections
    result = train_translator(TranslatorTrainConfig(real=real, sim=sim, out=str(tmp_path), method=method,
                                                    policy_consistency=policy, lambda_policy=2.0,
                                                    **{**TINY, "iterations": 2}))
    assert {"policy", "policy_value"} <= set(result.losses)
    assert {"loss/policy", "loss/policy_value"} <= _scalars(tmp_path)
    tr = translators.load(result.translator_path)
    assert tr.method == f"{method}+policy" and tr.meta["config"]["policy_consistency"] == policy
    assert tr.meta["extra"]["policy_look"] == "sim" and tr.meta["extra"]["losses"][-1] == "policy"
    assert "policy" not in "".join(_state(tmp_path / "checkpoint.pt")["nets"])  # frozen: not in the checkpoint


def test_bad_policy_consistency_is_one_clear_error(tmp_path, collections, policy, capsys):
    real, sim = collections
    small = collect_from_env(tmp_path / "small", "real", 2, seed=3, env_kwargs={"image_size": 16}, progress=False)
    small_sim = collect_from_env(tmp_path / "small_sim", "sim", 2, seed=4, env_kwargs={"image_size": 16},
                                 progress=False)
    with pytest.raises(ValueError, match=r"the policy reads 32 x 32 frames but the translator's are 16 x 16"):
        train_translator(TranslatorTrainConfig(real=str(small), sim=str(small_sim), out=str(tmp_path / "x"),
                                               method="cut", policy_consistency=policy, **TINY))
    assert not (tmp_path / "x").exists()  # refused before anything was written
    with pytest.raises(FileNotFoundError, match="--policy-consistency: policy file not found"):
        train_translator(TranslatorTrainConfig(real=real, sim=sim, out=str(tmp_path / "y"), method="cyclegan",
                                               policy_consistency=str(tmp_path / "nope.zip"), **TINY))
    import gymnasium as gym

    vector = type("VectorPolicy", (), {"observation_space": gym.spaces.Box(0, 1, (4,))})()
    with pytest.raises(ValueError, match="not RGB frames; give a policy trained on ChairNav's image observations"):
        PolicyConsistency(vector, (32, 32), "vec.zip")
    base = ["translator", "--real", real, "--sim", sim, "--out", str(tmp_path / "z"), "--no-progress-bar"]
    for bad, why in ((["--method", "cut", "--semantic"], "learns no sim->real generator F"),
                     (["--method", "cut", "--nce-layers", "down9"], "--nce-layers 'down9': unknown"),
                     (["--method", "cyclegan", "--lambda-nce", "3"], "options of --method cut / fastcut"),
                     (["--method", "fastcut", "--policy-consistency", str(tmp_path / "nope")],
                      "--policy-consistency: policy file not found")):
        assert train_main([*base, *bad]) == 2
        err = capsys.readouterr().err
        assert why in err and err.count("\n") == 1, err


def test_cut_cli(tmp_path, collections, capsys):
    real, sim = collections
    args = ["translator", "--method", "fastcut", "--real", real, "--sim", sim, "--out", str(tmp_path),
            "--iterations", "2", "--batch-size", "2", "--ngf", "4", "--n-blocks", "1", "--nce-patches", "8",
            "--nce-layers", "input,block1", "--no-progress-bar"]
    assert train_main(args) == 0
    assert "translator (fastcut)" in capsys.readouterr().out
    tr = translators.load(tmp_path / "translator.pt")
    assert tr.meta["config"]["nce_layers"] == "input,block1" and tr.meta["config"]["lambda_nce"] == 10.0
