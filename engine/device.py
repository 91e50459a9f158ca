"""Pick the compute device: ``auto`` tries CUDA, then MPS, then the CPU."""
from __future__ import annotations

import torch


def resolve_device(name: str) -> tuple[torch.device, str, str | None]:
    """Returns (device, human-readable name, note or None).

    A requested CUDA/MPS device that is missing falls back to the CPU with a note
    saying so, rather than failing.
    """
    note = None
    if name in ("auto", "cuda") and torch.cuda.is_available():
        dev = torch.device("cuda")
        return dev, f"CUDA ({torch.cuda.get_device_name(dev)})", None
    mps = getattr(torch.backends, "mps", None)
    if name in ("auto", "mps") and mps is not None and mps.is_available():
        return torch.device("mps"), "MPS (Apple GPU)", None
    if name in ("cuda", "mps"):
        note = f"{name.upper()} requested but not available; running on the CPU"
    return torch.device("cpu"), "CPU", note


def available_memory(device: torch.device) -> tuple[int | None, str]:
    """Bytes free for tensors on ``device`` and words naming that memory.

    CUDA: the device's free memory (``torch.cuda.mem_get_info``); CPU and MPS (unified
    memory): the host's available memory (``engine.budget.host_available_memory``).
    """
    from engine.budget import host_available_memory

    if device.type == "cuda":
        try:
            free, _total = torch.cuda.mem_get_info(device)
            return int(free), "available on the GPU"
        except (RuntimeError, AssertionError):
            return None, "available on the GPU"
    return host_available_memory(), "available"
