"""The engine worker: a ``QThread`` of the GUI process that talks to the engine process.

The engine (``Session`` + recorder) runs in a child process (``nlviz.host``); this worker
forwards requests to it, receives its typed replies (woken by a socket notifier on the
pipe), publishes batches into ``RunBuffers`` and turns the other replies into the Qt
signals below. No data travels through signals: they are rare state changes only, and
what they carry is immutable (``SessionInfo`` is a frozen snapshot, replaced, never
edited). Requests arrive through ``submit`` (a queued slot). The GUI thread never waits on it.

Signal order for a run: ``started`` -> (``resumed`` -> ``paused(step)``)* -> ``finished``.
``started`` is emitted when the engine process has built its session (``sessionChanged``
came before it, and ``session`` is set by then); a killed or crashed engine process is
reported through ``faulted``.
"""
from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QObject, QSocketNotifier, QThread, QTimer, Signal, Slot

from engine.commands import Reset
from engine.events import engine_change
from nlviz.errors import one_line
from nlviz.host.process import DEFAULT_LOOP, EngineProcess
from nlviz.host.protocol import (
    Ack,
    Batch,
    Event,
    Fault,
    Finished,
    Paused,
    Ready,
    Rebuild,
    Record,
    RecordingChanged,
    Rejected,
    Reply,
    Request,
    Resumed,
    SessionInfo,
    SetSpeed,
    Source,
    SpecChanged,
    StartFailed,
    Stop,
    describe_source,
)
from nlviz.series.ring import RunBuffers

MAX_MESSAGES_PER_WAKE = 32      # then yield to queued requests (the notifier fires again)


@dataclass(frozen=True)
class Restart:
    """Stop the current engine process and start one from ``source`` (e.g. a
    ``BranchSource``); start recording to ``record_path`` if given."""

    source: Source
    record_path: str | None = None


