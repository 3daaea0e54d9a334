import dataclasses
import sys

import numpy as np
import pytest
import torch
from torch import nn

from goggles_gym import translators
from goggles_gym.common import device as device_mod
from goggles_gym.common.device import module_device, resolve_device
from goggles_gym.common.tensors import array_to_frames, to_array, to_frames, to_tensor
from goggles_gym.frames import FrameCollection, read_collection
from goggles_gym.frames.collection import FrameCollectionError
from goggles_gym.frames.sources import collect_from_env, collect_pairs
from goggles_gym.train import main as train_main
from goggles_gym.translators import TranslatorFileError, TranslatorTrainConfig
from goggles_gym.translators import segmentation as seg_mod
from goggles_gym.translators import training as training_mod
from goggles_gym.translators.backends import torch_runner
from goggles_gym.translators.data import Batches
from goggles_gym.translators.io import read_translator_file
from goggles_gym.translators.losses import (
    median_frequency_weights,
    receptive_radius,
    sample_shift,
    semantic_loss_real_to_sim,
    semantic_loss_sim_to_real,
    shift_loss,
    shift_margin,
)
from goggles_gym.translators.networks import ResnetGenerator, SegNet, init_weights
from goggles_gym.translators.segmentation import load_segnet
from goggles_gym.translators.training import loss_families, train_translator

TINY = dict(iterations=4, batch_size=2, ngf=4, n_blocks=1, ndf=8, seg_iterations=5, sim_reader_iterations=5,
            log_every=2, image_every=2, checkpoint_every=2, progress_bar=False)


@pytest.fixture(scope="module")
def collections(tmp_path_factory):
    root = tmp_path_factory.mktemp("tr")
    sim = collect_from_env(root / "sim", "sim", 16, seed=0, env_kwargs={"image_size": 32}, progress=False)
    real = collect_from_env(root / "real", "real", 16, seed=1, env_kwargs={"image_size": 32}, progress=False)
    return str(real), str(sim)


@pytest.fixture(scope="module")
def pairs(tmp_path_factory):
    root = tmp_path_factory.mktemp("pairs")
    return str(collect_pairs(root / "pairs", 16, seed=2, env_kwargs={"image_size": 32}, progress=False))


class PixelwiseNet(nn.Module):
    """A 1x1 convolution: exactly shift-equivariant."""

    stride = 4

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 1)

    def forward(self, x):
        return torch.tanh(self.conv(x))


def test_shift_loss_zero_for_equivariant_positive_otherwise():
    torch.manual_seed(0)
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    for shift in [(1, 0), (0, 3), (2, 1), (3, 3)]:
        assert shift_loss(PixelwiseNet(), x, shift).item() < 1e-7
        assert shift_loss(init_weights(ResnetGenerator(ngf=4, n_blocks=1)), x, shift).item() > 1e-4
    with pytest.raises(ValueError, match="stride"):
        shift_loss(PixelwiseNet(), x, (4, 0))
    g = torch.Generator().manual_seed(0)
    shifts = {sample_shift(4, g) for _ in range(200)}
    assert (0, 0) not in shifts and all(0 <= i < 4 and 0 <= j < 4 for i, j in shifts) and len(shifts) == 15


def test_shift_weight_ramps_in_over_the_warmup():
    cfg = TranslatorTrainConfig(method="cyclegan", shift=True, lambda_shift=20.0, shift_warmup=0.5,
                                **{**TINY, "iterations": 10})
    trainer = training_mod.TranslatorTrainer(cfg, torch.device("cpu"), seg=None)
    weights = []
    for it in (0, 1, 4, 5, 9):
        trainer.iteration = it
        weights.append(trainer.shift_weight())
    assert weights == pytest.approx([0.0, 4.0, 16.0, 20.0, 20.0])
    trainer.config.shift_warmup = 0.0
    assert trainer.shift_weight() == 20.0  # no warm-up: the full weight from the first update
    with pytest.raises(ValueError, match="shift_warmup"):
        TranslatorTrainConfig(shift_warmup=1.5)


