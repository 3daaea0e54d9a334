"""``goggles-gym translate`` and ``goggles-gym export`` on a tiny translator."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch

from goggles_gym import cli
from goggles_gym.common.video import Mp4Writer
from goggles_gym.frames.collection import read_collection
from goggles_gym.translate import TranslateConfig, translate
from goggles_gym.translators import load, save_translator
from goggles_gym.translators.networks import ResnetGenerator, init_weights

SIZE = (32, 32)


@pytest.fixture(scope="module")
def translator(tmp_path_factory):
    torch.manual_seed(0)
    root = tmp_path_factory.mktemp("translate")
    return save_translator(root / "translator.pt", init_weights(ResnetGenerator(ngf=4, n_blocks=1)),
                           method="cyclegan", image_size=SIZE, config={},
                           sim2real=init_weights(ResnetGenerator(ngf=4, n_blocks=1)))


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    folder = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    for i in range(5):
        cv2.imwrite(str(folder / f"{i:03d}.png"), rng.integers(0, 256, (48, 64, 3), np.uint8))
    return folder


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    path = tmp_path_factory.mktemp("video") / "in.mp4"
    with Mp4Writer(path, fps=10) as writer:
        for v in range(0, 250, 40):
            writer.write(np.full((40, 60, 3), v, np.uint8))
    return path


def _config(**kw) -> TranslateConfig:
    return TranslateConfig(progress_bar=False, batch_size=2, **{k: str(v) if k in ("translator", "input", "out")
                                                                 else v for k, v in kw.items()})


def _video_frames(path) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    out = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        out.append(frame)
    cap.release()
    return out


def test_folder_to_collection_matches_the_translator(translator, images, tmp_path):
    out, n = translate(_config(translator=translator, input=images, out=tmp_path / "out", backend="torch"))
    assert n == 5
    coll = read_collection(out)
    assert coll.rgb.shape == (5, *SIZE, 3)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["source"] == f"translate:{images}" and manifest["look"] == "sim"
    assert manifest["domain"] == "translated"
    first = cv2.imread(str(images / "000.png"))[..., ::-1]
    from goggles_gym.frames.images import center_crop_resize

    expected = load(translator, device="cpu")(center_crop_resize(np.ascontiguousarray(first), SIZE))
    assert np.array_equal(coll.rgb[0], expected)
    # a collection as input works too, and sim2real writes the real look
    again, _ = translate(_config(translator=translator, input=out, out=tmp_path / "back", direction="sim2real"))
    assert read_collection(again).manifest["look"] == "real"


def test_video_to_mp4_and_side_by_side(translator, video, tmp_path):
    out, n = translate(_config(translator=translator, input=video, out=tmp_path / "out.mp4", backend="torch"))
    frames = _video_frames(out)
    assert n == len(_video_frames(video)) == len(frames) == 7
    assert frames[0].shape == (*SIZE, 3)
    side, _ = translate(_config(translator=translator, input=video, out=tmp_path / "side.mp4", side_by_side=True,
                                count=3))
    frames = _video_frames(side)
    assert len(frames) == 3 and frames[0].shape == (SIZE[0], 2 * SIZE[1], 3)


def test_sim2real_differs_from_real2sim(translator, images, tmp_path):
    a, _ = translate(_config(translator=translator, input=images, out=tmp_path / "a", backend="torch"))
    b, _ = translate(_config(translator=translator, input=images, out=tmp_path / "b", direction="sim2real"))
    assert not np.array_equal(read_collection(a).rgb, read_collection(b).rgb)


def _error(capsys, argv) -> str:
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "Traceback" not in err[0]
    return err[0]


def test_bad_inputs_are_one_line(translator, images, tmp_path, capsys):
    base = ["translate", "--no-progress-bar"]
    assert "not found" in _error(capsys, base + ["--translator", str(tmp_path / "no.pt"), "--input", str(images),
                                                 "--out", str(tmp_path / "o1")])
    policy = tmp_path / "model.zip"
    import zipfile

    with zipfile.ZipFile(policy, "w") as zf:
        zf.writestr("data", "{}")
        zf.writestr("policy.pth", "")
    assert "policy" in _error(capsys, base + ["--translator", str(policy), "--input", str(images),
                                              "--out", str(tmp_path / "o2")])
    text = tmp_path / "notes.txt"
    text.write_text("not a video")
    assert "notes.txt" in _error(capsys, base + ["--translator", str(translator), "--input", str(text),
                                                 "--out", str(tmp_path / "o3")])
    assert "not found" in _error(capsys, base + ["--translator", str(translator), "--input", str(tmp_path / "nope"),
                                                 "--out", str(tmp_path / "o4")])
    assert "not empty" in _error(capsys, base + ["--translator", str(translator), "--input", str(images),
                                                 "--out", str(images)])
    assert "--batch-size 0" in _error(capsys, base + ["--translator", str(translator), "--input", str(images),
                                                      "--out", str(tmp_path / "o5"), "--batch-size", "0"])
    assert "--count" in _error(capsys, base + ["--translator", str(translator), "--input", "0",
                                               "--out", str(tmp_path / "o6")])


def test_export_then_onnx_load_uses_it_and_ignores_a_stale_one(translator, tmp_path, monkeypatch, capsys):
    pytest.importorskip("onnxruntime")
    pt = tmp_path / "translator.pt"
    pt.write_bytes(translator.read_bytes())
    assert cli.main(["export", "--translator", str(pt), "--format", "onnx"]) == 0
    out = capsys.readouterr().out
    assert "max abs difference" in out and (tmp_path / "translator.onnx").is_file()
    import onnx

    meta = {p.key: p.value for p in onnx.load(str(tmp_path / "translator.onnx")).metadata_props}
    assert meta["opset"] == "17" and json.loads(meta["input_size"]) == list(SIZE)
    assert meta["method"] == "cyclegan" and meta["direction"] == "real->sim" and meta["normalization"]
    assert len(meta["translator_sha256"]) == 64

    frames = np.random.default_rng(1).integers(0, 256, (3, *SIZE, 3), np.uint8)
    reference = load(pt, device="cpu", backend="torch")(frames).astype(int)

    def no_export(*args, **kwargs):
        raise AssertionError("torch.onnx.export called on load")

    with monkeypatch.context() as m:
        m.setattr(torch.onnx, "export", no_export)
        fast = load(pt, device="cpu", backend="onnx")
        assert fast.meta["onnx_export"] == str(tmp_path / "translator.onnx")
        assert np.abs(fast(frames).astype(int) - reference).max() <= 2
        with pytest.raises(AssertionError, match="called on load"):  # sim2real has no export: made on the fly
            load(pt, device="cpu", backend="onnx", direction="sim2real")

    # a different translator file under the same name: the export is stale and ignored
    save_translator(pt, init_weights(ResnetGenerator(ngf=4, n_blocks=1)), method="cyclegan", image_size=SIZE,
                    config={"other": 1})
    calls = []
    real_export = torch.onnx.export
    monkeypatch.setattr(torch.onnx, "export", lambda *a, **k: calls.append(1) or real_export(*a, **k))
    fresh = load(pt, device="cpu", backend="onnx")
    assert calls and fresh.meta["onnx_export"] is None
    assert np.abs(fresh(frames).astype(int) - load(pt, device="cpu")(frames).astype(int)).max() <= 2
