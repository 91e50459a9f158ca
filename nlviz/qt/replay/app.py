"""The replay front's app: ``open_replay`` makes a replay window (main window + replay front
+ controller + File menu), ``run_replay`` runs one for ``--replay RUN.h5`` (``--screenshot``:
save a picture and exit).

The live engine for "Continue live from here" arrives as ``live_provider`` from the entry
module (``nlviz.qt.app``); nothing here imports the live front.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from nlviz.errors import UserError
from nlviz.qt.exporting import Exporter
from nlviz.qt.file_menu import install_file_menu
from nlviz.qt.main_window import MainWindow
from nlviz.qt.quitting import Quitter
from nlviz.qt.replay.branching import LiveTarget
from nlviz.qt.replay.controller import ReplayController
from nlviz.qt.replay.window import ReplayFront, replay_window
from nlviz.qt.screenshot import run_screenshot
from nlviz.qt.window_size import check_window_size

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
    window.quitRequested.connect(quitter.quit)
    if size is not None:
        try:
            check_window_size(window, size)      # a smaller picture is not possible
        except UserError:
            rc.shutdown()
            raise
        window.resize(*size)
    ok = rc.open(args.replay)
    if args.screenshot:
        if not ok:
            print(f"nlviz: error: {window.status.message.text()}", file=sys.stderr)
            rc.shutdown()
            return 2
        return run_screenshot(app, window, args.screenshot,
                              prepare=lambda: rc.redraw(sparse=True))
    window.show()
    with quitter.on_sigint():
        code = int(app.exec())
    return 130 if quitter.interrupted else code


__all__ = ["LiveProvider", "open_replay", "run_replay"]
