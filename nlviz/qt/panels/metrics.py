"""The step plots, top to bottom on one shared step axis: the loss panel (outer loss,
baselines, regime bands), one row per level for the quantity chosen in the selector (or
the two gate rows), and the update-cadence raster; a health banner above them.

Passive view: ``set_levels`` builds the rows once per run layout, ``set_data`` points the
items at a ``HistoryView``, ``set_slow`` (the presenter's slow-panel path, about 2 Hz)
refreshes what needs the whole history: the gate layout, the rows' constant notes and
the health flags. Intents: ``followChanged`` (the user panned or zoomed away from the live
edge), ``levelToggled`` (a row shown or hidden), ``settingsChanged`` (quantity, log y:
the presenter draws the last frame again).
"""
from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QMenu,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from engine.frames import METRIC_INDEX, RunSpec
from nlviz.analysis.derived import GateLayout, constant_note, level_label, shared_titans_gates
from nlviz.qt.panels.drawing import pixel_window
from nlviz.qt.panels.health import HealthMarks
from nlviz.qt.panels.levels import GateRows, LevelRows, row_plot, set_title
from nlviz.qt.panels.loss import LossRow
from nlviz.qt.panels.quantities import DEFAULT_QUANTITY, QUANTITIES, available, quantity_rows
from nlviz.qt.panels.raster import CadenceRaster
from nlviz.series.decimate import minmax_buckets, visible_slice
from nlviz.series.views import HistoryView

LOSS_STRETCH, ROW_STRETCH, GATE_STRETCH, RASTER_STRETCH = 4, 2, 4, 2
# Metric columns and their captions (File > Compare overlays these; kept for it).
DEFAULT_METRICS = ("surprise", "update_norm", "retention", "lr")
TITLES = {"surprise": "surprise", "update_norm": "update per event ‖ΔW‖",
          "retention": "retention ρ", "lr": "inner learning rate η",
          "grad_surprise": "gradient surprise", "update_rel": "relative update",
          "momentum_norm": "momentum ‖S‖", "drift_init": "drift from init",
          "weight_norm": "weight norm ‖W‖", "contribution": "contribution ‖added‖ / ‖y‖"}


