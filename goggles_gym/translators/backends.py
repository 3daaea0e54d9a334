"""Inference backends for a translator's generator: PyTorch eager (default), ``torch.compile``,
ONNX Runtime (optional extra ``goggles-gym[onnx]``), and ``auto`` (the fastest available here).
Each takes uint8 N x H x W x 3 frames and returns uint8 frames; ``benchmarks/goggles_latency.py``
measures which is fastest."""

from __future__ import annotations

import copy
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from goggles_gym.common.device import module_device
from goggles_gym.common.tensors import array_to_frames, to_array, to_frames, to_tensor

BACKENDS = ("auto", "torch", "compile", "onnx")
Runner = Callable[[np.ndarray], np.ndarray]


def resolve_backend(backend: str, device: torch.device) -> str:
    """``auto`` is ONNX Runtime on a CPU where it is installed (measured about twice as fast as eager
    PyTorch for this generator at 64 x 64, batch 1, by ``benchmarks/goggles_latency.py``), and
    eager PyTorch otherwise (GPU, or no onnxruntime); any other name is returned as it is."""
    if backend != "auto":
        return backend
    if device.type != "cpu":
        return "torch"
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return "torch"
    return "onnx"


def torch_runner(generator: torch.nn.Module, device: torch.device | None = None, compile: bool = False) -> Runner:
    """Eager PyTorch (or ``torch.compile``d) inference under ``torch.inference_mode``; the frames go
    to the generator's device (``device``, if given, must be that device)."""
    on, asked = module_device(generator), None if device is None else torch.device(device)
    if asked is not None and (asked.type != on.type or asked.index not in (None, on.index)):
        raise ValueError(f"torch_runner: the generator sits on {on} but device {device} was asked; "
                         "move the generator there first (generator.to(device))")
    model = torch.compile(generator) if compile else generator

    def run(frames: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return to_frames(model(to_tensor(frames, module_device(generator))))

    return run


ONNX_OPSET = 17


def export_onnx(generator: torch.nn.Module, image_size: tuple[int, int], path: str | Path,
                metadata: dict[str, str] | None = None, opset: int = ONNX_OPSET) -> Path:
    """Export a CPU copy of ``generator`` to ONNX at ``path`` (batch axis dynamic; input ``frames``
    N x 3 x H x W in [-1, 1], output ``translated``), with ``metadata`` in its ``metadata_props``."""
    h, w = image_size
    path = Path(path)
    cpu_copy = copy.deepcopy(generator).cpu().eval()
    with warnings.catch_warnings():  # the exporter's notes on constant folding and instance norm
        warnings.simplefilter("ignore", UserWarning)
        torch.onnx.export(cpu_copy, (torch.zeros(1, 3, h, w),), str(path), input_names=["frames"],
                          output_names=["translated"], dynamic_axes={"frames": {0: "n"}, "translated": {0: "n"}},
                          opset_version=opset, dynamo=False)
    if metadata:
        import onnx

        model = onnx.load(str(path))
        for key, value in metadata.items():
            model.metadata_props.add(key=key, value=str(value))
        onnx.save(model, str(path))
    return path


def _ort():
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise ImportError("the onnx backend needs onnxruntime: pip install 'goggles-gym[onnx]'") from exc
    return ort


def onnx_metadata(path: str | Path) -> dict[str, str]:
    """The ``metadata_props`` of an ONNX file (read with ONNX Runtime; ``{}`` if it has none)."""
    ort = _ort()
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return dict(session.get_modelmeta().custom_metadata_map)


def onnx_file_runner(path: str | Path, threads: int | None = None) -> Runner:
    """Run a saved ONNX export of a generator with ONNX Runtime on the CPU (no export)."""
    ort = _ort()
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or torch.get_num_threads()
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def run(frames: np.ndarray) -> np.ndarray:
        return array_to_frames(session.run(None, {"frames": to_array(frames)})[0])

    return run


def onnx_runner(generator: torch.nn.Module, image_size: tuple[int, int], threads: int | None = None) -> Runner:
    """Export ``generator`` to ONNX (batch size dynamic) and run it with ONNX Runtime on the CPU
    (a CPU copy is exported: the generator itself stays on its device)."""
    _ort()
    with tempfile.TemporaryDirectory() as tmp:
        path = export_onnx(generator, image_size, Path(tmp) / "generator.onnx")
        return onnx_file_runner(path, threads)