class EngineWorker(QObject):
    """Receives the engine process's batches and state; publish-only into ``RunBuffers``.

    Parameters
    ----------
    source : a ``Config`` or a ``BranchSource``; the engine process builds its ``Session``
        from it.
    buffers : where each batch is published.
    loop : ``"package.module:Class"`` of the engine loop the engine processes run (tests
        give an ``EngineLoop`` subclass); read at each (re)start.
    """

    started = Signal()
    resumed = Signal()
    paused = Signal(int)                    # step count at the pause
    finished = Signal()
    sessionChanged = Signal(object)         # SessionInfo (frozen): new session state, or
                                            # the step count at a pause
    specChanged = Signal(object)            # RunSpec: the level set may have changed
    faulted = Signal(str, int, str)         # message, step, level ("" if none)
    rejected = Signal(str)                  # a command refused (reason)
    eventLogged = Signal(str)               # one-line description of an applied command
    engineChanged = Signal(str)             # Session.engine_note: auto switched, a compile failed
    recordingChanged = Signal(bool, str)    # on/off, path or reason

    def __init__(self, source: Source, buffers: RunBuffers, loop: str = DEFAULT_LOOP) -> None:
        super().__init__()                  # no parent: it is moved to its thread
        self.source = source
        self.buffers = buffers
        self.loop = loop
        self.engine: EngineProcess | None = None
        self.playing = False
        self.recording = False
        self._session: SessionInfo | None = None
        self._notifier: QSocketNotifier | None = None
        self._poll: QTimer | None = None
        self._in_drain = False
        self._speed: SetSpeed | None = None       # re-sent to a restarted engine process
        self._replies: dict[type, Callable[[Any], None]] = {
            SessionInfo: self._on_session_info, Ready: self._on_ready,
            StartFailed: self._on_start_failed, Batch: self._on_batch,
            Resumed: self._on_resumed, Paused: self._on_paused,
            SpecChanged: self._on_spec_changed, Event: self._on_event,
            Rejected: self._on_rejected, RecordingChanged: self._on_recording_changed,
            Fault: self._on_fault, Finished: self._on_finished,
        }

    @property
    def session(self) -> SessionInfo | None:
        """The newest ``SessionInfo`` snapshot (None before the first engine is ready).
        Immutable: a new object replaces it when the session changes (also its step
        count, with each batch); ``sessionChanged`` announces the changes that matter."""
        return self._session

    # ---- thread entry ------------------------------------------------------------
    @Slot()
    def start(self) -> None:
        """Connected to ``QThread.started``: spawn the engine process (returns at once)."""
        self._spawn(self.source)

    @Slot(object)
    def submit(self, request: Request | Restart) -> None:
        """Handle one request (runs in the worker thread): ``Stop`` and ``Restart`` here,
        every other one is forwarded to the engine process."""
        if isinstance(request, Stop):
            self._on_stop()
        elif isinstance(request, Restart):
            self._on_restart(request)
        else:
            if isinstance(request, SetSpeed):
                self._speed = request
            if self.engine is None or self.engine.closed:
                self._on_request_without_engine(request)
            else:
                self.engine.send(request)

    @property
    def pid(self) -> int | None:
        """Process id of the engine process (None before it started or after it ended)."""
        return self.engine.pid if self.engine is not None and not self.engine.closed else None

    # ---- engine process lifecycle ---------------------------------------------------
    def _spawn(self, source: Source) -> None:
        self.source = source
        self.engine = EngineProcess(source, loop=self.loop)
        try:
            self.engine.start()
        except Exception as exc:  # noqa: BLE001 - e.g. no resources: shown, app keeps going
            self.engine = None
            self.faulted.emit(f"cannot start the engine process: {one_line(exc)}", self._step(), "")
            return
        if self._speed is not None:
            self.engine.send(self._speed)
        if sys.platform != "win32":
            self._notifier = QSocketNotifier(self.engine.fileno(), QSocketNotifier.Type.Read, self)
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
            for _i in range(MAX_MESSAGES_PER_WAKE):
                if engine is not self.engine or not engine.poll(0):
                    break
                try:
                    reply = engine.receive()
                except EOFError:
                    self._on_engine_lost()
                    break
                self._handle(reply)
                if isinstance(reply, Batch) and self.engine is engine:
                    engine.send(Ack())
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

    def _on_request_without_engine(self, request: Request) -> None:
        if isinstance(request, Reset) and self._session is not None:
            self._spawn(self._session.config)            # a fresh engine, same config
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

    # ---- replies from the engine process ------------------------------------------
    def _handle(self, reply: Reply) -> None:
        """Dispatch one reply by its type."""
        self._replies[type(reply)](reply)

    def _on_session_info(self, info: SessionInfo) -> None:
        self._session = info
        self.sessionChanged.emit(info)

    def _on_ready(self, _: Ready) -> None:
        self._renew_buffers()
        self.started.emit()

    def _on_start_failed(self, reply: StartFailed) -> None:
        """The session could not be built (the child exits)."""
        self.faulted.emit(f"cannot start the engine: {reply.message}", self._step(), "")
        engine = self.engine
        self._detach()
        self.engine = None
        if engine is not None:
            engine.close(join_timeout=2.0)

    def _on_batch(self, reply: Batch) -> None:
        self.buffers.push(reply.frames)
        stats = self.buffers.stats
        stats.steps_per_s, stats.recording = reply.steps_per_s, reply.recorder
        if reply.size:                      # 0: only records the thinning held (a pause)
            stats.batch = reply.size
        self._set_step(reply.step_count)
        note = engine_change(reply.frames.events)
        if note is not None and self._session is not None:
            self._session = dataclasses.replace(self._session, engine_note=note)
            self.engineChanged.emit(note)

    def _on_resumed(self, _: Resumed) -> None:
        self.playing = True
        self.buffers.stats.playing = True
        self.resumed.emit()

    def _on_paused(self, reply: Paused) -> None:
        self._set_step(reply.step_count)
        if self._session is not None:           # batches update it silently: announce now
            self.sessionChanged.emit(self._session)
        self.buffers.stats.recording = reply.recorder
        self._set_paused(reply.step_count)

    def _on_spec_changed(self, _: SpecChanged) -> None:
        self._renew_buffers()

    def _on_event(self, reply: Event) -> None:
        self.eventLogged.emit(reply.line)

    def _on_rejected(self, reply: Rejected) -> None:
        self.rejected.emit(reply.message)

    def _on_recording_changed(self, reply: RecordingChanged) -> None:
        self.recording = reply.on
        if not reply.on:
            self.buffers.stats.recording = None
        self.recordingChanged.emit(reply.on, reply.text)

    def _on_fault(self, reply: Fault) -> None:
        self.faulted.emit(reply.message, int(reply.step), reply.level)

    def _on_finished(self, _: Finished) -> None:
        """Only ``EngineProcess.stop`` waits for it (it never reaches ``_handle``)."""

    def _renew_buffers(self) -> None:
        """The session's level set may have changed: buffers start over."""
        if self._session is not None:
            self.buffers.reset(self._session.spec)
            self.specChanged.emit(self._session.spec)

    def _set_step(self, step: int) -> None:
        """A new snapshot with the engine's step count (the old one is left as it was)."""
        if self._session is not None and self._session.step_count != step:
            self._session = dataclasses.replace(self._session, step_count=int(step))

    def _set_paused(self, step: int) -> None:
        self.playing = False
        self.buffers.stats.playing = False
        self.paused.emit(int(step))

    def _step(self) -> int:
        return int(self._session.step_count) if self._session is not None else 0


__all__ = ["EngineWorker", "Restart"]
