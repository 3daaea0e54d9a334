"""A frame collection on disk: PNG files any image tool reads, plus a small manifest.

Layout::

    COLLECTION/
      manifest.json        format, kind, source, look, size, count, seed, has_labels, classes,
                           frame_episodes (each frame's episode seed, env collections)
      rgb/000000.png ...   uint8 RGB frames
      labels/000000.png    single-channel class maps (sim collections: training targets)
      eval_labels/...      class maps of real collections: kept apart, for measuring only
      target/000000.png    paired collections only: the same pose rendered in ``target_look``

Two kinds: ``frames`` (the default; manifests without a ``kind`` are of it) and ``paired``: the
simulator's free pairs (``frames.sources.collect_pairs``), each pose once in ``look`` (``rgb/``,
usually ``randomized``) and once in ``target_look`` (``target/``, the ``sim`` look), with labels.

The manifest is written last, so a collection without one is incomplete. Any plain folder of
PNG / JPEG images also reads as a collection (``import_image_folder`` turns one into a proper
collection), and :func:`export_cyclegan_layout` writes CycleGAN's ``trainA`` / ``trainB`` folders.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from tqdm.auto import tqdm

from goggles_gym.common.files import atomic_write_text
from goggles_gym.envs.scene import CLASSES
from goggles_gym.frames.images import center_crop_resize, check_frames

FORMAT = "goggles-gym-frames"
VERSION = 1
MANIFEST = "manifest.json"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")


KINDS = ("frames", "paired")


class FrameCollectionError(ValueError):
    """A collection folder is empty, incomplete or holds a file that is not a readable image."""


@dataclass
class FrameCollection:
    """Frames in memory: ``rgb`` N x H x W x 3 uint8; ``labels`` N x H x W uint8 or None;
    ``target`` N x H x W x 3 uint8 for a paired collection (frame ``i`` of ``rgb`` rendered in the
    manifest's ``target_look``), else None."""

    rgb: np.ndarray
    labels: np.ndarray | None = None
    manifest: dict[str, Any] = field(default_factory=dict)
    eval_labels: np.ndarray | None = None
    target: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.rgb)

    @property
    def kind(self) -> str:
        """``frames`` or ``paired`` (see the module docstring)."""
        return self.manifest.get("kind", "frames")

    @property
    def size(self) -> tuple[int, int]:
        """(height, width) of the frames."""
        return tuple(self.rgb.shape[1:3])


