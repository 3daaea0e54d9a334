"""``goggles-gym export`` (or ``python -m goggles_gym.export``): save a translator's generator as ONNX.

    python -m goggles_gym.export --translator runs/x/translators/vr-goggles/seed0/translator.pt --format onnx

writes ``translator.onnx`` beside ``translator.pt`` (``--out`` elsewhere; batch axis dynamic), checks it
against PyTorch on a few random frames (max abs difference in 0..255 units; more than 2 fails) and records
in its ``metadata_props`` the opset, input size, method, direction, normalization and the sha256 of the
translator file. ``translators.load(path, backend="onnx")`` then runs that export instead of exporting
one on every load, as long as the sha256 matches.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from goggles_gym.common.cli import ArgumentParser, add_dataclass_args, arg, build_config, program, run_cli

FORMATS = ("onnx",)
#: Largest allowed difference between the export and PyTorch, in 0..255 units.
TOLERANCE = 2


@dataclass
class ExportConfig:
    """Options of ``goggles-gym export``."""

    translator: str = arg("", "translator file (translator.pt) to export", required=True)
    format: str = arg("onnx", "export format", choices=FORMATS)
    out: str = arg("", "output file (empty: translator.onnx beside the translator file; "
                       "translator.sim2real.onnx for --direction sim2real)")
    direction: str = arg("real2sim", "which generator to export", choices=("real2sim", "sim2real"))
    opset: int = arg(17, "ONNX opset version")
    check_frames: int = arg(4, "random frames the export is checked on against PyTorch")
    seed: int = arg(0, "seed of the check frames")

    def __post_init__(self) -> None:
        if not self.translator:
            raise ValueError("--translator is required: the translator.pt to export")
        if self.format not in FORMATS:
            raise ValueError(f"--format {self.format!r}: one of {', '.join(FORMATS)}")
        if self.check_frames < 1:
            raise ValueError(f"--check-frames {self.check_frames}: must be at least 1")


def export_translator(translator: str | os.PathLike, out: str | os.PathLike | None = None, *,
                      direction: str = "real2sim", opset: int = 17, check_frames: int = 4,
                      seed: int = 0) -> tuple[Path, int]:
    """Export a translator file's generator to ONNX; return the file and the max abs difference to
    PyTorch (0..255 units) on ``check_frames`` random frames. Raises ``RuntimeError`` above
    :data:`TOLERANCE` (the file is then not kept)."""
    from goggles_gym.translators.backends import export_onnx, onnx_file_runner
    from goggles_gym.translators.io import file_sha256, load, onnx_export_path

    path = Path(translator)
    reference = load(path, device="cpu", backend="torch", direction=direction)
    out = Path(out) if out else onnx_export_path(path, direction)
    meta = {"format": "goggles-gym-translator-onnx", "opset": str(opset),
            "input_size": json.dumps(list(reference.image_size)), "method": str(reference.method),
            "direction": reference.meta["direction"], "normalization": str(reference.meta.get("normalization", "")),
            "translator_sha256": file_sha256(path), "translator_file": path.name}
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    try:
        export_onnx(reference.generator, reference.image_size, tmp, meta, opset)
        frames = np.random.default_rng(seed).integers(0, 256, (check_frames, *reference.observation_shape), np.uint8)
        diff = int(np.abs(onnx_file_runner(tmp)(frames).astype(int) - reference(frames).astype(int)).max())
        if diff > TOLERANCE:
            raise RuntimeError(f"the ONNX export differs from PyTorch by {diff} (0..255 units, more than "
                               f"{TOLERANCE}) on random frames; not saved (try another --opset)")
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out, diff


def parser() -> argparse.ArgumentParser:
    """Argument parser of the export CLI."""
    ap = ArgumentParser(prog=f"{program()} export", description=__doc__,
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    add_dataclass_args(ap, ExportConfig)
    return ap


def export_main(argv: Sequence[str] | None = None) -> None:
    """Parse flags, export and check."""
    config = build_config(ExportConfig, {}, parser().parse_args(argv))
    out, diff = export_translator(config.translator, config.out or None, direction=config.direction,
                                  opset=config.opset, check_frames=config.check_frames, seed=config.seed)
    print(f"max abs difference to PyTorch on {config.check_frames} random frames: {diff} (0..255 units)")
    print(f"onnx: {out}")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; errors become one line and exit status 2."""
    return run_cli(export_main, argv)


if __name__ == "__main__":
    sys.exit(main())
