"""The replay front: what the main window shows around the shared panels for a recording
-- a row above the plots (visible width, follow, summary note, continue live, export),
the timeline under them and the Run dock with the recording's facts.

``ReplayFront`` is passive: it holds the views and hands the shared ones through
(``metrics``, ``timeline``, ``show_message``...), so that the ``ReplayController`` reaches
every view it feeds through one object (its ``window``).
"""
from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QTextOption
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
)

from nlviz.qt.main_window import MainWindow, Shape
from nlviz.qt.panels.deck import NOTE_STYLE, Banner, PanelDeck
from nlviz.qt.panels.forgetting import ForgettingPanel
from nlviz.qt.panels.heatmap import HeatmapPanel
from nlviz.qt.panels.inputs import InputPanel
from nlviz.qt.panels.metrics import MetricsPanel
from nlviz.qt.replay.timeline import TimelineWidget

WIDTHS = (("whole run", 0), ("1k steps", 1_000), ("5k steps", 5_000), ("20k steps", 20_000),
          ("100k steps", 100_000))
LEFT_DOCK_WIDTH = 190          # px: the plots get the width, not the run info
REPLAY_SHAPE = Shape(title="nlviz replay", name="nlviz_replay", dock_prefix="replay_dock",
                     banner_style=NOTE_STYLE, engine_status=False, log_lines=0,
                     compact_captions=True, spacing=2, remember_layout=False)
EMPTY_HINT = "open a recording: File > Open, or drop a .h5 file here"


class ReplayFront:
    """The replay views: transport row, timeline, run info; the shared panels through."""

    shape = REPLAY_SHAPE

    def __init__(self) -> None:
        self.width_box = QComboBox()
        for label, _ in WIDTHS:
            self.width_box.addItem(label)
        self.width_box.setToolTip("steps shown up to the cursor (whole run: the full x axis)")
        self.follow_button = QPushButton("Follow cursor")
        self.follow_button.setCheckable(True)
        self.follow_button.setChecked(True)
        self.follow_button.setToolTip("keep the plots on the cursor (panning the plots turns "
                                      "this off)")
        self.timeline = TimelineWidget()
        self.export_button = QPushButton("Export…")
        self.info = QPlainTextEdit()
        self.info.setReadOnly(True)
        self.info.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)   # long values
        self.info.setWordWrapMode(QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)  # wrap
        self.info.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self._main: MainWindow[ReplayFront] | None = None
        self._left: list[Any] = []

    def install(self, window: MainWindow[Any]) -> None:
        """Top row and timeline around the plots; Run tabbed with the event log."""
        self._main = window
        top = QHBoxLayout()
        top.addWidget(QLabel("visible:"))
        top.addWidget(self.width_box)
        top.addWidget(self.follow_button)
        top.addWidget(window.deck.summary_label)
        top.addStretch(1)
        top.addWidget(self.timeline.branch_button)
        top.addWidget(self.export_button)
        window.add_above_plots(top)
        window.add_below_plots(self.timeline)
        for act in self.timeline.shortcut_actions():
            window.addAction(act)
        self._left = window.deck.dock_into(window, self.shape.dock_prefix, [("Run", self.info)])
        window.show_message(EMPTY_HINT)

    def first_shown(self) -> None:
        """Narrow left docks: the plots get the width."""
        self.main.resizeDocks(self._left, [LEFT_DOCK_WIDTH] * len(self._left),
                              Qt.Orientation.Horizontal)

    # ---- the window and the shared views ----------------------------------------------
    @property
    def main(self) -> MainWindow[ReplayFront]:
        """The main window this front is installed in."""
        assert self._main is not None, "ReplayFront.install was not called"
        return self._main

    @property
    def deck(self) -> PanelDeck:
        """The shared panels."""
        return self.main.deck

    @property
    def metrics(self) -> MetricsPanel:
        """The step plots."""
        return self.main.deck.metrics

    @property
    def forgetting(self) -> ForgettingPanel:
        """The forgetting curves."""
        return self.main.deck.forgetting

    @property
    def heatmap(self) -> HeatmapPanel:
        """The memory heatmap."""
        return self.main.deck.heatmap

    @property
    def inputs(self) -> InputPanel:
        """The input view."""
        return self.main.deck.inputs

    @property
    def event_log(self) -> QPlainTextEdit:
        """The event log."""
        return self.main.deck.event_log

    @property
    def summary_label(self) -> QLabel:
        """The "showing a summary" note."""
        return self.main.deck.summary_label

    @property
    def fps_label(self) -> QLabel:
        """Render fps in the status bar."""
        return self.main.status.fps

    @property
    def note(self) -> Banner:
        """The banner (a recovered file, ...)."""
        return self.main.banner

    @property
    def message(self) -> QLabel:
        """The status bar's message."""
        return self.main.status.message

    def show_message(self, text: str, error: bool = False) -> None:
        """One line in the status bar (errors in red)."""
        self.main.show_message(text, error)

    def set_title(self, name: str) -> None:
        """The window title names the open recording."""
        self.main.setWindowTitle(f"nlviz replay: {name}")


def replay_window() -> MainWindow[ReplayFront]:
    """A main window with the replay front."""
    return MainWindow(ReplayFront())


__all__ = ["EMPTY_HINT", "REPLAY_SHAPE", "WIDTHS", "ReplayFront", "replay_window"]
