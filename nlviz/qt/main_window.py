"""The main window: a layout shell (toolbar, docks, status bar). No logic lives here."""
from __future__ import annotations

from PySide6.QtCore import QSettings, Qt, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QDockWidget,
    QFrame,
    QLabel,
    QMainWindow,
    QMessageBox,
    QPlainTextEdit,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from nlviz.qt.controls import ControlBar
from nlviz.qt.panels.config_panel import ConfigPanel
from nlviz.qt.panels.forgetting import ForgettingPanel
from nlviz.qt.panels.heatmap import HeatmapPanel
from nlviz.qt.panels.inputs import InputPanel
from nlviz.qt.panels.metrics import MetricsPanel
from nlviz.qt.panels.stream_panel import StreamPanel
from nlviz.qt.status import StatusPanel

SETTINGS_ORG, SETTINGS_APP = "nlviz", "nlviz"


class FaultBanner(QLabel):
    """A red banner for engine faults; click to dismiss."""

    def __init__(self) -> None:
        super().__init__("")
        self.setWordWrap(True)
        self.setStyleSheet("background: #8b1e1e; color: white; padding: 6px;")
        self.setToolTip("click to dismiss")
        self.hide()

    def show_fault(self, text: str) -> None:
        """Show ``text``."""
        self.setText(text)
        self.show()

    def mousePressEvent(self, event: object) -> None:  # noqa: N802 - Qt override
        self.hide()


def add_dock(window: QMainWindow, title: str, widget: QWidget, area: Qt.DockWidgetArea,
             prefix: str) -> QDockWidget:
    """Put ``widget`` in a dock named ``<prefix>_<title>`` (the name QSettings restores by)."""
    dock = QDockWidget(title, window)
    dock.setObjectName(f"{prefix}_{title.lower().replace(' ', '_')}")
    dock.setWidget(widget)
    window.addDockWidget(area, dock)
    return dock


def scrolled(widget: QWidget) -> QScrollArea:
    """``widget`` in a frameless scroll area: a tall form scrolls instead of setting the
    window's minimum height (``--window-size 800x600`` must be possible)."""
    area = QScrollArea()
    area.setWidget(widget)
    area.setWidgetResizable(True)
    area.setFrameShape(QFrame.NoFrame)
    area.setHorizontalScrollBarPolicy(Qt.ScrollBarAsNeeded)
    return area


class MainWindow(QMainWindow):
    """Holds the views. ``closeRequested`` lets the controller finish cleanly first;
    ``quitRequested`` (File > Quit, Ctrl+Q) asks the app to end (the window closes the same
    clean way; the app also closes its other windows)."""

    closeRequested = Signal()
    quitRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("nlviz: HOPE / Nested Learning, live")
        self.setObjectName("nlviz_main")
        self.allow_close = True
        self.controls = ControlBar(self)
        self.addToolBar(Qt.TopToolBarArea, self.controls)
        central = QWidget()
        lay = QVBoxLayout(central)
        lay.setContentsMargins(2, 2, 2, 2)
        self.banner = FaultBanner()
        lay.addWidget(self.banner)
        self.metrics = MetricsPanel()
        lay.addWidget(self.metrics, 1)
        self.setCentralWidget(central)
        self.stream_panel = StreamPanel()
        self.config_panel = ConfigPanel()
        self.event_log = QPlainTextEdit()
        self.event_log.setReadOnly(True)
        self.event_log.setMaximumBlockCount(500)
        self.heatmap = HeatmapPanel()
        self.forgetting = ForgettingPanel()
        self.inputs = InputPanel()
        left = [self._dock("Stream", scrolled(self.stream_panel), Qt.LeftDockWidgetArea),
                self._dock("Config", scrolled(self.config_panel), Qt.LeftDockWidgetArea),
                self._dock("Events", self.event_log, Qt.LeftDockWidgetArea)]
        self.tabifyDockWidget(left[0], left[1])
        self.tabifyDockWidget(left[1], left[2])
        left[0].raise_()
        self._dock("Memory heatmap", self.heatmap, Qt.RightDockWidgetArea)
        self._dock("Forgetting curves", self.forgetting, Qt.RightDockWidgetArea)
        self._dock("Input", self.inputs, Qt.RightDockWidgetArea)
        self.status = StatusPanel(self)
        self.setStatusBar(self.status)
        self.file_menu = self.menuBar().addMenu("&File")
        self.quit_action = QAction("&Quit", self)
        self.quit_action.setShortcut(QKeySequence("Ctrl+Q"))
        self.quit_action.setShortcutContext(Qt.ApplicationShortcut)
        self.quit_action.setToolTip("stop the engine at a step boundary, close the recording "
                                    "and quit")
        self.quit_action.triggered.connect(self.request_quit)
        self.file_menu.addAction(self.quit_action)
        self.metrics.setFocusPolicy(Qt.StrongFocus)
        self.resize(1600, 1000)

    def request_quit(self) -> None:
        """File > Quit: close this window the clean way and tell the app to end."""
        self.quitRequested.emit()
        self.close()

    def focus_plots(self) -> None:
        """Keyboard focus on the plots (not an edit box) so Space plays / pauses."""
        self.activateWindow()
        self.metrics.setFocus(Qt.OtherFocusReason)

    def _dock(self, title: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        return add_dock(self, title, widget, area, "dock")

    def log(self, line: str) -> None:
        """Append a line to the event log."""
        self.event_log.appendPlainText(line)

    def confirm_replace(self, path: str) -> bool:
        """Ask before a recording replaces an existing file; True when the user agrees."""
        answer = QMessageBox.question(
            self, "Replace recording?",
            f"{path} already exists. Replace it with this run's recording?",
            QMessageBox.Yes | QMessageBox.No, QMessageBox.No)
        return answer == QMessageBox.Yes

    # ---- persistence -------------------------------------------------------------
    def restore_layout(self) -> None:
        """Restore the saved window geometry and dock layout, if any."""
        s = QSettings(SETTINGS_ORG, SETTINGS_APP)
        geometry, state = s.value("window/geometry"), s.value("window/state")
        if geometry is not None:
            self.restoreGeometry(geometry)
        if state is not None:
            self.restoreState(state)

    def save_layout(self) -> None:
        """Save the window geometry and dock layout."""
        s = QSettings(SETTINGS_ORG, SETTINGS_APP)
        s.setValue("window/geometry", self.saveGeometry())
        s.setValue("window/state", self.saveState())

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt override
        """First close: ask the controller to stop the worker and close the recording."""
        if not self.allow_close:
            event.ignore()
            self.closeRequested.emit()
            return
        self.save_layout()
        event.accept()
