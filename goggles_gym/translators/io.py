"""The translator file: one self-describing ``.pt`` with method, architecture, image size,
normalisation, direction, training config and weights, and :func:`load` that turns it into a
callable from uint8 real frames to uint8 sim-look frames."""

from __future__ import annotations

import hashlib
import os
import pickle
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from goggles_gym.common.device import resolve_device
from goggles_gym.common.files import atomic_write
from goggles_gym.common.tensors import NORMALIZATION
from goggles_gym.frames.images import check_frames
from goggles_gym.translators.backends import (
    BACKENDS,
    onnx_file_runner,
    onnx_metadata,
    onnx_runner,
    resolve_backend,
    torch_runner,
)
from goggles_gym.translators.networks import GENERATORS, make_generator

FORMAT = "goggles-gym-translator"
VERSION = 1


class TranslatorFileError(ValueError):
    """A translator file is missing, corrupt, truncated, foreign or from a newer version."""


def build_generator(arch: dict[str, Any]) -> torch.nn.Module:
    """The generator an ``architecture`` entry describes (files written before ``upsample`` was
    recorded used transposed convolutions)."""
    if arch.get("name") not in GENERATORS:
        raise TranslatorFileError(f"unknown generator architecture {arch.get('name')!r}; this goggles-gym knows "
                                  f"{', '.join(GENERATORS)}: upgrade goggles-gym")
    return make_generator(arch["name"], ngf=int(arch["ngf"]), n_blocks=int(arch["n_blocks"]),
                          n_down=int(arch["n_down"]), upsample=arch.get("upsample", "transpose"))


DIRECTIONS = {"real2sim": "real->sim", "sim2real": "sim->real"}


def _weights(net: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu() for k, v in net.state_dict().items()}


def save_translator(path: str | os.PathLike, generator: torch.nn.Module, *, method: str, image_size: tuple[int, int],
                    config: dict[str, Any], extra: dict[str, Any] | None = None,
                    sim2real: torch.nn.Module | None = None) -> Path:
    """Write a translator file atomically: the real->sim ``generator`` (the goggles) and, when the
    method learns one (CycleGAN-style), the ``sim2real`` generator, for augmenting sim frames."""
    blob = {
        "format": FORMAT, "version": VERSION, "method": method, "direction": DIRECTIONS["real2sim"],
        "image_size": list(image_size), "normalization": NORMALIZATION,
        "architecture": generator.architecture(),
        "config": config, "extra": extra or {},
        "state_dict": _weights(generator),
    }
    if sim2real is not None:
        blob["sim2real"] = {"architecture": sim2real.architecture(), "state_dict": _weights(sim2real)}
    return atomic_write(path, lambda tmp: torch.save(blob, tmp))


def read_translator_file(path: str | os.PathLike) -> dict[str, Any]:
    """Read and check a translator file's contents (weights-only unpickling: no code runs)."""
    path = Path(path)
    if path.is_dir():
        raise TranslatorFileError(_folder_hint(path))
    if not path.is_file():
        raise TranslatorFileError(f"translator file not found: {path}")
    if _is_policy_zip(path):
        raise TranslatorFileError(f"{path} is a policy (a Stable-Baselines3 model zip), not a translator file: pass "
                                  "the translator.pt of a translator run (goggles-gym train translator --out DIR "
                                  "writes DIR/translator.pt)")
    if zipfile.is_zipfile(path) and not _is_torch_archive(path):
        raise TranslatorFileError(f"{path} is a zip archive but not a translator file (no saved torch data in it): "
                                  "pass the translator.pt of a translator run")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, zipfile.BadZipFile, pickle.UnpicklingError, ValueError) as exc:
        raise TranslatorFileError(f"{path} is not a readable translator file (corrupt or truncated: {exc}); "
                                  "train it again or restore it") from None
    if not isinstance(blob, dict) or blob.get("format") != FORMAT:
        raise TranslatorFileError(f"{path} is not a goggles-gym translator file; "
                                  "train one with `python -m goggles_gym.train translator`")
    if blob.get("version", 0) > VERSION:
        raise TranslatorFileError(f"{path} has format version {blob['version']}; this goggles-gym reads up to "
                                  f"{VERSION}: upgrade goggles-gym")
    return blob


def _is_policy_zip(path: Path) -> bool:
    """An SB3 model zip (``data`` and ``policy.pth`` inside), not a torch checkpoint."""
    if not zipfile.is_zipfile(path):
        return False
    try:
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
    except (OSError, zipfile.BadZipFile):
        return False
    return "data" in names and "policy.pth" in names


def _is_torch_archive(path: Path) -> bool:
    """A file ``torch.save`` wrote (a zip whose entries sit under one folder with a ``data.pkl``)."""
    try:
        with zipfile.ZipFile(path) as zf:
            return any(n.endswith("/data.pkl") for n in zf.namelist())
    except (OSError, zipfile.BadZipFile):
        return False