class SpySeg(nn.Module):
    """Records every input; logits favour class = (mean intensity > 0)."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def forward(self, x):
        self.seen.append(x.detach().clone())
        score = x.mean(1, keepdim=True)
        return torch.cat([-score, score, torch.zeros_like(score).expand(-1, 3, -1, -1)], 1) * 10


def test_semantic_losses_take_labels_from_the_right_side():
    seg = SpySeg()
    real = torch.ones(1, 3, 8, 8)  # pseudo-label: class 1 everywhere
    translated_real = -torch.ones(1, 3, 8, 8)  # segments as class 0: must be penalised
    loss = semantic_loss_real_to_sim(seg, real, translated_real)
    assert torch.equal(seg.seen[0], real)  # pseudo-labels come from the real input itself
    assert loss.item() > 5
    assert semantic_loss_real_to_sim(SpySeg(), real, real).item() < 1e-3
    unsure = torch.zeros(1, 3, 8, 8)  # equal logits: no confident pseudo-label, nothing to learn from
    assert semantic_loss_real_to_sim(SpySeg(), unsure, translated_real, min_confidence=0.5).item() == 0.0

    seg = SpySeg()
    translated_sim = torch.ones(1, 3, 8, 8)
    gt = torch.ones(1, 8, 8, dtype=torch.long)  # sim ground truth agrees
    assert semantic_loss_sim_to_real(seg, translated_sim, gt).item() < 1e-3
    assert len(seg.seen) == 1 and torch.equal(seg.seen[0], translated_sim)  # no pseudo-labels on the sim side
    assert semantic_loss_sim_to_real(seg, translated_sim, torch.zeros_like(gt)).item() > 5

    judge, reader = SpySeg(), SpySeg()  # a second net reads the translation, the judge the real input
    assert semantic_loss_real_to_sim(judge, real, translated_real, reader=reader).item() > 5
    assert len(judge.seen) == 1 and torch.equal(judge.seen[0], real)
    assert len(reader.seen) == 1 and torch.equal(reader.seen[0], translated_real)


@pytest.mark.parametrize("with_reader", [False, True])
def test_trainer_feeds_sim_labels_and_real_inputs(monkeypatch, collections, with_reader):
    calls: dict[str, list] = {"sim": [], "real": []}
    monkeypatch.setattr(training_mod, "semantic_loss_sim_to_real",
                        lambda seg, t, y, w=None: calls["sim"].append((seg, t, y, w)) or t.sum() * 0)
    monkeypatch.setattr(training_mod, "semantic_loss_real_to_sim",
                        lambda seg, r, t, conf, w=None, reader=None: calls["real"].append((seg, r, reader))
                        or t.sum() * 0)
    config = TranslatorTrainConfig(real=collections[0], sim=collections[1], out="unused", **TINY)
    weights = torch.tensor([1.0, 0.5, 0.5, 10.0, 2.0])
    judge, reader = SegNet(width=4), SegNet(width=4) if with_reader else None
    trainer = training_mod.TranslatorTrainer(config, torch.device("cpu"), judge, weights, sim_reader=reader)
    real, sim = torch.rand(2, 3, 32, 32) * 2 - 1, torch.rand(2, 3, 32, 32) * 2 - 1
    labels = torch.randint(0, 5, (2, 32, 32))
    trainer.step(real, sim, labels)
    # ground truth only with sim inputs: F(sim) and the round trip G(F(sim)), both class-weighted
    assert len(calls["sim"]) == 2
    assert all(y is labels and t.shape == sim.shape and torch.equal(w, weights) for _, t, y, w in calls["sim"])
    # pseudo-labels only from the real input itself, by the judge
    assert len(calls["real"]) == 1 and calls["real"][0][0] is judge and torch.equal(calls["real"][0][1], real)
    # the real-look output F(sim) is read by the judge; the sim-look outputs by the sim reader where there is one
    sim_look_reader = reader if with_reader else judge
    assert [c[0] for c in calls["sim"]] == [judge, sim_look_reader]
    assert calls["real"][0][2] is sim_look_reader


def test_median_frequency_weights_favour_the_rare_chair():
    labels = torch.zeros(1000, dtype=torch.long)
    labels[:400], labels[400:900], labels[900:990], labels[990:] = 1, 2, 4, 3  # bg 0 pixels
    w = median_frequency_weights(labels, 5, max_weight=10.0)
    assert w[0] == 1.0  # absent: neutral
    assert w[3] == 10.0 and w[4] > 1.0 > w[1] > w[2]


@pytest.mark.parametrize("balance", [True, False])
def test_judge_is_class_balanced_when_asked(collections, balance):
    sim = read_collection(collections[1])
    cfg = TranslatorTrainConfig(**TINY, judge_class_balance=balance)
    torch.manual_seed(0)
    net = seg_mod.train_judge(sim, cfg, torch.device("cpu"))
    expected = median_frequency_weights(torch.from_numpy(sim.labels), 5) if balance else None
    torch.manual_seed(0)
    again = seg_mod.train_segnet(sim, cfg.seg_iterations, cfg.seed, torch.device("cpu"), progress=False,
                                 augment=cfg.seg_augment, class_weights=expected)
    assert torch.equal(net.head.weight, again.head.weight)
    if balance:  # the weights change what the judge learns
        plain = seg_mod.train_segnet(sim, cfg.seg_iterations, cfg.seed, torch.device("cpu"), progress=False,
                                     augment=cfg.seg_augment)
        assert not torch.equal(net.head.weight, plain.head.weight)


@pytest.mark.parametrize("method", ["cyclegan", "vr-goggles"])
def test_tiny_training_gives_a_loadable_translator(tmp_path, collections, method):
    real, sim = collections
    result = train_translator(TranslatorTrainConfig(real=real, sim=sim, out=str(tmp_path), method=method, **TINY))
    assert result.iterations == 4
    tr = translators.load(result.translator_path)
    assert tr.image_size == (32, 32) and tr.method == method and tr.meta["direction"] == "real->sim"
    frame = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    out = tr(frame)
    assert out.shape == (32, 32, 3) and out.dtype == np.uint8
    assert tr(np.stack([frame, frame])).shape == (2, 32, 32, 3)
    assert np.array_equal(tr(np.stack([frame, frame]))[1], out)
    with pytest.raises(ValueError, match="32 x 32 is expected"):
        tr(np.zeros((64, 64, 3), np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        tr(np.zeros((32, 32, 3), np.float32))
    assert (tmp_path / "segnet.pt").is_file() == (method == "vr-goggles")
    assert (tmp_path / "segnet_adapted.pt").is_file() == (method == "vr-goggles")
    assert not (tmp_path / "segnet_sim.pt").exists()  # the sim reader is an option, off by default
    if method == "vr-goggles":  # the judge kept learning on sim and sim->real frames
        judge, adapted = load_segnet(tmp_path / "segnet.pt"), load_segnet(tmp_path / "segnet_adapted.pt")
        assert not torch.equal(judge.head.weight, adapted.head.weight)
    assert list((tmp_path / "tb").glob("events.out.tfevents.*"))


def test_judge_frames_and_sim_reader_options(tmp_path, collections):
    real, sim = collections
    dr = collect_from_env(tmp_path / "dr", "randomized", 16, seed=4, domain="sim", env_kwargs={"image_size": 32},
                          progress=False)
    cfg = TranslatorTrainConfig(real=real, sim=sim, out=str(tmp_path / "run"), method="vr-goggles", **TINY,
                                judge_frames=str(dr), sim_reader=True, judge_class_balance=True)
    train_translator(cfg)
    cpu = torch.device("cpu")
    judge = seg_mod.train_judge(read_collection(dr), cfg, cpu)
    reader = seg_mod.train_sim_reader(read_collection(sim), cfg, cpu)
    # the judge learnt from the randomized-look frames, the sim reader from the sim frames, unjittered
    assert torch.equal(load_segnet(tmp_path / "run" / "segnet.pt").head.weight, judge.head.weight)
    assert torch.equal(load_segnet(tmp_path / "run" / "segnet_sim.pt").head.weight, reader.head.weight)
    assert not torch.equal(judge.head.weight, seg_mod.train_judge(read_collection(sim), cfg, cpu).head.weight)


def test_same_seed_same_weights_and_resume(tmp_path, collections):
    real, sim = collections
    cfg = dict(real=real, sim=sim, method="vr-goggles", **TINY)
    a = translators.load(train_translator(TranslatorTrainConfig(out=str(tmp_path / "a"), **cfg)).translator_path)
    b = translators.load(train_translator(TranslatorTrainConfig(out=str(tmp_path / "b"), **cfg)).translator_path)
    for k, v in a.generator.state_dict().items():
        assert torch.equal(v, b.generator.state_dict()[k])
    resumed = train_translator(TranslatorTrainConfig(out=str(tmp_path / "a"), **{**cfg, "iterations": 6},
                                                     resume=True))
    assert resumed.iterations == 6
    assert translators.load(resumed.translator_path).meta["extra"]["iterations"] == 6
    ckpt = tmp_path / "a" / "checkpoint.pt"
    ckpt.write_bytes(ckpt.read_bytes()[:100])
    with pytest.raises(ValueError, match="not a readable checkpoint"):
        train_translator(TranslatorTrainConfig(out=str(tmp_path / "a"), **{**cfg, "iterations": 8}, resume=True))


def test_train_wall_time_is_recorded_and_adds_up_across_resumes(tmp_path, collections):
    real, sim = collections
    cfg = dict(real=real, sim=sim, out=str(tmp_path / "run"), method="cyclegan", **{**TINY, "iterations": 2})
    first = train_translator(TranslatorTrainConfig(**cfg))
    ckpt = tmp_path / "run" / "checkpoint.pt"
    wall = read_translator_file(first.translator_path)["extra"]["train_wall_s"]
    assert 0 < wall <= first.wall_time_s and torch.load(ckpt, weights_only=False)["train_wall_s"] == wall
    resumed = train_translator(TranslatorTrainConfig(**{**cfg, "iterations": 4}, resume=True))
    extra = read_translator_file(resumed.translator_path)["extra"]
    assert extra["iterations"] == 4 and wall < extra["train_wall_s"] <= wall + resumed.wall_time_s  # grows
    state = torch.load(ckpt, weights_only=False)  # as if the first process had trained for 100 s
    torch.save({**state, "train_wall_s": 100.0}, ckpt)
    again = train_translator(TranslatorTrainConfig(**{**cfg, "iterations": 5}, resume=True))
    assert 100 < read_translator_file(again.translator_path)["extra"]["train_wall_s"] \
        <= 100 + again.wall_time_s  # this process's time added to the checkpoint's
    torch.save({k: v for k, v in torch.load(ckpt, weights_only=False).items() if k != "train_wall_s"}, ckpt)
    old = train_translator(TranslatorTrainConfig(**{**cfg, "iterations": 6}, resume=True))  # an older checkpoint
    assert read_translator_file(old.translator_path)["extra"]["train_wall_s"] is None  # unknown


def test_bad_translator_files(tmp_path, collections):
    real, sim = collections
    good = train_translator(TranslatorTrainConfig(real=real, sim=sim, out=str(tmp_path / "g"), method="cyclegan",
                                                  **TINY)).translator_path
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[:300])
    with pytest.raises(TranslatorFileError, match="corrupt or truncated"):
        translators.load(truncated)
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(3)}, foreign)
    with pytest.raises(TranslatorFileError, match="not a goggles-gym translator"):
        translators.load(foreign)
    with pytest.raises(TranslatorFileError, match="not found"):
        translators.load(tmp_path / "missing.pt")


def test_translator_cli(tmp_path, collections, capsys):
    real, sim = collections
    args = ["translator", "--method", "cyclegan", "--no-shift", "--semantic", "--real", real, "--sim", sim,
            "--out", str(tmp_path), "--iterations", "2", "--batch-size", "2", "--ngf", "4", "--n-blocks", "1",
            "--seg-iterations", "2", "--no-progress-bar"]
    assert train_main(args) == 0
    assert "cyclegan+semantic" in capsys.readouterr().out
    assert translators.load(tmp_path / "translator.pt").method == "cyclegan+semantic"
    assert train_main(["translator", "--real", str(tmp_path / "nope"), "--sim", sim, "--out", str(tmp_path)]) == 2
    assert "not found" in capsys.readouterr().err


def test_onnx_backend_matches_torch(tmp_path, collections):
    pytest.importorskip("onnxruntime")
    real, sim = collections
    path = train_translator(TranslatorTrainConfig(real=real, sim=sim, out=str(tmp_path), method="cyclegan",
                                                  **TINY)).translator_path
    frames = np.random.default_rng(0).integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    eager = translators.load(path, device="cpu")(frames)
    onnx = translators.load(path, device="cpu", backend="onnx")(frames)
    assert onnx.shape == eager.shape and onnx.dtype == np.uint8
    assert np.abs(onnx.astype(int) - eager.astype(int)).max() <= 2
    with pytest.raises(ValueError, match="backend"):
        translators.load(path, backend="tensorrt")


def test_auto_backend_is_onnx_on_cpu_where_installed_else_torch(monkeypatch):
    from goggles_gym.translators.backends import resolve_backend

    cpu = torch.device("cpu")
    assert resolve_backend("compile", cpu) == "compile"
    assert resolve_backend("auto", torch.device("cuda")) == "torch"
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import fails as if not installed
    assert resolve_backend("auto", cpu) == "torch"
    monkeypatch.undo()
    pytest.importorskip("onnxruntime")
    assert resolve_backend("auto", cpu) == "onnx"


def test_photometric_jitter_shuffles_channels_and_keeps_geometry():
    from goggles_gym.translators.segmentation import photometric_jitter

    x = torch.full((32, 3, 8, 8), -1.0)
    x[:, 0] = 1.0  # pure red frames
    out = photometric_jitter(x, torch.Generator().manual_seed(0))
    assert out.shape == x.shape and out.min() >= -1.0 and out.max() <= 1.0
    brightest = out.mean(dim=(2, 3)).argmax(1)
    assert set(brightest.tolist()) == {0, 1, 2}  # red became green or blue in some frames
    assert torch.equal(out, photometric_jitter(x, torch.Generator().manual_seed(0)))  # seeded


def test_segnet_weight_averaging(tmp_path, collections):
    sim = read_collection(collections[1])
    cpu = torch.device("cpu")
    averaged = seg_mod.train_segnet(sim, 6, 0, cpu, progress=False, augment=True, average_from=2, average_every=2)
    plain = {n: seg_mod.train_segnet(sim, n, 0, cpu, progress=False, augment=True) for n in (2, 4, 6)}
    mean = sum(net.head.weight for net in plain.values()) / 3  # updates 2, 4 and 6 averaged
    assert torch.allclose(averaged.head.weight, mean, atol=1e-6)
    assert not torch.allclose(averaged.head.weight, plain[6].head.weight)
    assert averaged.notes == {"weights_averaged": {"from": 2, "to": 6, "every": 2, "count": 3}}
    seg_mod.save_segnet(tmp_path / "averaged.pt", averaged)
    assert load_segnet(tmp_path / "averaged.pt").notes == averaged.notes


def test_judge_frames_turn_on_the_randomized_look_recipe(tmp_path, collections):
    cfg = TranslatorTrainConfig(real="", sim="", **{**TINY, "seg_iterations": 6}, judge_frames="dr")
    assert cfg.sim_reader and cfg.judge_class_balance and cfg.judge_average
    plain = TranslatorTrainConfig(real="", sim="")
    assert not (plain.sim_reader or plain.judge_class_balance or plain.judge_average)
    assert not TranslatorTrainConfig(real="", sim="", judge_frames="dr", sim_reader=False).sim_reader
    sim = read_collection(collections[1])
    judge = seg_mod.train_judge(sim, cfg, torch.device("cpu"))
    assert judge.notes["weights_averaged"] == {"from": 2, "to": 6, "every": 10, "count": 1}


class PaddedConvNet(nn.Module):
    """Four 3x3 convolutions with ReLUs, stride 1, padded, no normalisation: shift-equivariant away
    from its input's edges (receptive radius 4), but its padding changes the edges of any crop."""

    stride = 4  # sub-stride shifts are sampled as for the ResNet generator

    def __init__(self, padding_mode: str = "zeros"):
        super().__init__()
        layers = []
        for cin, cout in [(3, 8), (8, 8), (8, 8), (8, 3)]:
            layers += [nn.Conv2d(cin, cout, 3, padding=1, padding_mode=padding_mode), nn.ReLU()]
        self.net = nn.Sequential(*layers[:-1])

    def forward(self, x):
        return torch.tanh(self.net(x))


