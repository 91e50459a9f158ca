"""The questions the app asks (file paths, yes/no, a choice), behind one small object so
that controllers stay testable: a test replaces ``ask_path`` / ``confirm`` / ``ask_item``
on the instance with a function that answers."""
from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import QFileDialog, QInputDialog, QMessageBox, QWidget

RECORDINGS = "Recordings (*.h5 *.hdf5)"

AskPath = Callable[[str, str, str, str], "str | list[str] | None"]


def dialog_path(kind: str, title: str, default: str, filters: str,
                parent: QWidget | None = None) -> str | list[str] | None:
    """File dialogs: kind "open", "open_many" or "save"; None when cancelled."""
    if kind == "open":
        path, _ = QFileDialog.getOpenFileName(parent, title, default, filters)
        return path or None
    if kind == "open_many":
        paths, _ = QFileDialog.getOpenFileNames(parent, title, default, filters)
        return paths or None
    path, _ = QFileDialog.getSaveFileName(parent, title, default, filters)
    return path or None


class Dialogs:
    """Modal questions parented to ``parent``; each attribute may be replaced."""

    def __init__(self, parent: QWidget | None) -> None:
        self.parent = parent
        self.ask_path: AskPath = lambda kind, title, default, filters: dialog_path(
            kind, title, default, filters, self.parent)
        self.confirm: Callable[[str, str], bool] = self._confirm
        self.ask_item: Callable[[str, str, list[str]], str | None] = self._ask_item

    def _confirm(self, title: str, text: str) -> bool:
        answer = QMessageBox.question(self.parent, title, text)
        return answer == QMessageBox.StandardButton.Yes

    def _ask_item(self, title: str, label: str, options: list[str]) -> str | None:
        item, ok = QInputDialog.getItem(self.parent, title, label, options, 0, False)
        return item if ok else None

    def ask_paths(self, title: str, default: str, filters: str = RECORDINGS) -> list[str]:
        """Several files to open ([] when cancelled)."""
        chosen = self.ask_path("open_many", title, default, filters)
        if not chosen:
            return []
        return list(chosen) if isinstance(chosen, list) else [str(chosen)]

    def ask_one(self, kind: str, title: str, default: str, filters: str) -> str | None:
        """One path to open (kind "open") or save (kind "save"); None when cancelled."""
        chosen = self.ask_path(kind, title, default, filters)
        if isinstance(chosen, list):
            return str(chosen[0]) if chosen else None
        return str(chosen) if chosen else None


__all__ = ["RECORDINGS", "AskPath", "Dialogs", "dialog_path"]
