"""Stream picker: name, one-line description, parameters, and "switch now"."""
from __future__ import annotations

from dataclasses import fields

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from engine.config import ConfigError, StreamConfig
from engine.streams import STREAMS, validate_stream_config
from nlviz.config_loader import parse_value


class StreamPanel(QWidget):
    """Emits ``switchRequested(StreamConfig)`` with a validated stream choice."""

    switchRequested = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        self.combo = QComboBox()
        self.combo.addItems(list(STREAMS))
        self.combo.currentTextChanged.connect(self._on_stream_chosen)
        lay.addWidget(self.combo)
        self.description = QLabel("")
        self.description.setWordWrap(True)
        lay.addWidget(self.description)
        self.form = QFormLayout()
        lay.addLayout(self.form)
        self.error = QLabel("")
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #ff6b6b;")
        lay.addWidget(self.error)
        self.switch_button = QPushButton("Switch stream now")
        self.switch_button.setToolTip("feed this stream from the next step on (the step count continues)")
        self.switch_button.clicked.connect(self._on_switch)
        lay.addWidget(self.switch_button)
        self.current = QLabel("")
        self.current.setWordWrap(True)
        lay.addWidget(self.current)
        lay.addStretch(1)
        self.edits: dict[str, QLineEdit] = {}
        self._on_stream_chosen(self.combo.currentText())

    def set_starting(self, config: StreamConfig) -> None:
        """Before the engine is up: preselect the stream it is starting with (never another)."""
        self.combo.blockSignals(True)
        self.combo.setCurrentText(config.name)
        self.combo.blockSignals(False)
        self._on_stream_chosen(config.name, dict(config.params))
        params = ", ".join(f"{k}={_fmt(v)}" for k, v in config.params)
        self.current.setText(f"starting: {config.name}" + (f" ({params})" if params else "")
                             + "…")

    def set_current(self, config: StreamConfig, description: str) -> None:
        """Show the running stream and preselect it with its parameters."""
        self.combo.blockSignals(True)
        self.combo.setCurrentText(config.name)
        self.combo.blockSignals(False)
        self._on_stream_chosen(config.name, dict(config.params))
        self.current.setText(f"running: {description}")

    def _on_stream_chosen(self, name: str, values: dict | None = None) -> None:
        cls = STREAMS.get(name)
        if cls is None:
            return
        self.description.setText(cls.description)
        while self.form.rowCount():
            self.form.removeRow(0)
        self.edits = {}
        defaults = cls.Params()
        for f in fields(cls.Params):
            value = (values or {}).get(f.name, getattr(defaults, f.name))
            edit = QLineEdit(_fmt(value))
            edit.setToolTip(f"{f.name} (default {_fmt(getattr(defaults, f.name))})")
            self.form.addRow(f.name, edit)
            self.edits[f.name] = edit
        self.error.setText("")

    def stream_config(self) -> StreamConfig:
        """The chosen stream; raises ``ConfigError`` naming the bad parameter."""
        name = self.combo.currentText()
        defaults = STREAMS[name].Params()
        params = []
        for key, edit in self.edits.items():
            text = edit.text().strip()
            if text == "" and getattr(defaults, key) == "":
                continue
            value = parse_value(text)
            if isinstance(value, list):
                value = tuple(value)
            if isinstance(getattr(defaults, key), str):
                value = text
            params.append((key, value))
        cfg = StreamConfig(name=name, params=tuple(sorted(params)))
        validate_stream_config(cfg)
        return cfg

    def _on_switch(self) -> None:
        try:
            cfg = self.stream_config()
        except ConfigError as exc:
            self.error.setText(str(exc))
            return
        self.error.setText("")
        self.switchRequested.emit(cfg)

    def show_error(self, message: str) -> None:
        """Show why the engine refused the stream."""
        self.error.setText(message)


def _fmt(value: object) -> str:
    if isinstance(value, tuple):
        return "[" + ", ".join(str(v) for v in value) + "]"
    return str(value)
