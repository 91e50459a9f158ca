"""Pick the compute device. ``auto`` measures this model on every available device once
(``engine.device_choice``) and takes the faster; ``cpu``/``cuda``/``mps`` are taken as asked
(a missing one falls back to the CPU with a note)."""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from engine.config import Config
    from engine.device_choice import Measure


@dataclass(frozen=True)
class DeviceChoice:
    """The device a session runs on and why.

    device : the torch device.
    name : words for it ("CPU", "CUDA (NVIDIA H200)", "MPS (Apple GPU)").
    note : a warning worth showing (a requested device is missing), else None.
    reason : why this device, always set ("auto: CPU, 1,210 steps/s against CUDA 480
        steps/s measured at start", "auto: CPU, the only device", "requested").
    rates : steps/s measured per candidate at start ((kind, rate) pairs; empty if nothing
        was measured).
    """

    device: torch.device
    name: str
    note: str | None
    reason: str
    rates: tuple[tuple[str, float], ...] = ()

    def __iter__(self) -> Iterator[Any]:
        """Unpacks as ``device, name, note`` (what ``resolve_device`` returned before)."""
        return iter((self.device, self.name, self.note))


def device_words(kind: str) -> str:
    """Human words for a device kind ("cpu" -> "CPU", "cuda" -> "CUDA (its name)")."""
    if kind == "cuda":
        return f"CUDA ({torch.cuda.get_device_name(torch.device('cuda'))})"
    if kind == "mps":
        return "MPS (Apple GPU)"
    return "CPU"


def available_kinds() -> tuple[str, ...]:
    """Device kinds this process can compute on, the CPU first."""
    kinds = ["cpu"]
    if torch.cuda.is_available():
        kinds.append("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        kinds.append("mps")
    return tuple(kinds)


def resolve_device(name: str, config: Config | None = None, *,
                   kinds: tuple[str, ...] | None = None,
                   measure: Measure | None = None) -> DeviceChoice:
    """The device for ``run.device = name``.

    ``"auto"`` with ``config``: the faster of ``kinds`` (default: ``available_kinds()``) for
    this config, measured once per process and config (``engine.device_choice.choose_device``;
    ``measure`` replaces the per-device measurement). ``"auto"`` without a config (nothing to
    measure) keeps the old rule: the first accelerator (CUDA, then MPS), else the CPU. A requested CUDA/MPS device that is missing falls back to the
    CPU with a note saying so, rather than failing; explicit requests never measure.
    """
    have = available_kinds() if kinds is None else kinds
    if name == "auto":
        if len(have) == 1:
            return DeviceChoice(torch.device("cpu"), "CPU", None, "auto: CPU, the only device")
        if config is None:
            kind = have[1]
            return DeviceChoice(torch.device(kind), device_words(kind), None,
                                f"auto: {kind.upper()}, the first accelerator (not measured)")
        from engine.device_choice import choose_device, measure_session
        return choose_device(config, have, measure_session if measure is None else measure)
    if name in ("cuda", "mps"):
        if name in have:
            return DeviceChoice(torch.device(name), device_words(name), None, "requested")
        return DeviceChoice(torch.device("cpu"), "CPU",
                            f"{name.upper()} requested but not available; running on the CPU",
                            f"{name} requested, not available")
    return DeviceChoice(torch.device("cpu"), "CPU", None, "requested")


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
