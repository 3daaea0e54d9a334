"""``goggles-gym translate`` (or ``python -m goggles_gym.translate``): run a translator over frames,
like CycleGAN's ``test.py``.

    python -m goggles_gym.translate --translator runs/x/translator.pt --input runs/frames/real --out runs/translated
    python -m goggles_gym.translate --translator runs/x/translator.pt --input lab.mp4 --out lab_sim.mp4 --side-by-side
    python -m goggles_gym.translate --translator runs/x/translator.pt --input 0 --count 300 --out webcam.mp4

The input is a frame collection or folder of images, a video file, or a camera index / stream URL;
every frame is centre-cropped and resized to the translator's image size. The output is an H.264 MP4
when ``--out`` ends in ``.mp4``, else a new frame collection (domain ``translated``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from goggles_gym.common.cli import ArgumentParser, add_dataclass_args, arg, build_config, program, run_cli
from goggles_gym.frames.images import center_crop_resize

LOOK_OF_OUTPUT = {"real2sim": "sim", "sim2real": "real"}


@dataclass
class TranslateConfig:
    """Options of ``goggles-gym translate``."""

    translator: str = arg("", "translator file (translator.pt)", required=True)
    input: str = arg("", "frame collection or image folder, video file, or camera index / stream URL",
                     required=True)
    out: str = arg("", "output: a path ending in .mp4 is an H.264 video, anything else a new frame collection",
                   required=True)
    direction: str = arg("real2sim", "which generator to run (sim2real: the one CycleGAN-style methods also learn)",
                         choices=("real2sim", "sim2real"))
    backend: str = arg("auto", "inference backend", choices=("auto", "torch", "compile", "onnx"))
    device: str = arg("auto", "torch device (auto, cpu, cuda, cuda:1, mps)")
    batch_size: int = arg(64, "frames translated at once")
    count: int = arg(0, "stop after this many frames (0: all; required for a camera)")
    side_by_side: bool = arg(False, "write input | translated side by side")
    fps: float = arg(0.0, "frame rate of an .mp4 output (0: the input video's, else 5)")
    progress_bar: bool = arg(True, "show a progress bar")

    def __post_init__(self) -> None:
        for name in ("translator", "input", "out"):
            if not getattr(self, name):
                raise ValueError(f"--{name} is required (see {program()} translate --help)")
        if self.batch_size < 1:
            raise ValueError(f"--batch-size {self.batch_size}: must be at least 1 (frames translated at once)")
        if self.count < 0:
            raise ValueError(f"--count {self.count}: must be 0 (all frames) or more")
        if self.fps < 0:
            raise ValueError(f"--fps {self.fps}: must be 0 (the input's) or more")


def _is_camera(source: str) -> bool:
    return source.isdigit() or "://" in source


def open_input(source: str, count: int = 0) -> tuple[Iterator[np.ndarray], int | None, float | None]:
    """The RGB frames of ``source`` (a collection / image folder, a video, a camera or stream), how
    many there will be (None if unknown) and the video's frame rate (None if not a video)."""
    from goggles_gym.frames.collection import MANIFEST, image_files, read_image

    path = Path(source)
    if not _is_camera(source) and not path.exists():
        raise FileNotFoundError(f"input not found: {source} (give a frame collection or image folder, "
                                "a video file, or a camera index / stream URL)")
    if path.is_dir():
        files = image_files(path / "rgb" if (path / MANIFEST).is_file() else path)
        files = files[:count] if count else files
        return (read_image(f) for f in files), len(files), None
    if source.isdigit() and not count:
        raise ValueError(f"--input {source} is a camera: give --count N to stop after N frames")
    from goggles_gym.frames.sources import open_capture

    try:
        cap = open_capture(source)
    except RuntimeError:
        if _is_camera(source):
            raise
        raise ValueError(f"--input {source} is not a frame collection, image folder, video or camera "
                         "(OpenCV cannot open it as a video)") from None
    known = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) if not _is_camera(source) else 0
    if not _is_camera(source) and known <= 0:
        ok, _ = cap.read()
        if not ok:
            cap.release()
            raise ValueError(f"--input {source} is not a frame folder, a video or a camera: no frame could be read")
        cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
    fps = cap.get(cv2.CAP_PROP_FPS) or None

    def frames() -> Iterator[np.ndarray]:
        try:
            n = 0
            while not count or n < count:
                ok, frame = cap.read()
                if not ok:
                    return
                yield frame[..., ::-1]
                n += 1
        finally:
            cap.release()

    total = min(known, count) if known > 0 and count else (known or count or None)
    return frames(), total, fps


