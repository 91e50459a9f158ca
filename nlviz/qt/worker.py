"""The engine worker: a ``QThread`` of the GUI process that talks to the engine process.

The engine (``Session`` + recorder) runs in a child process (``nlviz.engine_process``);
this worker forwards requests to it, receives its batches (woken by a socket notifier on
the pipe), publishes them into ``RunBuffers`` and turns the child's state messages into
the Qt signals below. No data travels through signals: they are rare state changes only.
Requests arrive through ``submit`` (a queued slot). The GUI thread never waits on it.

Signal order for a run: ``started`` -> (``resumed`` -> ``paused(step)``)* -> ``finished``.
``started`` is emitted when the engine process has built its session (``session`` is set
by then); a killed or crashed engine process is reported through ``faulted``.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QObject, QSocketNotifier, QThread, QTimer, Signal, Slot

from engine.commands import Reset, SetParam
from nlviz.series.ring import RunBuffers
from nlviz.engine_process import (
    ACK,
    EngineCommand,
    EngineProcess,
    InjectFault,
    Pause,
    Play,
    Rebuild,
    Record,
    SessionInfo,
    SetSpeed,
    Source,
    StepN,
    Stop,
    describe_source,
)

MAX_MESSAGES_PER_WAKE = 32      # then yield to queued requests (the notifier fires again)


@dataclass(frozen=True)
class Restart:
    """Stop the current engine process and start one from ``source`` (e.g. a branch of a
    recording); start recording to ``record_path`` if given."""

    source: Any
    record_path: str | None = None


class EngineWorker(QObject):
    """Receives the engine process's batches and state; publish-only into ``RunBuffers``.

    Parameters
    ----------
    source : a ``Config`` or ``("branch", recording_path, step)``; the engine process builds
        its ``Session`` from it.
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

    def __init__(self, source: Source, buffers: RunBuffers) -> None:
        super().__init__()                  # no parent: it is moved to its thread
        self.source = source
        self.buffers = buffers
        self.session: SessionInfo | None = None     # filled in place as messages arrive
        self.engine: EngineProcess | None = None
        self.playing = False
        self.recording = False
        self._ready = False
        self._notifier: QSocketNotifier | None = None
        self._poll: QTimer | None = None
        self._in_drain = False
        self._speed: SetSpeed | None = None       # re-sent to a restarted engine process

    # ---- thread entry ------------------------------------------------------------
    @Slot()
    def start(self) -> None:
        """Connected to ``QThread.started``: spawn the engine process (returns at once)."""
        self._spawn(self.source)

    @Slot(object)
    def submit(self, request: Any) -> None:
        """Handle one request (runs in the worker thread)."""
        if isinstance(request, Stop):
            self._on_stop()
        elif isinstance(request, Restart):
            self._on_restart(request)
        elif self.engine is None or self.engine.closed:
            if isinstance(request, SetSpeed):
                self._speed = request
            self._on_request_without_engine(request)
        else:
            if isinstance(request, SetSpeed):
                self._speed = request
            self.engine.send(request)

    @property
    def pid(self) -> int | None:
        """Process id of the engine process (None before it started or after it ended)."""
        return self.engine.pid if self.engine is not None and not self.engine.closed else None

    # ---- engine process lifecycle ---------------------------------------------------
    def _spawn(self, source: Source) -> None:
        self.source = source
        self._ready = False
        self.engine = EngineProcess(source)
        try:
            self.engine.start()
        except Exception as exc:  # noqa: BLE001 - e.g. no resources: shown, app keeps going
            self.engine = None
            self.faulted.emit(f"cannot start the engine process: {exc}", self._step(), "")
            return
        if self._speed is not None:
            self.engine.send(self._speed)
        if sys.platform != "win32":
            self._notifier = QSocketNotifier(self.engine.fileno(), QSocketNotifier.Read, self)
            self._notifier.activated.connect(self._drain)
        else:                               # Windows pipes are not sockets: poll instead
            self._poll = QTimer(self)
            self._poll.setInterval(2)
            self._poll.timeout.connect(self._drain)
            self._poll.start()

    def _detach(self) -> None:
        """Stop listening to the current engine process."""
        if self._notifier is not None:
            self._notifier.setEnabled(False)
            self._notifier.deleteLater()
            self._notifier = None
        if self._poll is not None:
            self._poll.stop()
            self._poll.deleteLater()
            self._poll = None

    def _stop_engine(self) -> None:
        """Stop the engine at a step boundary, publishing what it still sends (blocks this
        thread, never the GUI)."""
        self._detach()
        engine, self.engine = self.engine, None
        if engine is None or engine.closed:
            return
        clean = engine.stop(self._handle)
        if not clean and self.recording:
            self.recording = False
            self.recordingChanged.emit(False, "recording ended with the engine process")
        if self.playing:
            self._set_paused(self._step())

    @Slot()
    def _drain(self, *_: object) -> None:
        """Read what the engine process sent (woken by the pipe)."""
        if self._in_drain or self.engine is None:
            return
        self._in_drain = True
        try:
            engine = self.engine
            for _ in range(MAX_MESSAGES_PER_WAKE):
                if engine is not self.engine or not engine.poll(0):
                    break
                try:
                    msg = engine.recv()
                except EOFError:
                    self._on_engine_lost()
                    break
                self._handle(msg)
                if msg[0] == "batch" and self.engine is engine:
                    engine.send(ACK)
        finally:
            self._in_drain = False

    def _on_engine_lost(self) -> None:
        """The engine process ended without being asked to (killed, crashed, failed start)."""
        engine = self.engine
        self._detach()
        self.engine = None
        if engine is None:
            return
        engine.close(join_timeout=1.0)
        if self.recording:
            self.recording = False
            self.recordingChanged.emit(False, "recording ended with the engine process "
                                              "(the file keeps every flushed row)")
        step = self._step()
        if self.playing:
            self._set_paused(step)
        if engine.exitcode is not None and engine.exitcode < 0:
            how = f"was killed (signal {-engine.exitcode})"
        else:
            how = f"exited unexpectedly (exit code {engine.exitcode})"
        self.faulted.emit(f"engine process {how}; press Reset to start a new one", step, "")

    def _on_request_without_engine(self, request: Any) -> None:
        if isinstance(request, EngineCommand) and isinstance(request.command, Reset) \
                and self.session is not None:
            self._spawn(self.session.config)             # a fresh engine, same config
        elif isinstance(request, Rebuild):
            self._spawn(request.config)
        elif isinstance(request, SetSpeed):
            pass                                          # applied to the next engine
        else:
            self.rejected.emit("the engine process is not running: press Reset to start "
                               "a new one")

    # ---- requests handled here ---------------------------------------------------
    def _on_stop(self) -> None:
        self._stop_engine()
        self.finished.emit()
        thread = QThread.currentThread()
        if thread is not None:
            thread.quit()

    def _on_restart(self, req: Restart) -> None:
        self._stop_engine()
        self._spawn(req.source)
        self.eventLogged.emit(f"{self._step()}: starting {describe_source(req.source)}")
        if req.record_path and self.engine is not None:
            self.engine.send(Record(req.record_path))

    # ---- messages from the engine process ----------------------------------------
    def _handle(self, msg: tuple) -> None:
        kind = msg[0]
        if kind == "batch":
            _, batch, step_count, rate, n, rec = msg
            self.buffers.push(batch)
            stats = self.buffers.stats
            stats.steps_per_s, stats.batch, stats.recording = rate, n, rec
            if self.session is not None:
                self.session.step_count = step_count
        elif kind == "ready":
            self._set_info(msg[1])
            self.buffers.reset(self.session.spec)
            self._ready = True
            self.specChanged.emit(self.session.spec)
            self.started.emit()
        elif kind == "resumed":
            self.playing = True
            self.buffers.stats.playing = True
            self.resumed.emit()
        elif kind == "paused":
            if self.session is not None:
                self.session.step_count = msg[1]
            self.buffers.stats.recording = msg[2]
            self._set_paused(msg[1])
        elif kind == "spec":
            self._set_info(msg[1])
            self.buffers.reset(self.session.spec)
            self.specChanged.emit(self.session.spec)
        elif kind == "event":
            self._set_info(msg[2])
            self.eventLogged.emit(msg[1])
        elif kind == "rejected":
            self.rejected.emit(msg[1])
        elif kind == "recording":
            self.recording = bool(msg[1])
            if not self.recording:
                self.buffers.stats.recording = None
            self.recordingChanged.emit(bool(msg[1]), msg[2])
        elif kind == "fault":
            self.faulted.emit(msg[1], int(msg[2]), msg[3])
        elif kind == "error":                             # the session could not be built
            self.faulted.emit(f"cannot start the engine: {msg[1]}", self._step(), "")
            engine = self.engine
            self._detach()
            self.engine = None
            if engine is not None:
                engine.close(join_timeout=2.0)

    def _set_info(self, info: SessionInfo) -> None:
        if self.session is None:
            self.session = info
        else:
            self.session.update(info)

    def _set_paused(self, step: int) -> None:
        self.playing = False
        self.buffers.stats.playing = False
        self.paused.emit(int(step))

    def _step(self) -> int:
        return int(self.session.step_count) if self.session is not None else 0


__all__ = ["EngineCommand", "EngineWorker", "InjectFault", "Pause", "Play", "Rebuild", "Record",
           "Restart", "SetParam", "SetSpeed", "StepN", "Stop"]
