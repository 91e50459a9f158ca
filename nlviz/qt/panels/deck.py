"""The panels both fronts show, built once: ``PanelDeck`` makes the step plots, the
memory heatmap, the forgetting curves, the retention views, the input view and the event log, docks them
into a window, and owns the cursor line drawn over the step plots (replay) and the
banner strip above them. The live and the replay window compose one deck each.

Passive: the deck has setters and one signal (``viewRangeChanged``); controllers and the
presenter decide what to show.
"""
from __future__ import annotations

import itertools

import pyqtgraph as pg
from PySide6.QtCore import QObject, QSize, Qt, Signal
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import (
    QDockWidget,
    QFrame,
    QLabel,
    QMainWindow,
    QPlainTextEdit,
    QScrollArea,
    QSizePolicy,
    QWidget,
)

from nlviz.qt.panels.forgetting import ForgettingPanel
from nlviz.qt.panels.heatmap import HeatmapPanel
from nlviz.qt.panels.inputs import InputPanel
from nlviz.qt.panels.metrics import MetricsPanel
from nlviz.qt.panels.retention import RetentionPanels

SETTINGS_ORG, SETTINGS_APP = "nlviz", "nlviz"
FAULT_STYLE = "background: #8b1e1e; color: white; padding: 6px;"    # engine faults
NOTE_STYLE = "background: #7a5a00; color: white; padding: 4px;"     # notes on a recording
CURSOR_COLOR = "#ffd43b"
LEFT = Qt.DockWidgetArea.LeftDockWidgetArea
RIGHT = Qt.DockWidgetArea.RightDockWidgetArea


class Banner(QLabel):
    """A strip above the plots (an engine fault, a note on a recording); click to dismiss."""

    def __init__(self, style: str = FAULT_STYLE) -> None:
        super().__init__("")
        self.setWordWrap(True)
        self.setStyleSheet(style)
        self.setToolTip("click to dismiss")
        self.hide()

    def show_text(self, text: str | None) -> None:
        """Show ``text``; an empty text or None hides the strip."""
        self.setText(text or "")
        self.setVisible(bool(text))

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt override
        self.hide()


def add_dock(window: QMainWindow, title: str, widget: QWidget, area: Qt.DockWidgetArea,
             prefix: str) -> QDockWidget:
    """Put ``widget`` in a dock named ``<prefix>_<title>`` (the name QSettings restores by)."""
    dock = QDockWidget(title, window)
    dock.setObjectName(f"{prefix}_{title.lower().replace(' ', '_')}")
    dock.setWidget(widget)
    window.addDockWidget(area, dock)
    return dock


def scrolled(widget: QWidget, area: QScrollArea | None = None) -> QScrollArea:
    """``widget`` in a frameless scroll area (``area``, default a new one): a tall form
    scrolls instead of setting the window's minimum height (``--window-size 800x600`` must
    be possible)."""
    area = area if area is not None else QScrollArea()
    area.setWidget(widget)
    area.setWidgetResizable(True)
    area.setFrameShape(QFrame.Shape.NoFrame)
    area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
    return area


class ModestScroll(QScrollArea):
    """A scroll area that asks for no more width than the other right-hand docks (the
    retention tabs would otherwise widen the right dock area and squeeze the left one)."""

    WIDTH = 300

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt override
        hint = super().sizeHint()
        return QSize(min(hint.width(), self.WIDTH), hint.height())


