"""Wires the views, the engine worker (in its QThread) and the redraw timer.

Views emit intents; handlers here (``_on_<source>_<event>``) turn them into worker
requests, and worker state signals back into view setters. Data never passes here:
it goes engine process -> worker -> ``RunBuffers`` -> ``Presenter`` -> views.
"""
from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Callable
from typing import Any

import shiboken6
from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot

from engine.commands import Ablate, Reset, SetParam, SwitchStream
from engine.config import Config, StreamConfig
from engine.frames import RunSpec
from nlviz.analysis.health import health_config_for
from nlviz.config_loader import load_config
from nlviz.errors import UserError
from nlviz.host.protocol import (
    BranchSource,
    Pause,
    Play,
    Rebuild,
    Record,
    SetSpeed,
    StepN,
    Stop,
)
from nlviz.qt.live.front import LiveFront
from nlviz.qt.live.worker import EngineWorker, Restart
from nlviz.qt.main_window import MainWindow
from nlviz.qt.presenter import Presenter, status_bar_sink
from nlviz.series.ring import RunBuffers


def _window_alive(slot: Callable[..., None]) -> Callable[..., None]:
    """Skip a worker signal that arrives (queued) after the window was deleted, e.g. the
    last ``paused`` of a stop that a closing test or app did not wait for."""
    @functools.wraps(slot)
    def wrapper(self: Controller, *args: Any) -> None:
        if not shiboken6.isValid(self.window) or not shiboken6.isValid(self.front.controls):
            return None
        return slot(self, *args)
    return wrapper


READY_HINT = "engine ready, paused: press Play (Space) to run, → for one step"

# The redraw timer: about 30 Hz; a 33 Hz tick still gives 30 frames/s when a frame is late.
REDRAW_HZ = 33.0


