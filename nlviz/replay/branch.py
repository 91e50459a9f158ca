""""Continue live from here": rebuild a live ``Session`` at a recorded step. No Qt.

``branch_session(rec, step)`` takes the latest engine state at or before ``step``
(``Recording.state_at_or_before``), builds a ``Session`` from the config stored with that
state (the run's config at that moment, including live parameter changes and stream
switches made before it; falls back to the recording's start config), restores the state
and, if the state is older than ``step``, steps the session forward through the same
stream to ``step``. Recorded live parameter changes in between are re-applied at their
steps; a stream switch, reset or model rebuild in between cannot be re-played and raises
``BranchError`` (pick a later step). The re-played inputs are checked against the
recorded ones. The returned session's next ``step()`` computes step ``step + 1``.

Record the branch with ``Recorder(..., parent=branch_parent(rec, step))``.
"""
from __future__ import annotations

import ast
import json
import os
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from engine.frames import EventRecord
from nlviz.errors import UserError, one_line
from nlviz.recording.reader import Recording

if TYPE_CHECKING:
    from engine.session import Session

# schema 1.0 / 1.1 only: the display text of a live parameter change
_LIVE_PARAM = re.compile(r"^(?P<path>[\w.]+)=(?P<value>.*) \(live\)$", re.S)
_REPLAYED = ("param", "stream", "reset")    # event kinds that change what the engine computes


class BranchError(UserError):
    """The run cannot be continued from that step; the message says why (one line)."""


@dataclass
class Branch:
    """Result of ``branch_session``.

    Attributes
    ----------
    session : the restored live session (next ``step()`` is ``step + 1``).
    step : the requested step (the last step already "done").
    state_step : the step of the stored engine state it started from.
    replayed : steps re-computed from ``state_step`` to ``step``.
    parent : ``(file name, step)`` for ``Recorder(parent=...)``.
    """

    session: Session
    step: int
    state_step: int
    replayed: int
    parent: tuple[str, int]


def branch_parent(rec: Recording, step: int) -> tuple[str, int]:
    """``(parent_run, parent_step)`` to store in the branched recording."""
    return os.path.basename(rec.path), int(step)


def branchable_steps(rec: Recording) -> np.ndarray:
    """Steps that hold a stored engine state (every step at or after the first one can be
    branched from, by re-playing forward)."""
    return np.asarray(rec.state_steps(), np.int64)


def branch_session(rec: Recording, step: int, *, device: str | None = None,
                   verify_inputs: bool = True, chunk: int = 4096) -> Branch:
    """Restore the engine at recorded ``step`` (see the module doc).

    Parameters
    ----------
    rec : the open recording.
    step : a recorded step at or after the first stored state.
    device : override ``run.device`` (e.g. ``"cpu"``); None keeps the recorded one.
    verify_inputs : compare re-played inputs with the recorded rows (BranchError if not equal).
    chunk : steps per ``Session.step`` call while re-playing.

    Raises
    ------
    BranchError : no state at or before ``step``, an unreplayable event in between, a config
        the engine rejects, or re-played inputs that differ from the recording.
    """
    from engine.commands import SetParam
    from engine.config import Config, ConfigError
    from engine.session import Session

    step = int(step)
    name = os.path.basename(rec.path)
    st = rec.state_at_or_before(step)
    if st is None:
        first = rec.state_steps()
        hint = f"; the first is at step {int(first[0])}" if len(first) else \
            " (record with run.state_every > 0)"
        raise BranchError(f"{name}: no engine state at or before step {step}{hint}")
    if rec.n_rows and step > int(rec.steps[-1]):
        raise BranchError(f"{name}: step {step} is after the last recorded step "
                          f"{int(rec.steps[-1])}")
    param_events = _param_changes(rec, name, st.step, step)
    try:
        cfg_dict = json.loads(str(st.tensors["config_json"])) if "config_json" in st.tensors \
            else rec.config
        if device is not None:
            cfg_dict.setdefault("run", {})["device"] = device
        session = Session(Config.from_dict(cfg_dict))
        session.load_state(st.tensors)
    except (ConfigError, ValueError, KeyError, TypeError, RuntimeError) as exc:
        raise BranchError(f"{name}: cannot restore the engine state at step {st.step}: "
                          f"{exc}".replace("\n", " ")) from None
    # state at step s = after step s was done: session.step_count == s + 1
    done = session.step_count
    target = step + 1
    while done < target:
        while param_events and param_events[0][0] <= done:
            _, path, value = param_events.pop(0)
            session.apply(SetParam(path, value))
        stop = min([target] + [e[0] for e in param_events if e[0] > done])
        n = min(chunk, stop - done)
        batch = session.step(n)
        if verify_inputs:
            _check_inputs(rec, name, batch.step, batch.inputs)
        done = session.step_count
    return Branch(session, step, st.step, step - st.step, branch_parent(rec, step))