def _batches(frames: Iterator[np.ndarray], size: int) -> Iterator[list[np.ndarray]]:
    batch: list[np.ndarray] = []
    for frame in frames:
        batch.append(frame)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _check_out(out: str) -> None:
    path = Path(out)
    if out.lower().endswith(".mp4"):
        if path.is_dir():
            raise ValueError(f"--out {out} is a folder; give a new .mp4 file")
        return
    if path.is_file():
        raise ValueError(f"--out {out} is a file; give a new folder for the collection (or a path ending in .mp4)")
    if path.is_dir() and any(path.iterdir()):
        raise ValueError(f"--out {out} already exists and is not empty; choose a new folder or delete it")


def translate(config: TranslateConfig) -> tuple[Path, int]:
    """Translate ``config.input`` into ``config.out``; return the output path and the frame count."""
    from goggles_gym.common.video import Mp4Writer
    from goggles_gym.frames.collection import CollectionWriter
    from goggles_gym.translators import load

    _check_out(config.out)
    frames, total, video_fps = open_input(config.input, config.count)
    translator = load(config.translator, device=config.device, backend=config.backend, direction=config.direction)
    h, w = translator.image_size
    print(f"frames are centre-cropped and resized to {h} x {w} (the translator's image size); "
          f"{translator.meta['direction']} on {translator.backend}", file=sys.stderr)
    size = (h, 2 * w) if config.side_by_side else (h, w)
    video = config.out.lower().endswith(".mp4")
    if video:
        Path(config.out).parent.mkdir(parents=True, exist_ok=True)
        writer = Mp4Writer(config.out, fps=config.fps or video_fps or 5.0)
    else:
        writer = CollectionWriter(config.out, source=f"translate:{config.input}",
                                  look=LOOK_OF_OUTPUT[config.direction], size=size, seed=None, labels_role="eval",
                                  extra={"domain": "translated", "translator": str(config.translator),
                                         "direction": translator.meta["direction"],
                                         "side_by_side": config.side_by_side})
    n = 0
    try:
        with tqdm(total=total, desc="translating", unit="frame", disable=not config.progress_bar) as bar:
            for batch in _batches(frames, config.batch_size):
                inputs = np.stack([center_crop_resize(np.ascontiguousarray(f), (h, w)) for f in batch])
                outputs = translator(inputs)
                if config.side_by_side:
                    outputs = np.concatenate([inputs, outputs], axis=2)
                for frame in outputs:
                    (writer.write if video else writer.add)(frame)
                n += len(batch)
                bar.update(len(batch))
    finally:
        if video:
            writer.close()
    if n == 0:
        raise ValueError(f"--input {config.input}: no frames to translate")
    return (Path(config.out) if video else writer.close()), n


def parser() -> argparse.ArgumentParser:
    """Argument parser of the translate CLI."""
    ap = ArgumentParser(prog=f"{program()} translate", description=__doc__,
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    add_dataclass_args(ap, TranslateConfig)
    return ap


def translate_main(argv: Sequence[str] | None = None) -> None:
    """Parse flags and translate."""
    config = build_config(TranslateConfig, {}, parser().parse_args(argv))
    out, n = translate(config)
    print(f"translated {n} frames: {out}")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; errors become one line and exit status 2."""
    return run_cli(translate_main, argv)


if __name__ == "__main__":
    sys.exit(main())