class CollectionWriter:
    """Writes frames one by one into a collection folder; :meth:`close` writes the manifest.

    ``labels_role`` is ``"train"`` for sim collections (``labels/``) and ``"eval"`` for real ones
    (``eval_labels/``: ground truth the translators never train on). ``target_look`` makes a paired
    collection (``kind: "paired"``): every :meth:`add` then takes the pose's ``target`` render too.
    """

    def __init__(self, path: str | os.PathLike, *, source: str, look: str | None, size: tuple[int, int],
                 seed: int | None, labels_role: str = "train", extra: dict[str, Any] | None = None,
                 target_look: str | None = None) -> None:
        if labels_role not in ("train", "eval"):
            raise ValueError(f"labels_role must be 'train' or 'eval', got {labels_role!r}")
        self.path = Path(path)
        if (self.path / MANIFEST).exists():
            raise FileExistsError(f"{self.path} already holds a collection; choose another folder or delete it")
        (self.path / "rgb").mkdir(parents=True, exist_ok=True)
        self.labels_dir = self.path / ("labels" if labels_role == "train" else "eval_labels")
        self.paired = target_look is not None
        if self.paired:
            (self.path / "target").mkdir(exist_ok=True)
        self.meta = {"format": FORMAT, "version": VERSION, "kind": "paired" if self.paired else "frames",
                     "source": source, "look": look, "size": list(size), "seed": seed, "labels_role": labels_role,
                     "classes": list(CLASSES), **({"target_look": target_look} if self.paired else {}),
                     **(extra or {})}
        self.size = tuple(size)
        self.count = 0
        self.has_labels = False
        self.episodes: list[int] = []

    def add(self, rgb: np.ndarray, labels: np.ndarray | None = None, episode: int | None = None,
            target: np.ndarray | None = None) -> None:
        """Append one uint8 RGB frame (and optionally its class map and the seed of its episode;
        in a paired collection, always its ``target`` render)."""
        check_frames(rgb, "frame", self.size)
        if self.paired != (target is not None):
            raise ValueError("a paired collection takes a target frame with every frame, and only it does"
                             if self.paired else "target frames go into a paired collection (give target_look)")
        if episode is not None:
            self.episodes.append(int(episode))
        name = f"{self.count:06d}.png"
        if not cv2.imwrite(str(self.path / "rgb" / name), np.ascontiguousarray(rgb[..., ::-1])):
            raise OSError(f"could not write {self.path / 'rgb' / name}")
        if target is not None:
            check_frames(target, "target frame", self.size)
            if not cv2.imwrite(str(self.path / "target" / name), np.ascontiguousarray(target[..., ::-1])):
                raise OSError(f"could not write {self.path / 'target' / name}")
        if labels is not None:
            self.labels_dir.mkdir(exist_ok=True)
            cv2.imwrite(str(self.labels_dir / name), np.ascontiguousarray(labels.astype(np.uint8)))
            self.has_labels = True
        self.count += 1

    def close(self) -> Path:
        """Write the manifest (atomically): the collection is complete."""
        if self.count == 0:
            raise FrameCollectionError(f"no frames were written to {self.path}")
        self.meta.update(count=self.count, has_labels=self.has_labels)
        if self.episodes:
            if len(self.episodes) != self.count:
                raise FrameCollectionError(f"{self.path}: {len(self.episodes)} episode seeds for {self.count} frames; "
                                           "give every frame's episode or none")
            self.meta["frame_episodes"] = self.episodes
        atomic_write_text(self.path / MANIFEST, json.dumps(self.meta, indent=2))
        return self.path


def image_files(folder: str | os.PathLike) -> list[Path]:
    """The image files of a frame folder (e.g. a collection's ``rgb/``), sorted by name; hidden files
    are skipped. Raises :class:`FrameCollectionError` if the folder is missing or empty, or holds
    anything but image files."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FrameCollectionError(f"frame folder not found: {folder}")
    files = sorted(f for f in folder.iterdir() if not f.name.startswith("."))
    if not files:
        raise FrameCollectionError(f"frame folder {folder} is empty; collect frames into it first "
                                   "(python -m goggles_gym.collect)")
    for f in files:
        if f.is_dir() or f.suffix.lower() not in IMAGE_SUFFIXES:
            raise FrameCollectionError(f"{f} is not an image file ({', '.join(IMAGE_SUFFIXES)}); "
                                       "move it out of the frame folder")
    return files


def _read_image(path: Path, flags: int) -> np.ndarray:
    img = cv2.imread(str(path), flags)
    if img is None:
        raise FrameCollectionError(f"{path} is not a readable image (corrupt or truncated); delete or replace it")
    return img


def read_image(path: str | os.PathLike, labels: bool = False) -> np.ndarray:
    """One image file as a uint8 array: an ``(H, W, 3)`` RGB frame, or with ``labels=True`` an
    ``(H, W)`` class map (read as single-channel). Raises :class:`FrameCollectionError` if the file
    is not a readable image."""
    if labels:
        return _read_image(Path(path), cv2.IMREAD_GRAYSCALE)
    return _read_image(Path(path), cv2.IMREAD_COLOR)[..., ::-1]


def _read_stack(files: list[Path], labels: bool, size: tuple[int, int] | None, desc: str) -> np.ndarray:
    out = None
    # no bar for small folders, nor where stderr is not a terminal (a log file, a pipe: disable=None)
    for i, f in enumerate(tqdm(files, desc=desc, leave=False, disable=True if len(files) < 500 else None)):
        img = _read_image(f, cv2.IMREAD_GRAYSCALE if labels else cv2.IMREAD_COLOR)
        if not labels:
            img = img[..., ::-1]
        if out is None:
            size = size or img.shape[:2]
            out = np.empty((len(files), *size) + (() if labels else (3,)), np.uint8)
        if img.shape[:2] != tuple(size):
            raise FrameCollectionError(f"{f} is {img.shape[1]}x{img.shape[0]} but the collection's frames are "
                                       f"{size[1]}x{size[0]}; every frame of a collection must be the same size")
        out[i] = img
    return out


def read_manifest(path: str | os.PathLike) -> dict[str, Any]:
    """A collection's manifest without reading its frames (``{}`` for a plain folder of images)."""
    file = Path(path) / MANIFEST
    if not file.is_file():
        return {}
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise FrameCollectionError(f"{file} is not valid JSON ({exc}); the collection is damaged") from None