def _param_changes(rec: Recording, name: str, state_step: int, step: int
                   ) -> list[tuple[int, str, Any]]:
    """``(step, key, value)`` of every live parameter change in (state_step, step], in
    order; BranchError for an event that cannot be re-played (stream switch, reset,
    rebuild, a change that rebuilt the model, an unreadable payload).

    Files with event payloads (schema 1.2+) are read from the payload only; older files
    from the display text (``"path=value (live)"``)."""
    out: list[tuple[int, str, Any]] = []
    for ev in rec.events:
        if not state_step < ev.step <= step or ev.kind not in _REPLAYED:
            continue
        changes = _from_payload(ev) if rec.event_payloads else _from_sentence(ev)
        if changes is None:
            what = ev.kind if ev.data is not None or not rec.event_payloads else \
                f"{ev.kind} (unreadable payload)"
            raise BranchError(f"{name}: cannot re-play from the state at step {state_step} to "
                              f"step {step}: {what} event at step {ev.step} "
                              f"({one_line(ev.detail, 60)}); branch from a step after "
                              f"{ev.step} that has a state")
        out.extend((ev.step, key, value) for key, value in changes)
    return out


def _from_payload(ev: EventRecord) -> list[tuple[str, Any]] | None:
    """The changes of a live ``set`` payload; None for anything else."""
    d = ev.data
    if ev.kind != "param" or d is None or d.get("kind") != "set" or d.get("live") is not True:
        return None
    changes = d.get("changes")
    if not isinstance(changes, list) or not all(
            isinstance(c, dict) and isinstance(c.get("key"), str) and "value" in c
            for c in changes):
        return None
    return [(c["key"], _as_value(c["value"])) for c in changes]


def _as_value(value: Any) -> Any:
    """JSON lists back to the tuples configs hold (``model.cms.lr`` per level)."""
    return tuple(_as_value(v) for v in value) if isinstance(value, list) else value


def _from_sentence(ev: EventRecord) -> list[tuple[str, Any]] | None:
    """Schema 1.0 / 1.1: a live change was only recorded as ``"path=value (live)"``."""
    live = _LIVE_PARAM.match(ev.detail) if ev.kind == "param" else None
    if live is None:
        return None
    try:
        return [(live["path"], ast.literal_eval(live["value"]))]
    except (ValueError, SyntaxError):
        return None


def _check_inputs(rec: Recording, name: str, steps: np.ndarray, inputs: np.ndarray) -> None:
    lo, hi = rec.row_range(int(steps[0]), int(steps[-1]))
    if hi <= lo:
        return
    rec_steps = rec.steps[lo:hi]
    sel = np.searchsorted(steps, rec_steps)
    recorded = rec.inputs(lo, hi)                     # a damaged chunk reads as NaN rows
    readable = ~np.isnan(recorded).any(axis=1)        # streams never yield NaN inputs
    bad = np.flatnonzero(readable & np.any(recorded != inputs[sel], axis=1))
    if bad.size:
        raise BranchError(f"{name}: re-played input at step {int(rec_steps[bad[0]])} differs "
                          "from the recording (stream not reproducible from its config)")


__all__ = ["Branch", "BranchError", "branch_parent", "branch_session", "branchable_steps"]
