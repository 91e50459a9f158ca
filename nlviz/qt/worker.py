"""The engine worker: owns the ``Session`` (and the recorder) in its own ``QThread``.

It runs steps in batches sized to hit the target steps/s (or as fast as possible,
~40 batches/s), records every batch, then publishes into ``RunBuffers``. No data
travels through signals: the signals below are rare state changes only. Requests
arrive through ``submit`` (a queued slot), so they are handled between batches.

Signal order for a run: ``started`` -> (``resumed`` -> ``paused(step)``)* -> ``finished``.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QObject, QThread, QTimer, Signal, Slot

from engine.config import ConfigError
from engine.session import Command, EngineFault, Mark, Reset, Session, SetParam
from nlviz.buffers import RunBuffers
from nlviz.qt.recording_link import RecordingLink

BATCH_SECONDS = 1 / 30          # wall time one batch should take at "max" speed
MIN_BATCH = 32                  # at "max": amortises the per-call cost (and GIL hand-offs)
MAX_BATCH = 4096


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
    """Start recording to ``path``, or stop when ``path`` is None."""

    path: str | None


@dataclass(frozen=True)
class Stop:
    """Finish: pause, close the recording, quit the thread."""


@dataclass(frozen=True)
class Rebuild:
    """Replace the session with one built from ``config`` (preset load, device change);
    the global step count continues."""

    config: Any


@dataclass(frozen=True)
class EngineCommand:
    """Forward an ``engine.session`` command (reset, stream switch, parameter...)."""

    command: Command


class EngineWorker(QObject):
    """Steps a ``Session`` off the GUI thread; publish-only into ``RunBuffers``.

    Parameters
    ----------
    session : the engine session (used only from the worker thread once started).
    buffers : where each batch is published.
    """

    started = Signal()
    resumed = Signal()
    paused = Signal(int)                    # step count at the pause
    finished = Signal()
    specChanged = Signal(object)            # RunSpec: the level set may have changed
    faulted = Signal(str, int, str)         # message, step, level ("" if none)
    rejected = Signal(str)                  # a command refused (reason)
    eventLogged = Signal(str)               # one-line description of an applied command
    recordingChanged = Signal(bool, str)    # on/off, path or reason

    def __init__(self, session: Session, buffers: RunBuffers) -> None:
        super().__init__()                  # no parent: it is moved to its thread
        self.session = session
        self.buffers = buffers
        self.record = RecordingLink()
        self._playing = False
        self._remaining: int | None = None  # steps left of a StepN
        self._speed = 0.0
        self._sec_per_step = 1e-3
        self._play_t0 = 0.0
        self._play_done = 0
        self._scheduled = False
        self._spec_version = session.spec_version
        self._rate_t, self._rate_n = time.perf_counter(), 0

    # ---- thread entry ------------------------------------------------------------
    @Slot()
    def start(self) -> None:
        """Connected to ``QThread.started``."""
        self.started.emit()

    @Slot(object)
    def submit(self, request: Any) -> None:
        """Handle one request (runs in the worker thread, between batches)."""
        handler = getattr(self, f"_on_{type(request).__name__.lower()}")
        handler(request)

    # ---- requests ----------------------------------------------------------------
    def _on_play(self, _: Play) -> None:
        self._remaining = None
        self._begin()

    def _on_pause(self, _: Pause) -> None:
        self._halt()

    def _on_stepn(self, req: StepN) -> None:
        if req.n < 1:
            return
        self._remaining = int(req.n)
        self._begin()

    def _on_setspeed(self, req: SetSpeed) -> None:
        self._speed = max(0.0, float(req.steps_per_s))
        self._play_t0, self._play_done = time.perf_counter(), 0

    def _on_record(self, req: Record) -> None:
        if req.path is None:
            msg = self.record.stop()
            self.recordingChanged.emit(False, msg)
            return
        try:
            self.record.start(req.path, self.session)
            self.recordingChanged.emit(True, req.path)
        except Exception as exc:  # noqa: BLE001 - shown to the user, app keeps going
            self.recordingChanged.emit(False, f"cannot record: {exc}")

    def _on_enginecommand(self, req: EngineCommand) -> None:
        try:
            ev = self.session.apply(req.command)
        except (ConfigError, ValueError, OSError) as exc:
            self.rejected.emit(str(exc))
            return
        if isinstance(req.command, Reset) or self.session.spec_version != self._spec_version:
            self._spec_version = self.session.spec_version
            self._new_spec()
        self.eventLogged.emit(f"{ev.step}: {ev.kind} {ev.detail}")

    def _on_rebuild(self, req: Rebuild) -> None:
        new = self.session
        try:
            new.rebuild(req.config)
        except (ConfigError, ValueError, OSError) as exc:
            self.rejected.emit(str(exc))
            return
        self._spec_version = new.spec_version
        self._new_spec()
        self.eventLogged.emit(f"{new.step_count}: rebuilt on {new.device_name}")
        if new.device_note:
            self.rejected.emit(new.device_note)

    def _on_stop(self, _: Stop) -> None:
        if self._playing:
            self._halt()
        msg = self.record.stop()
        if msg:
            self.recordingChanged.emit(False, msg)
        self.finished.emit()
        thread = QThread.currentThread()
        if thread is not None:
            thread.quit()

    # ---- run loop ----------------------------------------------------------------
    def _begin(self) -> None:
        if not self._playing:
            self._playing = True
            self._play_t0, self._play_done = time.perf_counter(), 0
            self.buffers.stats.playing = True
            self.session.apply(Mark("resume", "run"))
            self.resumed.emit()
        self._schedule(0)

    def _halt(self) -> None:
        if not self._playing:
            return
        self._playing = False
        self._remaining = None
        self.buffers.stats.playing = False
        self.session.apply(Mark("pause", f"at step {self.session.step_count}"))
        self.record.flush()
        self.paused.emit(self.session.step_count)

    def _schedule(self, ms: int) -> None:
        if not self._scheduled:
            self._scheduled = True
            QTimer.singleShot(ms, self._tick)

    @Slot()
    def _tick(self) -> None:
        self._scheduled = False
        if not self._playing:
            return
        n = self._batch_size()
        if n == 0:                                  # paced and ahead of schedule
            self._schedule(max(1, int(1000 / max(self._speed, 1.0))))
            return
        self._run_batch(n)
        if self._remaining == 0:
            self._halt()
        elif self._playing:
            self._schedule(0)

    def _batch_size(self) -> int:
        n = int(BATCH_SECONDS / max(self._sec_per_step, 1e-6))
        if self._speed > 0:
            due = int(self._speed * (time.perf_counter() - self._play_t0)) - self._play_done
            n = min(n, due, int(self._speed * BATCH_SECONDS) + 1)
        if self._remaining is not None:
            n = min(n, self._remaining)
        if self._speed > 0:
            return max(0, min(n, MAX_BATCH))
        floor = MIN_BATCH if self._remaining is None else min(MIN_BATCH, self._remaining)
        return max(floor, min(n, MAX_BATCH))

    def _run_batch(self, n: int) -> None:
        t0 = time.perf_counter()
        try:
            batch = self.session.step(n)
        except EngineFault as fault:
            self._publish(fault.batch)
            self.record.stop()
            self._halt()
            self.recordingChanged.emit(False, "recording closed after the engine fault")
            self.faulted.emit(str(fault), int(fault.step), fault.level or "")
            return
        dt = time.perf_counter() - t0
        self._sec_per_step = 0.7 * self._sec_per_step + 0.3 * dt / n
        self._play_done += n
        if self._remaining is not None:
            self._remaining -= n
        self._publish(batch)

    def _publish(self, batch: Any) -> None:
        """Record first (lossless, may block = back-pressure), then show."""
        if len(batch) == 0 and not batch.events:
            return
        error = self.record.append(batch)
        if error:
            self.recordingChanged.emit(False, error)
        self.buffers.push(batch)
        self._update_rate(len(batch))

    def _update_rate(self, n: int) -> None:
        self._rate_n += n
        now = time.perf_counter()
        if now - self._rate_t >= 0.5:
            stats = self.buffers.stats
            stats.steps_per_s = self._rate_n / (now - self._rate_t)
            stats.batch = n
            self._rate_t, self._rate_n = now, 0
        self.buffers.stats.recording = self.record.stats()

    def _new_spec(self) -> None:
        """The model was rebuilt or reset: fresh buffers; a recording rolls to a new file."""
        self.buffers.reset(self.session.spec)
        msg = self.record.roll(self.session)
        if msg:
            self.recordingChanged.emit(self.record.active, msg)
        self.specChanged.emit(self.session.spec)


__all__ = ["EngineCommand", "EngineWorker", "Pause", "Play", "Rebuild", "Record", "SetParam",
           "SetSpeed", "StepN", "Stop"]
