"""The replay timeline: a scrubber over the whole run with event marks, and the transport
controls (play/pause, step +-1 / +-N, speed, loop, play mode, Home/End).

Passive view: it emits intents (``seekRequested`` while dragging or clicking,
``playToggled``, ``stepRequested``, ``speedChanged``, ``modeChanged``, ``loopChanged``,
``homeRequested``, ``endRequested``, ``branchRequested``) and has setters. The replay
controller owns the ``Player`` and decides where the cursor lands (snapped to recorded
steps).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QKeySequence, QPainter
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QStyle,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from nlviz.qt.replay.timeline_regimes import RegimeBands
from nlviz.replay.player import SPEEDS

EVENT_COLORS = {"stream": "#5da5ff", "pause": "#adb5bd", "resume": "#adb5bd",
                "param": "#ffa94d", "reset": "#ff6b6b", "rebuild": "#cc5de8",
                "start": "#51cf66"}
EVENT_SYMBOLS = {"stream": "t", "reset": "x", "param": "d", "rebuild": "star"}
MODES = (("real time", "real_time"), ("every step", "every_step"), ("max", "max"))
LOOPS = (("loop off", "off"), ("loop all", "all"), ("loop selection", "selection"))


class ElidedLabel(QLabel):
    """A one-line label that never widens its row: too narrow, it ends in "…" (the whole
    text stays in ``text()`` and the tooltip)."""

    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(text, parent)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.setMinimumWidth(40)
        self.setToolTip(text)

    def setText(self, text: str) -> None:  # noqa: N802 - Qt override
        super().setText(text)
        self.setToolTip(text)

    def elided(self) -> str:
        """The text as drawn at the current width."""
        r = self.contentsRect()
        return self.fontMetrics().elidedText(self.text(), Qt.TextElideMode.ElideRight, r.width())

    def paintEvent(self, _event: object) -> None:  # noqa: N802 - Qt override
        p = QPainter(self)
        p.setPen(self.palette().color(self.foregroundRole()))
        p.drawText(self.contentsRect(), int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter), self.elided())
        p.end()


class TimelineWidget(QWidget):
    """Scrubber strip (whole run, event marks, cursor, loop selection) + transport row."""

    seekRequested = Signal(int)          # a step (the controller snaps it)
    scrubFinished = Signal()
    playToggled = Signal()
    stepRequested = Signal(int)          # +-1 or +-N rows
    homeRequested = Signal()
    endRequested = Signal()
    speedChanged = Signal(float)
    modeChanged = Signal(str)
    loopChanged = Signal(str, int, int)  # mode, selection start, selection stop
    branchRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(2)
        self.plot_widget = pg.PlotWidget()
        self.plot_widget.setFixedHeight(64)
        self.plot = self.plot_widget.getPlotItem()
        self.plot.hideAxis("left")
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.hideButtons()
        self.plot.setMenuEnabled(False)
        self.plot.setYRange(0, 1, padding=0)
        self.plot.getAxis("bottom").setHeight(22)
        self.regimes = RegimeBands()            # regime bands under the event marks
        self.plot.addItem(self.regimes)
        self.plot.scene().sigMouseMoved.connect(self._on_hover)
        self.marks = pg.ScatterPlotItem(size=11, symbol="s", pxMode=True, hoverable=True,
                                        tip=self._mark_tip)
        self.plot.addItem(self.marks)
        self.selection = pg.LinearRegionItem(values=(0, 1), brush=pg.mkBrush(78, 161, 255, 40))
        self.selection.setZValue(5)
        self.selection.hide()
        self.selection.sigRegionChangeFinished.connect(self._on_selection)
        self.plot.addItem(self.selection)
        self.cursor_line = pg.InfiniteLine(pos=0, angle=90, movable=True,
                                           pen=pg.mkPen("#ffd43b", width=2),
                                           hoverPen=pg.mkPen("#fff3bf", width=3))
        self.cursor_line.setZValue(10)
        self.cursor_line.sigDragged.connect(self._on_drag)
        self.cursor_line.sigPositionChangeFinished.connect(self._on_drag_finished)
        self.plot.addItem(self.cursor_line)
        self.plot.scene().sigMouseClicked.connect(self._on_click)
        lay.addWidget(self.plot_widget)

        row = QHBoxLayout()
        self.n_spin = QSpinBox()                    # placed after the step buttons
        self.n_spin.setRange(2, 1_000_000)
        self.n_spin.setValue(100)
        row.setContentsMargins(2, 0, 2, 0)
        self.home_button = self._button(QStyle.StandardPixmap.SP_MediaSkipBackward, "first step (Home)", self.homeRequested.emit)
        self.back_n_button = self._button(QStyle.StandardPixmap.SP_MediaSeekBackward, "back N steps (Shift+Left)",
                                          lambda: self.stepRequested.emit(-self.n_spin.value()))
        self.back_button = self._button("-1", "back one recorded step (Left)",
                                        lambda: self.stepRequested.emit(-1))
        self.play_button = self._button(QStyle.StandardPixmap.SP_MediaPlay, "play / pause (Space)", self.playToggled.emit)
        self.fwd_button = self._button("+1", "forward one recorded step (Right)",
                                       lambda: self.stepRequested.emit(1))
        self.fwd_n_button = self._button(QStyle.StandardPixmap.SP_MediaSeekForward, "forward N steps (Shift+Right)",
                                         lambda: self.stepRequested.emit(self.n_spin.value()))
        self.end_button = self._button(QStyle.StandardPixmap.SP_MediaSkipForward, "last step (End)", self.endRequested.emit)
        for b in (self.home_button, self.back_n_button, self.back_button, self.play_button,
                  self.fwd_button, self.fwd_n_button, self.end_button):
            row.addWidget(b)
        self.n_spin.setPrefix("N=")
        self.n_spin.setToolTip("rows moved by the ⏪ / ⏩ buttons")
        row.addWidget(self.n_spin)
        self.speed_box = QComboBox()
        for s in SPEEDS:
            self.speed_box.addItem(f"{s:g}x", s)
        self.speed_box.setCurrentIndex(list(SPEEDS).index(1.0))
        self.speed_box.setToolTip("playback speed (0.1x to 10x)")
        self.speed_box.currentIndexChanged.connect(
            lambda i: self.speedChanged.emit(float(self.speed_box.itemData(i))))
        row.addWidget(self.speed_box)
        self.mode_box = QComboBox()
        for label, value in MODES:
            self.mode_box.addItem(label, value)
        self.mode_box.setToolTip("real time: the recording's own pace (skips rows at high "
                                 "rates); every step: one recorded row per tick; max: as fast "
                                 "as the views redraw")
        self.mode_box.currentIndexChanged.connect(
            lambda i: self.modeChanged.emit(str(self.mode_box.itemData(i))))
        row.addWidget(self.mode_box)
        self.loop_box = QComboBox()
        for label, value in LOOPS:
            self.loop_box.addItem(label, value)
        self.loop_box.setToolTip("loop selection: drag the shaded region on the timeline")
        self.loop_box.currentIndexChanged.connect(self._on_loop)
        row.addWidget(self.loop_box)
        self.step_label = ElidedLabel("no recording")
        row.addWidget(self.step_label, 1)
        self.branch_button = QPushButton("Continue live from here")
        self.branch_button.setToolTip("restore the engine at the cursor and run on live, "
                                      "recording to a new file")
        self.branch_button.clicked.connect(self.branchRequested.emit)
        self.branch_button.setEnabled(False)        # the window places it (top row)
        lay.addLayout(row)
        self._mark_text: list[str] = []
        self._range = (0, 1)
        self._dragging = False
        self.playing = False
        self.actions_: list[QAction] = []
        for key, slot in (("Space", self.playToggled.emit), ("Home", self.homeRequested.emit),
                          ("End", self.endRequested.emit),
                          ("Left", lambda: self.stepRequested.emit(-1)),
                          ("Right", lambda: self.stepRequested.emit(1)),
                          ("Shift+Left", lambda: self.stepRequested.emit(-self.n_spin.value())),
                          ("Shift+Right", lambda: self.stepRequested.emit(self.n_spin.value()))):
            act = QAction(key, self)
            act.setShortcut(QKeySequence(key))
            act.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            act.triggered.connect(slot)
            self.actions_.append(act)
        self.set_enabled(False)

    def _button(self, what: str | QStyle.StandardPixmap, tip: str, slot: object) -> QToolButton:
        b = QToolButton()
        if isinstance(what, str):
            b.setText(what)
        else:
            b.setIcon(self.style().standardIcon(what))
        b.setToolTip(tip)
        b.setAutoRaise(True)
        b.clicked.connect(slot)
        return b

    def shortcut_actions(self) -> list[QAction]:
        """Keyboard actions (add them to the window so they work anywhere in it)."""
        return self.actions_

    # ---- setters -------------------------------------------------------------------------
    def set_enabled(self, on: bool) -> None:
        for w in (self.plot_widget, self.home_button, self.back_n_button, self.back_button,
                  self.play_button, self.fwd_button, self.fwd_n_button, self.end_button,
                  self.speed_box, self.mode_box, self.loop_box, self.n_spin):
            w.setEnabled(on)
        for a in self.actions_:
            a.setEnabled(on)

    def set_range(self, first: int, last: int) -> None:
        """The whole run on the strip."""
        last = max(last, first + 1)
        if (first, last) == self._range:
            return
        self._range = (first, last)
        self.plot.setXRange(first, last, padding=0.01)
        self.cursor_line.setBounds((first, last))

    def set_events(self, steps: np.ndarray, kinds: list[str], details: list[str]) -> None:
        """Event marks (stream switches, resets, parameter changes, pauses, ...): a colour
        and a symbol per kind, the step, kind and detail in the tooltip."""
        self._mark_text = [f"step {int(s):,}: {k} {d}" for s, k, d in zip(steps, kinds, details)]
        brushes = [pg.mkBrush(EVENT_COLORS.get(k, "#e6e8ec")) for k in kinds]
        symbols = [EVENT_SYMBOLS.get(k, "s") for k in kinds]
        self.marks.setData(x=np.asarray(steps, np.float64), y=np.full(len(steps), 0.5),
                           brush=brushes, symbol=symbols, pen=None, data=list(range(len(steps))))

    def set_regime_names(self, names: tuple[str, ...]) -> None:
        """Names of the recorded stream's regimes, for the band tooltips."""
        self.regimes.set_names(names)

    def set_regimes(self, steps: np.ndarray, regime: np.ndarray) -> None:
        """Regime bands from the recorded regime column ((n,) per recorded step (n,))."""
        self.regimes.set_regimes(steps, regime)

    def _on_hover(self, pos: object) -> None:
        if not self.plot.sceneBoundingRect().contains(pos):
            return
        x = self.plot.getViewBox().mapSceneToView(pos).x()
        self.regimes.setToolTip(self.regimes.tip_at(x))

    def _mark_tip(self, x: float, y: float, data: Any) -> str:
        try:
            return self._mark_text[int(data)]
        except (TypeError, ValueError, IndexError):
            return f"step {int(x):,}"

    def set_cursor(self, step: int, row: int, n: int, last_step: int) -> None:
        """Move the cursor line (unless the user is dragging it) and the step label."""
        if not self._dragging:
            self.cursor_line.blockSignals(True)
            self.cursor_line.setValue(step)
            self.cursor_line.blockSignals(False)
        self.step_label.setText(f"step {step:,} / {last_step:,} · row {row + 1:,}/{n:,}")
        self.step_label.setToolTip("the cursor snaps to recorded steps")

    def set_playing(self, playing: bool) -> None:
        self.playing = playing
        self.play_button.setIcon(self.style().standardIcon(
            QStyle.StandardPixmap.SP_MediaPause if playing else QStyle.StandardPixmap.SP_MediaPlay))

    def set_branchable(self, on: bool, tip: str) -> None:
        self.branch_button.setEnabled(on)
        self.branch_button.setToolTip(tip)

    def selection_range(self) -> tuple[int, int]:
        a, b = self.selection.getRegion()
        return round(a), round(b)

    def set_selection(self, start: int, stop: int) -> None:
        self.selection.blockSignals(True)
        self.selection.setRegion((start, stop))
        self.selection.blockSignals(False)

    # ---- handlers ------------------------------------------------------------------------
    def _on_drag(self, line: pg.InfiniteLine) -> None:
        self._dragging = True
        self.seekRequested.emit(round(line.value()))

    def _on_drag_finished(self, line: pg.InfiniteLine) -> None:
        self._dragging = False
        self.seekRequested.emit(round(line.value()))
        self.scrubFinished.emit()

    def _on_click(self, ev: object) -> None:
        if not self.plot_widget.isEnabled() or ev.button() != Qt.MouseButton.LeftButton:  # type: ignore[attr-defined]
            return
        pos = ev.scenePos()  # type: ignore[attr-defined]
        if not self.plot.sceneBoundingRect().contains(pos):
            return
        x = self.plot.getViewBox().mapSceneToView(pos).x()
        self.seekRequested.emit(round(x))
        self.scrubFinished.emit()

    def _on_loop(self, _: int) -> None:
        mode = str(self.loop_box.currentData())
        if mode == "selection" and not self.selection.isVisible():
            first, last = self._range
            span = last - first
            self.set_selection(first + span // 4, first + 3 * span // 4)
        self.selection.setVisible(mode == "selection")
        a, b = self.selection_range()
        self.loopChanged.emit(mode, a, b)

    def _on_selection(self, *_: object) -> None:
        if self.loop_box.currentData() == "selection":
            a, b = self.selection_range()
            self.loopChanged.emit("selection", a, b)
