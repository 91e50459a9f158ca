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
    "run.eval_every", "run.eval_window",
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


@dataclass(frozen=True)
class Ablate:
    """Evaluate, without changing the running model, the intact model and the model with
    ``level`` knocked out (its contribution removed: the Titans memory's read is 0, a CMS
    level is bypassed) or, with ``restore_step``, with that level's weights put back to
    the state kept at that step. The results arrive as ``EvalRecord``s (variant ``""``
    and ``"knockout:<level>"`` / ``"restore:<level>@<step>"``) in the next batch."""

    level: str
    restore_step: int | None = None


Command = Reset | SwitchStream | SetParam | Mark | Ablate


__all__ = ["LIVE_PARAMS", "Ablate", "Command", "Mark", "Reset", "SetParam", "SwitchStream"]