class Controller(QObject):
    """Owns the worker thread; connects everything.

    Parameters
    ----------
    window : the main window with the live front (views).
    source : the engine's ``Config`` (or a ``BranchSource``); the engine
        process builds its session from it.
    preset : name of the preset the session came from (shown in the config panel).
    capacity : steps of history kept in RAM per series.
    fps : redraw rate.
    """

    request = Signal(object)                 # -> EngineWorker.submit (queued)
    stoppedCleanly = Signal()

    def __init__(self, window: MainWindow[LiveFront], source: Config | BranchSource,
                 preset: str = "default",
                 capacity: int = 100_000, fps: float = REDRAW_HZ) -> None:
        super().__init__()
        self.window = window
        self.front = window.front
        self.preset = preset
        d_in = source.model.d_in if isinstance(source, Config) else 1
        self.buffers = RunBuffers(RunSpec(levels=(), d_in=d_in, probe_size=1),
                                  capacity=capacity)     # sized when the engine is ready
        self.worker = EngineWorker(source, self.buffers)
        self.engine_thread = QThread()
        self.engine_thread.setObjectName("nlviz-engine")
        self.worker.moveToThread(self.engine_thread)
        self.redrawer = Presenter(self.buffers, window.deck, fps, on_status=status_bar_sink(window.status),
                                  run_stats=lambda: self.buffers.stats)
        self.redrawer.engine_pid = self._engine_pid
        self.playing = False
        self.stopping = False
        self.last_fault: str | None = None
        self._connect()
        if isinstance(source, Config):          # true from the first frame, engine or not
            self.front.config_panel.set_config(source, preset)
            self.front.stream_panel.set_starting(source.stream)

    # ---- wiring ------------------------------------------------------------------
    def _connect(self) -> None:
        w, f, c, wk = self.window, self.front, self.front.controls, self.worker
        self.request.connect(wk.submit)
        self.engine_thread.started.connect(wk.start)
        self.engine_thread.finished.connect(self._on_thread_finished)
        q = Qt.ConnectionType.QueuedConnection                  # worker signals: handled on the GUI thread
        wk.started.connect(self._on_worker_started, q)
        wk.resumed.connect(self._on_worker_resumed, q)
        wk.paused.connect(self._on_worker_paused, q)
        wk.specChanged.connect(self._on_worker_spec_changed, q)
        wk.faulted.connect(self._on_worker_faulted, q)
        wk.rejected.connect(self._on_worker_rejected, q)
        wk.eventLogged.connect(self._on_worker_event, q)
        wk.engineChanged.connect(self._on_worker_engine, q)
        wk.recordingChanged.connect(self._on_worker_recording, q)
        c.playToggled.connect(self.toggle_play)
        c.stepRequested.connect(self.step)
        c.speedChanged.connect(self._on_controls_speed)
        c.resetRequested.connect(self.reset)
        c.followRequested.connect(self.set_follow)
        c.windowChanged.connect(self._on_controls_window)
        c.smoothingChanged.connect(self._on_controls_smoothing)
        c.recordToggled.connect(self._on_controls_record)
        w.metrics.followChanged.connect(self.set_follow)
        f.stream_panel.switchRequested.connect(self.switch_stream)
        f.config_panel.applyRequested.connect(self._on_config_apply)
        f.config_panel.presetRequested.connect(self.load_preset)
        w.heatmap.levelChanged.connect(self._on_heatmap_level)
        w.closeRequested.connect(self.shutdown)
        retention = getattr(w.deck, "retention", None)       # the "Retention" dock's tabs
        if retention is not None:
            retention.ablationRequested.connect(self.ablate)

    def start(self) -> None:
        """Start the worker thread (it spawns the engine process) and the redraw timer."""
        self.window.allow_close = False
        self.window.status.show_message("starting engine…")
        self.engine_thread.start()
        self.redrawer.start()

    # ---- public intents (also used by tests and scripts) -------------------------------
    def play(self) -> None:
        """Run continuously."""
        self.request.emit(Play())

    def pause(self) -> None:
        """Stop at the next step boundary."""
        self.request.emit(Pause())

    def toggle_play(self) -> None:
        """Play or pause."""
        self.pause() if self.playing else self.play()

    def step(self, n: int) -> None:
        """Run exactly ``n`` steps then pause (pauses a running engine first)."""
        if self.playing:
            self.request.emit(Pause())
        self.request.emit(StepN(int(n)))

    def reset(self) -> None:
        """Engine back to its initial state (same seed)."""
        self.request.emit(Reset())

    def switch_stream(self, stream: StreamConfig) -> None:
        """Feed another stream from the next step on."""
        self.request.emit(SwitchStream(stream))

    def ablate(self, level: str, restore_step: int | None = None) -> None:
        """Evaluate the held-out windows with ``level`` knocked out (or its weights restored
        to the state kept at ``restore_step``) without changing the running model; the
        EvalRecords come back with the next batch (``FrameSource.evals_at``)."""
        self.request.emit(Ablate(str(level), None if restore_step is None else int(restore_step)))

    def _engine_pid(self) -> int | None:
        return self.worker.pid

    def continue_from(self, recording_path: str, step: int, record_path: str | None = None
                      ) -> None:
        """Continue a recorded run live from ``step``: the engine process is replaced by one
        restored from the recording (``nlviz.replay.branch``); records the branch to
        ``record_path`` if given (with ``parent_run``/``parent_step``). A refusal (no state,
        unreplayable event...) shows as a fault."""
        self.window.status.show_message(f"starting engine from {recording_path} at step "
                                        f"{int(step)}…")
        self.request.emit(Restart(BranchSource(str(recording_path), int(step)), record_path))

    def activity(self) -> str:
        """What a continued run would replace ("" when idle): the step reached, and
        "recording" while recording."""
        session = self.worker.session
        parts = []
        if session is not None and session.step_count > 0:
            parts.append(f"at step {session.step_count:,}")
        if self.worker.recording:
            parts.append("recording")
        return ", ".join(parts)

    def set_param(self, path: str, value: Any) -> None:
        """Change one config value (live or rebuild)."""
        if path == "run.device":
            if self.worker.session is None:
                return
            cfg = self.worker.session.config.replace(path, value)
            self.request.emit(Rebuild(cfg))
        else:
            self.request.emit(SetParam(path, value))

    def load_preset(self, name: str) -> None:
        """Rebuild from a whole preset (the step count continues)."""
        try:
            cfg = load_config(name)
        except UserError as exc:
            self.front.config_panel.show_error(str(exc))
            return
        self.preset = name
        self.request.emit(Rebuild(cfg))

    def record(self, path: str | None, overwrite: bool = False) -> None:
        """Start recording to ``path`` (None stops). An existing file is refused by the
        engine unless ``overwrite`` (the user said so)."""
        self.request.emit(Record(path, overwrite))

    def set_follow(self, on: bool) -> None:
        """Follow the live edge, or stay where the user looks."""
        self.redrawer.follow = on
        self.front.controls.set_follow(on)
        if on:
            self.window.metrics.set_auto_y()
            self.redrawer.force()

    def shutdown(self) -> None:
        """Stop at a step boundary, close the recording, quit the thread; then the
        window closes (``thread.finished`` -> ``_on_thread_finished``)."""
        if self.stopping:
            return
        self.stopping = True
        self.window.status.show_message("finishing: stopping the engine and closing the "
                                        "recording…")
        if self.engine_thread.isRunning():
            self.request.emit(Stop())
        else:
            self._on_thread_finished()

    def stop_and_wait(self, timeout_ms: int = 10_000) -> bool:
        """Blocking shutdown (tests, screenshot mode); True if the thread ended."""
        self.shutdown()
        ok = self.engine_thread.wait(timeout_ms)
        self.redrawer.stop()
        return bool(ok)

    # ---- worker -> views -----------------------------------------------------------
    def _show_session(self, session: Any) -> None:
        w, f = self.window, self.front
        spec = dataclasses.replace(session.spec, regime_names=tuple(session.regime_names))
        w.metrics.set_levels(spec)
        w.metrics.health.set_config(health_config_for(session.config.to_dict()))
        w.heatmap.set_levels(spec)
        w.forgetting.set_levels(spec)
        retention = getattr(w.deck, "retention", None)
        if retention is not None:
            retention.set_spec(spec)
        w.inputs.set_regime_names(session.regime_names)
        f.stream_panel.set_current(session.config.stream, session.stream_description)
        f.config_panel.set_config(session.config, self.preset)
        w.status.set_device(session.device_name, session.device_note,
                            getattr(session, "device_reason", ""),
                            getattr(session, "engine_note", ""))
        if session.device_note:
            f.config_panel.set_note(session.device_note)

    @Slot()
    @_window_alive
    def _on_worker_started(self) -> None:
        if self.worker.session is not None and not self.stopping:
            self.window.status.show_message("" if self.playing else READY_HINT)
            info = self.worker.session
            self.window.status.set_device(info.device_name, info.device_note,
                                          getattr(info, "device_reason", ""),
                                          getattr(info, "engine_note", ""))
        self.redrawer.force()

    @Slot()
    @_window_alive
    def _on_worker_resumed(self) -> None:
        if self.window.status.message.text() == READY_HINT:
            self.window.status.show_message("")
        self.playing = True
        self.front.controls.set_playing(True)

    @Slot(int)
    @_window_alive
    def _on_worker_paused(self, step: int) -> None:
        self.playing = False
        self.front.controls.set_playing(False)
        self.redrawer.force()

    @Slot(object)
    @_window_alive
    def _on_worker_spec_changed(self, _spec: object) -> None:
        if self.worker.session is not None:
            self._show_session(self.worker.session)
        self.redrawer.force()

    @Slot(str)
    @_window_alive
    def _on_worker_engine(self, note: str) -> None:
        """``auto`` switched to the compiled engine (or a compile failed): the status bar
        says which engine computes now."""
        info = self.worker.session
        if info is not None:
            self.window.status.set_device(info.device_name, info.device_note,
                                          getattr(info, "device_reason", ""), note)

    @Slot(str, int, str)
    @_window_alive
    def _on_worker_faulted(self, message: str, step: int, level: str) -> None:
        where = f"step {step}" + (f", level {level}" if level else "")
        text = (f"Engine stopped: {message}. Paused at {where}. Reset, or lower the learning "
                "rates in Config, then press Play.")
        self.last_fault = text
        self.window.banner.show_text(text)
        self.window.status.show_message(f"engine fault at {where}: {message}", error=True)
        self.window.log(f"{step}: error {message}")
        self.redrawer.force()

    @Slot(str)
    @_window_alive
    def _on_worker_rejected(self, message: str) -> None:
        self.front.config_panel.show_error(message)
        self.front.stream_panel.show_error(message)
        self.window.status.show_message(message, error=True)

    @Slot(str)
    @_window_alive
    def _on_worker_event(self, line: str) -> None:
        self.window.log(line)
        session = self.worker.session
        if session is None:
            return
        self.front.stream_panel.set_current(session.config.stream, session.stream_description)
        self.front.config_panel.set_config(session.config)
        self.window.inputs.set_regime_names(session.regime_names)
        # a stream switch keeps the spec but not the regime names: bands and tabs follow
        named = dataclasses.replace(session.spec, regime_names=tuple(session.regime_names))
        self.window.metrics.set_levels(named)
        retention = getattr(self.window.deck, "retention", None)
        if retention is not None:
            retention.set_spec(named)
        self.window.banner.hide()

    @Slot(bool, str)
    @_window_alive
    def _on_worker_recording(self, on: bool, text: str) -> None:
        self.front.controls.set_recording(on, text if on else "")
        if not on and text:
            self.window.status.show_message(text, error=text.startswith(("cannot", "recording "
                                                                          "stopped")))
            self.window.log(text)

    @Slot()
    def _on_thread_finished(self) -> None:
        self.redrawer.stop()
        if not shiboken6.isValid(self.window):
            return
        self.window.allow_close = True
        self.stoppedCleanly.emit()
        if self.stopping and self.window.isVisible():
            self.window.close()

    # ---- views -> worker -----------------------------------------------------------
    def _on_controls_speed(self, steps_per_s: float) -> None:
        self.request.emit(SetSpeed(steps_per_s))

    def _on_controls_window(self, steps: int) -> None:
        self.redrawer.window_steps = steps
        self.redrawer.force()

    def _on_controls_smoothing(self, weight: float) -> None:
        self.buffers.set_smoothing(weight)
        self.window.metrics.set_smoothing_on(weight > 0)
        self.redrawer.force()

    def _on_controls_record(self, on: bool, path: str) -> None:
        """The Record button: an existing file is replaced only after the user says so."""
        if not on:
            self.record(None)
            return
        exists = os.path.lexists(path)
        if exists and not self.front.confirm_replace(path):
            self.front.controls.set_recording(False)
            self.window.status.show_message(f"not recording: {path} kept")
            return
        self.record(path, overwrite=exists)

    def _on_config_apply(self, changes: list) -> None:
        if any(path == "run.device" for path, _ in changes):
            if self.worker.session is None:
                return
            cfg = self.worker.session.config
            for path, value in changes:
                cfg = cfg.replace(path, value)
            self.request.emit(Rebuild(cfg))
            return
        for path, value in changes:
            self.set_param(path, value)

    def _on_heatmap_level(self, _: int) -> None:
        self.redrawer.force()
