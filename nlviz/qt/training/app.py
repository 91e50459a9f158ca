"""``--replay TRAIN.h5`` for a training recording: ``open_training`` makes the window and
its controller, ``run_training`` runs it (``--screenshot``: save a picture and exit)."""
from __future__ import annotations

import argparse

from PySide6.QtWidgets import QApplication

from nlviz.qt.file_window import run_file_window
from nlviz.qt.quitting import Quitter
from nlviz.qt.theme import DARK, Theme
from nlviz.qt.training.controller import TrainingController
from nlviz.qt.training.window import TrainingWindow


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

    def shutdown() -> None:
        controller.shutdown()
        window.deleteLater()
    return run_file_window(app, window, args, quitter, size, open_file=controller.open,
                           shutdown=shutdown, status=window.status.message.text,
                           prepare=lambda: None, finish=controller.shutdown)


__all__ = ["open_training", "run_training"]
