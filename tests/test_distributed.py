"""Translator training on torch.distributed: 2 CPU processes (gloo) launched by torchrun on tiny
16 x 16 synthetic collections, against a plain 1-process run of the same global batch.

What the comparison can and cannot hold (see ``train_translator``'s docstring): both runs see the
same global batch (the 2 ranks' rows in rank order are the 1-process batch) and start from the same
weights, and DDP averages the ranks' gradients, so the first update is the same up to float
rounding. Instance norm (the translators' only norm) is per frame, so it does not care how the
batch is split; the image pools are per rank but still filling after one update. A convolution
followed by an affine-free instance norm has a bias whose true gradient is 0: its computed
gradient is rounding noise, which Adam's first step (about lr * sign(g)) blows up to +-lr, so those
biases are held to 2.5 lr and everything else to 1e-5.
"""

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch import nn

from goggles_gym.common import distributed
from goggles_gym.frames import FrameCollection
from goggles_gym.frames.collection import CollectionWriter
from goggles_gym.train import main as train_main
from goggles_gym.translators import TranslatorTrainConfig
from goggles_gym.translators import training as training_mod
from goggles_gym.translators.data import Batches
from goggles_gym.translators.networks import init_weights, make_generator
from goggles_gym.translators.training import train_translator

pytestmark = pytest.mark.skipif(not (torch.distributed.is_available() and torch.distributed.is_gloo_available()),
                                reason="this torch build has no torch.distributed with the gloo backend")

TINY = ["--iterations", "1", "--batch-size", "4", "--ngf", "4", "--n-blocks", "1", "--ndf", "8", "--log-every", "1",
        "--image-every", "1", "--checkpoint-every", "1", "--no-progress-bar", "--device", "cpu"]
LAUNCH_ENV = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT",
              "TORCHELASTIC_RUN_ID", "GROUP_RANK", "ROLE_RANK")


def _synthetic(path, look, seed, n=8, size=16):
    rng = np.random.default_rng(seed)
    domain = "real" if look == "real" else "sim"
    writer = CollectionWriter(path, source="synthetic", look=look, size=(size, size), seed=seed,
                              labels_role="eval" if domain == "real" else "train", extra={"domain": domain})
    for _ in range(n):
        writer.add(rng.integers(0, 256, (size, size, 3), dtype=np.uint8), rng.integers(0, 5, (size, size), np.uint8))
    return str(writer.close())


@pytest.fixture(scope="module")
def frames(tmp_path_factory):
    root = tmp_path_factory.mktemp("dist")
    return {"real": _synthetic(root / "real", "real", 1), "sim": _synthetic(root / "sim", "sim", 2),
            "judge": _synthetic(root / "judge", "randomized", 3)}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _torchrun(*args: str, nproc: int = 2) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in LAUNCH_ENV}
    env["OMP_NUM_THREADS"] = "1"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc_per_node", str(nproc),
           "--master_addr", "127.0.0.1", "--master_port", str(_free_port()), "-m", "goggles_gym.train",
           "translator", *args]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    return done


def _zero_gradient_biases(net: nn.Module, prefix: str) -> set[str]:
    """Biases of convolutions directly followed by an affine-free instance norm (true gradient 0)."""
    out = set()
    for name, module in net.named_modules():
        if isinstance(module, nn.Sequential):
            kids = list(module.named_children())
            for (k, a), (_, b) in zip(kids, kids[1:], strict=False):
                if isinstance(a, (nn.Conv2d, nn.ConvTranspose2d)) and isinstance(b, nn.InstanceNorm2d) and not b.affine:
                    out.add(f"{prefix}{name + '.' if name else ''}{k}.bias")
    return out


def _assert_same_update(a: dict, b: dict, lr: float) -> None:
    loose = _zero_gradient_biases(init_weights(make_generator("resnet", ngf=4, n_blocks=1)), "")
    loose |= _zero_gradient_biases(training_mod.PatchDiscriminator(ndf=8, n_layers=2), "")
    for net, weights in a.items():
        for k, v in weights.items():
            atol = 2.5 * lr if k in loose else 1e-5
            assert torch.allclose(v, b[net][k], atol=atol), (net, k, (v - b[net][k]).abs().max().item())


