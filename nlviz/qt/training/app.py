"""``--replay TRAIN.h5`` for a training recording: ``open_training`` makes the window and
its controller, ``run_training`` runs it (``--screenshot``: save a picture and exit)."""
from __future__ import annotations

import argparse
import sys

from PySide6.QtWidgets import QApplication

from nlviz.errors import UserError
from nlviz.qt.quitting import Quitter
from nlviz.qt.screenshot import run_screenshot
from nlviz.qt.theme import DARK, Theme
from nlviz.qt.training.controller import TrainingController
from nlviz.qt.training.window import TrainingWindow
from nlviz.qt.window_size import check_window_size


def open_training(path: str | None = None, theme: Theme = DARK,
                  ) -> tuple[TrainingWindow, TrainingController]:
    """A training window and its controller; opens ``path`` if given."""
    window = TrainingWindow(theme)
    controller = TrainingController(window)
    window.closed.connect(controller.shutdown)
    if path:
        controller.open(path)
    return window, controller


def run_training(args: argparse.Namespace, app: QApplication, quitter: Quitter,
                 theme: Theme, size: tuple[int, int] | None) -> int:
    """The training window for ``args.replay``; returns the exit code (2: the file
    cannot be read, with ``--screenshot``: one line on stderr)."""
    window, controller = open_training(None, theme)
    window.quitRequested.connect(quitter.quit)
    if size is not None:
        try:
            check_window_size(window, size)
        except UserError:
            controller.shutdown()
            window.deleteLater()
            raise
        window.resize(*size)
    ok = controller.open(args.replay)
    if args.screenshot:
        if not ok:
            print(f"nlviz: error: {window.status.message.text()}", file=sys.stderr)
            controller.shutdown()
            return 2
        return run_screenshot(app, window, args.screenshot, prepare=lambda: None,
                              finish=controller.shutdown)
    window.show()
    with quitter.on_sigint():
        code = int(app.exec())
    return 130 if quitter.interrupted else code


__all__ = ["open_training", "run_training"]
