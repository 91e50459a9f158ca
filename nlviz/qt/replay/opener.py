"""File > Open / Open recent / Compare and .h5 drops on a window that shows no recording
itself (the live window): an ``Opener`` that shows recordings in ONE replay window, made on
first use and reused for every later open (the new file replaces the shown one), sized
like the opener's window and set off from it, so that File > Open does not pile
full-size windows over the live run."""
from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import shiboken6
from PySide6.QtWidgets import QWidget

from nlviz.qt.dialogs import RECORDINGS, Dialogs
from nlviz.qt.main_window import MainWindow
from nlviz.qt.replay.comparing import Comparer
from nlviz.qt.replay.controller import ReplayController
from nlviz.qt.replay.window import ReplayFront

OFFSET = 40                    # px: the replay window's offset from the opener's window

ReplayFactory = Callable[[], "tuple[MainWindow[ReplayFront], ReplayController]"]


class RecordingOpener:
    """Opens recordings from ``window`` into one replay window made by ``make_replay``."""

    def __init__(self, window: MainWindow[Any], make_replay: ReplayFactory) -> None:
        self.window, self.make_replay = window, make_replay
        self.dialogs = Dialogs(window)
        self.comparing = Comparer(lambda: None, self.dialogs, self._message)
        self.replay_window: MainWindow[ReplayFront] | None = None
        self.replay_controller: ReplayController | None = None

    def open_dialog(self) -> MainWindow[ReplayFront] | None:
        """Ask for a recording, then ``open``."""
        path = self.dialogs.ask_one("open", "Open recording", os.getcwd(), RECORDINGS)
        return self.open(path) if path else None

    def open(self, path: str) -> MainWindow[ReplayFront] | None:
        """Show ``path`` in the replay window (made on first use, then reused); a bad file
        is one line in this window's status bar and leaves the replay window as it was."""
        window, rc = self.replay_window, self.replay_controller
        if window is None or rc is None or not shiboken6.isValid(window):
            window, rc = self.make_replay()
            self.replay_window, self.replay_controller = window, rc
            self._place(window)
        if not rc.open(path):
            self._message(window.status.message.text())
            return None
        if not window.isVisible():
            self._place(window)
        window.show()
        window.raise_()
        return window

    def compare_dialog(self) -> QWidget | None:
        """Ask for recordings, then compare them."""
        return self.comparing.compare_dialog()

    def compare(self, paths: list[str]) -> QWidget | None:
        """A compare window of ``paths``."""
        return self.comparing.compare(paths)

    def close_all(self) -> None:
        """Close (and delete) the replay and compare windows opened from here."""
        self.comparing.close_all()
        window = self.replay_window
        if window is not None and shiboken6.isValid(window):
            window.close()
            window.deleteLater()
        self.replay_window = self.replay_controller = None

    def _place(self, window: QWidget) -> None:
        """The opener window's size, set off down-right, kept on its screen."""
        live = self.window.frameGeometry()
        size = self.window.size()
        x, y = live.x() + OFFSET, live.y() + OFFSET
        screen = self.window.screen()
        if screen is not None:
            area = screen.availableGeometry()
            size = size.boundedTo(area.size())
            x = max(area.left(), min(x, area.right() - size.width()))
            y = max(area.top(), min(y, area.bottom() - size.height()))
        window.resize(size)
        window.move(x, y)

    def _message(self, text: str, error: bool = True) -> None:
        self.window.show_message(text, error=error)


__all__ = ["RecordingOpener"]
