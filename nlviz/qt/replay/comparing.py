"""File > Compare: open a compare window of recordings (a replay window adds its own
recording), keep it alive while its opener lives, close it with the opener."""
from __future__ import annotations

import os
from collections.abc import Callable

import shiboken6
from PySide6.QtWidgets import QWidget

from nlviz.qt.dialogs import RECORDINGS, Dialogs
from nlviz.qt.replay.compare import open_compare

Message = Callable[..., None]   # (text, error=False)


class Comparer:
    """Compare windows opened from one window.

    Parameters
    ----------
    current : the opener's own recording path (None: none, e.g. the live window).
    dialogs : asks for the recordings.
    message : one line in the opener's status bar (bad files, more than 8 runs).
    """

    def __init__(self, current: Callable[[], str | None], dialogs: Dialogs,
                 message: Message) -> None:
        self.current, self.dialogs, self.message = current, dialogs, message
        self.windows: list[QWidget] = []

    def compare_dialog(self) -> QWidget | None:
        """Ask for recordings, then ``compare``."""
        cur = self.current()
        start = os.path.dirname(cur) if cur else os.getcwd()
        paths = self.dialogs.ask_paths("Compare with" if cur else "Compare recordings",
                                       start, RECORDINGS)
        return self.compare(paths) if paths else None

    def compare(self, paths: list[str]) -> QWidget | None:
        """A compare window of the current recording (if any) plus ``paths``."""
        cur = self.current()
        if cur is not None and os.path.abspath(cur) not in map(os.path.abspath, paths):
            paths = [cur, *paths]
        cw = open_compare(paths, self.message)
        if cw is not None:
            self.windows.append(cw)
            cw.show()
        return cw

    def close_all(self) -> None:
        """Close (and delete) every compare window opened here."""
        for cw in self.windows:
            if shiboken6.isValid(cw):
                cw.close()
                cw.deleteLater()
        self.windows.clear()


__all__ = ["Comparer"]