@pytest.mark.parametrize("padding_mode", ["zeros", "reflect"])
def test_shift_loss_compares_only_the_valid_region(padding_mode):
    torch.manual_seed(0)
    net, x = PaddedConvNet(padding_mode), torch.rand(2, 3, 32, 32) * 2 - 1
    shifts = [(i, j) for i in range(4) for j in range(4) if i or j]
    assert receptive_radius(net) == (4, 4)
    assert max(shift_loss(net, x, s).item() for s in shifts) < 1e-6
    assert min(shift_loss(net, x, s, margin=0).item() for s in shifts) > 1e-3  # the old whole-window comparison
    resnet = init_weights(ResnetGenerator(ngf=4, n_blocks=1))
    assert min(shift_loss(resnet, x, s).item() for s in shifts) > 1e-4
    with torch.no_grad():  # passing G(x) gives the same value
        assert shift_loss(net, x, (1, 2), translated=net(x)).item() == shift_loss(net, x, (1, 2)).item()


def test_shift_margin_of_the_resnet_generator_is_clipped_to_half_the_crop():
    g = ResnetGenerator(ngf=12, n_blocks=3)
    assert receptive_radius(g) == (39, 39)  # larger than the frames
    assert shift_margin(g, (28, 28)) == (7, 7) and shift_margin(g, (60, 60)) == (15, 15)  # 32 x 32, 64 x 64
    assert receptive_radius(ResnetGenerator(ngf=4, n_blocks=6)) == (63, 63)
    assert receptive_radius(g) is receptive_radius(g)  # cached
    net = PaddedConvNet()
    net.shift_margin = 2  # a generator may say its own margin
    assert receptive_radius(net) == (2, 2) and shift_margin(net, (28, 28)) == (2, 2)
    assert shift_margin(PaddedConvNet(), (8, 12)) == (2, 3)


