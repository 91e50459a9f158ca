"""The main window, one class for both fronts: a layout shell (banner, plots, docks,
status bar, menu bar) around a ``PanelDeck``. No logic lives here.

A front (``LiveFront``, ``ReplayFront``) plugs its own parts in through ``install``:
the live control bar and its Stream / Config docks, or the replay transport row and
timeline and its Run dock. The File menu is installed by the app (``nlviz.qt.file_menu``).
Drops of .h5 files arrive as ``filesDropped``; whoever handles the File menu handles them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from PySide6.QtCore import QSettings, Qt, Signal
from PySide6.QtGui import QCloseEvent, QDragEnterEvent, QDropEvent, QShowEvent
from PySide6.QtWidgets import QLayout, QMainWindow, QVBoxLayout, QWidget

from nlviz.qt.panels.deck import SETTINGS_APP, SETTINGS_ORG, Banner, PanelDeck
from nlviz.qt.status import StatusPanel

H5_SUFFIXES = (".h5", ".hdf5")


@dataclass(frozen=True)
class Shape:
    """How a front wants the shell: names, banner, status bar, event log, spacing."""

    title: str
    name: str                      # the window's object name
    dock_prefix: str               # docks are named "<prefix>_<title>" (QSettings key)
    banner_style: str
    engine_status: bool            # the status bar shows the engine's numbers
    log_lines: int                 # event-log lines kept (0 = all)
    compact_captions: bool         # long captions never widen the docks
    spacing: int | None            # between the rows above and below the plots
    remember_layout: bool          # geometry and docks saved on close


class Front(Protocol):
    """The front-specific part of a window."""

    shape: Shape

    def install(self, window: MainWindow[Any]) -> None:
        """Add the front's toolbars, rows and docks to ``window`` (its deck exists)."""

    def first_shown(self) -> None:
        """Called once, when the window is first shown (dock sizes need a real size)."""


F = TypeVar("F", bound=Front)


def h5_paths(event: QDragEnterEvent | QDropEvent) -> list[str]:
    """Local .h5 / .hdf5 files in a drag payload."""
    md = event.mimeData()
    if not md.hasUrls():
        return []
    return [u.toLocalFile() for u in md.urls()
            if u.isLocalFile() and u.toLocalFile().lower().endswith(H5_SUFFIXES)]


class MainWindow(QMainWindow, Generic[F]):
    """The shell. ``front`` is the live or replay part; ``deck`` the shared panels (also
    reachable as ``metrics``, ``forgetting``, ``heatmap``, ``inputs``, ``event_log``).

    Signals: ``closeRequested`` (a close while ``allow_close`` is False: the controller
    finishes cleanly first), ``closed`` (the window closed), ``quitRequested`` (File > Quit:
    the app ends), ``filesDropped`` (.h5 paths dropped on the window).
    """

    closeRequested = Signal()
    closed = Signal()
    quitRequested = Signal()
    filesDropped = Signal(list)

    def __init__(self, front: F, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        shape = front.shape
        self.front = front
        self.shape = shape
        self.setWindowTitle(shape.title)
        self.setObjectName(shape.name)
        self.setAcceptDrops(True)
        self.allow_close = True
        self.deck = PanelDeck(shape.log_lines, shape.compact_captions, self)
        self.metrics, self.forgetting = self.deck.metrics, self.deck.forgetting
        self.heatmap, self.inputs = self.deck.heatmap, self.deck.inputs
        self.event_log = self.deck.event_log
        central = QWidget()
        self._rows = QVBoxLayout(central)
        self._rows.setContentsMargins(2, 2, 2, 2)
        if shape.spacing is not None:
            self._rows.setSpacing(shape.spacing)
        self.banner = Banner(shape.banner_style)
        self._rows.addWidget(self.banner)
        self._rows.addWidget(self.metrics, 1)
        self.setCentralWidget(central)
        self.status = StatusPanel(self, engine=shape.engine_status)
        self.setStatusBar(self.status)
        self.file_menu = self.menuBar().addMenu("&File")      # filled by nlviz.qt.file_menu
        self.metrics.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self._shown = False
        front.install(self)
        if self.deck.summary_label.parentWidget() is None:     # a front without the note
            self.deck.summary_label.setParent(self)
            self.deck.summary_label.hide()
        self.resize(1600, 1000)

    # ---- for fronts -------------------------------------------------------------------
    def add_above_plots(self, item: QWidget | QLayout) -> None:
        """A row between the banner and the plots."""
        at = self._rows.indexOf(self.metrics)
        if isinstance(item, QLayout):
            self._rows.insertLayout(at, item)
        else:
            self._rows.insertWidget(at, item)

    def add_below_plots(self, widget: QWidget) -> None:
        """A row under the plots."""
        self._rows.addWidget(widget)

    # ---- views --------------------------------------------------------------------------
    def request_quit(self) -> None:
        """File > Quit: close this window the clean way and tell the app to end."""
        self.quitRequested.emit()
        self.close()

    def focus_plots(self) -> None:
        """Keyboard focus on the plots (not an edit box) so Space plays / pauses."""
        self.activateWindow()
        self.metrics.setFocus(Qt.FocusReason.OtherFocusReason)

    def log(self, line: str) -> None:
        """Append a line to the event log."""
        self.deck.log(line)

    def show_message(self, text: str, error: bool = False) -> None:
        """One line in the status bar (errors in red)."""
        self.status.show_message(text, error)

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

    # ---- Qt events -----------------------------------------------------------------------
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

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        if not self._shown:
            self._shown = True
            self.front.first_shown()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt override
        """A vetoed close asks the controller to finish first (``closeRequested``)."""
        if not self.allow_close:
            event.ignore()
            self.closeRequested.emit()
            return
        if self.shape.remember_layout:
            self.save_layout()
        self.closed.emit()
        event.accept()


__all__ = ["Front", "MainWindow", "Shape", "h5_paths"]
