"""The one place that turns a ``--device`` option into a :class:`torch.device`, and the device a
network sits on (every function that feeds a network puts its inputs there)."""

from __future__ import annotations

from functools import lru_cache

import torch

NO_CUDA = "--device cuda: no CUDA device is available here; use --device cpu or auto"


@lru_cache(maxsize=1)
def _cuda_works() -> bool:
    """True when CUDA is present and a tensor can actually be put on it (probed once)."""
    if not torch.cuda.is_available():
        return False
    try:
        torch.zeros(1, device="cuda")
    except RuntimeError:
        return False
    return True


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``auto``: CUDA when present and working, else CPU; any other name or device as given.

    Asking for CUDA (``cuda``, ``cuda:N``) where there is none raises ``ValueError``.

    >>> resolve_device("cpu")
    device(type='cpu')
    """
    if isinstance(device, str) and device.strip().lower() == "auto":
        return torch.device("cuda" if _cuda_works() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"--device {device}: not a torch device ({exc}); use auto, cpu, cuda or cuda:N") from None
    if dev.type == "cuda":
        if not _cuda_works():
            raise ValueError(NO_CUDA)
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(f"--device {device}: only {torch.cuda.device_count()} CUDA device(s) here "
                             f"(cuda:0 to cuda:{torch.cuda.device_count() - 1}); use --device cuda or auto")
    return dev


def module_device(net: torch.nn.Module) -> torch.device:
    """The device of ``net``'s first parameter (or buffer); CPU for a net with neither.

    >>> module_device(torch.nn.Linear(2, 2))
    device(type='cpu')
    >>> module_device(torch.nn.ReLU())
    device(type='cpu')
    """
    for tensor in net.parameters():
        return tensor.device
    for tensor in net.buffers():
        return tensor.device
    return torch.device("cpu")
