"""Config panel: preset, levels and periods, learning rates, retention, momentum, dims,
device. Each field says whether it applies live or rebuilds the model; invalid input
is refused here with the reason (the engine's ``ConfigError`` message)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from engine.commands import LIVE_PARAMS
from engine.config import DEVICES, Config, ConfigError
from nlviz.config_loader import parse_value, preset_names

FIELDS: tuple[tuple[str, str], ...] = (
    ("model.titans.lr", "Titans lr η"),
    ("model.titans.lr_max", "Titans lr max"),
    ("model.titans.retention", "Titans retention ρ"),
    ("model.titans.momentum", "Titans momentum β"),
    ("model.cms.periods", "CMS periods"),
    ("model.cms.lr", "CMS lr(s)"),
    ("model.cms.retention", "CMS retention"),
    ("model.titans.hidden", "Titans hidden"),
    ("model.cms.hidden", "CMS hidden"),
    ("model.d", "model width d"),
    ("model.d_in", "input width d_in"),
    ("run.seed", "seed"),
)
# Fields that may hold one value per CMS level: their edit gets the panel's whole width
# (label on the line above) so that a list is not cut off.
LIST_FIELDS = frozenset({"model.cms.periods", "model.cms.lr", "model.cms.retention"})


def _get(config: Config, path: str) -> Any:
    node: Any = config.to_dict()
    for part in path.split("."):
        node = node[part]
    return node


def _fmt(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(str(v) for v in value) + "]"
    return str(value)


class ConfigPanel(QWidget):
    """Edits a ``Config``; emits validated changes.

    Signals
    -------
    applyRequested(list[(path, value)]) : validated changes to send to the engine.
    presetRequested(str) : load a whole preset (rebuilds the model).
    """

    applyRequested = Signal(list)
    presetRequested = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._config: Config | None = None
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        row = QHBoxLayout()
        self.preset_box = QComboBox()
        self.preset_box.addItems(preset_names())
        row.addWidget(self.preset_box, 1)
        load = QPushButton("Load preset")
        load.setToolTip("replace the whole configuration (rebuilds the model)")
        load.clicked.connect(self._on_load_preset)
        row.addWidget(load)
        lay.addLayout(row)
        self.model_label = QLabel("")
        self.model_label.setWordWrap(True)
        lay.addWidget(self.model_label)
        form = QFormLayout()
        self.edits: dict[str, QLineEdit] = {}
        for path, label in FIELDS:
            edit = QLineEdit()
            edit.returnPressed.connect(self._on_apply)      # Enter applies, like the button
            live = path in LIVE_PARAMS
            edit.setToolTip(f"{path}: " + ("applies live, between two steps" if live
                                           else "rebuilds the model (weights start over)"))
            tag = QLabel("live" if live else "rebuild")
            tag.setStyleSheet("color: #5fbf7f;" if live else "color: #e0a040;")
            cell = QHBoxLayout()
            cell.addWidget(edit, 1)
            cell.addWidget(tag)
            if path in LIST_FIELDS:
                form.addRow(QLabel(label))
                form.addRow(cell)                      # spans both columns
            else:
                form.addRow(label, cell)
            self.edits[path] = edit
        self.device_box = QComboBox()
        self.device_box.addItems(list(DEVICES))
        self.device_box.setToolTip("run.device: rebuilds the model on the chosen device; a "
                                   "missing GPU falls back to the CPU with a note")
        form.addRow("device", self.device_box)
        lay.addLayout(form)
        self.error = QLabel("")
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #ff6b6b;")
        lay.addWidget(self.error)
        apply = QPushButton("Apply changes")
        apply.clicked.connect(self._on_apply)
        lay.addWidget(apply)
        self.note = QLabel("")
        self.note.setWordWrap(True)
        lay.addWidget(self.note)
        lay.addStretch(1)

    def set_config(self, config: Config, preset: str | None = None) -> None:
        """Show ``config`` (after start, a rebuild or a preset load)."""
        self._config = config
        for path, edit in self.edits.items():
            text = _fmt(_get(config, path))
            edit.setText(text)
            edit.setCursorPosition(0)                # the start shows when the text is long
            tip = edit.toolTip().split("\n")[0]
            edit.setToolTip(f"{tip}\ncurrent: {text}")
        self.device_box.setCurrentText(config.run.device)
        weights = config.model.weights
        self.model_label.setText(f"model: {Path(weights).name} (meta-trained start)" if weights
                                 else "model: random start (no checkpoint)")
        self.model_label.setToolTip(weights or "--model random, or no trained model ships "
                                    "for this preset")
        if preset is not None and preset in preset_names():
            self.preset_box.setCurrentText(preset)
        self.error.setText("")

    def changes(self) -> list[tuple[str, Any]]:
        """Validated (path, value) pairs that differ from the shown config.

        Raises
        ------
        ConfigError : the first invalid field, with the engine's reason.
        """
        if self._config is None:
            return []
        cfg, out = self._config, []
        for path, edit in self.edits.items():
            value = parse_value(edit.text().strip())
            if _fmt(value) == _fmt(_get(cfg, path)):
                continue
            cfg = cfg.replace(path, value)          # raises ConfigError naming the key
            out.append((path, value))
        device = self.device_box.currentText()
        if device != self._config.run.device:
            cfg = cfg.replace("run.device", device)
            out.append(("run.device", device))
        return out

    def _on_apply(self) -> None:
        try:
            changes = self.changes()
        except ConfigError as exc:
            self.error.setText(f"refused: {exc}")
            return
        self.error.setText("")
        if changes:
            live = all(p in LIVE_PARAMS for p, _ in changes)
            self.note.setText("applied live" if live else "model rebuilt with the new settings")
            self.applyRequested.emit(changes)

    def _on_load_preset(self) -> None:
        self.presetRequested.emit(self.preset_box.currentText())

    def show_error(self, message: str) -> None:
        """Show why the engine refused a change."""
        self.error.setText(f"refused: {message}")

    def set_note(self, message: str) -> None:
        """A one-line note (e.g. a device fallback)."""
        self.note.setText(message)