def test_resolve_device_and_module_device(monkeypatch):
    assert resolve_device("cpu") == resolve_device(torch.device("cpu")) == torch.device("cpu")
    monkeypatch.setattr(device_mod, "_cuda_works", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    for name in ("cuda", "cuda:0", torch.device("cuda")):
        with pytest.raises(ValueError, match="--device cuda: no CUDA device is available here; use --device cpu"):
            resolve_device(name)
    with pytest.raises(ValueError, match="not a torch device"):
        resolve_device("gpu")
    assert module_device(nn.ReLU()) == torch.device("cpu")
    assert module_device(nn.BatchNorm2d(3, affine=False)) == torch.device("cpu")  # buffers only
    with pytest.raises(ValueError, match="sits on cpu"):
        torch_runner(PaddedConvNet(), torch.device("meta"))


def test_tensor_conversions_agree_in_torch_and_numpy():
    frames = np.random.default_rng(0).integers(0, 256, (3, 8, 12, 3), dtype=np.uint8)
    t = to_tensor(frames)
    assert t.shape == (3, 3, 8, 12) and t.min() >= -1 and t.max() <= 1
    assert np.allclose(to_array(frames), t.numpy())
    assert np.array_equal(to_frames(t), frames) and np.array_equal(array_to_frames(to_array(frames)), frames)


def _no_training(*args, **kwargs):
    raise AssertionError("a network was trained before the collections were checked")


@pytest.mark.parametrize("case", ["sim-in-target-look", "judge-in-target-look", "judge-real-domain"])
def test_target_look_or_real_domain_frames_cannot_be_sim_or_judge(tmp_path, monkeypatch, collections, case):
    real, sim = collections
    for name in ("TranslatorTrainer", "train_judge", "train_sim_reader"):
        monkeypatch.setattr(training_mod, name, _no_training)
    kwargs = dict(real=real, sim=sim, out=str(tmp_path / "run"), method="vr-goggles", **TINY)
    if case == "sim-in-target-look":
        kwargs["sim"], flag, folder, why = real, "--sim", real, "'real' look"
    elif case == "judge-in-target-look":
        kwargs["judge_frames"], flag, folder, why = real, "--judge-frames", real, "'real' look"
    else:  # randomized look, but collected as real frames (labels for measuring only)
        folder = str(collect_from_env(tmp_path / "dr_real", "randomized", 2, seed=5, env_kwargs={"image_size": 32},
                                      progress=False))
        kwargs["judge_frames"], flag, why = folder, "--judge-frames", "domain 'real'"
    with pytest.raises(FrameCollectionError) as err:
        train_translator(TranslatorTrainConfig(**kwargs))
    msg = str(err.value)
    assert msg.startswith(f"{flag} {folder}:") and why in msg and "sim or randomized looks" in msg
    assert not (tmp_path / "run" / "translator.pt").exists()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (torch.cuda.is_available() is False)")
def test_networks_on_cuda_get_their_inputs_there(tmp_path, collections):
    from goggles_gym.metrics import predict_labels, shift_consistency

    cuda = torch.device("cuda")
    assert resolve_device("auto").type == "cuda" and resolve_device("cuda").type == "cuda"
    frames = read_collection(collections[0]).rgb[:4]
    gen = init_weights(ResnetGenerator(ngf=4, n_blocks=1)).eval()
    on_cpu = shift_consistency(gen, frames)
    gen.to(cuda)
    assert module_device(gen).type == "cuda"
    assert shift_consistency(gen, frames) == pytest.approx(on_cpu, rel=1e-3, abs=1e-3)
    assert shift_loss(gen, to_tensor(frames), (1, 2)).device.type == "cuda"  # a CPU batch goes to the net
    seg = SegNet(width=4).eval()
    labels = predict_labels(seg, frames)
    assert np.mean(predict_labels(seg.to(cuda), frames) == labels) > 0.99
    tr = translators.Translator(gen, (32, 32), device="cuda")
    assert tr(frames).shape == frames.shape and module_device(tr.generator).type == "cuda"
    cfg = TranslatorTrainConfig(real=collections[0], sim=collections[1], out="unused", method="vr-goggles", **TINY)
    trainer = training_mod.TranslatorTrainer(cfg, cuda, SegNet(width=4), torch.ones(5), sim_reader=SegNet(width=4))
    assert module_device(trainer.seg).type == "cuda" and module_device(trainer.sim_reader).type == "cuda"
    x = to_tensor(frames[:2], cuda)
    assert set(trainer.step(x, x, torch.zeros(2, 32, 32, dtype=torch.long, device=cuda)))
    real, sim = collections
    run = dict(real=real, sim=sim, out=str(tmp_path / "run"), method="vr-goggles", device="cuda", **TINY)
    train_translator(TranslatorTrainConfig(**run))
    assert train_translator(TranslatorTrainConfig(**{**run, "iterations": 6}, resume=True)).iterations == 6


RCAN = dict(method="rcan", **{**TINY, "iterations": 4})


def _scalars(run) -> set[str]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run / "tb"))
    acc.Reload()
    return set(acc.Tags()["scalars"])