def _scalars(run) -> dict[str, list[tuple[int, float]]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run / "tb"))
    acc.Reload()
    return {t: [(e.step, e.value) for e in acc.Scalars(t)] for t in acc.Tags()["scalars"]}


def _ckpt(run) -> dict:
    return torch.load(run / "checkpoint.pt", map_location="cpu", weights_only=False)


def test_two_processes_update_as_one_and_resume_across_world_sizes(tmp_path, frames):
    two, one, half = tmp_path / "two", tmp_path / "one", tmp_path / "half"
    common = ["--method", "cyclegan", "--real", frames["real"], "--sim", frames["sim"], *TINY]
    done = _torchrun(*common, "--out", str(two))
    assert done.stdout.count("translator (cyclegan)") == 1 and "processes: 2" in done.stdout  # rank 0 speaks
    assert sorted(p.name for p in two.iterdir()) == ["checkpoint.pt", "config.json", "tb", "translator.pt"]
    assert len(list((two / "tb").iterdir())) == 1  # one TensorBoard writer: rank 0's
    saved = json.loads((two / "config.json").read_text())
    assert (saved["world_size"], saved["global_batch"], saved["per_rank_batch"], saved["lr"],
            saved["dist_backend"]) == (2, 4, 2, 2e-4, "gloo")
    extra = torch.load(two / "translator.pt", weights_only=False)["extra"]
    assert (extra["world_size"], extra["global_batch"], extra["iterations"]) == (2, 4, 1)

    cfg = TranslatorTrainConfig(real=frames["real"], sim=frames["sim"], method="cyclegan", iterations=1, batch_size=4,
                                ngf=4, n_blocks=1, ndf=8, log_every=1, image_every=1, checkpoint_every=1,
                                progress_bar=False, device="cpu")
    assert train_translator(TranslatorTrainConfig(**{**vars(cfg), "out": str(one)})).world_size == 1
    a, b = _ckpt(two), _ckpt(one)
    assert (a["world_size"], b["world_size"], a["global_batch"]) == (2, 1, 4)
    assert a["data_rng"] == b["data_rng"]  # the same global batches were drawn, whatever the world size
    _assert_same_update(a["nets"], b["nets"], cfg.lr)
    losses_two, losses_one = _scalars(two), _scalars(one)
    for tag in ("loss/G_total", "loss/D_sim", "loss/D_real", "loss/cycle"):  # the ranks' mean = the batch's
        assert losses_two[tag][0][1] == pytest.approx(losses_one[tag][0][1], rel=1e-5), tag
    # the test can tell: rank 0's rows alone (batch 2) update the weights otherwise
    train_translator(TranslatorTrainConfig(**{**vars(cfg), "out": str(half), "batch_size": 2}))
    with pytest.raises(AssertionError):
        _assert_same_update(_ckpt(half)["nets"], b["nets"], cfg.lr)

    resumed = train_translator(TranslatorTrainConfig(**{**vars(cfg), "out": str(two), "iterations": 2,
                                                        "resume": True}))  # 2 processes' checkpoint, 1 process
    assert resumed.iterations == 2 and _ckpt(two)["world_size"] == 1
    saved = json.loads((two / "config.json").read_text())
    assert saved["world_size"] == 1 and saved["resumed_from"] == {"iteration": 1, "world_size": 2}
    _torchrun(*common, "--out", str(two), "--iterations", "3", "--resume")  # and back: 1 process's, 2 processes
    state = _ckpt(two)
    assert (state["iteration"], state["world_size"]) == (3, 2)
    assert len(state["pools"][0]) == 2 + 4 + 2  # rank 0's rows, the 1-process batch, rank 0's rows again
    assert json.loads((two / "config.json").read_text())["resumed_from"] == {"iteration": 2, "world_size": 1}
    assert not [p for p in two.iterdir() if p.name.endswith(".tmp")]


