"""Compare window: up to 8 recordings overlaid on shared step axes, one colour per run,
the per-level metrics side by side (level selector), and a table of config differences.

Data from ``nlviz.replay.compare.Comparison``: exact rows for short ranges, the min/max
pyramid for long ones (drawn as an envelope, and the window says so). Runs of different
lengths simply end at different x; a run without the selected level draws nothing there
and its legend entry says so. Zooming or panning re-reads the visible range.
"""
from __future__ import annotations

import math
import os
from collections.abc import Callable

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMenu,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from nlviz.errors import UserError, one_line
from nlviz.qt.panels.metrics import DEFAULT_METRICS, TITLES
from nlviz.qt.pictures import save_plot, save_widget
from nlviz.qt.theme import LEVEL_COLORS
from nlviz.replay.compare import MAX_RUNS, Comparison, RunSeries
from nlviz.series.views import AT_UPDATE_METRICS

RUN_COLORS = ("#5da5ff", "#ffa94d", "#51cf66", "#ff6b6b", "#cc5de8", "#fcc419", "#22b8cf",
              "#f783ac")
assert len(RUN_COLORS) >= MAX_RUNS and LEVEL_COLORS


def run_pen(i: int) -> pg.QtGui.QPen:
    pen = pg.mkPen(RUN_COLORS[i % len(RUN_COLORS)], width=1)
    pen.setCosmetic(True)
    return pen