class MetricsPanel(QWidget):
    """Loss panel, one row per level, gate rows and the cadence raster, x-linked.

    Attributes: ``loss`` (``LossRow``), ``rows`` (``LevelRows``), ``gates``
    (``GateRows``), ``cadence`` (``CadenceRaster``; ``raster`` is its plot and
    ``raster_image`` its image), ``health`` (``HealthMarks``), ``quantity`` (the selected
    key of ``QUANTITIES``).
    """

    followChanged = Signal(bool)
    levelToggled = Signal(int, bool)
    settingsChanged = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.quantity = DEFAULT_QUANTITY
        self.spec: RunSpec | None = None
        self.gate_layout: GateLayout | None = None
        self._key: tuple[object, ...] = ()
        self._visible: list[bool] = []
        self._smoothing = False
        self._badge_total = -1
        self._build_ui()

    # ---- construction ------------------------------------------------------------
    def _build_ui(self) -> None:
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(2)
        row = QHBoxLayout()
        self.quantity_box = QComboBox()
        self.quantity_box.setToolTip("what each level's row shows")
        self.quantity_box.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.quantity_box.setMinimumContentsLength(9)
        self.quantity_box.currentIndexChanged.connect(self._on_quantity)
        row.addWidget(self.quantity_box)
        self.log_boxes: dict[str, QCheckBox] = {}
        for key, text in (("loss", "log loss"), ("rows", "log rows")):
            box = QCheckBox(text)
            box.setToolTip(f"logarithmic y axis for the {key} plots")
            box.toggled.connect(lambda on, k=key: self.set_log_y(k, on))
            self.log_boxes[key] = box
            row.addWidget(box)
        self.rows_button = QToolButton()
        self.rows_button.setText("levels")
        self.rows_button.setToolTip("show or hide the row of a level")
        self.rows_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.rows_menu = QMenu(self)
        self.rows_button.setMenu(self.rows_menu)
        row.addWidget(self.rows_button)
        self.badge = QLabel("")
        self.badge.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.badge.setSizePolicy(QSizePolicy.Policy.Ignored,   # no widening
                                 QSizePolicy.Policy.Preferred)
        self.badge.setToolTip("points held in RAM; older steps live only in the recording")
        row.addWidget(self.badge, 1)
        lay.addLayout(row)
        self.health = HealthMarks()
        lay.addWidget(self.health.banner)
        self.graphics = pg.GraphicsLayoutWidget()
        lay.addWidget(self.graphics, 1)
        self.loss_plot = row_plot()
        self.loss = LossRow(self.loss_plot)
        self.log_boxes["loss"].blockSignals(True)
        self.log_boxes["loss"].setChecked(self.loss.y.log)
        self.log_boxes["loss"].blockSignals(False)
        self.rows = LevelRows()
        self.gates = GateRows()
        self.raster = row_plot(spaced=False)     # fixed ticks: one label per level
        self.raster.showAxis("bottom")
        self.cadence = CadenceRaster(self.raster)
        self.raster_image = self.cadence.image
        for p in (self.loss_plot, self.raster, *self.gates.plots.values()):
            self._link(p)
        self._fill_quantities(list(QUANTITIES))
        self._relayout()

    def _link(self, p: pg.PlotItem) -> None:
        if p is not self.loss_plot:
            p.setXLink(self.loss_plot)
        p.getViewBox().sigRangeChangedManually.connect(self._on_manual_range)

    def _fill_quantities(self, keys: list[str]) -> None:
        self.quantity_box.blockSignals(True)
        self.quantity_box.clear()
        for k in keys:
            self.quantity_box.addItem(QUANTITIES[k].title.split(":")[0].split(" (")[0], k)
            self.quantity_box.setItemData(self.quantity_box.count() - 1, QUANTITIES[k].title,
                                          Qt.ItemDataRole.ToolTipRole)
        if self.quantity not in keys:
            self.quantity = keys[0] if keys else DEFAULT_QUANTITY
        self.quantity_box.setCurrentIndex(max(0, keys.index(self.quantity)) if keys else -1)
        self.quantity_box.blockSignals(False)

    def all_plots(self) -> list[pg.PlotItem]:
        """Every step plot of this run, laid out or not: loss, level rows, gate rows, raster."""
        return [self.loss_plot, *self.rows.plots, *self.gates.plots.values(), self.raster]

    def row_plots(self) -> list[pg.PlotItem]:
        """The plots stacked between the loss and the raster now, top to bottom."""
        if self.quantity == "gates":
            return list(self.gates.plots.values())
        return [p for p, v in zip(self.rows.plots, self._visible, strict=True) if v]

    def _relayout(self) -> None:
        """Stack loss, the rows of the current quantity and the raster again."""
        ci = self.graphics.ci
        for item in list(ci.items):
            ci.removeItem(item)
        plots = [self.loss_plot, *self.row_plots(), self.raster]
        for i, p in enumerate(plots):
            ci.addItem(p, row=i, col=0)
            stretch = (LOSS_STRETCH if p is self.loss_plot else
                       RASTER_STRETCH if p is self.raster else
                       GATE_STRETCH if self.quantity == "gates" else ROW_STRETCH)
            ci.layout.setRowStretchFactor(i, stretch)
        ci.layout.setVerticalSpacing(1)
        scene = self.graphics.scene()
        for p in [*self.rows.pool, *self.gates.plots.values()]:
            if not any(p is q for q in plots):      # parked hidden in the scene, which
                if p.scene() is None:                # deletes it with the window
                    scene.addItem(p)
                p.hide()
            else:
                p.show()
        caption = QUANTITIES[self.quantity].title
        top = plots[1] if len(plots) > 2 else None
        for p in [*self.rows.plots, *self.gates.plots.values()]:
            set_title(p, caption if p is top else None)

    def set_levels(self, spec: RunSpec) -> None:
        """(Re)build the rows for the run's levels, columns and regime names."""
        key = (spec.levels, spec.level_metrics, spec.global_metrics, spec.regime_names)
        if key == self._key:
            return
        if self._key and key[:3] == self._key[:3]:
            # only the regime names changed (a live stream switch): rename the bands, keep
            # the rows, hidden levels, y zoom, health reference and visit numbers
            self._key, self.spec = key, spec
            self.loss.names = spec.regime_names
            return
        self._key, self.spec = key, spec
        self.loss.set_spec(spec)
        for p in self.rows.build(len(spec.levels)):
            self._link(p)
        self.rows.set_texts([level_label(lv) for lv in spec.levels])
        for raw in self.rows.raw:
            raw.setVisible(self._smoothing)
        self._visible = [True] * len(spec.levels)
        self.rows_menu.clear()
        for i, lv in enumerate(spec.levels):
            a = QAction(level_label(lv), self.rows_menu)
            a.setCheckable(True)
            a.setChecked(True)
            a.toggled.connect(lambda on, i=i: self._on_row_action(i, on))
            self.rows_menu.addAction(a)
        self.gate_layout = None
        self.gates.set_groups({})
        self.cadence.set_levels(spec)
        self.health.set_plots(self.loss_plot, dict(zip(spec.level_names, self.rows.plots,
                                                       strict=True)))
        self._fill_quantities(available(spec))
        self._relayout()

    def set_raster_color(self, color: str) -> None:
        """Colour of the fastest firing rate in the raster (the theme's foreground)."""
        self.cadence.set_color(color)

    # ---- setters -----------------------------------------------------------------
    def set_quantity(self, key: str) -> None:
        """Show ``key`` (of ``QUANTITIES``) in the level rows."""
        i = self.quantity_box.findData(key)
        if i < 0:
            raise ValueError(f"no quantity {key!r} for this run")
        self.quantity_box.setCurrentIndex(i)

    def set_smoothing_on(self, on: bool) -> None:
        """Rows: draw the smoothed series and the raw one faint behind it."""
        self._smoothing = on
        for i, raw in enumerate(self.rows.raw):
            raw.setVisible(on and self._visible[i])

    def set_level_visible(self, index: int, visible: bool) -> None:
        """Show or hide the row of one level."""
        if index >= len(self._visible) or self._visible[index] == visible:
            return
        self._visible[index] = visible
        action = self.rows_menu.actions()[index]
        if action.isChecked() != visible:
            action.blockSignals(True)
            action.setChecked(visible)
            action.blockSignals(False)
        self._relayout()

    def set_log_y(self, which: str, on: bool) -> None:
        """Logarithmic y for the ``"loss"`` plot or the ``"rows"`` (values <= 0 clipped)."""
        box = self.log_boxes[which]
        if box.isChecked() != on:
            box.blockSignals(True)
            box.setChecked(on)
            box.blockSignals(False)
        ys = [self.loss.y] if which == "loss" else [*self.rows.y, *self.gates.y.values()]
        for y in ys:
            y.set_log(on)
        self.settingsChanged.emit()

    def set_auto_y(self) -> None:
        """Fit y to the data again (after the user zoomed y)."""
        for y in (self.loss.y, *self.rows.y, *self.gates.y.values()):
            y.reset()

    # ---- data ----------------------------------------------------------------------
    def set_data(self, view: HistoryView, exact: HistoryView | None = None) -> None:
        """Point every item at the visible part of ``view``: the raw rows or, above two
        steps per pixel, min/max per pixel bucket. ``exact``: the same range in exact rows
        for the cadence raster when ``view`` is a live summary (exact event rates)."""
        spec = self.spec
        if spec is None:
            return
        x = view.step
        pixels = max(100, int(self.raster.getViewBox().width()))
        x0, x1 = self.raster.viewRange()[0]
        w = pixel_window(x, x0, x1, pixels)
        self.loss.draw(view, w, self.log_boxes["loss"].isChecked())
        log = self.log_boxes["rows"].isChecked()
        if self.quantity == "gates":
            vals = {g: view.level[:, METRIC_INDEX[g]] for g in self.gates.GATES}
            self.gates.draw(x, vals, w, log)
        else:
            q = QUANTITIES[self.quantity]
            values, mask = quantity_rows(view, spec, self.quantity, self._smoothing)
            raw = (quantity_rows(view, spec, self.quantity, False)[0]
                   if self._smoothing and q.smoothable else None)
            self.rows.draw(x, values, mask, w, raw, self._visible, log)
        self.cadence.draw(exact if exact is not None else view)
        if view.is_summary:                      # 2 rows (min, max) per bucket
            self._badge_total = -1
            self.badge.setText(f"{view.total:,} steps · min/max of {view.bucket_rows:,}-step "
                               f"buckets" + (f", {w.k} per pixel" if w.k > 1 else ""))
        elif view.total != self._badge_total or w.k > 1:
            self._badge_total = view.total
            self.badge.setText(f"{len(x):,} of {view.total:,} steps held"
                               + (f" · min/max of {w.k} per pixel" if w.k > 1 else ""))

    def set_raster(self, view: HistoryView) -> None:
        """The cadence raster alone (``set_data`` draws it too)."""
        self.cadence.draw(view)

    def set_slow(self, view: HistoryView) -> None:
        """What needs the whole history (about 2 Hz): gate layout, constants in the row
        labels, health flags."""
        spec = self.spec
        if spec is None or len(view.step) == 0:
            return
        layout = shared_titans_gates(view, spec)
        if layout != self.gate_layout:
            self.gate_layout = layout
            self.gates.set_groups(gate_groups(layout, spec), constant_notes(layout))
            self.rows.set_texts([
                " · ".join(t for t in (level_label(lv),
                                       constant_note(layout.constant.get(lv.name, {}))) if t)
                for lv in spec.levels])
        self.loss.set_history(view)
        self.health.show_flags(view, spec)

    def set_x_window(self, last_step: float, width: float) -> None:
        """Follow live: show ``[last - width, last]``."""
        self.set_x_range(max(0.0, last_step - width), last_step + 1)

    def set_x_range(self, x0: float, x1: float) -> None:
        """Show steps ``[x0, x1]`` on the shared step axis (1 % padding)."""
        self.loss_plot.setXRange(x0, x1, padding=0.01)

    # ---- handlers ----------------------------------------------------------------
    def _on_manual_range(self, *_: object) -> None:
        self.followChanged.emit(False)

    def _on_quantity(self, index: int) -> None:
        key = self.quantity_box.itemData(index)
        if key and key != self.quantity:
            self.quantity = str(key)
            self._relayout()
            self.settingsChanged.emit()

    def _on_row_action(self, index: int, on: bool) -> None:
        self.set_level_visible(index, on)
        self.levelToggled.emit(index, on)
        self.settingsChanged.emit()


