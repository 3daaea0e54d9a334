"""Training on several processes or GPUs with ``torch.distributed``: the one place that knows
whether this process is one of several, which rank it is, which backend it talks through, and
the few collectives the training loops need.

A process started by ``torchrun`` (``torch.distributed.is_torchelastic_launched()``, or ``RANK``
and ``WORLD_SIZE`` set by another launcher) joins the process group that torchrun's environment
describes (``env://``: ``MASTER_ADDR``, ``MASTER_PORT``, ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``).
Any other process is a plain single process: :func:`session` starts no process group and every
helper here is a no-op (:func:`wrap` returns the network itself, :func:`barrier` returns at once),
so a plain run does exactly what it did before distributed training existed.

The backend follows the device: gloo on the CPU, NCCL on CUDA, one GPU per process (the process of
local rank ``r`` trains on ``cuda:r``). Where a backend cannot start (NCCL without CUDA, more
processes on a node than GPUs, a torch built without it) :func:`session` raises one clear line.
"""

from __future__ import annotations

import contextlib
import inspect
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from goggles_gym.common.cli import one_line
from goggles_gym.common.device import resolve_device

BACKENDS = ("auto", "gloo", "nccl")


@dataclass(frozen=True)
class Dist:
    """Where this process stands: ``rank`` of ``world_size`` processes (``local_rank`` on its node),
    the ``backend`` of their process group (``None``: a plain single process, no group) and the
    ``device`` this rank trains on."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def active(self) -> bool:
        """True when a process group joins this process to others (even a group of one)."""
        return self.backend is not None

    @property
    def is_main(self) -> bool:
        """Rank 0: the process that writes files, logs and progress bars."""
        return self.rank == 0

    def shard(self, n: int) -> slice:
        """This rank's rows of a global batch of ``n``: rank ``r`` of ``W`` takes rows
        ``r * n // W`` to ``(r + 1) * n // W``, so the ranks' rows, in rank order, are the whole batch.

        >>> Dist(rank=1, world_size=2).shard(8), Dist().shard(8)
        (slice(4, 8, None), slice(0, 8, None))
        """
        return slice(self.rank * n // self.world_size, (self.rank + 1) * n // self.world_size)


SINGLE = Dist()


def launched() -> bool:
    """True in a process that a distributed launcher started (torchrun, or ``RANK`` and ``WORLD_SIZE`` set)."""
    if "RANK" in os.environ and "WORLD_SIZE" in os.environ:
        return True
    return torch.distributed.is_available() and torch.distributed.is_torchelastic_launched()


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    try:
        return int(value) if value else default
    except ValueError:
        raise ValueError(f"the environment variable {name}={value!r} is not a whole number; launch with torchrun, "
                         "which sets it") from None


def backend_for(device: torch.device, backend: str = "auto") -> str:
    """The process-group backend for ``device``: ``auto`` is gloo on the CPU and NCCL on CUDA.

    Raises ``ValueError`` (one line, with the fix) where that backend cannot run.

    >>> backend_for(torch.device("cpu"))
    'gloo'
    """
    if backend not in BACKENDS:
        raise ValueError(f"--dist-backend {backend}: unknown; use one of {', '.join(BACKENDS)}")
    if not torch.distributed.is_available():
        raise ValueError("this torch build has no torch.distributed, which a torchrun launch needs; install a torch "
                         "with it (the PyPI wheels have it), or run as one plain process (python -m ...)")
    chosen = backend if backend != "auto" else ("nccl" if device.type == "cuda" else "gloo")
    if chosen == "nccl":
        if device.type != "cuda":
            raise ValueError(f"--dist-backend nccl: NCCL talks between CUDA devices but this run trains on {device}; "
                             "use --dist-backend gloo (or auto) on the CPU, or --device cuda")
        if not torch.distributed.is_nccl_available():
            raise ValueError("--dist-backend nccl: this torch build has no NCCL (a CPU-only or non-Linux build); "
                             "use --dist-backend gloo, or install a CUDA build of torch")
    elif not torch.distributed.is_gloo_available():
        raise ValueError(f"the gloo backend is not available in this torch build, which {device} training on several "
                         "processes needs; install a torch with gloo (the PyPI wheels have it), or use --device cuda "
                         "--dist-backend nccl")
    return chosen


def rank_device(device: torch.device, local_rank: int, local_world_size: int) -> torch.device:
    """The device of the process of ``local_rank``: one GPU per process (``cuda`` -> ``cuda:local_rank``).

    Raises ``ValueError`` where the node has fewer GPUs than processes, or one GPU is named for all.

    >>> rank_device(torch.device("cpu"), 1, 2)
    device(type='cpu')
    """
    if device.type != "cuda":
        return device
    count = torch.cuda.device_count()
    if local_world_size > count:
        raise ValueError(f"torchrun started {local_world_size} processes on this node but it has {count} CUDA "
                         f"device(s): one process per GPU; start at most {count} (--nproc-per-node {count}), or "
                         "train with --device cpu")
    if device.index is not None and local_world_size > 1:
        raise ValueError(f"--device {device}: under torchrun with {local_world_size} processes on this node each "
                         "process trains on the GPU of its local rank; pass --device cuda (or auto)")
    return torch.device("cuda", local_rank if device.index is None else device.index)


def current(device: torch.device | None = None) -> Dist:
    """This process's :class:`Dist` (:data:`SINGLE` on ``device`` outside a process group)."""
    device = device or torch.device("cpu")
    if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
        return Dist(device=device)
    return Dist(rank=torch.distributed.get_rank(), world_size=torch.distributed.get_world_size(),
                local_rank=_env_int("LOCAL_RANK", 0), backend=torch.distributed.get_backend(), device=device)


