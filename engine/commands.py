"""Commands a running ``Session`` accepts between steps (torch-free, so a GUI process can
build and send them without importing the engine)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.config import StreamConfig

# Dotted config paths that change a running model without rebuilding it.
LIVE_PARAMS = frozenset({
    "model.titans.lr", "model.titans.lr_max", "model.titans.retention", "model.titans.momentum",
    "model.cms.lr", "model.cms.retention",
    "run.probe_every", "run.snapshot_every", "run.state_every", "run.diag_every",
})


@dataclass(frozen=True)
class Reset:
    """Back to the initial state (same config, same seed)."""


@dataclass(frozen=True)
class SwitchStream:
    """Feed another stream from the next step on (the step count continues)."""

    stream: StreamConfig


@dataclass(frozen=True)
class SetParam:
    """Set a dotted config value; live if in ``LIVE_PARAMS``, else the model is rebuilt."""

    path: str
    value: Any


@dataclass(frozen=True)
class Mark:
    """A user action to log with the run (pause, resume, seek, record...)."""

    kind: str
    detail: str = ""


Command = Reset | SwitchStream | SetParam | Mark


__all__ = ["LIVE_PARAMS", "Command", "Mark", "Reset", "SetParam", "SwitchStream"]
