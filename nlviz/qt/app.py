"""``run_app(args)``: build the QApplication, the window and the controller; run.

``--screenshot PNG`` runs ``--steps`` steps, saves a picture of the whole window and
exits 0 (for tests, docs and scripted figures).
"""
from __future__ import annotations

import argparse
import sys

from PySide6.QtCore import QObject, QSettings, Qt, QTimer, Slot
from PySide6.QtWidgets import QApplication

from engine.config import ConfigError
from nlviz.config_loader import load_config
from nlviz.errors import UserError
from nlviz.qt.export import picture_kind, save_widget
from nlviz.qt.controller import Controller
from nlviz.qt.main_window import SETTINGS_APP, SETTINGS_ORG, MainWindow
from nlviz.qt.theme import apply_theme, theme_for

SCREENSHOT_SETTLE_MS = 400


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


def build(args: argparse.Namespace) -> tuple[MainWindow, Controller]:
    """Window and controller for ``args`` (a QApplication must exist)."""
    settings = QSettings(SETTINGS_ORG, SETTINGS_APP)
    preset = args.preset or "default"
    if args.preset is None and not args.screenshot and settings.value("last_preset"):
        preset = str(settings.value("last_preset"))      # remembered between launches
    try:
        config = load_config(preset, args.overrides, args.stream, args.device, args.seed)
    except UserError:
        if args.preset is not None:
            raise
        preset = "default"
        config = load_config(preset, args.overrides, args.stream, args.device, args.seed)
    try:
        config = config.validate()              # the engine process builds the session
    except ConfigError as exc:
        raise UserError(str(exc)) from None
    settings.setValue("last_preset", preset)
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
        window.resize(*size)
    elif not args.screenshot:
        window.restore_layout()
    controller.start()
    if args.record:
        controller.record(args.record)
        window.controls.set_recording(True, args.record)
    window.show()
    if args.screenshot:
        return _screenshot(app, window, controller, args.screenshot, args.steps)
    if args.steps > 0:
        controller.step(args.steps)
    else:
        controller.play()
    return int(app.exec())


class _Screenshot(QObject):
    """Waits for the steps to finish (on the GUI thread), then grabs the window."""

    def __init__(self, app: QApplication, window: MainWindow, controller: Controller,
                 path: str) -> None:
        super().__init__()
        self.app, self.window, self.controller, self.path = app, window, controller, path
        self.code = 1

    @Slot()
    @Slot(int)
    @Slot(str, int, str)
    def settle(self, *_: object) -> None:
        QTimer.singleShot(SCREENSHOT_SETTLE_MS, self.grab)

    @Slot()
    def grab(self) -> None:
        self.controller.redrawer.force()
        self.app.processEvents()
        try:
            save_widget(self.window, self.path)      # PNG or SVG by the file suffix
            self.code = 0
        except UserError as exc:
            print(f"nlviz: error: {exc}", file=sys.stderr)
            self.code = 2
        self.controller.stop_and_wait()
        self.window.allow_close = True
        self.window.close()
        self.app.quit()


def _screenshot(app: QApplication, window: MainWindow, controller: Controller, path: str,
                steps: int) -> int:
    """Run ``steps`` steps, let the views settle, save the window, exit."""
    shot = _Screenshot(app, window, controller, path)
    controller.worker.paused.connect(shot.settle, Qt.QueuedConnection)
    controller.worker.faulted.connect(shot.settle, Qt.QueuedConnection)
    if steps > 0:
        controller.step(steps)
    else:
        shot.settle()
    app.exec()
    return shot.code