@contextlib.contextmanager
def session(device: str | torch.device = "cpu", backend: str = "auto") -> Iterator[Dist]:
    """Join the process group of a torchrun launch for the block, on this rank's device.

    A plain process (not :func:`launched`) gets :data:`SINGLE`-like ``Dist`` on ``device``, with no
    process group. Inside a group started earlier (a segmentation net trained by the translator's
    training) the group is reused and left open; a group started here is destroyed at the end.
    """
    device = resolve_device(device)
    if not launched():
        yield Dist(device=device)
        return
    local_rank, local_world = _env_int("LOCAL_RANK", 0), _env_int("LOCAL_WORLD_SIZE", _env_int("WORLD_SIZE", 1))
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        if device.type == "cuda" and device.index is None:
            device = torch.device("cuda", local_rank)
        yield current(device)
        return
    device = rank_device(device, local_rank, local_world)
    chosen = backend_for(device, backend)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    try:
        torch.distributed.init_process_group(chosen, init_method="env://",
                                             **({"device_id": device} if chosen == "nccl" else {}))
    except Exception as exc:  # noqa: BLE001 - a store, socket or backend failure: say which, in one line
        raise RuntimeError(f"torch.distributed could not start its {chosen} backend on {device} "
                           f"(rank {os.environ.get('RANK')} of {os.environ.get('WORLD_SIZE')}): {one_line(exc)[:300]}; "
                           "launch with torchrun (it sets MASTER_ADDR, MASTER_PORT, RANK, WORLD_SIZE), "
                           "or run as one plain process") from None
    try:
        yield current(device)
    finally:
        torch.distributed.destroy_process_group()


#: DDP's switch for the buffer broadcast before every forward (renamed in newer torch versions).
_NO_FORWARD_BUFFER_SYNC = ("forward_sync_buffers" if "forward_sync_buffers" in
                           inspect.signature(nn.parallel.DistributedDataParallel.__init__).parameters
                           else "broadcast_buffers")