def _state(path) -> dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu", weights_only=False)


def test_batches_yield_targets_with_the_same_indices_and_flips():
    rgb = np.random.default_rng(0).integers(0, 256, (6, 8, 8, 3), dtype=np.uint8)
    frames = FrameCollection(rgb, rgb[..., 0] % 5, {}, target=255 - rgb)
    paired = Batches(frames, 16, True, np.random.default_rng(1), torch.device("cpu"), with_labels=True,
                     with_target=True)
    x, y, t = paired.next_paired()
    x, t = to_frames(x), to_frames(t)
    assert np.array_equal(t, 255 - x) and np.array_equal(y.numpy(), x[..., 0] % 5)  # same frames, same flips
    assert any(np.array_equal(x[k], rgb[i, :, ::-1]) for k in range(16) for i in range(6))  # some were flipped
    plain_x, plain_y = Batches(frames, 16, True, np.random.default_rng(1), torch.device("cpu"), with_labels=True).next()
    assert np.array_equal(to_frames(plain_x), x) and torch.equal(plain_y, y)  # the same draws as before
    with pytest.raises(FrameCollectionError, match="not a paired one"):
        Batches(FrameCollection(rgb), 2, False, np.random.default_rng(0), torch.device("cpu"), with_target=True)


def test_each_method_picks_its_loss_families_and_builds_only_their_nets():
    cpu = torch.device("cpu")
    cases = [(dict(method="rcan"), ("paired",), ("G",)),
             (dict(method="rcan", rcan_semantic=True, rcan_adversarial=True),
              ("paired", "paired_semantic", "paired_adversarial"), ("G", "D_sim")),
             (dict(method="cyclegan"), ("adversarial", "cycle"), ("G", "F", "D_sim", "D_real")),
             (dict(method="cyclegan", pairs="p"), ("adversarial", "cycle", "paired"), ("G", "F", "D_sim", "D_real")),
             (dict(method="vr-goggles"), ("adversarial", "cycle", "semantic", "shift"), ("G", "F", "D_sim", "D_real"))]
    for kwargs, families, nets in cases:
        cfg = TranslatorTrainConfig(**{**TINY, **kwargs})
        assert loss_families(cfg) == families
        trainer = training_mod.TranslatorTrainer(cfg, cpu, seg=None)
        assert trainer.nets == nets and all((getattr(trainer, n) is None) == (n not in nets) for n in training_mod.NETS)
    assert TranslatorTrainConfig(method="rcan").lambda_paired == 10.0
    assert TranslatorTrainConfig(method="cyclegan").lambda_paired == 5.0
    assert TranslatorTrainConfig(method="rcan", lambda_paired=2.0).lambda_paired == 2.0
    with pytest.raises(ValueError, match="rcan has no semantic"):
        TranslatorTrainConfig(method="rcan", semantic=True)
    with pytest.raises(ValueError, match="options of --method rcan"):
        TranslatorTrainConfig(method="cyclegan", rcan_adversarial=True)


