"""Compare window: up to 8 recordings side by side. The outer loss (with a dashed baseline
predictor) on top, below it any per-level metric (metric and level selectors), per run or
as mean ± std bands over seeds of one config, on the step axis or averaged around regime
switches by visit; a table of the config differences under them.

Data from ``nlviz.replay.compare_data.CompareData`` (full curves per run, derived metrics
included, grouping by config without ``run.seed``): exact rows for short ranges, a min/max
envelope for long ones (the window says so). Runs of different lengths end at different x;
a run without the selected level, without the column (older files) or with a constant
value draws nothing and its legend entry says why. Zooming or panning re-reads the
visible range.
"""
from __future__ import annotations

import math
import os
from collections.abc import Callable

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
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

from nlviz.analysis.switches import regime_spans
from nlviz.errors import UserError, one_line
from nlviz.qt.pictures import save_plot, save_widget
from nlviz.qt.replay.compare_controls import CompareControls
from nlviz.qt.replay.compare_draw import RUN_COLORS, ComparePlot, run_pen, series_xy
from nlviz.qt.replay.compare_fill import Filler, What
from nlviz.replay.compare import MAX_RUNS, Comparison
from nlviz.replay.compare_data import CompareData
from nlviz.replay.compare_series import LOSS, TITLES

PLOTS = ("loss", "metric")