class _Replica(nn.parallel.DistributedDataParallel):
    """``DistributedDataParallel`` that reads like the network it wraps: its attributes and methods
    (``stride``, ``encode``, ``architecture``) and its ``state_dict`` (no ``module.`` prefix, so a
    checkpoint is the same whatever the number of processes)."""

    def __getattr__(self, name: str):  # noqa: ANN204 - whatever the wrapped network holds
        try:
            return super().__getattr__(name)
        except AttributeError:
            if name == "module":
                raise
            return getattr(super().__getattr__("module"), name)

    def state_dict(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN201 - nn.Module's signature
        return self.module.state_dict(*args, **kwargs)

    def load_state_dict(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN201 - nn.Module's signature
        return self.module.load_state_dict(*args, **kwargs)


def wrap(net: nn.Module, dist: Dist) -> nn.Module:
    """``net`` in ``DistributedDataParallel`` under a process group (gradients averaged over the
    ranks in every backward; rank 0's weights broadcast now), else ``net`` itself.

    Buffers (batch norm's running statistics) are not broadcast at every forward: each rank keeps
    its own, and :func:`average_buffers` makes them agree where the caller needs them to."""
    if not dist.active:
        return net
    ids = [dist.device.index] if dist.device.type == "cuda" else None
    return _Replica(net, device_ids=ids, **{_NO_FORWARD_BUFFER_SYNC: False})


def unwrap(net: nn.Module) -> nn.Module:
    """The network inside a :func:`wrap` (or ``net`` itself)."""
    return net.module if isinstance(net, nn.parallel.DistributedDataParallel) else net


def no_sync(*nets: nn.Module | None) -> contextlib.ExitStack:
    """A context in which the wrapped ``nets`` neither prepare nor average gradients (a frozen
    discriminator read during the generator's update)."""
    stack = contextlib.ExitStack()
    for net in nets:
        if isinstance(net, nn.parallel.DistributedDataParallel):
            stack.enter_context(net.no_sync())
    return stack


def barrier(dist: Dist) -> None:
    """Wait until every rank gets here (nothing outside a process group)."""
    if dist.active:
        torch.distributed.barrier(**({"device_ids": [dist.device.index]} if dist.backend == "nccl" else {}))


def broadcast_object(value: object, dist: Dist) -> object:
    """Rank 0's ``value`` on every rank (``value`` itself outside a process group)."""
    if not dist.active:
        return value
    box = [value]
    torch.distributed.broadcast_object_list(box, src=0, device=dist.device if dist.backend == "nccl" else None)
    return box[0]


def mean_over_ranks(values: Mapping[str, float], dist: Dist) -> dict[str, float]:
    """Each value averaged over the ranks (every rank must call this with the same keys)."""
    if not dist.active or not values:
        return dict(values)
    keys = sorted(values)
    t = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64, device=dist.device)
    torch.distributed.all_reduce(t)
    return {k: v / dist.world_size for k, v in zip(keys, t.tolist(), strict=True)}


def average_buffers(net: nn.Module, dist: Dist) -> None:
    """Make ``net``'s buffers agree over the ranks: floating ones (batch norm's running means and
    variances) averaged, the others (batch counts) rank 0's."""
    if not dist.active:
        return
    for buf in net.buffers():
        if buf.is_floating_point():
            torch.distributed.all_reduce(buf)
            buf.div_(dist.world_size)
        else:
            torch.distributed.broadcast(buf, src=0)


def fingerprint(net: nn.Module) -> torch.Tensor:
    """Two float64 numbers that change with any weight or buffer: the sum and the sum of squares."""
    values = [t.detach().double() for t in (*net.parameters(), *net.buffers()) if t.is_floating_point()]
    if not values:
        return torch.zeros(2, dtype=torch.float64)
    return torch.stack([sum(v.sum() for v in values), sum((v * v).sum() for v in values)]).cpu()


def check_identical(nets: Mapping[str, nn.Module], dist: Dist) -> None:
    """Raise ``RuntimeError`` naming the networks whose weights differ between the ranks (a bug:
    DDP keeps them equal); nothing outside a process group."""
    if not dist.active or not nets:
        return
    mine = torch.stack([fingerprint(unwrap(n)) for n in nets.values()]).to(dist.device)
    every = [torch.empty_like(mine) for _ in range(dist.world_size)]
    torch.distributed.all_gather(every, mine)
    differ = [name for k, name in enumerate(nets) if any(not torch.equal(e[k], every[0][k]) for e in every)]
    if differ:
        raise RuntimeError(f"the weights of {', '.join(differ)} differ between the {dist.world_size} processes "
                           "after training (they must stay identical); this is a bug in goggles-gym's distributed "
                           "training, please report it")


def rank_seed(seed: int, rank: int, *key: int) -> int:
    """A seed of its own for ``rank``'s per-rank random stream: rank 0 keeps ``seed`` (a 1-process
    run draws what it always drew), rank ``r > 0`` gets child ``r`` (and then ``key``, e.g. the
    iteration a resumed run starts from) of ``numpy.random.SeedSequence(seed)``, so no two ranks
    share a stream.

    >>> rank_seed(7, 0), rank_seed(7, 1) != rank_seed(7, 2), rank_seed(7, 1) == rank_seed(7, 1)
    (7, True, True)
    """
    if rank == 0 and not key:
        return int(seed)
    words = np.random.SeedSequence(int(seed), spawn_key=(int(rank), *map(int, key))).generate_state(2)
    return int(words[0]) << 31 | int(words[1]) >> 1  # 62 bits: any torch / numpy seed
