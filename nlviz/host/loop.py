"""The engine process's side: ``child_main`` and ``EngineLoop`` (Qt-free; imports the
engine, so torch, only in the child).

Why a process: a step of the default model is mostly Python and torch dispatch that holds
the GIL, so an engine thread inside the GUI process is starved by pyqtgraph (and starves
it). In its own process the engine runs at headless speed whatever the GUI draws.

The loop works between steps only: it answers requests (``nlviz.host.protocol``) and, while
playing, runs batches sized to about ``BATCH_SECONDS`` of work. It runs ahead of the parent
by at most ``MAX_INFLIGHT`` batches the parent has not acknowledged (``Ack``), so a pause
lands near what the user sees and memory in the pipe stays bounded. Recording is lossless:
every batch (including a fault's partial batch) is appended to the recorder before it is sent.
What is sent is thinned (``nlviz.host.thinning``): every row, event and evaluation, but at
most a few probe, snapshot and state records per second, the newest (held ones are flushed
at a pause).

Requests are dispatched by their type through ``handlers()``; a subclass (e.g. a test's) may
add request types by extending it, and the parent picks the class by its dotted path
(``EngineProcess(..., loop="package.module:Class")``).
"""
from __future__ import annotations

import importlib
import signal
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any

from engine.commands import Ablate, Mark, Reset, SetParam, SwitchStream
from engine.config import ConfigError
from engine.frames import FrameBatch
from nlviz.errors import one_line
from nlviz.host.batching import block_batch
from nlviz.host.protocol import (
    Ack,
    Batch,
    BranchSource,
    Event,
    Fault,
    Finished,
    Pause,
    Paused,
    Play,
    Ready,
    Rebuild,
    Record,
    RecordingChanged,
    Rejected,
    Reply,
    Resumed,
    SessionInfo,
    SetSpeed,
    Source,
    SpecChanged,
    StartFailed,
    StepN,
    Stop,
)
from nlviz.host.thinning import GUI_RECORD_PERIOD_S, GuiThinner

if TYPE_CHECKING:
    from engine.session import Session

BATCH_SECONDS = 1 / 45          # wall time of one batch at "max": faster than the redraw
                                # timer, so every frame has new steps to show
MIN_BATCH = 32                  # at "max": amortises the per-batch cost (pickling, pipe)
MAX_BATCH = 4096
MAX_INFLIGHT = 4                # batches the child may run ahead of the parent
RATE_WINDOW_S = 0.5             # steps/s is measured over windows of this length
STEP_TIME_EMA = 0.3             # weight of the newest batch in the seconds-per-step estimate

Handler = Callable[[Any], None]



def session_info(session: Session, parent: tuple[str, int] | None = None) -> SessionInfo:
    """An immutable snapshot of what the GUI shows about ``session``."""
    return SessionInfo(session.config, session.spec, session.spec_version, session.device_name,
                       session.device_note, session.stream_description,
                       tuple(session.regime_names), int(session.step_count), parent,
                       getattr(session, "device_reason", ""),
                       getattr(session, "engine_note", ""))


def load_loop_class(path: str) -> type[EngineLoop]:
    """The class named by ``"package.module:Class"`` (an ``EngineLoop`` subclass)."""
    module, _, name = path.partition(":")
    cls = getattr(importlib.import_module(module), name)
    if not (isinstance(cls, type) and issubclass(cls, EngineLoop)):
        raise TypeError(f"{path} is not an EngineLoop class")
    return cls


