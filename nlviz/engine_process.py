"""The engine in a child process: ``Session`` + ``Recorder`` run there, the GUI only listens.

Why a process: a step of the default model is mostly Python and torch dispatch that holds
the GIL, so an engine thread inside the GUI process is starved by pyqtgraph (and starves it).
In its own process the engine runs at headless speed whatever the GUI draws.

Qt-free (importable without Qt, and without torch in the parent: the child imports the
engine). The child is started with the ``spawn`` context (forking a process that already
runs Qt and torch threads is unsafe).

Protocol (one duplex pipe, pickled messages, strictly ordered):

* parent -> child: the request dataclasses below (``Play``, ``Pause``, ``StepN`` ...,
  ``EngineCommand(Reset() | SwitchStream | SetParam | Mark)``, ``Rebuild``, ``Record``,
  ``Stop``) and ``ACK`` after each batch the parent has published.
* child -> parent: tuples ``(kind, *payload)``::

    ("ready", SessionInfo)                       session built; nothing ran yet
    ("error", message)                           could not build the session (child exits)
    ("batch", FrameBatch, step_count, steps_per_s, batch_len, RecorderStats | None)
    ("resumed",)  ("paused", step_count, RecorderStats | None)
    ("spec", SessionInfo)                        reset / rebuild: new buffers
    ("event", line, SessionInfo)                 a command was applied
    ("rejected", message)  ("recording", on, text)
    ("fault", message, step, level)              after its partial batch and ("paused", ...)
    ("finished",)                                after ``Stop``: recorder closed, exiting

Exactness: the child works between steps only, and messages keep their order, so when
the parent reads ``("paused", n)`` it has already read every batch up to step ``n``:
``StepN(k)`` moves the engine by exactly ``k`` steps and the step count the GUI shows is
the engine's. While playing the child runs ahead of the display by at most
``MAX_INFLIGHT`` un-acknowledged batches (about 0.1 s), so a pause lands near what the
user sees and memory in the pipe stays bounded.

Recording is lossless: every batch (including a fault's partial batch) is appended to the
recorder in the child before it is sent.
"""
from __future__ import annotations

import multiprocessing as mp
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from engine.commands import Command, Mark, Reset, SwitchStream
from engine.config import Config, ConfigError
from engine.frames import RunSpec

BATCH_SECONDS = 1 / 45          # wall time of one batch at "max": faster than the redraw
                                # timer, so every frame has new steps to show
MIN_BATCH = 32                  # at "max": amortises the per-batch cost (pickling, pipe)
MAX_BATCH = 4096
MAX_INFLIGHT = 4                # batches the child may run ahead of the parent
ACK = "ack"
STOP_TIMEOUT_S = 20.0           # waiting for the child to close the recording and exit


# ---- requests (parent -> child) --------------------------------------------------------
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
class Stop:
    """Finish: pause, close the recording, exit."""


@dataclass(frozen=True)
class Rebuild:
    """Replace the session with one built from ``config`` (preset load, device change);
    the global step count continues."""

    config: Any


@dataclass(frozen=True)
class EngineCommand:
    """Forward an ``engine.commands`` command (reset, stream switch, parameter...)."""

    command: Command


@dataclass(frozen=True)
class InjectFault:
    """Test hook: the ``after``-th model step call from now raises ``RuntimeError(message)``."""

    after: int
    message: str = "injected fault"


# ---- what the parent knows about the session -------------------------------------------
@dataclass
class SessionInfo:
    """The parts of a ``Session`` the GUI shows (a picklable copy, refreshed by messages)."""

    config: Config
    spec: RunSpec
    spec_version: int
    device_name: str
    device_note: str | None
    stream_description: str
    regime_names: tuple[str, ...]
    step_count: int
    parent: tuple[str, int] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, session: Any, parent: tuple[str, int] | None = None) -> SessionInfo:
        return cls(session.config, session.spec, session.spec_version, session.device_name,
                   session.device_note, session.stream_description,
                   tuple(session.regime_names), int(session.step_count), parent)

    def update(self, other: SessionInfo) -> None:
        """Take ``other``'s values, keeping this object's identity."""
        self.__dict__.update(other.__dict__)