def constant_notes(layout: GateLayout) -> dict[str, str]:
    """Per gate, the CMS levels where it is constant and its value: "cms1, cms2 = 0.02
    (constant, not plotted)"."""
    out: dict[str, str] = {}
    for g in GateRows.GATES:
        by_value: dict[str, list[str]] = {}
        for name, values in layout.constant.items():
            if g in values:
                by_value.setdefault(f"{values[g]:.3g}", []).append(name)
        out[g] = "; ".join(f"{', '.join(n)} = {v}" for v, n in by_value.items())
        if out[g]:
            out[g] += " (constant, not plotted)"
    return out


def gate_groups(layout: GateLayout, spec: RunSpec) -> dict[str, list[tuple[str, list[int]]]]:
    """Curves of the gate rows: a gate the Titans memories share is one curve for all of
    them; other Titans gates one curve each; CMS gates only where they are not constant."""
    titans = [i for i, lv in enumerate(spec.levels) if lv.kind == "titans"]
    out: dict[str, list[tuple[str, list[int]]]] = {}
    for g in GateRows.GATES:
        groups: list[tuple[str, list[int]]] = []
        if g in layout.shared and titans:
            names = ", ".join(spec.levels[i].name for i in titans)
            groups.append((f"one value shared by {names}", titans))
        else:
            groups += [(spec.levels[i].name, [i]) for i in titans]
        groups += [(lv.name, [i]) for i, lv in enumerate(spec.levels)
                   if lv.kind == "cms" and g not in layout.constant.get(lv.name, {})]
        out[g] = groups
    return out


__all__ = ["DEFAULT_METRICS", "TITLES", "MetricsPanel", "gate_groups", "minmax_buckets", "visible_slice"]