def read_collection(path: str | os.PathLike) -> FrameCollection:
    """Read a collection folder (or a plain folder of images) into memory, checking every file;
    a paired collection's ``target/`` frames come as :attr:`FrameCollection.target`."""
    path = Path(path)
    manifest_path = path / MANIFEST
    if not manifest_path.exists():
        files = image_files(path)
        rgb = _read_stack(files, False, None, f"reading {path.name}")
        return FrameCollection(rgb, None, {"format": "image-folder", "source": str(path), "count": len(rgb),
                                           "size": list(rgb.shape[1:3])})
    manifest = read_manifest(path)
    if manifest.get("format") != FORMAT:
        raise FrameCollectionError(f"{manifest_path} is not a goggles-gym frame collection manifest")
    kind = manifest.get("kind", "frames")
    if kind not in KINDS:
        raise FrameCollectionError(f"{manifest_path}: unknown collection kind {kind!r} (this goggles-gym reads "
                                   f"{', '.join(KINDS)}): upgrade goggles-gym")
    size = tuple(manifest["size"])
    files = image_files(path / "rgb")
    if len(files) != manifest["count"]:
        raise FrameCollectionError(f"{path} holds {len(files)} frames but its manifest says {manifest['count']}; "
                                   "the collection is incomplete: collect it again")
    rgb = _read_stack(files, False, size, f"reading {path.name}")
    labels = eval_labels = None
    if manifest.get("has_labels"):
        folder = path / ("labels" if manifest.get("labels_role", "train") == "train" else "eval_labels")
        stack = _read_stack(image_files(folder), True, size, f"reading {path.name} labels")
        if len(stack) != len(rgb):
            raise FrameCollectionError(f"{folder} holds {len(stack)} label maps for {len(rgb)} frames")
        if manifest.get("labels_role", "train") == "train":
            labels = stack
        else:
            eval_labels = stack
    target = None
    if kind == "paired":
        folder = path / "target"
        target = _read_stack(image_files(folder), False, size, f"reading {path.name} targets")
        if len(target) != len(rgb):
            raise FrameCollectionError(f"{folder} holds {len(target)} target frames for {len(rgb)} frames; "
                                       "the paired collection is incomplete: collect it again")
    return FrameCollection(rgb, labels, manifest, eval_labels, target)


def import_image_folder(src: str | os.PathLike, dest: str | os.PathLike, size: tuple[int, int],
                        look: str | None = None) -> Path:
    """Turn any folder of images (e.g. CycleGAN's ``trainA``) into a collection of ``size`` frames."""
    files = image_files(Path(src))
    writer = CollectionWriter(dest, source=f"folder:{src}", look=look, size=size, seed=None)
    for f in tqdm(files, desc="importing", leave=False):
        writer.add(center_crop_resize(read_image(f), size))
    return writer.close()


def export_cyclegan_layout(real: str | os.PathLike, sim: str | os.PathLike, dest: str | os.PathLike) -> Path:
    """Copy two collections into CycleGAN's layout: ``trainA`` = real frames, ``trainB`` = sim frames."""
    dest = Path(dest)
    for name, src in (("trainA", Path(real)), ("trainB", Path(sim))):
        files = image_files(src / "rgb" if (src / MANIFEST).exists() else src)
        (dest / name).mkdir(parents=True, exist_ok=True)
        for f in files:
            shutil.copy2(f, dest / name / f.name)
    return dest