Source = Config | tuple            # a Config, or ("branch", recording_path, step)


def describe_source(source: Source) -> str:
    if isinstance(source, tuple) and source and source[0] == "branch":
        return f"branch of {os.path.basename(str(source[1]))} at step {int(source[2])}"
    return "new session"


# ---- parent side -------------------------------------------------------------------------
class EngineProcess:
    """Handle on one engine child process.

    Parameters
    ----------
    source : a ``Config``, or ``("branch", recording_path, step)`` to continue a recorded
        run live from ``step`` (``nlviz.replay.branch.branch_session``).
    """

    def __init__(self, source: Source) -> None:
        self.source = source
        self.process: Any = None
        self._conn: Any = None
        self.closed = False

    def start(self) -> None:
        """Spawn the child (returns at once; the child reports ``("ready", ...)`` later)."""
        ctx = mp.get_context("spawn")
        self._conn, child_conn = ctx.Pipe(duplex=True)
        self.process = ctx.Process(target=child_main, args=(child_conn, self.source),
                                   name="nlviz-engine", daemon=True)
        self.process.start()
        child_conn.close()

    # ---- talking -------------------------------------------------------------------
    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.is_alive()

    @property
    def exitcode(self) -> int | None:
        return self.process.exitcode if self.process is not None else None

    def fileno(self) -> int:
        return self._conn.fileno()

    def send(self, request: Any) -> bool:
        """Queue a request for the child; False if the child is gone."""
        if self.closed:
            return False
        try:
            self._conn.send(request)
            return True
        except (OSError, ValueError):
            return False

    def poll(self, timeout: float = 0.0) -> bool:
        """True if a message (or EOF) is waiting."""
        if self.closed:
            return False
        try:
            return bool(self._conn.poll(timeout))
        except (OSError, ValueError):
            return True                         # recv will raise EOFError

    def recv(self) -> tuple:
        """Next message; raises ``EOFError`` when the child has gone."""
        if self.closed:
            raise EOFError("engine connection closed")
        try:
            return self._conn.recv()
        except (OSError, ValueError) as exc:
            raise EOFError(str(exc)) from exc

    # ---- ending --------------------------------------------------------------------
    def stop(self, on_message: Callable[[tuple], None] | None = None,
             timeout: float = STOP_TIMEOUT_S) -> bool:
        """Ask the child to stop at a step boundary, close its recording and exit; hand
        every message it sends meanwhile to ``on_message``; join it (terminate as the last
        resort). Blocks; returns True if the child finished cleanly."""
        clean = False
        if self.process is not None and not self.closed and self.send(Stop()):
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if not self.poll(0.05):
                    if not self.alive:
                        if not self.poll(0):
                            break
                    continue
                try:
                    msg = self.recv()
                except EOFError:
                    break
                if msg[0] == "finished":
                    clean = True
                    break
                if msg[0] == "batch":
                    self.send(ACK)
                if on_message is not None:
                    on_message(msg)
        self.close(join_timeout=5.0 if clean else 1.0)
        return clean

    def close(self, join_timeout: float = 1.0) -> None:
        """Join the child (terminate, then kill, if it does not exit); close the pipe."""
        p = self.process
        if p is not None:
            p.join(join_timeout)
            if p.is_alive():
                p.terminate()
                p.join(2.0)
            if p.is_alive():
                p.kill()
                p.join(2.0)
        if self._conn is not None and not self.closed:
            try:
                self._conn.close()
            except OSError:
                pass
        self.closed = True

    def kill(self) -> None:
        """Kill the child at once (tests; a hung engine)."""
        if self.process is not None and self.process.is_alive():
            self.process.kill()


