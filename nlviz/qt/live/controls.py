"""The run toolbar: play/pause, step, step-N, speed, reset, follow, smoothing, record.

Passive: it emits intents and exposes setters; the controller decides what happens.
Keyboard: Space play/pause, Right step 1, Shift+Right step N, End follow live.
"""
from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QComboBox, QLabel, QLineEdit, QSlider, QSpinBox, QToolBar, QWidget

SPEEDS = ("max", "10000", "3000", "1000", "300", "100", "30", "10", "1")
WINDOWS = (("1k steps", 1_000), ("5k steps", 5_000), ("20k steps", 20_000),
           ("100k steps", 100_000))


class ControlBar(QToolBar):
    """Toolbar of run controls."""

    playToggled = Signal()
    stepRequested = Signal(int)
    speedChanged = Signal(float)          # steps/s; 0 = max
    resetRequested = Signal()
    followRequested = Signal(bool)
    windowChanged = Signal(int)           # live window width in steps
    smoothingChanged = Signal(float)      # EMA weight in [0, 0.999]
    recordToggled = Signal(bool, str)     # on/off, file name

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Run", parent)
        self.setObjectName("run_toolbar")
        self.play_action = self._action("Play", "Space", self.playToggled.emit,
                                        "play / pause (Space)")
        self.step_action = self._action("Step 1", "Right", self._on_step1, "one step (→)")
        self.stepn_action = self._action("Step N", "Shift+Right", self._on_stepn,
                                         "N steps (Shift+→)")
        self.n_spin = QSpinBox()
        self.n_spin.setRange(1, 1_000_000)
        self.n_spin.setValue(100)
        self.n_spin.setToolTip("N for Step N")
        self.addWidget(self.n_spin)
        self.addSeparator()
        self.addWidget(QLabel(" speed "))
        self.speed_box = QComboBox()
        self.speed_box.setEditable(True)
        self.speed_box.addItems(list(SPEEDS))
        self._last_speed = 0.0
        self.speed_box.setToolTip("target engine steps per second, or max")
        self.speed_box.activated.connect(self._on_speed)                 # a listed speed
        edit = self.speed_box.lineEdit()
        assert edit is not None                                          # editable above
        edit.editingFinished.connect(self._on_speed)                     # typed + Enter
        self.addWidget(self.speed_box)
        self.addWidget(QLabel(" steps/s "))
        self._action("Reset", None, self.resetRequested.emit, "engine back to its initial state "
                     "(same seed)")
        self.addSeparator()
        self.follow_action = self._action("Follow live", "End", self._on_follow,
                                          "keep the newest step in view (End)")
        self.follow_action.setCheckable(True)
        self.follow_action.setChecked(True)
        self.window_box = QComboBox()
        for label, _ in WINDOWS:
            self.window_box.addItem(label)
        self.window_box.setCurrentIndex(1)
        self.window_box.setToolTip("width of the live window")
        self.window_box.currentIndexChanged.connect(self._on_window)
        self.addWidget(self.window_box)
        self.addSeparator()
        self.addWidget(QLabel(" smoothing "))
        self.smooth_slider = QSlider(Qt.Orientation.Horizontal)
        self.smooth_slider.setRange(0, 99)
        self.smooth_slider.setFixedWidth(90)
        self.smooth_slider.setToolTip("debiased EMA weight (0 = raw); raw stays faint behind")
        self.smooth_slider.valueChanged.connect(self._on_smooth)
        self.addWidget(self.smooth_slider)
        self.smooth_label = QLabel(" 0.00 ")
        self.addWidget(self.smooth_label)
        self.addSeparator()
        self.record_action = self._action("● Record", None, self._on_record,
                                          "record every step to the HDF5 file")
        self.record_action.setCheckable(True)
        self.file_edit = QLineEdit("run.h5")
        self.file_edit.setFixedWidth(160)
        self.file_edit.setToolTip("recording file")
        self.addWidget(self.file_edit)

    def _action(self, text: str, key: str | None, slot: object, tip: str) -> QAction:
        act = QAction(text, self)
        if key:
            act.setShortcut(QKeySequence(key))
            act.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        act.setToolTip(tip)
        act.triggered.connect(slot)
        self.addAction(act)
        return act

    # ---- setters -----------------------------------------------------------------
    def set_playing(self, playing: bool) -> None:
        """Show Pause while running, Play otherwise."""
        self.play_action.setText("Pause" if playing else "Play")

    def set_follow(self, on: bool) -> None:
        """Reflect follow-live state."""
        self.follow_action.setChecked(on)

    def set_recording(self, on: bool, path: str = "") -> None:
        """Reflect the recorder state (it may stop on its own, e.g. after an error)."""
        self.record_action.blockSignals(True)
        self.record_action.setChecked(on)
        self.record_action.blockSignals(False)
        self.record_action.setText("■ Stop rec" if on else "● Record")
        self.file_edit.setEnabled(not on)
        if on and path:
            self.file_edit.setText(path)

    def window_steps(self) -> int:
        """Live window width in steps."""
        return WINDOWS[self.window_box.currentIndex()][1]

    def speed(self) -> float | None:
        """Target steps/s (0 = max), or None when the text is not a speed."""
        text = self.speed_box.currentText().strip().lower()
        if text in ("max", ""):
            return 0.0
        try:
            value = float(text)
        except ValueError:
            return None
        return value if value > 0 and value == value and value != float("inf") else None

    # ---- handlers ----------------------------------------------------------------
    def _on_step1(self) -> None:
        self.stepRequested.emit(1)

    def _on_stepn(self) -> None:
        self.stepRequested.emit(self.n_spin.value())

    def _on_speed(self, *_: object) -> None:
        value = self.speed()
        if value is None:  # refused with the reason; the engine keeps its current speed
            text = self.speed_box.currentText()
            self.speed_box.setStyleSheet("QComboBox { border: 1px solid #e05050; }")
            self.speed_box.setToolTip(f"speed {text!r} refused: type steps per second "
                                      "(a number > 0) or 'max'")
            return
        self.speed_box.setStyleSheet("")
        self.speed_box.setToolTip("target engine steps per second, or max")
        if value != self._last_speed:
            self._last_speed = value
            self.speedChanged.emit(value)

    def _on_follow(self) -> None:
        self.followRequested.emit(True)

    def _on_window(self, _: int) -> None:
        self.windowChanged.emit(self.window_steps())

    def _on_smooth(self, value: int) -> None:
        self.smooth_label.setText(f" {value / 100:.2f} ")
        self.smoothingChanged.emit(value / 100)

    def _on_record(self, checked: bool) -> None:
        self.recordToggled.emit(checked, self.file_edit.text().strip() or "run.h5")
