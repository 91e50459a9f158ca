"""The compare window's selector row: metric, level, smoothing, per run / per group,
x axis (steps, or steps around regime switches), visit and window of the aligned view,
and the loss baseline. Emits ``changed`` on any edit; the window reads the properties."""
from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QSpinBox, QWidget

from nlviz.replay.compare_series import BASELINES, LEVEL_CHOICES, VISITS

SMOOTHING = (("raw", 1), ("mean of 10 steps", 10), ("mean of 100 steps", 100),
             ("mean of 1000 steps", 1000))
SHOW = (("per run", "run"), ("per group (mean ± std over seeds)", "group"))
AXES = (("x: step", "step"), ("x: steps since regime switch", "switch"))


def _swap(pairs: tuple[tuple[str, str], ...]) -> tuple[tuple[str, object], ...]:
    """(key, title) pairs as (text, data) items."""
    return tuple((title, key) for key, title in pairs)


def _box(items: tuple[tuple[str, object], ...], tip: str) -> QComboBox:
    b = QComboBox()
    for text, data in items:
        b.addItem(text, data)
    b.setToolTip(tip)
    return b


class CompareControls(QWidget):
    """Selectors of what the compare plots show."""

    changed = Signal()

    def __init__(self, levels: tuple[str, ...], window: int,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        self.metric_box = _box(_swap(LEVEL_CHOICES), "per-level quantity of the lower plot; update "
                               "per step spreads each update over its period, so levels of "
                               "different periods compare per step")
        self.level_box = _box(tuple((lv, lv) for lv in levels),
                              "which level (the union of the runs' levels, matched by name)")
        self.smooth_box = _box(SMOOTHING, "trailing mean over the last N recorded steps")
        self.show_box = _box(SHOW, "one curve per run, or one mean curve and ± std band per "
                             "group of runs whose configs differ only in run.seed")
        self.axis_box = _box(AXES, "steps since regime switch: each curve averaged over the "
                             "windows around the run's regime switches, split by visit")
        self.visit_box = _box(_swap(VISITS), "which switches: into a regime seen for the first "
                              "time, the second time, or later")
        self.baseline_box = _box((("no baseline", ""), *_swap(BASELINES)),
                                 "dashed: the loss of a baseline predictor on the same stream")
        self.baseline_box.setCurrentIndex(1)
        self.window_spin = QSpinBox()
        self.window_spin.setRange(2, 1_000_000)
        self.window_spin.setValue(window)
        self.window_spin.setPrefix("± ")
        self.window_spin.setSuffix(" steps")
        self.window_spin.setToolTip("steps before and after each switch in the aligned view")
        for label, w in (("metric:", self.metric_box), ("level:", self.level_box),
                         (None, self.smooth_box), (None, self.show_box), (None, self.axis_box),
                         (None, self.visit_box), (None, self.window_spin),
                         ("loss:", self.baseline_box)):
            if label:
                row.addWidget(QLabel(label))
            row.addWidget(w)
        for b in (self.metric_box, self.level_box, self.smooth_box, self.show_box,
                  self.axis_box, self.visit_box, self.baseline_box):
            b.currentIndexChanged.connect(self._edited)
        self.window_spin.valueChanged.connect(self._edited)
        self._edited()

    def _edited(self, *_: object) -> None:
        aligned = self.aligned
        self.visit_box.setEnabled(aligned)
        self.window_spin.setEnabled(aligned)
        self.changed.emit()

    @property
    def metric_key(self) -> str:
        return str(self.metric_box.currentData())

    @property
    def level(self) -> str:
        return self.level_box.currentText()

    @property
    def smooth_rows(self) -> int:
        return int(self.smooth_box.currentData())

    @property
    def per_group(self) -> bool:
        return self.show_box.currentData() == "group"

    @property
    def aligned(self) -> bool:
        return self.axis_box.currentData() == "switch"

    @property
    def visit(self) -> str:
        return str(self.visit_box.currentData())

    @property
    def window_steps(self) -> int:
        return int(self.window_spin.value())

    @property
    def baseline(self) -> str:
        return str(self.baseline_box.currentData())

    def select(self, box: QComboBox, data: object) -> None:
        """Select the item of ``box`` whose data is ``data``."""
        box.setCurrentIndex(box.findData(data))


__all__ = ["AXES", "SHOW", "SMOOTHING", "CompareControls"]