# ---- child side ----------------------------------------------------------------------------
def child_main(conn: Any, source: Source) -> None:
    """Entry point of the engine process."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)     # the GUI decides when we stop
    try:
        loop = _EngineLoop(conn, source)
    except BaseException as exc:  # noqa: BLE001 - reported, then the child exits
        try:
            conn.send(("error", _one_line(exc)))
        except OSError:
            pass
        conn.close()
        return
    try:
        loop.run()
    except (EOFError, OSError, BrokenPipeError):
        pass                                          # the GUI went away: close and exit
    finally:
        loop.record.stop()
        try:
            conn.close()
        except OSError:
            pass


def _one_line(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text.replace("\n", " ")


class _EngineLoop:
    """The command loop of the engine process (state machine of the old worker thread)."""

    def __init__(self, conn: Any, source: Source) -> None:
        from engine.session import Session
        from nlviz.recording.link import RecordingLink

        self.conn = conn
        parent = None
        if isinstance(source, tuple) and source and source[0] == "branch":
            from nlviz.recording.reader import Recording
            from nlviz.replay.branch import branch_session
            with Recording.open(str(source[1])) as rec:
                br = branch_session(rec, int(source[2]))
            self.session = br.session
            parent = br.parent
        else:
            try:
                self.session = Session(source)
            except ConfigError as exc:
                raise ConfigError(str(exc)) from None
        self.parent = parent
        self.record = RecordingLink(parent=parent)
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
        self.fail_after: tuple[int, str] | None = None
        self._send(("ready", self.info()))

    def info(self) -> SessionInfo:
        return SessionInfo.of(self.session, self.parent)

    def _send(self, msg: tuple) -> None:
        self.conn.send(msg)

    # ---- loop ------------------------------------------------------------------------
    def run(self) -> None:
        while not self.stopping:
            if not self.playing or self.inflight >= MAX_INFLIGHT:
                self._handle(self.conn.recv())          # block: nothing to do until told
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
            self._handle(self.conn.recv())
            timeout = 0.0

    def _handle(self, req: Any) -> None:
        if isinstance(req, str) and req == ACK:
            self.inflight = max(0, self.inflight - 1)
            return
        getattr(self, f"_on_{type(req).__name__.lower()}")(req)

    # ---- requests ------------------------------------------------------------------------
    def _on_play(self, _: Play) -> None:
        self.remaining = None
        self._begin()

    def _on_pause(self, _: Pause) -> None:
        self._halt()

    def _on_stepn(self, req: StepN) -> None:
        if req.n < 1:
            return
        self.remaining = int(req.n)
        self._begin()

    def _on_setspeed(self, req: SetSpeed) -> None:
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
            msg = self.record.stop()
            self._send(("recording", False, msg))
            return
        try:
            self.record.start(req.path, self.session, overwrite=req.overwrite)
            self._send(("recording", True, req.path))
        except Exception as exc:  # noqa: BLE001 - shown to the user, the run goes on
            self._send(("recording", False, f"cannot record: {_one_line(exc)}"))
            return
        self.session.apply(Mark("start", f"recording started at step {step}"
                                + (" (running)" if self.playing else " (paused)")))
        self._record_events()

    def _on_enginecommand(self, req: EngineCommand) -> None:
        try:
            ev = self.session.apply(req.command)
        except (ConfigError, ValueError, OSError) as exc:
            self._send(("rejected", _one_line(exc)))
            return
        if isinstance(req.command, Reset) or self.session.spec_version != self.spec_version:
            self.spec_version = self.session.spec_version
            self._new_spec()
        elif isinstance(req.command, SwitchStream):
            self._record_events()
            self.record.flush()
        self._send(("event", f"{ev.step}: {ev.kind} {ev.detail}", self.info()))

    def _on_rebuild(self, req: Rebuild) -> None:
        try:
            self.session.rebuild(req.config)
        except (ConfigError, ValueError, OSError) as exc:
            self._send(("rejected", _one_line(exc)))
            return
        self.spec_version = self.session.spec_version
        self._new_spec()
        s = self.session
        self._send(("event", f"{s.step_count}: rebuilt on {s.device_name}", self.info()))
        if s.device_note:
            self._send(("rejected", s.device_note))

    def _on_injectfault(self, req: InjectFault) -> None:
        model = self.session.model
        real = model.step
        calls = {"n": 0}

        def broken(x: Any) -> Any:
            calls["n"] += 1
            if calls["n"] == req.after:
                model.step = real
                raise RuntimeError(req.message)
            return real(x)

        model.step = broken

    def _on_stop(self, _: Stop) -> None:
        if self.playing:
            self._halt()
        self.session.apply(Mark("stop", f"at step {self.session.step_count}"))
        self._record_events()
        msg = self.record.stop()
        if msg:
            self._send(("recording", False, msg))
        self.stopping = True
        self._send(("finished",))

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
            self._send(("resumed",))

    def _halt(self) -> None:
        if not self.playing:
            return
        self.playing = False
        self.remaining = None
        self.session.apply(Mark("pause", f"at step {self.session.step_count}"))
        self._record_events()
        self.record.flush()
        self._send(("paused", self.session.step_count, self.record.stats()))

    def _batch_size(self) -> int:
        n = max(1, int(BATCH_SECONDS / max(self.sec_per_step, 1e-6)))  # >= 1: a slow step
        # (e.g. a cold first call) must not stall a paced run at 0 steps forever
        if self.speed > 0:
            due = int(self.speed * (time.perf_counter() - self.play_t0)) - self.play_done
            n = min(n, due, int(self.speed * BATCH_SECONDS) + 1)
        if self.remaining is not None:
            n = min(n, self.remaining)
        if self.speed > 0:
            return max(0, min(n, MAX_BATCH))
        floor = MIN_BATCH if self.remaining is None else min(MIN_BATCH, self.remaining)
        return max(floor, min(n, MAX_BATCH))

    def _run_batch(self, n: int) -> None:
        from engine.session import EngineFault
        t0 = time.perf_counter()
        try:
            batch = self.session.step(n)
        except EngineFault as fault:
            self._publish(fault.batch)
            self.record.stop()
            self._halt()
            self._send(("recording", False, "recording closed after the engine fault"))
            self._send(("fault", str(fault), int(fault.step), fault.level or ""))
            return
        dt = time.perf_counter() - t0
        self.sec_per_step = 0.7 * self.sec_per_step + 0.3 * dt / n
        self.play_done += n
        if self.remaining is not None:
            self.remaining -= n
        self._publish(batch)

    def _publish(self, batch: Any) -> None:
        """Record first (lossless; may block = back-pressure), then send."""
        if len(batch) == 0 and not batch.events:
            return
        error = self.record.append(batch)
        if error:
            self._send(("recording", False, error))
        self.rate_n += len(batch)
        now = time.perf_counter()
        if now - self.rate_t >= 0.5:
            self.rate = self.rate_n / (now - self.rate_t)
            self.rate_t, self.rate_n = now, 0
        self.inflight += 1
        self._send(("batch", batch, self.session.step_count, self.rate, len(batch),
                    self.record.stats()))

    def _new_spec(self) -> None:
        """Reset or rebuild: the parent renews its buffers; a recording rolls to a new file."""
        msg = self.record.roll(self.session)
        self._send(("spec", self.info()))
        if msg:
            self._send(("recording", self.record.active, msg))


__all__ = ["ACK", "EngineCommand", "EngineProcess", "InjectFault", "Pause", "Play", "Rebuild",
           "Record", "SessionInfo", "SetSpeed", "StepN", "Stop", "child_main"]