def series_xy(s: RunSeries, fired: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Plot arrays of one run's series: raw values (``fired`` rows only if given), or the
    min/max envelope (each bucket twice: min then max)."""
    if s.is_summary:
        x = np.repeat(np.asarray(s.steps, np.float64), 2)
        y = np.stack([s.values, s.maxs], -1).reshape(-1).astype(np.float64)
        return x, y
    x, y = np.asarray(s.steps, np.float64), np.asarray(s.values, np.float64)
    if fired is not None and len(fired) == len(x):
        sel = fired > 0
        x, y = x[sel], y[sel]
    return x, y


class CompareWindow(QMainWindow):
    """Overlay of ``cmp.runs``; owns (and closes) the ``Comparison``."""

    def __init__(self, cmp: Comparison, metrics: tuple[str, ...] = DEFAULT_METRICS,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.cmp = cmp
        self.metrics = tuple(m for m in metrics if m in cmp.level_metrics) or cmp.level_metrics[:4]
        self.setWindowTitle(f"nlviz compare: {', '.join(cmp.labels)}")
        self.setObjectName("nlviz_compare")
        central = QWidget()
        lay = QVBoxLayout(central)
        lay.setContentsMargins(2, 2, 2, 2)
        row = QHBoxLayout()
        row.addWidget(QLabel("level:"))
        self.level_box = QComboBox()
        self.level_box.addItems(list(cmp.levels))
        self.level_box.setToolTip("which level's metrics to overlay (union of the runs' levels)")
        self.level_box.currentIndexChanged.connect(lambda _: self.redraw())
        row.addWidget(self.level_box)
        self.summary_label = QLabel("")
        self.summary_label.setStyleSheet("color: #ffd43b;")
        row.addWidget(self.summary_label)
        row.addStretch(1)
        self.reset_button = QPushButton("Whole runs")
        self.reset_button.setToolTip("show every run from its first to its last step")
        self.reset_button.clicked.connect(self.reset_range)
        row.addWidget(self.reset_button)
        self.export_button = QPushButton("Export…")
        self.export_menu = QMenu(self)
        self.export_button.setMenu(self.export_menu)
        row.addWidget(self.export_button)
        lay.addLayout(row)
        split = QSplitter(Qt.Orientation.Vertical)
        self.graphics = pg.GraphicsLayoutWidget()
        split.addWidget(self.graphics)
        self.table = QTableWidget()
        split.addWidget(self.table)
        split.setStretchFactor(0, 4)
        split.setStretchFactor(1, 1)
        lay.addWidget(split, 1)
        self.setCentralWidget(central)
        self.message = QLabel("")
        self.statusBar().addWidget(self.message, 1)
        self.plots: dict[str, pg.PlotItem] = {}
        self.curves: dict[str, list[pg.PlotDataItem]] = {}
        first = None
        cols = 2
        for i, m in enumerate(self.metrics):
            p = self.graphics.addPlot(row=i // cols, col=i % cols)
            p.setTitle(TITLES.get(m, m), size="9pt")
            p.getAxis("left").setWidth(56)
            p.setLabel("bottom", "step")
            p.setClipToView(True)
            p.setDownsampling(auto=True, mode="peak")
            if first is None:
                first = p
                self.legend = p.addLegend(offset=(4, 4), labelTextSize="8pt")
            else:
                p.setXLink(first)
            p.getViewBox().sigRangeChangedManually.connect(self._on_manual_range)
            self.plots[m] = p
            self.curves[m] = []
            for r in range(len(cmp.runs)):
                c = pg.PlotDataItem(pen=run_pen(r), skipFiniteCheck=False, connect="finite")
                p.addItem(c)
                self.curves[m].append(c)
        self.range: tuple[int, int] | None = None
        self.view_timer = QTimer(self)
        self.view_timer.setSingleShot(True)
        self.view_timer.setInterval(50)
        self.view_timer.timeout.connect(self._fetch_view)
        self._build_export_menu()
        self.fill_config_table()
        self.redraw()
        self.reset_range()
        self.resize(1400, 900)

    # ---- content -----------------------------------------------------------------------------
    @property
    def level(self) -> str:
        return self.level_box.currentText()

    def fill_config_table(self) -> None:
        """Rows: config keys whose values differ; columns: runs."""
        diff = self.cmp.config_diff()
        t = self.table
        t.clear()
        t.setColumnCount(len(self.cmp.labels))
        t.setHorizontalHeaderLabels(self.cmp.labels)
        for i in range(len(self.cmp.labels)):
            header = t.horizontalHeaderItem(i)
            if header is not None:
                header.setForeground(pg.mkColor(RUN_COLORS[i % len(RUN_COLORS)]))
        t.setRowCount(max(1, len(diff)))
        if not diff:
            t.setVerticalHeaderLabels(["config"])
            for i in range(len(self.cmp.labels)):
                t.setItem(0, i, QTableWidgetItem("(same)"))
        else:
            t.setVerticalHeaderLabels([k for k, _ in diff])
            for r, (_, vals) in enumerate(diff):
                for c, v in enumerate(vals):
                    item = QTableWidgetItem("—" if v is None else repr(v))
                    item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEditable)
                    t.setItem(r, c, item)
        t.resizeColumnsToContents()

    def table_rows(self) -> list[tuple[str, list[str]]]:
        """The config-difference table as text: [(key, [cell per run])]."""
        t = self.table
        def text(item: QTableWidgetItem | None) -> str:
            return item.text() if item is not None else ""
        return [(text(t.verticalHeaderItem(r)), [text(t.item(r, c)) for c in range(t.columnCount())])
                for r in range(t.rowCount())]

    def redraw(self) -> None:
        """Re-read every run's series of the selected level in the current range."""
        lo, hi = self.range if self.range is not None else (None, None)
        level = self.level
        summary = False
        self.legend.clear()
        for m in self.metrics:
            series = self.cmp.series(m, level, lo, hi)
            fired = self.cmp.series("fired", level, lo, hi) if m in AT_UPDATE_METRICS else None
            for r, (c, s) in enumerate(zip(self.curves[m], series)):
                if s is None:
                    c.setData([], [])
                    continue
                summary |= s.is_summary
                f = fired[r] if fired is not None else None
                c.setData(*series_xy(s, f.values if f is not None and not f.is_summary
                                     else None))
        first = self.metrics[0]
        for r, label in enumerate(self.cmp.labels):
            has = self.cmp.has(r, first, level)
            self.legend.addItem(self.curves[first][r], label if has else f"{label} (no {level})")
        self.summary_label.setText("showing a summary (min/max of N-step buckets from the "
                                   "pyramid)" if summary else "")

    def reset_range(self) -> None:
        """Whole runs on the x axis."""
        self.range = None
        a, b = self.cmp.step_range()
        self.plots[self.metrics[0]].setXRange(a, max(b, a + 1), padding=0.01)
        self.redraw()

    def _on_manual_range(self, *_: object) -> None:
        self.view_timer.start()

    def _fetch_view(self) -> None:
        x0, x1 = self.plots[self.metrics[0]].viewRange()[0]
        self.range = (math.floor(x0), math.ceil(x1))
        self.redraw()

    # ---- export --------------------------------------------------------------------------------
    def _build_export_menu(self) -> None:
        from PySide6.QtWidgets import QFileDialog
        def ask(default: str, kind: str) -> str | None:
            path, _ = QFileDialog.getSaveFileName(self, "Export", default,
                                                  f"{kind.upper()} (*.{kind})")
            return path or None
        self.ask_save: Callable[[str, str], str | None] = ask
        for kind in ("png", "svg"):
            self.export_menu.addAction(f"Whole window as {kind.upper()}…",
                                       self._exporting(kind))
        for m in self.metrics:
            for kind in ("png", "svg"):
                self.export_menu.addAction(f"Plot {m} as {kind.upper()}…",
                                           self._exporting(kind, m))

    def _exporting(self, kind: str, metric: str | None = None) -> Callable[[], object]:
        if metric is None:
            return lambda: self.export_window(kind)
        return lambda: self.export_plot(metric, kind)

    def export_window(self, kind: str = "png", path: str | None = None) -> str | None:
        out = path or self.ask_save(f"compare.{kind}", kind)
        return self._save(lambda: save_widget(self, out), out) if out else None

    def export_plot(self, metric: str, kind: str = "png", path: str | None = None) -> str | None:
        out = path or self.ask_save(f"compare-{metric}.{kind}", kind)
        return self._save(lambda: save_plot(self.plots[metric], out), out) if out else None

    def _save(self, fn: Callable[[], str], out: str) -> str | None:
        try:
            fn()
        except (UserError, OSError) as exc:
            self.message.setText(one_line(exc))
            return None
        self.message.setText(f"saved {out}")
        return out

    def closeEvent(self, event: object) -> None:  # noqa: N802 - Qt override
        self.view_timer.stop()
        self.cmp.close()
        event.accept()  # type: ignore[attr-defined]


def open_compare(paths: list[str], on_error: Callable[..., None]) -> CompareWindow | None:
    """A compare window over ``paths`` (at most 8), or None after a one-line message."""
    if len(paths) > MAX_RUNS:
        on_error(f"compare: {len(paths)} recordings chosen; at most {MAX_RUNS} can be "
                 "overlaid", error=True)
        return None
    try:
        cmp = Comparison.open([os.fspath(p) for p in paths])
    except Exception as exc:  # noqa: BLE001 - every bad file is one line, the app goes on
        on_error(one_line(exc), error=True)
        return None
    return CompareWindow(cmp)


__all__ = ["CompareWindow", "open_compare", "series_xy"]
