"""``run_app(args)``: build the QApplication, the window and the controller; run.

The app starts paused (``--play`` starts it playing, ``--steps N`` runs N steps).
Ctrl-C in the terminal and File > Quit (Ctrl+Q) finish like closing the window: the
engine stops at a step boundary and the recording is closed, then the app exits (130
after Ctrl-C, 0 otherwise).

``--screenshot PNG`` waits for the engine (and runs ``--steps`` steps), saves a picture
of the whole window and exits 0; it exits 1 with one line when the engine never
started or the recording could not be created (for tests, docs and scripted figures).
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Callable

from PySide6.QtCore import QObject, Qt, QTimer, Slot
from PySide6.QtWidgets import QApplication, QWidget

from engine.config import ConfigError
from nlviz.config_loader import load_config
from nlviz.errors import UserError
from nlviz.qt.export import picture_kind, save_widget
from nlviz.qt.controller import Controller
from nlviz.qt.main_window import MainWindow
from nlviz.qt.theme import apply_theme, theme_for

SCREENSHOT_SETTLE_MS = 400
SCREENSHOT_START_TIMEOUT_S = 180   # the engine process imports torch: slow under load
SIGNAL_POLL_MS = 200          # a no-op timer: lets Python run its SIGINT handler in exec()


def parse_window_size(text: str | None) -> tuple[int, int] | None:
    """``"1600x1000"`` -> (1600, 1000); raises ``UserError`` on bad input."""
    if not text:
        return None
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise UserError(f"--window-size {text!r}: expected WIDTHxHEIGHT, e.g. 1600x1000") from None
    if w < 200 or h < 150:
        raise UserError(f"--window-size {text!r}: at least 200x150")
    if w > 16384 or h > 16384:
        raise UserError(f"--window-size {text!r}: at most 16384 on a side")
    return w, h


def check_window_size(window: QWidget, size: tuple[int, int]) -> None:
    """Refuse a ``--window-size`` below what the window's contents need (Qt would silently
    grow the window, and a screenshot would have another size than asked for)."""
    need = window.minimumSizeHint().expandedTo(window.minimumSize())
    if size[0] < need.width() or size[1] < need.height():
        raise UserError(f"--window-size {size[0]}x{size[1]}: the window needs at least "
                        f"{need.width()}x{need.height()}")


def build(args: argparse.Namespace) -> tuple[MainWindow, Controller]:
    """Window and controller for ``args`` (a QApplication must exist).

    The preset is the command line's (``--preset``, else ``default``), never a remembered
    one: the same command runs the same thing on every launch (the README's plain
    command, scripts, bug reports). Only the window layout is remembered; a preset picked
    in the GUI is one click away in the Config panel."""
    preset = args.preset or "default"
    config = load_config(preset, args.overrides, args.stream, args.device, args.seed)
    try:
        config = config.validate()              # the engine process builds the session
    except ConfigError as exc:
        raise UserError(str(exc)) from None
    window = MainWindow()
    window.metrics.set_raster_color(theme_for(args.light).foreground)
    controller = Controller(window, config, preset=preset)
    return window, controller


def run_app(args: argparse.Namespace) -> int:
    """Entry point called by ``nlviz.cli``; returns the exit code."""
    if args.steps < 0:
        raise UserError(f"--steps {args.steps}: must be 0 or more")
    if args.screenshot:
        picture_kind(args.screenshot)            # refuse a bad suffix before any window
    if args.replay:
        ignored = [flag for flag, value in (("--preset", args.preset), ("--stream", args.stream),
                                            ("--set", args.overrides), ("--record", args.record))
                   if value]
        if ignored:
            print(f"nlviz: note: {', '.join(ignored)} ignored with --replay (the recording "
                  "has its own configuration)", file=sys.stderr)
        from nlviz.qt.replay.app import run_replay
        return run_replay(args)
    size = parse_window_size(args.window_size)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("nlviz")
    apply_theme(app, theme_for(args.light))
    window, controller = build(args)
    from nlviz.qt.replay.app import install_live_hooks
    install_live_hooks(window, controller)     # File > Open / Compare, .h5 drops
    if size is not None:
        check_window_size(window, size)
        window.resize(*size)
    elif not args.screenshot:
        window.restore_layout()
    if args.screenshot:
        return _screenshot(app, window, controller, args.screenshot, args.steps, args.record)
    quitter = launch(app, window, controller, args)
    with quitter.on_sigint():
        code = int(app.exec())
    return 130 if quitter.interrupted else code


def launch(app: QApplication, window: MainWindow, controller: Controller,
           args: argparse.Namespace) -> Quitter:
    """Start the engine and show the window as a newcomer meets it: paused (``--play``
    plays, ``--steps N`` runs N steps), keyboard focus on the plots (Space plays), File >
    Quit wired to end the app. Returns the ``Quitter`` (also used for Ctrl-C)."""
    quitter = Quitter(app)
    window.quitRequested.connect(quitter.quit)
    controller.start()
    if args.record:
        controller.record(args.record)
        window.controls.set_recording(True, args.record)
    window.show()
    window.focus_plots()                       # Space plays / pauses from the first frame
    if args.steps > 0:
        controller.step(args.steps)
    elif getattr(args, "play", False):
        controller.play()
    return quitter


class Quitter(QObject):
    """Ends the app the clean way: every window is asked to close (the live one stops the
    engine at a step boundary and closes the recording first), then the event loop ends
    when the last one has closed. Used by File > Quit and by Ctrl-C in the terminal."""

    def __init__(self, app: QApplication) -> None:
        super().__init__(app)
        self.app = app
        self.interrupted = False
        self.quitting = False
        self.repeats = 0

    @Slot()
    def quit(self) -> None:
        """Close every top-level window (the live one last: it may take a moment)."""
        self.quitting = True
        self.app.setQuitOnLastWindowClosed(True)
        windows = [w for w in QApplication.topLevelWidgets() if w.isWindow() and w.isVisible()]
        if not windows:
            self.app.quit()
            return
        for w in sorted(windows, key=lambda w: isinstance(w, MainWindow)):
            w.close()

    def interrupt(self) -> None:
        """Ctrl-C: as File > Quit, remembered for the exit code (130). While finishing, a
        second Ctrl-C says what is going on; a third exits at once (the engine process
        then sees its pipe close and still closes the recording itself)."""
        if self.quitting:
            self.repeats += 1
            if self.repeats >= 2:
                print("nlviz: interrupted again: exiting now", file=sys.stderr)
                sys.stderr.flush()
                os._exit(130)
            print("nlviz: finishing: stopping the engine and closing the recording "
                  "(Ctrl-C again to exit at once)", file=sys.stderr)
            return
        print("nlviz: interrupted; closing (the engine stops at a step boundary, the "
              "recording is closed)", file=sys.stderr)
        self.interrupted = True
        self.quit()

    def on_sigint(self) -> _SigintScope:
        """Context manager: Ctrl-C quits cleanly while the event loop runs."""
        return _SigintScope(self, self.interrupt)


class _SigintScope:
    """Installs a SIGINT handler and a no-op timer (Qt's event loop runs in C++: the timer
    hands control back to Python regularly so that the handler runs); restores both."""

    def __init__(self, owner: QObject, on_interrupt: Callable[[], None]) -> None:
        self.owner, self.on_interrupt = owner, on_interrupt
        self.timer: QTimer | None = None
        self.previous: object = None

    def __enter__(self) -> _SigintScope:
        self.previous = signal.signal(signal.SIGINT, self._handler)
        self.timer = QTimer(self.owner)
        self.timer.timeout.connect(lambda: None)
        self.timer.start(SIGNAL_POLL_MS)
        return self

    def _handler(self, _signum: int, _frame: object) -> None:
        QTimer.singleShot(0, self.on_interrupt)       # out of the signal handler

    def __exit__(self, *exc: object) -> None:
        signal.signal(signal.SIGINT, self.previous or signal.SIG_DFL)
        if self.timer is not None:
            self.timer.stop()
            self.timer.deleteLater()
            self.timer = None


class _Screenshot(QObject):
    """Waits for the engine (and the recording, and the steps) on the GUI thread, then grabs
    the window. ``code``: 0 picture saved, 1 the engine never started, 2 a bad output
    (the recording could not be created, the picture could not be saved)."""

    def __init__(self, app: QApplication, window: MainWindow, controller: Controller,
                 path: str, steps: int, record: str | None) -> None:
        super().__init__()
        self.app, self.window, self.controller, self.path = app, window, controller, path
        self.steps, self.record = steps, record
        self.code = 1
        self.ready = False
        self.done = False
        self.watchdog = QTimer(self)
        self.watchdog.setSingleShot(True)
        self.watchdog.timeout.connect(self._timed_out)
        wk = controller.worker
        wk.started.connect(self._on_started, Qt.QueuedConnection)
        wk.faulted.connect(self._on_faulted, Qt.QueuedConnection)
        wk.recordingChanged.connect(self._on_recording, Qt.QueuedConnection)
        wk.paused.connect(self._on_paused, Qt.QueuedConnection)

    def begin(self) -> None:
        """Start the engine and wait (bounded) for it."""
        self.watchdog.start(SCREENSHOT_START_TIMEOUT_S * 1000)
        self.controller.start()
        self.window.show()
        self.window.focus_plots()                    # the first frame as a user sees it

    @Slot()
    def _on_started(self) -> None:
        if self.ready or self.done:
            return
        self.ready = True
        if self.record:
            self.controller.record(self.record)      # go on when the file is open
        else:
            self._run()

    @Slot(bool, str)
    def _on_recording(self, on: bool, text: str) -> None:
        if self.done or not self.ready or not self.record:
            return
        if on:
            self.window.controls.set_recording(True, self.record)
            self._run()
        else:
            self._fail(2, text or f"cannot record to {self.record}")

    def _run(self) -> None:
        if self.steps > 0:
            self.controller.step(self.steps)           # then paused -> settle
        else:
            self._settle()                              # the first frame, engine up

    @Slot(int)
    def _on_paused(self, _step: int) -> None:
        if self.ready and not self.done:
            self._settle()

    @Slot(str, int, str)
    def _on_faulted(self, message: str, _step: int, _level: str) -> None:
        if self.done:
            return
        if not self.ready:                              # no engine: no picture
            self._fail(1, message)
        else:
            self._settle()                              # a run that faulted: shown as is

    def _timed_out(self) -> None:
        if not self.done:
            self._fail(1, f"the engine did not start within {SCREENSHOT_START_TIMEOUT_S} s; "
                          "no screenshot taken")

    def _settle(self) -> None:
        self.watchdog.stop()
        self.controller.redrawer.force()
        QTimer.singleShot(SCREENSHOT_SETTLE_MS, self.grab)

    def _fail(self, code: int, message: str) -> None:
        self.done = True
        self.watchdog.stop()
        print(f"nlviz: error: {message}", file=sys.stderr)
        self.code = code
        self._finish()

    @Slot()
    def grab(self) -> None:
        if self.done:
            return
        self.done = True
        self.controller.redrawer.force()
        self.app.processEvents()
        try:
            save_widget(self.window, self.path)      # PNG or SVG by the file suffix
            self.code = 0
        except UserError as exc:
            print(f"nlviz: error: {exc}", file=sys.stderr)
            self.code = 2
        self._finish()

    def _finish(self) -> None:
        self.controller.stop_and_wait()
        self.window.allow_close = True
        self.window.close()
        self.app.quit()


def _screenshot(app: QApplication, window: MainWindow, controller: Controller, path: str,
                steps: int, record: str | None = None) -> int:
    """Start the engine, (record,) run ``steps`` steps, let the views settle, save, exit."""
    shot = _Screenshot(app, window, controller, path, steps, record)
    QTimer.singleShot(0, shot.begin)
    app.exec()
    return shot.code