class PanelDeck(QObject):
    """The shared panels and their docks.

    Parameters
    ----------
    log_lines : lines the event log keeps (0 = all: a replay shows every event up to
        the cursor).
    compact_captions : long captions never widen their docks (replay: file names and
        long regime names).

    Attributes ``metrics``, ``forgetting``, ``retention`` (the "Retention" dock's
    ``RetentionPanels``), ``heatmap``, ``inputs``, ``event_log`` are the panels; ``summary_label`` says when the plots show a summary instead of every row.
    """

    viewRangeChanged = Signal()          # the step axis was panned, zoomed or moved

    def __init__(self, log_lines: int = 0, compact_captions: bool = False,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.metrics = MetricsPanel()
        self.forgetting = ForgettingPanel()
        self.retention = RetentionPanels()
        self.heatmap = HeatmapPanel()
        self.inputs = InputPanel()
        self.event_log = QPlainTextEdit()
        self.event_log.setReadOnly(True)
        if log_lines:
            self.event_log.setMaximumBlockCount(log_lines)
        self.summary_label = QLabel("")
        self.summary_label.setStyleSheet(f"color: {CURSOR_COLOR};")
        self.summary_label.setSizePolicy(QSizePolicy.Policy.Ignored,
                                         QSizePolicy.Policy.Preferred)
        self.summary_label.setMinimumWidth(120)
        if compact_captions:
            for label in (self.heatmap.caption, self.forgetting.caption,
                          self.inputs.text_label, self.inputs.regime_label):
                label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.cursor_lines: list[pg.InfiniteLine] = []
        self._cursor_plots: list[pg.PlotItem] = []
        self._cursor_on = False
        self._cursor_step = 0.0
        self.metrics.raster.sigXRangeChanged.connect(lambda *_: self.viewRangeChanged.emit())

    # ---- docking ------------------------------------------------------------------
    def dock_into(self, window: QMainWindow, prefix: str,
                  left: list[tuple[str, QWidget]]) -> list[QDockWidget]:
        """Dock the panels into ``window``: ``left`` (the front's own panels) tabbed with
        the event log on the left, the first one raised; heatmap, the retention views
        (tabbed over the forgetting curves) and input on the right. Returns the left docks."""
        docks = [add_dock(window, title, widget, LEFT, prefix) for title, widget in left]
        docks.append(add_dock(window, "Events", self.event_log, LEFT, prefix))
        for a, b in itertools.pairwise(docks):
            window.tabifyDockWidget(a, b)
        docks[0].raise_()
        add_dock(window, "Memory heatmap", self.heatmap, RIGHT, prefix)
        forgetting = add_dock(window, "Forgetting curves", self.forgetting, RIGHT, prefix)
        retention = add_dock(window, "Retention", scrolled(self.retention, ModestScroll()),
                             RIGHT, prefix)
        window.tabifyDockWidget(forgetting, retention)
        retention.raise_()
        add_dock(window, "Input", self.inputs, RIGHT, prefix)
        return docks

    # ---- cursor, range, notes ---------------------------------------------------------
    def show_cursor(self) -> None:
        """Draw a cursor line over every step plot (once per plot; rows built later for a
        new run get theirs at the next ``set_cursor``)."""
        self._cursor_on = True
        for p in self.metrics.all_plots():
            if any(q is p for q in self._cursor_plots):
                continue
            line = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen(CURSOR_COLOR, width=1))
            line.setZValue(20)
            line.setValue(self._cursor_step)
            p.addItem(line, ignoreBounds=True)
            self.cursor_lines.append(line)
            self._cursor_plots.append(p)

    def set_cursor(self, step: int) -> None:
        """Move the cursor lines to ``step``."""
        self._cursor_step = step
        if self._cursor_on:
            self.show_cursor()
        for line in self.cursor_lines:
            line.setValue(step)

    def set_summary(self, text: str) -> None:
        """The note next to the plots ("showing a summary ..."); "" clears it."""
        self.summary_label.setText(text)

    def x_view(self) -> tuple[float, float]:
        """The step range the plots show now."""
        x0, x1 = self.metrics.raster.viewRange()[0]
        return float(x0), float(x1)

    def log(self, line: str) -> None:
        """Append a line to the event log."""
        self.event_log.appendPlainText(line)

    # ---- export ---------------------------------------------------------------------------
    def plot_labels(self) -> dict[str, str]:
        """Exportable plots: key -> label."""
        return {"loss": "loss and baselines", "steps": "all step plots (loss, level rows, "
                "cadence)", "raster": "update cadence", "forgetting": "forgetting curves",
                "heatmap": "heatmap"}

    def plot_item(self, key: str) -> pg.GraphicsObject:
        """The pyqtgraph item of an exportable plot (a key of ``plot_labels``)."""
        return {"loss": self.metrics.loss_plot, "steps": self.metrics.graphics.ci,
                "raster": self.metrics.raster, "forgetting": self.forgetting.plot,
                "heatmap": self.heatmap.plot}[key]

__all__ = ["FAULT_STYLE", "NOTE_STYLE", "SETTINGS_APP", "SETTINGS_ORG", "Banner", "PanelDeck",
           "add_dock", "scrolled"]