class Interrupted(Exception):
    pass


def _train_interrupted_at_2(monkeypatch, config: TranslatorTrainConfig) -> None:
    """Train ``config`` and stop it just after the checkpoint of iteration 2, as a killed run."""
    step = training_mod.TranslatorTrainer.step

    def stop_at_2(self, *args, **kwargs):
        if self.iteration == 2:
            raise Interrupted
        return step(self, *args, **kwargs)

    monkeypatch.setattr(training_mod.TranslatorTrainer, "step", stop_at_2)
    with pytest.raises(Interrupted):
        train_translator(config)
    monkeypatch.undo()


def test_rcan_trains_saves_loads_and_resumes_to_the_same_weights(tmp_path, monkeypatch, pairs):
    cfg = dict(pairs=pairs, rcan_semantic=True, rcan_adversarial=True, pool_size=3, **RCAN)
    result = train_translator(TranslatorTrainConfig(out=str(tmp_path / "a"), **cfg))
    assert result.iterations == 4
    assert {"paired", "semantic", "G_adv", "D_sim"} <= set(result.losses)
    assert {"loss/paired", "loss/semantic", "loss/G_adv", "loss/D_sim"} <= _scalars(tmp_path / "a")
    assert set(_state(tmp_path / "a" / "checkpoint.pt")["nets"]) == {"G", "D_sim"}  # no F, no D_real
    assert (tmp_path / "a" / "segnet_sim.pt").is_file() and not (tmp_path / "a" / "segnet.pt").exists()
    tr = translators.load(result.translator_path)
    assert tr.method == "rcan" and tr.image_size == (32, 32) and tr.meta["config"]["pairs"] == pairs
    frames = read_collection(pairs).rgb[:3]
    assert tr(frames).shape == frames.shape

    _train_interrupted_at_2(monkeypatch, TranslatorTrainConfig(out=str(tmp_path / "b"), **cfg))
    assert _state(tmp_path / "b" / "checkpoint.pt")["iteration"] == 2
    resumed = train_translator(TranslatorTrainConfig(out=str(tmp_path / "b"), resume=True, **cfg))
    assert resumed.iterations == 4
    a, b = _state(tmp_path / "a" / "checkpoint.pt"), _state(tmp_path / "b" / "checkpoint.pt")
    for net in ("G", "D_sim"):
        for k, v in a["nets"][net].items():
            assert torch.equal(v, b["nets"][net][k]), (net, k)
    with pytest.raises(ValueError, match="the checkpoint holds networks G, D_sim"):  # other options, same folder
        train_translator(TranslatorTrainConfig(out=str(tmp_path / "b"), resume=True,
                                               **{**cfg, "rcan_adversarial": False, "iterations": 6}))


