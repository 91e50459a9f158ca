"""``TrainingWindow``: the shell of the training viewer (view, status line, File menu)."""
from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import QMainWindow, QWidget

from nlviz.qt.status import StatusPanel
from nlviz.qt.theme import DARK, Theme
from nlviz.qt.training.view import TrainingView


class TrainingWindow(QMainWindow):
    """A ``TrainingView`` with a status bar and File > Quit. Signals: ``quitRequested``
    (File > Quit: the app ends), ``closed``."""

    quitRequested = Signal()
    closed = Signal()

    def __init__(self, theme: Theme = DARK, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("nlviz training")
        self.setObjectName("nlviz_training")
        self.view = TrainingView(theme)
        self.setCentralWidget(self.view)
        self.status = StatusPanel(self, engine=False)
        self.setStatusBar(self.status)
        menu = self.menuBar().addMenu("&File")
        quit_action = QAction("&Quit", self)
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.request_quit)
        menu.addAction(quit_action)
        self.resize(1400, 900)

    def show_message(self, text: str, error: bool = False) -> None:
        """One line in the status bar (errors in red)."""
        self.status.show_message(text, error)

    def request_quit(self) -> None:
        """File > Quit: close and tell the app to end."""
        self.quitRequested.emit()
        self.close()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt override
        self.closed.emit()
        event.accept()


__all__ = ["TrainingWindow"]
