"""Typed messages between the GUI process and the engine process (Qt-free, torch-free).

One duplex pipe carries pickled messages, strictly ordered; every message is a small
frozen dataclass, so a sender and its handler can be found from the class name.

* parent -> child (``Request``): ``Play``, ``Pause``, ``StepN``, ``SetSpeed``, ``Record``,
  ``Rebuild``, ``Stop``, ``Ack`` (after each ``Batch`` the parent has published) and the
  engine's own commands (``engine.commands.Reset | SwitchStream | SetParam | Mark``),
  sent as they are.
* child -> parent (``Reply``)::

    SessionInfo                 the session changed (built, reset, rebuilt, a command
                                applied); always sent before the Ready/SpecChanged/Event
                                that it belongs to
    Ready                       session built; nothing ran yet
    StartFailed(message)        could not build the session (the child exits)
    Batch(frames, step_count, steps_per_s, size, recorder)
    Resumed  Paused(step_count, recorder)
    SpecChanged                 reset / rebuild: the parent renews its buffers
    Event(line)                 a command was applied
    Rejected(message)  RecordingChanged(on, text)
    Fault(message, step, level) after its partial Batch and Paused
    Finished                    after Stop: recorder closed, exiting

Exactness: the child works between steps only and messages keep their order, so when
the parent reads ``Paused(n)`` it has already read every batch up to step ``n``.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from engine.commands import Command
from engine.config import Config
from engine.frames import FrameBatch, RunSpec

if TYPE_CHECKING:
    from nlviz.recording.stats import RecorderStats


# ---- where a session comes from ----------------------------------------------------------
@dataclass(frozen=True)
class BranchSource:
    """Continue the run recorded in ``path`` live from ``step`` (``nlviz.replay.branch``)."""

    path: str
    step: int


Source = Config | BranchSource


def describe_source(source: Source) -> str:
    """A few words for the event log: "new session" or "branch of FILE at step N"."""
    if isinstance(source, BranchSource):
        return f"branch of {os.path.basename(source.path)} at step {int(source.step)}"
    return "new session"


# ---- requests (parent -> child) ---------------------------------------------------------
@dataclass(frozen=True)
class Play:
    """Run continuously until paused."""


@dataclass(frozen=True)
class Pause:
    """Stop at the next step boundary."""


@dataclass(frozen=True)
class StepN:
    """Run exactly ``n`` steps, then pause."""

    n: int


@dataclass(frozen=True)
class SetSpeed:
    """Target steps per second; 0 or less = as fast as possible."""

    steps_per_s: float


@dataclass(frozen=True)
class Record:
    """Start recording to ``path``, or stop when ``path`` is None. An existing file is
    refused ("cannot record: PATH: already exists ...") unless ``overwrite`` (e.g. after
    the user confirmed a save dialog)."""

    path: str | None
    overwrite: bool = False


@dataclass(frozen=True)
class Rebuild:
    """Replace the session with one built from ``config`` (preset load, device change);
    the global step count continues."""

    config: Config


@dataclass(frozen=True)
class Stop:
    """Finish: pause, close the recording, exit."""


@dataclass(frozen=True)
class Ack:
    """The parent has published one ``Batch`` (frees one slot of the child's window)."""


Request = Play | Pause | StepN | SetSpeed | Record | Rebuild | Stop | Ack | Command


# ---- replies (child -> parent) -----------------------------------------------------------
@dataclass(frozen=True)
class SessionInfo:
    """The parts of a ``Session`` the GUI shows: an immutable, picklable snapshot. A new
    one is sent whenever they change; the parent replaces its copy, never edits it."""

    config: Config
    spec: RunSpec
    spec_version: int
    device_name: str
    device_note: str | None
    stream_description: str
    regime_names: tuple[str, ...]
    step_count: int
    parent: tuple[str, int] | None = None
    device_reason: str = ""          # why this device ("auto: CPU, ... measured at start")
    engine_note: str = ""            # which engine computes and why (``Session.engine_note``)


@dataclass(frozen=True)
class Ready:
    """The session is built (its ``SessionInfo`` came just before); nothing ran yet."""


@dataclass(frozen=True)
class StartFailed:
    """The session could not be built; the child exits."""

    message: str


@dataclass(frozen=True)
class Batch:
    """Steps the engine ran (already recorded, if recording)."""

    frames: FrameBatch
    step_count: int                    # the engine's step count after these frames
    steps_per_s: float
    size: int                          # len(frames)
    recorder: RecorderStats | None


@dataclass(frozen=True)
class Resumed:
    """The engine started running."""


@dataclass(frozen=True)
class Paused:
    """The engine stopped at ``step_count``; every batch up to it was sent before."""

    step_count: int
    recorder: RecorderStats | None


@dataclass(frozen=True)
class SpecChanged:
    """Reset or rebuild: the new ``SessionInfo`` came just before; buffers start over."""


@dataclass(frozen=True)
class Event:
    """A command was applied (``line``: "STEP: KIND DETAIL"); the new ``SessionInfo``
    came just before."""

    line: str


@dataclass(frozen=True)
class Rejected:
    """A request was refused (one line); the run goes on."""

    message: str


@dataclass(frozen=True)
class RecordingChanged:
    """Recording switched on (``text`` = path) or off (``text`` = summary or reason)."""

    on: bool
    text: str


@dataclass(frozen=True)
class Fault:
    """The engine failed at ``step`` (``level``: the memory level, "" if none); its partial
    batch and a ``Paused`` came before."""

    message: str
    step: int
    level: str


@dataclass(frozen=True)
class Finished:
    """After ``Stop``: the recording is closed and the child exits."""


Reply = (SessionInfo | Ready | StartFailed | Batch | Resumed | Paused | SpecChanged | Event
         | Rejected | RecordingChanged | Fault | Finished)


__all__ = ["Ack", "Batch", "BranchSource", "Event", "Fault", "Finished", "Pause", "Paused",
           "Play", "Ready", "Rebuild", "Record", "RecordingChanged", "Rejected", "Reply",
           "Request", "Resumed", "SessionInfo", "SetSpeed", "Source", "SpecChanged",
           "StartFailed", "StepN", "Stop", "describe_source"]
