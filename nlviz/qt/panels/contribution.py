"""Which level carries the memory: each level's contribution to the output over time,
and a knock-out / restore-to-step action whose effect on the held-out losses is shown.

Contribution (``LEVEL_METRICS`` column ``contribution``): ||what the level adds to the
block's residual stream|| / ||y_t||; the Titans k, v, eta and alpha memories steer rather
than add (NaN), so they are not drawn and cannot be knocked out.

The action emits ``ablationRequested(level, restore_step)`` (None = knock out); the
controller answers with EvalRecords (the intact evaluation, variant "", and the ablated
one, "knockout:<level>" or "restore:<level>@<step>"), shown by ``show_ablation`` as a
table (regime, intact, ablated, change) and grouped bars.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from engine.frames import EvalRecord, RunSpec
from nlviz.qt.panels.axes import SpacedAxis
from nlviz.qt.panels.blocks import block_mean
from nlviz.qt.theme import level_pen
from nlviz.series.views import HistoryView

ABLATABLE_TITANS = ("memory",)      # Titans memories that add to the output (the rest steer)
TABLE_COLUMNS = ("regime", "intact", "ablated", "ablated − intact")
MAX_POINTS = 1_000         # block means beyond this many rows


def ablatable(spec: RunSpec) -> list[str]:
    """Levels whose output can be knocked out: the Titans ``memory`` and every CMS level."""
    return [lv.name for lv in spec.levels if lv.kind == "cms" or lv.name in ABLATABLE_TITANS]


def split_ablation(records: Sequence[EvalRecord]) -> tuple[EvalRecord | None, EvalRecord | None]:
    """(intact, ablated) of one ablation answer: the last regular evaluation (variant "")
    and the last ablated one (None where absent)."""
    intact = next((r for r in reversed(records) if not r.variant), None)
    ablated = next((r for r in reversed(records) if r.variant), None)
    return intact, ablated


def describe_variant(variant: str) -> str:
    """``knockout:cms2`` -> "cms2 knocked out"; ``restore:cms2@1200`` -> "cms2 restored to
    step 1,200"."""
    kind, _, rest = variant.partition(":")
    if kind == "knockout":
        return f"{rest} knocked out"
    if kind == "restore":
        level, _, step = rest.partition("@")
        return f"{level} restored to step {int(step):,}" if step.isdigit() else variant
    return variant or "intact"


