"""Run a window that shows one file (a run replay or a training recording): size it, open
the file, then either save a picture and exit (``--screenshot``) or run the event loop."""
from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from PySide6.QtWidgets import QApplication, QMainWindow

from nlviz.errors import UserError
from nlviz.qt.quitting import Quitter
from nlviz.qt.screenshot import run_screenshot
from nlviz.qt.window_size import check_window_size


def run_file_window(app: QApplication, window: QMainWindow, args: argparse.Namespace,
                    quitter: Quitter, size: tuple[int, int] | None, *,
                    open_file: Callable[[str], bool], shutdown: Callable[[], None],
                    status: Callable[[], str], prepare: Callable[[], None],
                    finish: Callable[[], None] = lambda: None) -> int:
    """The exit code: 2 when the file cannot be opened for a picture (one line on stderr
    naming why, from ``status``), 130 after Ctrl-C, else the event loop's."""
    window.quitRequested.connect(quitter.quit)       # type: ignore[attr-defined]
    if size is not None:
        try:
            check_window_size(window, size)          # a smaller picture is not possible
        except UserError:
            shutdown()
            raise
        window.resize(*size)
    ok = open_file(args.replay)
    if args.screenshot:
        if not ok:
            print(f"nlviz: error: {status()}", file=sys.stderr)
            shutdown()
            return 2
        return run_screenshot(app, window, args.screenshot, prepare=prepare, finish=finish)
    window.show()
    with quitter.on_sigint():
        code = int(app.exec())
    return 130 if quitter.interrupted else code
