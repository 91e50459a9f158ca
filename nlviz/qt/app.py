"""``run_app(args)``: build the QApplication, the window and the controller; run.

The app starts paused (``--play`` starts it playing, ``--steps N`` runs N steps).
Ctrl-C in the terminal and File > Quit (Ctrl+Q) finish like closing the window: the
engine stops at a step boundary and the recording is closed, then the app exits (130
after Ctrl-C, 0 otherwise).

``--screenshot PNG`` waits for the engine (and runs ``--steps`` steps), saves a picture
of the whole window and exits 0; with one line it exits 1 when the engine never started,
2 when the recording could not be created (``nlviz.qt.screenshot``).
"""
from __future__ import annotations

import argparse
import sys

from PySide6.QtWidgets import QApplication, QWidget

from engine.config import ConfigError
from nlviz.config_loader import load_config
from nlviz.errors import UserError
from nlviz.qt.controller import Controller
from nlviz.qt.export import picture_kind
from nlviz.qt.main_window import MainWindow
from nlviz.qt.quitting import Quitter
from nlviz.qt.screenshot import screenshot
from nlviz.qt.theme import apply_theme, theme_for
from nlviz.recording.outlock import OutputLock


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
    if args.record and not args.replay:         # an existing file only with --overwrite
        OutputLock.check(args.record, overwrite=args.overwrite)
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
        return screenshot(app, window, controller, args.screenshot, args.steps, args.record,
                          overwrite=args.overwrite)
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
        controller.record(args.record, overwrite=args.overwrite)
        window.controls.set_recording(True, args.record)
    window.show()
    window.focus_plots()                       # Space plays / pauses from the first frame
    if args.steps > 0:
        controller.step(args.steps)
    elif getattr(args, "play", False):
        controller.play()
    return quitter


__all__ = ["build", "check_window_size", "launch", "parse_window_size", "run_app"]