def default_window(data: CompareData) -> int:
    """Half the median regime stretch of the first run (10 to 5000 steps; 200 if it has
    no switch): the aligned view's ± window."""
    steps, regime = data.regimes(0)
    spans = regime_spans(steps, regime) if len(steps) else []
    if len(spans) < 2:
        return 200
    return int(np.clip(np.median([s.stop - s.start + 1 for s in spans]) // 2, 10, 5000))


class CompareWindow(QMainWindow):
    """Compare view of ``cmp.runs``; owns (and closes) the ``Comparison``."""

    def __init__(self, cmp: Comparison, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.cmp = cmp
        self.data = CompareData(cmp)
        self.filler = Filler(self.data, cmp.labels, cmp.raw_limit, cmp.max_points)
        self.setWindowTitle(f"nlviz compare: {', '.join(cmp.labels)}")
        self.setObjectName("nlviz_compare")
        central = QWidget()
        lay = QVBoxLayout(central)
        lay.setContentsMargins(2, 2, 2, 2)
        self.controls = CompareControls(cmp.levels, default_window(self.data))
        lay.addWidget(self.controls)
        row = QHBoxLayout()
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
        self.draw: dict[str, ComparePlot] = {}
        for i, key in enumerate(PLOTS):
            p = self.graphics.addPlot(row=i, col=0)
            p.getAxis("left").setWidth(56)
            p.setClipToView(True)
            p.setDownsampling(auto=True, mode="peak")
            if i:
                p.setXLink(self.plots[PLOTS[0]])
            p.getViewBox().sigRangeChangedManually.connect(self._on_manual_range)
            self.plots[key] = p
            self.draw[key] = ComparePlot(p, len(cmp.runs), len(self.data.groups))
        self.curves = {k: d.curves for k, d in self.draw.items()}
        self.range: tuple[int, int] | None = None
        self._aligned_shown = False
        self.view_timer = QTimer(self)
        self.view_timer.setSingleShot(True)
        self.view_timer.setInterval(50)
        self.view_timer.timeout.connect(self._fetch_view)
        self._build_export_menu()
        self.fill_config_table()
        self.controls.changed.connect(self.redraw)
        self.redraw()
        self.reset_range()
        self.resize(1400, 900)

    # ---- content -----------------------------------------------------------------------------
    @property
    def level(self) -> str:
        return self.controls.level

    @property
    def level_box(self) -> object:
        """The level selector (a ``QComboBox``)."""
        return self.controls.level_box

    def fill_config_table(self) -> None:
        """Rows: the group of each run, then the config keys whose values differ; columns:
        runs."""
        diff = self.cmp.config_diff()
        group_of = {m: g for g, grp in enumerate(self.data.groups) for m in grp.members}
        rows = [("group", [f"g{group_of[r] + 1} (n={len(self.data.groups[group_of[r]].members)})"
                           for r in range(len(self.cmp.runs))])]
        rows += [(k, ["—" if v is None else repr(v) for v in vals]) for k, vals in diff] \
            or [("config", ["(same)"] * len(self.cmp.runs))]
        t = self.table
        t.clear()
        t.setColumnCount(len(self.cmp.labels))
        t.setHorizontalHeaderLabels(self.cmp.labels)
        for i in range(len(self.cmp.labels)):
            header = t.horizontalHeaderItem(i)
            if header is not None:
                header.setForeground(pg.mkColor(RUN_COLORS[i % len(RUN_COLORS)]))
        t.setRowCount(len(rows))
        t.setVerticalHeaderLabels([k for k, _ in rows])
        for r, (_, cells) in enumerate(rows):
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
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

    def what(self, key: str) -> What:
        """What plot ``key`` ("loss" or "metric") shows under the current selectors."""
        c = self.controls
        lo, hi = self.range if self.range is not None else (None, None)
        loss = key == "loss"
        return What(LOSS if loss else c.metric_key, None if loss else c.level,
                    smooth=c.smooth_rows, start=lo, stop=hi, per_group=c.per_group,
                    aligned=c.aligned, visit=c.visit, window=c.window_steps,
                    baseline=c.baseline if loss else "")

    def redraw(self) -> None:
        """Re-read every run's (or group's) series under the selectors in the range."""
        c = self.controls
        self.filler.summary = False
        for key in PLOTS:
            w = self.what(key)
            self.draw[key].clear()
            self.filler.fill(self.draw[key], w)
            title = TITLES.get(w.metric, w.metric)
            if key == "metric":
                title = f"{title} · {c.level}"
            elif w.baseline:
                title += f" (dashed: {TITLES[w.baseline]})"
            if c.aligned:
                title += f" · around regime switches ({c.visit_box.currentText()})"
            self.plots[key].setTitle(title, size="9pt")
            self.plots[key].setLabel("bottom", "steps since switch" if c.aligned else "step")
            self.draw[key].regimes.set_spans([] if c.aligned else self.data.shared_spans())
        if c.aligned != self._aligned_shown:
            self._aligned_shown = c.aligned
            self._home_x()
        self.summary_label.setText("showing a summary (min/max of N-step buckets)"
                                   if self.filler.summary else "")

    def _home_x(self) -> None:
        if self.controls.aligned:
            w = self.controls.window_steps
            self.plots[PLOTS[0]].setXRange(-w, w, padding=0.02)
        else:
            a, b = self.cmp.step_range()
            self.plots[PLOTS[0]].setXRange(a, max(b, a + 1), padding=0.01)
        for p in self.plots.values():
            p.enableAutoRange(axis="y")

    def reset_range(self) -> None:
        """Whole runs on the x axis."""
        self.range = None
        self._home_x()
        self.redraw()

    def _on_manual_range(self, *_: object) -> None:
        if not self.controls.aligned:
            self.view_timer.start()

    def _fetch_view(self) -> None:
        x0, x1 = self.plots[PLOTS[0]].viewRange()[0]
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
        for key in PLOTS:
            for kind in ("png", "svg"):
                self.export_menu.addAction(f"Plot {key} as {kind.upper()}…",
                                           self._exporting(kind, key))

    def _exporting(self, kind: str, plot: str | None = None) -> Callable[[], object]:
        if plot is None:
            return lambda: self.export_window(kind)
        return lambda: self.export_plot(plot, kind)

    def export_window(self, kind: str = "png", path: str | None = None) -> str | None:
        out = path or self.ask_save(f"compare.{kind}", kind)
        return self._save(lambda: save_widget(self, out), out) if out else None

    def export_plot(self, plot: str, kind: str = "png", path: str | None = None) -> str | None:
        """Save plot ``plot`` ("loss" or "metric")."""
        out = path or self.ask_save(f"compare-{plot}.{kind}", kind)
        return self._save(lambda: save_plot(self.plots[plot], out), out) if out else None

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


__all__ = ["RUN_COLORS", "CompareWindow", "open_compare", "run_pen", "series_xy"]
