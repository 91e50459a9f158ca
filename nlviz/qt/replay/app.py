"""The replay front's app: ``open_replay`` makes a replay window (main window + replay front
+ controller + File menu), ``run_replay`` runs one for ``--replay RUN.h5`` (``--screenshot``:
save a picture and exit).

The live engine for "Continue live from here" arrives as ``live_provider`` from the entry
module (``nlviz.qt.app``); nothing here imports the live front.
"""
from __future__ import annotations

import argparse
from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from nlviz.qt.exporting import Exporter
from nlviz.qt.file_menu import install_file_menu
from nlviz.qt.file_window import run_file_window
from nlviz.qt.main_window import MainWindow
from nlviz.qt.quitting import Quitter
from nlviz.qt.replay.branching import LiveTarget
from nlviz.qt.replay.controller import ReplayController
from nlviz.qt.replay.window import ReplayFront, replay_window

LiveProvider = Callable[[], LiveTarget | None]


def open_replay(path: str | None = None, live_provider: LiveProvider | None = None,
                ) -> tuple[MainWindow[ReplayFront], ReplayController]:
    """A replay window and its controller, with the File menu; opens ``path`` if given."""
    window = replay_window()
    window.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, False)
    rc = ReplayController(window.front, live_provider)
    exporter = Exporter(window, rc.dialogs, rc.export_base, rc)
    menu = install_file_menu(window, rc, exporter)
    window.front.export_button.setMenu(menu.export_menu)
    if path:
        rc.open(path)
    return window, rc


def run_replay(args: argparse.Namespace, app: QApplication, quitter: Quitter,
               live_provider: LiveProvider | None, raster_color: str,
               size: tuple[int, int] | None) -> int:
    """The replay window for ``args.replay`` (``--screenshot``: save a picture, exit);
    returns the exit code (2: the recording cannot be opened for a screenshot)."""
    window, rc = open_replay(None, live_provider)
    window.metrics.set_raster_color(raster_color)
    return run_file_window(app, window, args, quitter, size, open_file=rc.open,
                           shutdown=rc.shutdown, status=window.status.message.text,
                           prepare=lambda: rc.redraw(sparse=True))


__all__ = ["LiveProvider", "open_replay", "run_replay"]