class ContributionPanel(QWidget):
    """Contribution curves (top) and the ablation action with its result (bottom)."""

    ablationRequested = Signal(str, object)      # level, restore step (int) or None

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.spec: RunSpec | None = None
        self.regime_names: tuple[str, ...] = ()
        self.curves: dict[str, pg.PlotDataItem] = {}
        self._cursor_followed = True            # the step box follows the cursor until edited
        self.state_steps: np.ndarray | None = None    # kept engine states (None: unknown)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        split = QSplitter(Qt.Orientation.Vertical)
        lay.addWidget(split, 1)
        self.plot_widget = pg.PlotWidget(axisItems={"left": SpacedAxis("left"),
                                                    "bottom": SpacedAxis("bottom")})
        self.plot = self.plot_widget.getPlotItem()
        self.plot.setLabel("left", "contribution ‖Δ‖ / ‖y‖")
        self.plot.setLabel("bottom", "step")
        self.plot.showGrid(x=True, y=True, alpha=0.15)
        self.legend = self.plot.addLegend(offset=(4, 4), labelTextSize="8pt")
        split.addWidget(self.plot_widget)
        bottom = QWidget()
        blay = QVBoxLayout(bottom)
        blay.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        self.level_box = QComboBox()
        self.level_box.setToolTip("the level to knock out or restore (Titans memory, CMS levels)")
        row.addWidget(self.level_box)
        self.knockout_button = QPushButton("Knock out")
        self.knockout_button.setToolTip("evaluate the held-out windows with this level's "
                                        "output removed (the running model is not changed)")
        self.knockout_button.clicked.connect(self._on_knockout)
        row.addWidget(self.knockout_button)
        row.addWidget(QLabel("restore to step"))
        self.step_spin = QSpinBox()
        self.step_spin.setRange(0, 2_000_000_000)
        self.step_spin.setGroupSeparatorShown(True)
        self.step_spin.setToolTip("a step whose state was kept (live: state_every, newest 32; "
                                  "replay: a recorded state); follows the cursor until edited")
        self.step_spin.editingFinished.connect(self._on_step_edited)
        row.addWidget(self.step_spin)
        self.restore_button = QPushButton("Restore")
        self.restore_button.setToolTip("evaluate with this level's weights put back to the "
                                       "state at that step")
        self.restore_button.clicked.connect(self._on_restore)
        row.addWidget(self.restore_button)
        row.addStretch(1)
        blay.addLayout(row)
        self.table = QTableWidget(0, len(TABLE_COLUMNS))
        self.table.setHorizontalHeaderLabels(list(TABLE_COLUMNS))
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.bars_widget = pg.PlotWidget()
        self.bars = self.bars_widget.getPlotItem()
        self.bars.setLabel("left", "held-out loss")
        self.bars.addLegend(offset=(-4, 4), labelTextSize="8pt")      # top right
        self.bars.setMouseEnabled(x=False, y=False)
        self.bars.hideButtons()
        self.intact_bars = pg.BarGraphItem(x=[], height=[], width=0.38, brush="#5da5ff",
                                           name="intact")
        self.ablated_bars = pg.BarGraphItem(x=[], height=[], width=0.38, brush="#ff6b6b",
                                            name="ablated")
        self.bars.addItem(self.intact_bars)
        self.bars.addItem(self.ablated_bars)
        results = QHBoxLayout()
        results.addWidget(self.table, 1)
        results.addWidget(self.bars_widget, 1)
        blay.addLayout(results, 1)
        self.result_label = QLabel("no ablation yet: pick a level and knock it out or restore it")
        self.result_label.setWordWrap(True)
        self.result_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        blay.addWidget(self.result_label)
        split.addWidget(bottom)
        split.setSizes([300, 260])
        self.set_busy(False)

    # ---- setup -----------------------------------------------------------------------------
    def set_spec(self, spec: RunSpec) -> None:
        """One curve per level that adds to the output; the levels offered for ablation."""
        self.spec = spec
        self.regime_names = tuple(spec.regime_names)
        for c in self.curves.values():
            self.plot.removeItem(c)
        self.legend.clear()
        self.curves = {}
        for i, lv in enumerate(spec.levels):
            if lv.kind == "cms" or lv.name in ABLATABLE_TITANS:
                c = pg.PlotDataItem(pen=level_pen(i), connect="finite", skipFiniteCheck=False)
                self.plot.addItem(c)
                self.legend.addItem(c, lv.name)
                self.curves[lv.name] = c
        current = self.level_box.currentText()
        self.level_box.clear()
        self.level_box.addItems(ablatable(spec))
        self.level_box.setCurrentIndex(max(0, self.level_box.findText(current)))
        self._cursor_followed = True
        self.show_ablation([])

    def set_busy(self, busy: bool, text: str = "") -> None:
        """Disable the buttons while an ablation is being evaluated (replay: off the GUI
        thread); ``text`` replaces the result line."""
        for b in (self.knockout_button, self.restore_button):
            b.setEnabled(not busy and self.level_box.count() > 0)
        if text:
            self.result_label.setText(text)

    # ---- data ------------------------------------------------------------------------------
    def show_view(self, view: HistoryView) -> None:
        """Draw each level's contribution over the view's steps as means of blocks of
        consecutive rows (at most ``MAX_POINTS`` points: per-token values are noise, and
        100k noisy points cost a frame); the step box follows the last step unless the
        user edited it."""
        if self.spec is None:
            return
        m = (self.spec.level_metrics.index("contribution")
             if "contribution" in self.spec.level_metrics else -1)
        k = 1
        for li, name in enumerate(self.spec.level_names):
            c = self.curves.get(name)
            if c is None:
                continue
            if 0 <= m < view.level.shape[1] and li < view.level.shape[0]:
                x, y, k = block_mean(view.step, view.level[li, m], MAX_POINTS)
                c.setData(x, y)
            else:
                c.setData([], [])
        self.plot.setLabel("bottom", "step" if k == 1 else f"step (mean of {k}-row blocks)")
        if self._cursor_followed and len(view.step):
            self.set_cursor(int(view.step[-1]))

    def set_cursor(self, step: int) -> None:
        """The step the restore box proposes (the viewer's cursor)."""
        self.step_spin.blockSignals(True)
        self.step_spin.setValue(max(0, int(step)))
        self.step_spin.blockSignals(False)

    def show_ablation(self, records: Sequence[EvalRecord]) -> None:
        """Intact vs ablated held-out loss per regime (table and bars)."""
        intact, ablated = split_ablation(records)
        self.set_busy(False)
        ref = ablated if ablated is not None else intact
        if ref is None:
            self.table.setRowCount(0)
            self.intact_bars.setOpts(x=[], height=[])
            self.ablated_bars.setOpts(x=[], height=[])
            return
        n = len(ref.losses)
        a = (np.asarray(intact.losses, np.float64) if intact is not None
             else np.full(n, np.nan))                                   # (R,)
        b = (np.asarray(ablated.losses, np.float64) if ablated is not None
             else np.full(n, np.nan))                                   # (R,)
        names = [self.regime_names[r] if r < len(self.regime_names) else f"regime {r}"
                 for r in range(n)]
        self.table.setRowCount(n)
        for r, name in enumerate(names):
            self.table.setItem(r, 0, QTableWidgetItem(name))
            for col, v in enumerate((a[r], b[r], b[r] - a[r]), start=1):
                self.table.setItem(r, col, _number(float(v)))
        self.table.resizeColumnsToContents()
        x = np.arange(n, dtype=np.float64)
        self.intact_bars.setOpts(x=x - 0.2, height=np.nan_to_num(a))
        self.ablated_bars.setOpts(x=x + 0.2, height=np.nan_to_num(b))
        self.bars.getAxis("bottom").setTicks([list(enumerate(names))])
        what = describe_variant(ablated.variant) if ablated is not None else "intact only"
        self.result_label.setText(f"{what}, evaluated after step {ref.step:,}: mean held-out "
                                  f"loss {_mean(a):.4g} intact, {_mean(b):.4g} ablated"
                                  if n else what)

    # ---- actions ---------------------------------------------------------------------------
    def _on_step_edited(self) -> None:
        self._cursor_followed = False

    def _on_knockout(self) -> None:
        if self.level_box.currentText():
            self.result_label.setText(f"evaluating {self.level_box.currentText()} knocked out… "
                                      "(a refusal is logged in the event log)")
            self.ablationRequested.emit(self.level_box.currentText(), None)

    def set_state_steps(self, steps: Sequence[int] | np.ndarray | None) -> None:
        """Steps with a kept engine state, the possible restore targets (replay: the
        recorded states); None = not known here (live: the engine checks)."""
        self.state_steps = None if steps is None else np.unique(np.asarray(steps, np.int64))

    def restore_target(self) -> int:
        """The step a restore uses: the box's value, moved back to the newest kept state
        at or before it when the kept states are known (the first one if none is)."""
        v = int(self.step_spin.value())
        if self.state_steps is None or len(self.state_steps) == 0:
            return v
        i = int(np.searchsorted(self.state_steps, v, "right")) - 1
        return int(self.state_steps[max(i, 0)])

    def _on_restore(self) -> None:
        if self.level_box.currentText():
            step = self.restore_target()
            if step != self.step_spin.value():
                self.set_cursor(step)               # show the state actually used
            self.result_label.setText(f"evaluating {self.level_box.currentText()} restored to "
                                      f"step {step:,}… (a refusal is logged in the event log)")
            self.ablationRequested.emit(self.level_box.currentText(), step)


def _mean(x: np.ndarray) -> float:
    """Mean of the finite entries (NaN when there is none)."""
    ok = np.isfinite(x)
    return float(x[ok].mean()) if ok.any() else float("nan")


def _number(v: float) -> QTableWidgetItem:
    """A table cell showing ``v`` (4 significant digits) that keeps the exact value as its
    display-role data under ``Qt.UserRole``."""
    item = QTableWidgetItem(f"{v:.4g}" if np.isfinite(v) else "n/a")
    item.setData(Qt.ItemDataRole.UserRole, float(v))
    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    return item


__all__ = ["MAX_POINTS", "ContributionPanel", "ablatable", "describe_variant", "split_ablation"]