def test_segmentation_nets_train_under_torchrun(tmp_path, frames):
    run = tmp_path / "vr"
    _torchrun("--method", "vr-goggles", "--real", frames["real"], "--sim", frames["sim"], "--judge-frames",
              frames["judge"], "--seg-iterations", "3", "--sim-reader-iterations", "2", *TINY, "--iterations", "2",
              "--out", str(run))  # the judge (weight-averaged), the sim reader, then the adapted judge, all DDP
    assert {"segnet.pt", "segnet_sim.pt", "segnet_adapted.pt", "translator.pt"} <= {p.name for p in run.iterdir()}
    assert json.loads((run / "config.json").read_text())["world_size"] == 2
    # the run itself checked that G, F, D_sim, D_real, the judge and the sim reader agree on both ranks
    assert {"loss/semantic", "loss/shift", "loss/seg"} <= set(_scalars(run))


def test_rank_rows_of_one_global_batch_are_the_one_process_batch():
    pairs = _pairs_like()
    whole = Batches(pairs, 6, True, np.random.default_rng(4), torch.device("cpu"), with_labels=True, with_target=True)
    parts = [Batches(pairs, 6, True, np.random.default_rng(4), torch.device("cpu"), with_labels=True,
                     with_target=True, shard=(r, 3)) for r in range(3)]
    for _ in range(3):
        full = whole.next_paired()
        rows = [p.next_paired() for p in parts]
        assert [len(r[0]) for r in rows] == [2, 2, 2]
        for k in range(3):
            assert torch.equal(full[k], torch.cat([r[k] for r in rows]))
    with pytest.raises(ValueError, match="cannot be split over 4 processes"):
        Batches(pairs, 3, True, np.random.default_rng(0), torch.device("cpu"), shard=(0, 4))


def _pairs_like():
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (5, 8, 8, 3), dtype=np.uint8)
    return FrameCollection(rgb, rng.integers(0, 5, (5, 8, 8), dtype=np.uint8), {"kind": "paired"},
                           target=rng.integers(0, 256, (5, 8, 8, 3), dtype=np.uint8))


def test_a_plain_process_starts_no_process_group(monkeypatch):
    for name in LAUNCH_ENV:
        monkeypatch.delenv(name, raising=False)
    assert not distributed.launched()
    net = nn.Linear(2, 2)
    with distributed.session("cpu") as dist:
        assert (dist.active, dist.rank, dist.world_size, dist.is_main) == (False, 0, 1, True)
        assert not torch.distributed.is_initialized()
        assert distributed.wrap(net, dist) is net and distributed.broadcast_object(5, dist) == 5
        assert distributed.mean_over_ranks({"a": 1.0}, dist) == {"a": 1.0}
    assert distributed.rank_seed(3, 0) == 3 and len({distributed.rank_seed(3, r) for r in range(1, 5)}) == 4
    assert distributed.rank_seed(3, 1, 10) != distributed.rank_seed(3, 1)


def test_backends_that_cannot_start_are_one_clear_error(monkeypatch, tmp_path, frames, capsys):
    assert distributed.backend_for(torch.device("cpu")) == "gloo"
    with pytest.raises(ValueError, match="NCCL talks between CUDA devices"):
        distributed.backend_for(torch.device("cpu"), "nccl")
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(ValueError, match="2 processes on this node but it has 1 CUDA device"):
        distributed.rank_device(torch.device("cuda"), 1, 2)
    with pytest.raises(ValueError, match="pass --device cuda"):
        monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
        distributed.rank_device(torch.device("cuda:0"), 1, 2)
    for name, value in (("RANK", "0"), ("WORLD_SIZE", "1"), ("LOCAL_RANK", "0")):  # as a launcher would set them
        monkeypatch.setenv(name, value)
    args = ["translator", "--method", "cyclegan", "--real", frames["real"], "--sim", frames["sim"], "--out",
            str(tmp_path / "x"), "--device", "cpu", "--dist-backend", "nccl"]
    assert train_main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --dist-backend nccl: NCCL talks between CUDA devices") and "\n" not in err
    assert not torch.distributed.is_initialized()


def test_the_global_batch_must_split_evenly(frames, tmp_path):
    cfg = TranslatorTrainConfig(real=frames["real"], sim=frames["sim"], method="cyclegan", batch_size=3,
                                out=str(tmp_path), device="cpu")
    two = distributed.Dist(rank=0, world_size=2, backend="gloo")
    with pytest.raises(ValueError, match="--batch-size 3 is the global batch .* give a multiple of 2"):
        training_mod._train_translator(cfg, two)