def test_init_from_starts_g_from_exactly_those_weights(tmp_path, collections, pairs):
    real, sim = collections
    rcan = train_translator(TranslatorTrainConfig(out=str(tmp_path / "rcan"), pairs=pairs,
                                                  **{**RCAN, "iterations": 2})).translator_path
    weights = translators.io.read_translator_file(rcan)["state_dict"]
    cfg = TranslatorTrainConfig(real=real, sim=sim, out=str(tmp_path / "ft"), method="cyclegan", init_from=str(rcan),
                                pairs=pairs, **{**TINY, "iterations": 1, "lr": 1e-12})  # one update of ~1e-12
    trainer = training_mod.TranslatorTrainer(cfg, torch.device("cpu"), seg=None)
    assert all(torch.equal(v, weights[k]) for k, v in trainer.G.state_dict().items())
    fresh = training_mod.TranslatorTrainer(dataclasses.replace(cfg, init_from=""), torch.device("cpu"), seg=None)
    assert not torch.equal(fresh.G.model[1].weight, trainer.G.model[1].weight)
    assert torch.equal(fresh.F.model[1].weight, trainer.F.model[1].weight)  # F starts as without --init-from
    path = train_translator(cfg).translator_path  # a negligible update: the file holds the canonicalizer's weights
    blob = translators.io.read_translator_file(path)
    assert all(torch.allclose(v.float(), weights[k].float(), atol=1e-6) for k, v in blob["state_dict"].items())
    assert blob["config"]["init_from"] == str(rcan) and blob["config"]["pairs"] == pairs
    assert blob["extra"]["init_from_method"] == "rcan" and blob["extra"]["pairs_look"] == "randomized"
    assert cfg.upsample == "resize"  # not given: the canonicalizer's upsampling is adopted
    with pytest.raises(TranslatorFileError, match="its generator is name resnet, ngf 4, n_blocks 1, n_down 2, upsample "
                                                  "resize but this run builds name resnet, ngf 8, n_blocks 1"):
        train_translator(dataclasses.replace(cfg, ngf=8, out=str(tmp_path / "wide")))
    with pytest.raises(TranslatorFileError, match="upsample transpose; pass --generator resnet --ngf 4 --n-blocks 1 "
                                                  "--upsample resize"):  # given, it is checked, not overridden
        train_translator(dataclasses.replace(cfg, upsample="transpose", out=str(tmp_path / "transposed")))


def test_cyclegan_fine_tuning_with_pairs_logs_the_paired_loss(tmp_path, collections, pairs):
    real, sim = collections
    result = train_translator(TranslatorTrainConfig(real=real, sim=sim, out=str(tmp_path), method="cyclegan",
                                                    pairs=pairs, **{**TINY, "iterations": 2, "log_every": 1}))
    assert "loss/paired" in _scalars(tmp_path) and "paired" in result.losses
    tr = translators.load(result.translator_path)
    assert tr.method == "cyclegan" and tr.meta["config"]["lambda_paired"] == 5.0
    assert tr.meta["extra"]["losses"] == ["adversarial", "cycle", "paired"]


@pytest.mark.parametrize("case", ["rcan-without-pairs", "pairs-unpaired", "init-from-not-a-translator",
                                  "pairs-in-target-look", "pairs-in-real-collections-look"])
def test_bad_paired_inputs_are_one_clear_error(tmp_path, monkeypatch, collections, pairs, case):
    real, sim = collections
    for name in ("TranslatorTrainer", "train_judge", "train_sim_reader"):
        monkeypatch.setattr(training_mod, name, _no_training)
    kwargs = dict(pairs=pairs, out=str(tmp_path / "run"), **RCAN)
    if case == "rcan-without-pairs":
        kwargs["pairs"], error, why = "", ValueError, "--method rcan trains on a paired sim collection: give --pairs"
    elif case == "pairs-unpaired":
        kwargs["pairs"], error, why = sim, FrameCollectionError, f"--pairs {sim}: not a paired collection"
    elif case == "init-from-not-a-translator":
        torch.save({"weights": torch.zeros(3)}, tmp_path / "foreign.pt")
        kwargs["init_from"], error = str(tmp_path / "foreign.pt"), TranslatorFileError
        why = "--init-from: " + str(tmp_path / "foreign.pt") + " is not a goggles-gym translator file"
    else:
        look = "real" if case == "pairs-in-target-look" else "photo"
        target = collect_pairs(tmp_path / look, 2, seed=9, input_look=look, env_kwargs={"image_size": 32},
                               progress=False)
        kwargs["pairs"], error, why = str(target), FrameCollectionError, f"rendered in the {look!r} look"
        if look == "photo":  # fine-tuning towards a photo collection: its look is the target
            photo = collect_from_env(tmp_path / "photo_real", "photo", 2, seed=8, env_kwargs={"image_size": 32},
                                     progress=False)
            kwargs.update(method="cyclegan", real=str(photo), sim=sim)
            why += ", the real collection's look"
    with pytest.raises(error) as err:
        train_translator(TranslatorTrainConfig(**kwargs))
    assert why in str(err.value) and "\n" not in str(err.value)
    assert not (tmp_path / "run" / "translator.pt").exists()


