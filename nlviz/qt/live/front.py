"""The live front: what the main window shows around the shared panels while an engine
runs -- the run toolbar (``ControlBar``) and the Stream and Config docks."""
from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from nlviz.qt.live.controls import ControlBar
from nlviz.qt.main_window import MainWindow, Shape
from nlviz.qt.panels.config_panel import ConfigPanel
from nlviz.qt.panels.deck import FAULT_STYLE, scrolled
from nlviz.qt.panels.stream_panel import StreamPanel

LIVE_SHAPE = Shape(title="nlviz: HOPE / Nested Learning, live", name="nlviz_main",
                   dock_prefix="dock", banner_style=FAULT_STYLE, engine_status=True,
                   log_lines=500, compact_captions=False, spacing=None, remember_layout=True)


class LiveFront:
    """Run toolbar, stream and config panels (passive views; the ``Controller`` wires them)."""

    shape = LIVE_SHAPE

    def __init__(self) -> None:
        self.controls = ControlBar()
        self.stream_panel = StreamPanel()
        self.config_panel = ConfigPanel()
        self.window: MainWindow[Any] | None = None

    def install(self, window: MainWindow[Any]) -> None:
        """Toolbar on top; Stream and Config tabbed with the event log on the left."""
        self.window = window
        window.addToolBar(Qt.ToolBarArea.TopToolBarArea, self.controls)
        window.deck.dock_into(window, self.shape.dock_prefix,
                              [("Stream", scrolled(self.stream_panel)),
                               ("Config", scrolled(self.config_panel))])

    def first_shown(self) -> None:
        """Nothing to size: the saved layout or the default one applies."""

    def confirm_replace(self, path: str) -> bool:
        """Ask before a recording replaces an existing file; True when the user agrees."""
        no, yes = QMessageBox.StandardButton.No, QMessageBox.StandardButton.Yes
        answer = QMessageBox.question(
            self.window, "Replace recording?",
            f"{path} already exists. Replace it with this run's recording?", yes | no, no)
        return answer == yes


def live_window() -> MainWindow[LiveFront]:
    """A main window with the live front."""
    return MainWindow(LiveFront())


__all__ = ["LIVE_SHAPE", "LiveFront", "live_window"]
