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
