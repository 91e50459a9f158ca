"""The replay window: the live window's panels (same classes) fed from a recording,
the timeline under the plots, menus for open / recent / compare / export.

``ReplayWindow`` is the layout shell plus its own wiring: a ``ReplayController`` (in
``nlviz.qt.replay.controller``) owns the recording, the ``Player`` and the timers.
"""
from __future__ import annotations

import os
from collections.abc import Callable

from PySide6.QtCore import QSettings, Qt, Signal
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QTextOption
from PySide6.QtWidgets import (
    QComboBox,
    QDockWidget,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMenu,
    QPlainTextEdit,
    QPushButton,
    QSizePolicy,
    QStatusBar,
    QVBoxLayout,
    QWidget,
)

from nlviz.qt.main_window import SETTINGS_APP, SETTINGS_ORG, add_dock
from nlviz.qt.panels.forgetting import ForgettingPanel
from nlviz.qt.panels.heatmap import HeatmapPanel
from nlviz.qt.panels.inputs import InputPanel
from nlviz.qt.panels.metrics import MetricsPanel
from nlviz.qt.replay.timeline import TimelineWidget

RECENT_KEY = "replay/recent"
RECENT_MAX = 10
WIDTHS = (("whole run", 0), ("1k steps", 1_000), ("5k steps", 5_000), ("20k steps", 20_000),
          ("100k steps", 100_000))


def recent_files() -> list[str]:
    """Recently opened recordings, newest first (QSettings)."""
    v = QSettings(SETTINGS_ORG, SETTINGS_APP).value(RECENT_KEY) or []
    if isinstance(v, str):
        v = [v]
    return [str(p) for p in v]


def remember_recent(path: str) -> list[str]:
    """Put ``path`` first in the recent list (at most 10); returns the list."""
    path = os.path.abspath(path)
    items = [path] + [p for p in recent_files() if p != path]
    items = items[:RECENT_MAX]
    QSettings(SETTINGS_ORG, SETTINGS_APP).setValue(RECENT_KEY, items)
    return items


def h5_paths(event: QDragEnterEvent | QDropEvent) -> list[str]:
    """Local .h5 / .hdf5 files in a drag payload."""
    md = event.mimeData()
    if not md.hasUrls():
        return []
    return [u.toLocalFile() for u in md.urls()
            if u.isLocalFile() and u.toLocalFile().lower().endswith((".h5", ".hdf5"))]


class Banner(QLabel):
    """A one-line note strip (recovered file, errors); click to dismiss."""

    def __init__(self, style: str) -> None:
        super().__init__("")
        self.setWordWrap(True)
        self.setStyleSheet(style)
        self.setToolTip("click to dismiss")
        self.hide()

    def show_text(self, text: str | None) -> None:
        self.setText(text or "")
        self.setVisible(bool(text))

    def mousePressEvent(self, event: object) -> None:  # noqa: N802 - Qt override
        self.hide()


