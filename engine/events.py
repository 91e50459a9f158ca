"""The run events a ``Session`` reports, each with a short text and a structured payload.

The payload (``EventRecord.data``) is what code acts on, e.g. "continue live from here"
re-applies ``set`` payloads; the text is for people and may be cut when stored. Payloads
are JSON-able dicts with a ``"kind"`` key; docs/recording-format.md ("Event payloads")
lists them. numpy only (no torch).
"""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

from engine.config import StreamConfig
from engine.frames import EventRecord


def plain(value: Any) -> Any:
    """``value`` as plain JSON types: tuples become lists, numpy scalars and arrays
    Python numbers and lists; anything else is kept (the caller's JSON encoder decides)."""
    if isinstance(value, (tuple, list)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (np.generic, np.ndarray)):
        return value.tolist()
    return value


def start(step: int, stream: str, regime_names: Sequence[str]) -> EventRecord:
    """The run (or a model built by it) starts feeding ``stream``."""
    return EventRecord(step, "start", stream,
                       {"kind": "start", "stream": stream, "regime_names": list(regime_names)})


def set_params(step: int, changes: Sequence[tuple[str, Any]], live: bool,
               device: str) -> EventRecord:
    """Config values changed: ``live`` (the model kept its state) or rebuilt on ``device``."""
    text = ", ".join(f"{key}={value!r}" for key, value in changes)
    data: dict[str, Any] = {"kind": "set", "live": live,
                            "changes": [{"key": key, "value": plain(value)}
                                        for key, value in changes]}
    if not live:
        data["device"] = device
    return EventRecord(step, "param", f"{text} ({'live' if live else f'rebuilt on {device}'})",
                       data)


def rebuild(step: int, reason: str, device: str, config: dict[str, Any]) -> EventRecord:
    """The model was replaced by one built from ``config`` (``Session.rebuild``)."""
    return EventRecord(step, "param", f"{reason} on {device}",
                       {"kind": "rebuild", "reason": reason, "device": device,
                        "config": plain(config)})


def reset(step: int) -> EventRecord:
    """The engine went back to its initial state (same config, same seed)."""
    return EventRecord(step, "reset", "engine reset to its initial state", {"kind": "reset"})


def stream(step: int, config: StreamConfig, description: str,
           regime_names: Sequence[str]) -> EventRecord:
    """The input stream was switched to ``config``."""
    return EventRecord(step, "stream", description,
                       {"kind": "stream", "stream": plain(dataclasses.asdict(config)),
                        "description": description,
                        "regime_names": list(regime_names)})


def restored(step: int) -> EventRecord:
    """A stored engine state was loaded; the session continues after step ``step - 1``."""
    return EventRecord(step, "seek", f"restored state at step {step}",
                       {"kind": "restore", "step_count": step})


def mark(step: int, kind: str, detail: str) -> EventRecord:
    """A user action logged with the run (pause, resume, recording started...)."""
    return EventRecord(step, kind, detail, {"kind": "mark", "mark": kind, "detail": detail})


def ablation(step: int, level: str, restore_step: int | None, detail: str) -> EventRecord:
    """A knock-out / restore evaluation of ``level`` ran (its EvalRecords are in the batch)."""
    what = f"knock-out of {level}" if restore_step is None else \
        f"{level} restored to step {restore_step}"
    return EventRecord(step, "ablation", f"{what}: {detail}",
                       {"kind": "ablation", "level": level, "restore_step": restore_step,
                        "detail": detail})


def error(step: int, message: str) -> EventRecord:
    """A command could not be carried out (one line; the run goes on)."""
    return EventRecord(step, "error", message, {"kind": "error", "message": message})


__all__ = ["ablation", "error", "mark", "plain", "rebuild", "reset", "restored", "set_params", "start", "stream"]


COMPILE_FAILED = "eager engine: compiling failed"   # how a failed compile's error starts


def engine_change(events: Sequence[EventRecord]) -> str | None:
    """The newest engine note among ``events``: ``run.engine = auto`` switching to the
    compiled engine (a mark of kind ``engine``) or a compile that failed (an error that
    starts with ``COMPILE_FAILED``); None when they hold neither."""
    found = None
    for e in events:
        if (e.kind == "engine" and e.data and e.data.get("mark") == "engine") or \
                (e.kind == "error" and e.detail.startswith(COMPILE_FAILED)):
            found = e.detail
    return found
