"""The one way a picture of a window is taken, for both fronts: ``save_picture`` (PNG or
SVG by the suffix; File > Screenshot and File > Export use it too) and ``grab_later``
(``--screenshot``: let the views settle, redraw, save, close, end the event loop).

The live front first waits for its engine (``nlviz.qt.live.screenshot``); the replay
front grabs once the recording is drawn. The exit code is 0 for a picture, 2 when it
could not be saved.
"""
from __future__ import annotations

import sys
from collections.abc import Callable

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QWidget

from nlviz.errors import UserError, one_line
from nlviz.qt.pictures import save_widget

SCREENSHOT_SETTLE_MS = 400


def save_picture(window: QWidget, path: str) -> str:
    """A picture of ``window`` (PNG pixels or SVG vectors, by the suffix); returns the path,
    raises ``UserError`` (one line) when it cannot be written."""
    return save_widget(window, path)


def grab_now(app: QApplication, window: QWidget, path: str,
             prepare: Callable[[], None] = lambda: None) -> int:
    """``prepare`` (a last redraw), process events, save; 0 saved, 2 not (one line)."""
    prepare()
    app.processEvents()
    try:
        save_picture(window, path)
    except UserError as exc:
        print(f"nlviz: error: {one_line(exc)}", file=sys.stderr)
        return 2
    return 0


class Shot:
    """The result of a screenshot run (``code``; 1 until a picture was attempted)."""

    def __init__(self) -> None:
        self.code = 1


def grab_later(app: QApplication, window: QWidget, path: str,
               prepare: Callable[[], None] = lambda: None,
               finish: Callable[[], None] = lambda: None,
               settle_ms: int = SCREENSHOT_SETTLE_MS) -> Shot:
    """After ``settle_ms``: ``grab_now``, then ``finish`` (stop what runs), close the
    window and quit the event loop. Returns the ``Shot`` whose ``code`` is set then."""
    shot = Shot()

    def grab() -> None:
        shot.code = grab_now(app, window, path, prepare)
        finish()
        window.close()
        app.quit()

    QTimer.singleShot(settle_ms, grab)
    return shot


def run_screenshot(app: QApplication, window: QWidget, path: str,
                   prepare: Callable[[], None] = lambda: None,
                   finish: Callable[[], None] = lambda: None) -> int:
    """Show ``window``, take the picture after it settled, return the exit code."""
    window.show()
    shot = grab_later(app, window, path, prepare, finish)
    app.exec()
    return shot.code


__all__ = ["SCREENSHOT_SETTLE_MS", "Shot", "grab_later", "grab_now", "run_screenshot",
           "save_picture"]
