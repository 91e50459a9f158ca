"""``run_app(args)``: the one entry point of the GUI (``nlviz.cli``): build the
QApplication, then the live front (``nlviz.qt.live.app``) or, with ``--replay``, the
replay front (``nlviz.qt.replay.app``), and run. The two fronts never import each other;
this module joins them: the live window's File menu opens recordings in a replay window,
and a replay's "Continue live from here" reaches the live engine (built on first use).

The app starts paused (``--play`` starts it playing, ``--steps N`` runs N steps).
Ctrl-C in the terminal and File > Quit (Ctrl+Q) finish like closing the window: the
engine stops at a step boundary and the recording is closed, then the app exits (130
after Ctrl-C, 0 otherwise).

``--screenshot PNG`` waits for the engine (and runs ``--steps`` steps), saves a picture
of the whole window and exits 0; with one line it exits 1 when the engine never started,
2 when the recording could not be created (``nlviz.qt.live.screenshot``).
"""
from __future__ import annotations

import argparse
import sys

from PySide6.QtWidgets import QApplication

from nlviz.errors import UserError
from nlviz.qt.exporting import Exporter
from nlviz.qt.file_menu import FileMenu, install_file_menu
from nlviz.qt.live.app import build, launch
from nlviz.qt.live.controller import Controller
from nlviz.qt.live.front import LiveFront
from nlviz.qt.live.screenshot import screenshot
from nlviz.qt.main_window import MainWindow
from nlviz.qt.pictures import picture_kind
from nlviz.qt.quitting import Quitter
from nlviz.qt.replay.app import open_replay, run_replay
from nlviz.qt.replay.branching import LiveTarget
from nlviz.qt.replay.opener import RecordingOpener
from nlviz.qt.theme import apply_theme, theme_for
from nlviz.qt.training.app import run_training
from nlviz.qt.window_size import check_window_size, parse_window_size
from nlviz.recording.outlock import OutputLock
from nlviz.recording.training_reader import file_kind


def install_live_menu(window: MainWindow[LiveFront], controller: Controller) -> FileMenu:
    """The File menu on the live window: recordings open in one replay window whose
    "Continue live from here" continues on ``controller``; no CSV (no recording shown)."""
    opener = RecordingOpener(window, lambda: open_replay(None, lambda: controller))
    return install_file_menu(window, opener, Exporter(window, opener.dialogs))


def _ignored_with_replay(args: argparse.Namespace) -> None:
    ignored = [flag for flag, value in (("--preset", args.preset), ("--stream", args.stream),
                                        ("--set", args.overrides), ("--record", args.record))
               if value]
    if ignored:
        print(f"nlviz: note: {', '.join(ignored)} ignored with --replay (the recording "
              "has its own configuration)", file=sys.stderr)


def _replay(args: argparse.Namespace, app: QApplication, size: tuple[int, int] | None) -> int:
    quitter = Quitter(app)
    live: list[tuple[MainWindow[LiveFront], Controller]] = []

    def live_provider() -> LiveTarget:
        """Build the live window on first use ("Continue live from here")."""
        if not live:
            window, controller = build(args)
            install_live_menu(window, controller)
            window.quitRequested.connect(quitter.quit)
            controller.start()
            window.show()
            live.append((window, controller))
        live[0][0].raise_()
        return live[0][1]

    return run_replay(args, app, quitter, live_provider, theme_for(args.light).foreground,
                      size)


def run_app(args: argparse.Namespace) -> int:
    """Entry point called by ``nlviz.cli``; returns the exit code."""
    if args.steps < 0:
        raise UserError(f"--steps {args.steps}: must be 0 or more")
    if args.screenshot:
        picture_kind(args.screenshot)            # refuse a bad suffix before any window
    if args.record and not args.replay:         # an existing file only with --overwrite
        OutputLock.check(args.record, overwrite=args.overwrite)
    if args.replay:
        _ignored_with_replay(args)
    size = parse_window_size(args.window_size)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    app.setApplicationName("nlviz")
    apply_theme(app, theme_for(args.light))
    if args.replay and file_kind(args.replay) == "training":     # nlviz train's recording
        return run_training(args, app, Quitter(app), theme_for(args.light), size)
    if args.replay:
        return _replay(args, app, size)
    window, controller = build(args)
    install_live_menu(window, controller)       # File > Open / Compare, .h5 drops
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


__all__ = ["build", "install_live_menu", "launch", "run_app"]