class ReplayWindow(QMainWindow):
    """Replay of one recording with the live panels, a timeline and menus.

    Signals are intents handled by the ``ReplayController``; ``filesDropped`` carries
    the .h5 paths dropped on the window.
    """

    filesDropped = Signal(list)
    openRequested = Signal()
    recentRequested = Signal(str)
    compareRequested = Signal()
    exportWindowRequested = Signal(str)          # "png" / "svg"
    exportPlotRequested = Signal(str, str)       # plot key, "png" / "svg"
    exportCsvRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("nlviz replay")
        self.setObjectName("nlviz_replay")
        self.setAcceptDrops(True)
        central = QWidget()
        lay = QVBoxLayout(central)
        lay.setContentsMargins(2, 2, 2, 2)
        lay.setSpacing(2)
        self.note = Banner("background: #7a5a00; color: white; padding: 4px;")
        lay.addWidget(self.note)
        top = QHBoxLayout()
        top.addWidget(QLabel("visible:"))
        self.width_box = QComboBox()
        for label, _ in WIDTHS:
            self.width_box.addItem(label)
        self.width_box.setToolTip("steps shown up to the cursor (whole run: the full x axis)")
        top.addWidget(self.width_box)
        self.follow_button = QPushButton("Follow cursor")
        self.follow_button.setCheckable(True)
        self.follow_button.setChecked(True)
        self.follow_button.setToolTip("keep the plots on the cursor (panning the plots turns "
                                      "this off)")
        top.addWidget(self.follow_button)
        self.summary_label = QLabel("")
        self.summary_label.setStyleSheet("color: #ffd43b;")
        top.addWidget(self.summary_label)
        top.addStretch(1)
        self.timeline = TimelineWidget()
        top.addWidget(self.timeline.branch_button)
        self.export_button = QPushButton("Export…")
        self.export_menu = QMenu(self)
        self.export_button.setMenu(self.export_menu)
        top.addWidget(self.export_button)
        lay.addLayout(top)
        self.metrics = MetricsPanel()
        for label in (self.metrics.badge, self.summary_label):   # long texts never widen
            label.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)
        self.summary_label.setMinimumWidth(120)
        lay.addWidget(self.metrics, 1)
        lay.addWidget(self.timeline)
        for act in self.timeline.shortcut_actions():
            self.addAction(act)
        self.setCentralWidget(central)

        self.info = QPlainTextEdit()
        self.info.setReadOnly(True)
        self.info.setLineWrapMode(QPlainTextEdit.WidgetWidth)     # long values wrap: no
        self.info.setWordWrapMode(QTextOption.WrapAtWordBoundaryOrAnywhere)  # sideways scroll
        self.info.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.event_log = QPlainTextEdit()
        self.event_log.setReadOnly(True)
        self.heatmap = HeatmapPanel()
        self.forgetting = ForgettingPanel()
        self.inputs = InputPanel()
        for label in (self.heatmap.caption, self.forgetting.caption, self.inputs.text_label,
                      self.inputs.regime_label):           # long captions never widen docks
            label.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)
        left = [self._dock("Run", self.info, Qt.LeftDockWidgetArea),
                self._dock("Events", self.event_log, Qt.LeftDockWidgetArea)]
        self.tabifyDockWidget(left[0], left[1])
        left[0].raise_()
        self._left_docks = left
        self._sized = False
        self._dock("Memory heatmap", self.heatmap, Qt.RightDockWidgetArea)
        self._dock("Forgetting curves", self.forgetting, Qt.RightDockWidgetArea)
        self._dock("Input", self.inputs, Qt.RightDockWidgetArea)

        self.status = QStatusBar()
        self.message = QLabel("open a recording: File > Open, or drop a .h5 file here")
        self.message.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)
        self.fps_label = QLabel("")
        self.status.addWidget(self.message, 1)
        self.status.addPermanentWidget(self.fps_label)
        self.setStatusBar(self.status)
        self._build_menus()
        self.on_close: Callable[[], None] | None = None
        self.resize(1600, 1000)

    def _dock(self, title: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        return add_dock(self, title, widget, area, "replay_dock")

    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        self.open_action = QAction("&Open recording…", self)
        self.open_action.setShortcut("Ctrl+O")
        self.open_action.triggered.connect(self.openRequested.emit)
        file_menu.addAction(self.open_action)
        self.recent_menu = file_menu.addMenu("Open &recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent)
        self.compare_action = QAction("&Compare with other recordings…", self)
        self.compare_action.triggered.connect(self.compareRequested.emit)
        file_menu.addAction(self.compare_action)
        file_menu.addSeparator()
        file_menu.addMenu(self.export_menu)
        self.export_menu.setTitle("&Export")
        for kind in ("png", "svg"):
            a = QAction(f"Whole window as {kind.upper()}…", self)
            a.triggered.connect(lambda _=False, k=kind: self.exportWindowRequested.emit(k))
            self.export_menu.addAction(a)
        self.export_menu.addSeparator()
        for key, label in self.plot_labels().items():
            sub = self.export_menu.addMenu(f"Plot: {label}")
            for kind in ("png", "svg"):
                a = QAction(kind.upper() + "…", self)
                a.triggered.connect(lambda _=False, p=key, k=kind:
                                    self.exportPlotRequested.emit(p, k))
                sub.addAction(a)
        self.export_menu.addSeparator()
        self.csv_action = QAction("Visible range as CSV…", self)
        self.csv_action.triggered.connect(self.exportCsvRequested.emit)
        self.export_menu.addAction(self.csv_action)
        file_menu.addSeparator()
        close = QAction("Close window", self)
        close.setShortcut("Ctrl+W")
        close.triggered.connect(self.close)
        file_menu.addAction(close)

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        items = recent_files()
        if not items:
            a = self.recent_menu.addAction("(none)")
            a.setEnabled(False)
        for p in items:
            a = self.recent_menu.addAction(p)
            a.triggered.connect(lambda _=False, path=p: self.recentRequested.emit(path))

    def plot_labels(self) -> dict[str, str]:
        """Exportable plots: key -> label."""
        out = {m: m for m in self.metrics.metrics}
        out.update(raster="update cadence", forgetting="forgetting curves", heatmap="heatmap")
        return out

    def plot_item(self, key: str) -> object:
        """The pyqtgraph item of an exportable plot."""
        if key in self.metrics.plots:
            return self.metrics.plots[key]
        return {"raster": self.metrics.raster, "forgetting": self.forgetting.plot,
                "heatmap": self.heatmap.plot}[key]

    def show_message(self, text: str, error: bool = False) -> None:
        """One line in the status bar (errors in red)."""
        self.message.setText(text)
        self.message.setToolTip(text)
        self.message.setStyleSheet("color: #ff6b6b;" if error else "")

    # ---- drag and drop -------------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt override
        if h5_paths(event):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt override
        paths = h5_paths(event)
        if paths:
            event.acceptProposedAction()
            self.filesDropped.emit(paths)

    def showEvent(self, event: object) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)  # type: ignore[arg-type]
        if not self._sized:                       # the plots get the width, not the run info
            self._sized = True
            self.resizeDocks(self._left_docks, [190, 190], Qt.Horizontal)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt override
        if self.on_close is not None:
            self.on_close()
        event.accept()


__all__ = ["WIDTHS", "ReplayWindow", "recent_files", "remember_recent"]