def test_ema_saves_the_averaged_generator_and_resumes_to_it(tmp_path, monkeypatch, pairs):
    cfg = dict(pairs=pairs, ema=0.5, **RCAN)
    result = train_translator(TranslatorTrainConfig(out=str(tmp_path / "a"), **cfg))
    state = _state(tmp_path / "a" / "checkpoint.pt")
    saved = torch.load(result.translator_path, weights_only=True)["state_dict"]
    averaged = {k.removeprefix("module."): v for k, v in state["G_ema"].items() if k.startswith("module.")}
    assert int(state["G_ema"]["n_averaged"]) == 4
    assert all(torch.equal(saved[k], averaged[k]) for k in saved)  # the file holds the average, not the last G
    assert any(not torch.equal(saved[k], state["nets"]["G"][k]) for k in saved if saved[k].is_floating_point())
    assert translators.load(result.translator_path).method == "rcan"
    with pytest.raises(ValueError, match="--ema 1.0"):
        TranslatorTrainConfig(method="rcan", ema=1.0)

    _train_interrupted_at_2(monkeypatch, TranslatorTrainConfig(out=str(tmp_path / "b"), **cfg))
    resumed = train_translator(TranslatorTrainConfig(out=str(tmp_path / "b"), resume=True, **cfg))
    again = torch.load(resumed.translator_path, weights_only=True)["state_dict"]
    assert all(torch.equal(saved[k], again[k]) for k in saved)  # the average carried across the resume


def test_rcan_cli(tmp_path, pairs, collections, capsys):
    args = ["translator", "--method", "rcan", "--pairs", pairs, "--out", str(tmp_path / "r"), "--iterations", "2",
            "--batch-size", "2", "--ngf", "4", "--n-blocks", "1", "--no-progress-bar"]
    assert train_main(args) == 0
    assert "translator (rcan)" in capsys.readouterr().out
    assert translators.load(tmp_path / "r" / "translator.pt").method == "rcan"
    for bad, why in ((["--method", "rcan"], "give --pairs DIR"),
                     (["--method", "rcan", "--pairs", collections[1]], "not a paired collection"),
                     (["--method", "rcan", "--pairs", pairs, "--semantic"], "rcan has no semantic"),
                     (["--method", "cyclegan", "--real", collections[0], "--sim", collections[1], "--pairs", pairs,
                       "--init-from", str(tmp_path / "missing.pt")], "--init-from: translator file not found")):
        assert train_main(["translator", *bad, "--out", str(tmp_path / "x"), "--no-progress-bar"]) == 2
        err = capsys.readouterr().err
        assert why in err and err.count("\n") == 1, err


@pytest.mark.parametrize("generator,upsample", [("resnet", "resize"), ("unet", None), ("unet", "transpose")])
def test_generator_variants_train_save_and_load(tmp_path, collections, generator, upsample):
    real, sim = collections
    cfg = TranslatorTrainConfig(real=real, sim=sim, out=str(tmp_path), method="cyclegan", generator=generator,
                                upsample=upsample, ngf=4, n_blocks=1, iterations=2, batch_size=2, progress_bar=False,
                                log_every=1, image_every=1, checkpoint_every=1)
    tr = translators.load(train_translator(cfg).translator_path)
    arch = tr.meta["architecture"]
    assert arch["name"] == generator and arch["upsample"] == (upsample or ("resize" if generator == "unet" else
                                                                            "transpose"))
    frames = np.random.default_rng(0).integers(0, 256, (2, *tr.image_size, 3), dtype=np.uint8)
    assert tr(frames).shape == frames.shape
    transposed = any(isinstance(m, torch.nn.ConvTranspose2d) for m in tr.generator.modules())
    assert transposed == (arch["upsample"] == "transpose")


def test_the_sim2real_generator_is_kept_and_loadable(tmp_path, collections, pairs):
    real, sim = collections
    cfg = TranslatorTrainConfig(real=real, sim=sim, out=str(tmp_path / "cg"), method="cyclegan", ngf=4, n_blocks=1,
                                iterations=1, batch_size=2, progress_bar=False)
    path = train_translator(cfg).translator_path
    state = torch.load(tmp_path / "cg" / "checkpoint.pt", weights_only=False)["nets"]
    back = translators.load(path, direction="sim2real")
    assert back.meta["direction"] == "sim->real" and translators.load(path).meta["direction"] == "real->sim"
    assert all(torch.equal(v, state["F"][k]) for k, v in back.generator.state_dict().items())
    frames = np.zeros((2, 32, 32, 3), np.uint8)
    assert back(frames).shape == frames.shape
    rcan = TranslatorTrainConfig(pairs=pairs, out=str(tmp_path / "rcan"), method="rcan", ngf=4, n_blocks=1,
                                 iterations=1, batch_size=2, progress_bar=False)
    with pytest.raises(TranslatorFileError, match="no sim->real generator"):
        translators.load(train_translator(rcan).translator_path, direction="sim2real")
    with pytest.raises(ValueError, match="direction"):
        translators.load(path, direction="both")


def test_rcan_weighs_its_paired_loss_by_class_and_resizes_by_default():
    c = TranslatorTrainConfig(method="rcan", pairs="p")
    assert c.paired_class_balance is True and c.upsample == "resize"
    assert TranslatorTrainConfig(method="rcan", pairs="p", paired_class_balance=False).paired_class_balance is False
    assert TranslatorTrainConfig(method="cyclegan").upsample is None  # resnet's transposed convolutions stay
    with pytest.raises(ValueError, match="--paired-class-balance are options of --method rcan"):
        TranslatorTrainConfig(method="cyclegan", paired_class_balance=True)