def child_main(conn: Connection, source: Source, loop_path: str) -> None:
    """Entry point of the engine process: build the loop, run it until ``Stop`` or until
    the parent goes away, close the recording."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)     # the GUI decides when we stop
    try:
        loop = load_loop_class(loop_path)(conn, source)
    except BaseException as exc:  # noqa: BLE001 - reported, then the child exits
        try:
            conn.send(StartFailed(one_line(exc)))
        except OSError:
            pass
        conn.close()
        return
    try:
        loop.run()
    except (EOFError, OSError):
        pass                                          # the GUI went away: close and exit
    finally:
        loop.record.stop()
        try:
            conn.close()
        except OSError:
            pass
    from engine.fast import background  # torch: only in the child
    background.exit_if_building(0)                    # the recording is closed by now


class EngineLoop:
    """The command loop of the engine process: one ``Session``, zero or one recording."""

    gui_record_period: float = GUI_RECORD_PERIOD_S   # thinning of records sent to the GUI

    def __init__(self, conn: Connection, source: Source) -> None:
        from engine.session import Session
        from nlviz.host.recording_link import RecordingLink

        self.conn = conn
        parent: tuple[str, int] | None = None
        if isinstance(source, BranchSource):
            from nlviz.recording.reader import Recording
            from nlviz.replay.branch import branch_session
            with Recording.open(source.path) as rec:
                br = branch_session(rec, int(source.step))
            self.session: Session = br.session
            parent = br.parent
        else:
            try:
                self.session = Session(source)
            except ConfigError as exc:
                raise ConfigError(str(exc)) from None
        self.session.allow_background_build()        # child_main exits safely
        self.parent = parent
        self.record = RecordingLink(parent=parent)
        self.thinner = GuiThinner(self.gui_record_period)
        self.playing = False
        self.stopping = False
        self.remaining: int | None = None
        self.speed = 0.0
        self.sec_per_step = 1e-3
        self.play_t0 = 0.0
        self.play_done = 0
        self.inflight = 0
        self.spec_version = self.session.spec_version
        self.rate_t, self.rate_n, self.rate = time.perf_counter(), 0, 0.0
        self._handlers = self.handlers()
        self.send(self.info())
        self.send(Ready())

    def handlers(self) -> dict[type, Handler]:
        """Request type -> handler. Subclasses extend the dict to accept more requests."""
        return {
            Ack: self._on_ack, Play: self._on_play, Pause: self._on_pause,
            StepN: self._on_step_n, SetSpeed: self._on_set_speed, Record: self._on_record,
            Rebuild: self._on_rebuild, Stop: self._on_stop,
            Reset: self._on_command, SwitchStream: self._on_command,
            SetParam: self._on_command, Mark: self._on_command, Ablate: self._on_ablate,
        }

    def info(self) -> SessionInfo:
        """The session as the parent sees it now."""
        return session_info(self.session, self.parent)

    def send(self, reply: Reply) -> None:
        """One reply to the parent (raises ``OSError`` when it has gone)."""
        self.conn.send(reply)

    # ---- loop ------------------------------------------------------------------------
    def run(self) -> None:
        """Answer requests and run batches until ``Stop``."""
        while not self.stopping:
            if not self.playing or self.inflight >= MAX_INFLIGHT:
                self.handle(self.conn.recv())           # block: nothing to do until told
                self._drain(0.0)
                continue
            n = self._batch_size()
            if n == 0:                                  # paced and ahead of schedule
                self._drain(max(0.001, 1.0 / max(self.speed, 1.0)))
                continue
            self._drain(0.0)
            if self.playing and not self.stopping and self.inflight < MAX_INFLIGHT:
                n = self._batch_size()
                if n > 0:
                    self._run_batch(n)
                    if self.remaining == 0:
                        self._halt()

    def _drain(self, timeout: float) -> None:
        while not self.stopping and self.conn.poll(timeout):
            self.handle(self.conn.recv())
            timeout = 0.0

    def handle(self, request: object) -> None:
        """Dispatch one request by its type; an unknown one is rejected."""
        handler = self._handlers.get(type(request))
        if handler is None:
            self.send(Rejected(f"the engine does not accept {type(request).__name__}"))
            return
        handler(request)

    # ---- requests ------------------------------------------------------------------------
    def _on_ack(self, _: Ack) -> None:
        self.inflight = max(0, self.inflight - 1)

    def _on_play(self, _: Play) -> None:
        self.remaining = None
        self._begin()

    def _on_pause(self, _: Pause) -> None:
        self._halt()

    def _on_step_n(self, req: StepN) -> None:
        if req.n < 1:
            return
        self.remaining = int(req.n)
        self._begin()

    def _on_set_speed(self, req: SetSpeed) -> None:
        self.speed = max(0.0, float(req.steps_per_s))
        self.play_t0, self.play_done = time.perf_counter(), 0

    def _on_record(self, req: Record) -> None:
        # A recording started or stopped from the GUI (Record button) brackets itself with
        # events, like ``--record`` (resume ... pause, stop): a start mid-run otherwise had
        # none at all (the run's resume was before the file, no pause or stop came after).
        step = self.session.step_count
        if req.path is None:
            if self.record.active:
                self.session.apply(Mark("stop", f"recording stopped at step {step}"))
                self._record_events()
            self.send(RecordingChanged(False, self.record.stop()))
            return
        try:
            self.record.start(req.path, self.session, overwrite=req.overwrite)
            self.send(RecordingChanged(True, req.path))
        except Exception as exc:  # noqa: BLE001 - shown to the user, the run goes on
            self.send(RecordingChanged(False, f"cannot record: {one_line(exc)}"))
            return
        self.session.apply(Mark("start", f"recording started at step {step}"
                                + (" (running)" if self.playing else " (paused)")))
        self._record_events()

    def _on_command(self, command: Reset | SwitchStream | SetParam | Mark) -> None:
        try:
            ev = self.session.apply(command)
        except (ConfigError, ValueError, OSError) as exc:
            self.send(Rejected(one_line(exc)))
            return
        if isinstance(command, Reset) or self.session.spec_version != self.spec_version:
            self.spec_version = self.session.spec_version
            self._new_spec()
        elif isinstance(command, SwitchStream):
            self._record_events()
            self.record.flush()
        self.send(self.info())
        self.send(Event(f"{ev.step}: {ev.kind} {ev.detail}"))

    def _on_ablate(self, command: Ablate) -> None:
        """Evaluate a knock-out / restore now and publish its records at once (paused too)."""
        ev = self.session.apply(command)
        batch = self.session.take_events()
        if batch is not None:
            self._publish(batch)
        self.send(Event(f"{ev.step}: {ev.kind} {ev.detail}"))

    def _on_rebuild(self, req: Rebuild) -> None:
        try:
            self.session.rebuild(req.config)
        except (ConfigError, ValueError, OSError) as exc:
            self.send(Rejected(one_line(exc)))
            return
        self.spec_version = self.session.spec_version
        self._new_spec()
        s = self.session
        self.send(self.info())
        self.send(Event(f"{s.step_count}: rebuilt on {s.device_name}"))
        if s.device_note:
            self.send(Rejected(s.device_note))

    def _on_stop(self, _: Stop) -> None:
        if self.playing:
            self._halt()
        self.session.apply(Mark("stop", f"at step {self.session.step_count}"))
        self._record_events()
        msg = self.record.stop()
        if msg:
            self.send(RecordingChanged(False, msg))
        self.stopping = True
        self.send(Finished())

    def _record_events(self) -> None:
        """Write queued events (pause, stream switch, stop) now rather than with the next
        step; only while recording, so the live views still get them with the next batch."""
        if self.record.active:
            batch = self.session.take_events()
            if batch is not None:
                self.record.append(batch)

    # ---- running -------------------------------------------------------------------------
    def _begin(self) -> None:
        if not self.playing:
            self.playing = True
            self.play_t0, self.play_done = time.perf_counter(), 0
            self.session.apply(Mark("resume", "run"))
            self.send(Resumed())

    def _halt(self) -> None:
        if not self.playing:
            return
        self.playing = False
        self.remaining = None
        self.session.apply(Mark("pause", f"at step {self.session.step_count}"))
        self._record_events()
        self.record.flush()
        self._flush_thinned()
        self.send(Paused(self.session.step_count, self.record.stats()))

    def _batch_size(self) -> int:
        n = max(1, int(BATCH_SECONDS / max(self.sec_per_step, 1e-6)))  # >= 1: a slow step
        # (e.g. a cold first call) must not stall a paced run at 0 steps forever
        block = int(getattr(self.session.config.run, "block", 1))
        if self.speed > 0:
            due = int(self.speed * (time.perf_counter() - self.play_t0)) - self.play_done
            n = min(n, due, int(self.speed * BATCH_SECONDS) + 1)
        else:                                           # at "max": at least one block
            n = max(n, MIN_BATCH, block)
        if self.remaining is not None:
            n = min(n, self.remaining)
        return max(0, block_batch(n, block, MAX_BATCH))

    def _run_batch(self, n: int) -> None:
        from engine.session import EngineFault
        t0 = time.perf_counter()
        try:
            batch = self.session.step(n)
        except EngineFault as fault:
            self._publish(fault.batch)
            self.record.stop()
            self._halt()
            self.send(RecordingChanged(False, "recording closed after the engine fault"))
            self.send(Fault(str(fault), int(fault.step), fault.level or ""))
            return
        dt = time.perf_counter() - t0
        self.sec_per_step = (1 - STEP_TIME_EMA) * self.sec_per_step + STEP_TIME_EMA * dt / n
        self.play_done += n
        if self.remaining is not None:
            self.remaining -= n
        self._publish(batch)

    def _publish(self, batch: FrameBatch) -> None:
        """Record first (lossless; may block = back-pressure), then send."""
        if len(batch) == 0 and not batch.events:
            return
        error = self.record.append(batch)
        if error:
            self.send(RecordingChanged(False, error))
        self.rate_n += len(batch)
        now = time.perf_counter()
        if now - self.rate_t >= RATE_WINDOW_S:
            self.rate = self.rate_n / (now - self.rate_t)
            self.rate_t, self.rate_n = now, 0
        self.inflight += 1
        self.send(Batch(self.thinner.thin(batch), self.session.step_count, self.rate,
                        len(batch), self.record.stats()))

    def _flush_thinned(self) -> None:
        """Send the records the thinning held back (at a pause: the newest is shown)."""
        held = self.thinner.flush(self.session.spec)
        if held is not None:
            self.inflight += 1
            self.send(Batch(held, self.session.step_count, self.rate, 0, self.record.stats()))

    def _new_spec(self) -> None:
        """Reset or rebuild: the parent renews its buffers; a recording rolls to a new file."""
        msg = self.record.roll(self.session)
        self.thinner.reset()
        self.send(self.info())
        self.send(SpecChanged())
        if msg:
            self.send(RecordingChanged(self.record.active, msg))


__all__ = ["BATCH_SECONDS", "MAX_BATCH", "MAX_INFLIGHT", "MIN_BATCH", "EngineLoop",
           "child_main", "load_loop_class", "session_info"]