def _folder_hint(path: Path) -> str:
    """What to pass instead of the folder ``path``."""
    if (path / "translator.pt").is_file():
        return f"{path} is a translator run folder: pass its translator file, {path / 'translator.pt'}"
    if (path / "model.zip").is_file() or (path / "summary.json").is_file():
        return (f"{path} is a policy run folder, not a translator: pass a translator.pt "
                "(from goggles-gym train translator)")
    found = [f for depth in ("*", "*/*", "*/*/*") for f in sorted(path.glob(f"{depth}/translator.pt"))][:3]
    if found:
        return f"{path} is a folder: pass a translator file, e.g. {', '.join(map(str, found))}"
    return f"{path} is a folder, not a translator file: pass a translator.pt (from goggles-gym train translator)"


class Translator:
    """A real->sim translator: call it on uint8 RGB frames (H x W x 3 or N x H x W x 3).

    ``backend`` picks the inference engine: ``torch`` (eager, ``torch.inference_mode``, the
    default), ``compile`` (``torch.compile``), ``onnx`` (ONNX Runtime on the CPU) or ``auto``
    (ONNX Runtime on a CPU where it is installed, else eager; ``backend`` then names the one used).
    ``onnx_path``, a saved export of this generator, is run instead of exporting one (onnx only).
    """

    def __init__(self, generator: torch.nn.Module, image_size: tuple[int, int], method: str = "unknown",
                 meta: dict[str, Any] | None = None, device: str | torch.device = "auto",
                 backend: str = "torch", onnx_path: str | os.PathLike | None = None) -> None:
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
        self.device = resolve_device(device)
        self.generator = generator.to(self.device).eval()
        self.image_size = tuple(image_size)
        self.method = method
        self.meta = meta or {}
        self.backend = backend = resolve_backend(backend, self.device)
        if backend == "onnx":
            self._run = (onnx_file_runner(onnx_path) if onnx_path is not None
                         else onnx_runner(self.generator, self.image_size))
        else:
            self._run = torch_runner(self.generator, compile=backend == "compile")

    @property
    def observation_shape(self) -> tuple[int, int, int]:
        """The frame shape it accepts and returns: H x W x 3."""
        return (*self.image_size, 3)

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        """Translate real-look frames to sim-look frames, keeping the input's shape (uint8)."""
        single = np.asarray(frames).ndim == 3
        out = self._run(check_frames(frames, "frames to translate", self.image_size))
        return out[0] if single else out


def file_sha256(path: str | os.PathLike) -> str:
    """The sha256 of a file (hex), read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def onnx_export_path(path: str | os.PathLike, direction: str = "real2sim") -> Path:
    """Where ``goggles-gym export`` puts a translator file's ONNX export by default: beside it,
    ``translator.onnx`` (``translator.sim2real.onnx`` for the sim->real generator)."""
    path = Path(path)
    return path.with_suffix(".onnx" if direction == "real2sim" else ".sim2real.onnx")


def saved_onnx_export(path: str | os.PathLike, direction: str = "real2sim",
                      sha256: str | None = None) -> Path | None:
    """The saved ONNX export beside translator file ``path`` whose metadata names this very file
    (its sha256) and ``direction``, or None (no export, a stale one, or one that does not read)."""
    candidate = onnx_export_path(path, direction)
    if not candidate.is_file():
        return None
    try:
        meta = onnx_metadata(candidate)
    except Exception:  # noqa: BLE001 - a damaged export is ignored, one is made on the fly
        return None
    if meta.get("translator_sha256") != (sha256 or file_sha256(path)) or meta.get("direction") != DIRECTIONS[direction]:
        return None
    return candidate


def load(path: str | os.PathLike, device: str = "auto", backend: str = "torch",
         direction: str = "real2sim") -> Translator:
    """Load a translator file as a :class:`Translator` (see its ``backend``); a corrupt or foreign
    file fails clearly. ``direction="sim2real"`` loads the sim->real generator that CycleGAN-style
    methods also learn (to make sim frames look real, e.g. for augmentation). With the onnx backend
    a saved export beside the file (``goggles-gym export``) is used when its recorded sha256 matches
    the file; otherwise one is exported on the fly."""
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {', '.join(DIRECTIONS)}, got {direction!r}")
    blob = read_translator_file(path)
    part = blob
    if direction == "sim2real":
        part = blob.get("sim2real")
        if part is None:
            raise TranslatorFileError(f"{path} holds no sim->real generator (method {blob.get('method')!r} learns "
                                      "none, or the file predates it); use direction='real2sim' or a CycleGAN-style "
                                      "translator trained with this goggles-gym")
    generator = build_generator(part["architecture"])
    try:
        generator.load_state_dict(part["state_dict"])
    except (RuntimeError, KeyError) as exc:
        raise TranslatorFileError(f"{path}: weights do not match the recorded architecture ({exc})") from None
    meta = {k: v for k, v in blob.items() if k not in ("state_dict", "sim2real")}
    meta["direction"] = DIRECTIONS[direction]
    onnx_path = None
    if backend in BACKENDS and resolve_backend(backend, resolve_device(device)) == "onnx":
        onnx_path = saved_onnx_export(path, direction)
    meta["onnx_export"] = None if onnx_path is None else str(onnx_path)
    return Translator(generator, tuple(blob["image_size"]), blob["method"], meta, device, backend, onnx_path)
