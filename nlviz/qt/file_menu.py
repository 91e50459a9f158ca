"""The File menu, one for both fronts, and its installation on a main window.

``FileMenu`` fills the window's File menu (Open recording, Open recent, Compare
recordings, Export, Screenshot, Close window, Quit) and emits intents; ``install_file_menu``
wires them, and the window's .h5 drops, to an ``Opener`` (the replay controller on a
replay window; a ``RecordingOpener`` on the live window) and an ``Exporter``.
"""
from __future__ import annotations

import os
from typing import Any, Protocol

from PySide6.QtCore import QObject, QSettings, Qt, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMenu

from nlviz.qt.exporting import Exporter
from nlviz.qt.main_window import MainWindow
from nlviz.qt.panels.deck import SETTINGS_APP, SETTINGS_ORG

RECENT_KEY = "replay/recent"
RECENT_MAX = 10


def recent_files() -> list[str]:
    """Recently opened recordings, newest first (QSettings)."""
    v = QSettings(SETTINGS_ORG, SETTINGS_APP).value(RECENT_KEY) or []
    items = [v] if isinstance(v, str) else list(v)
    return [str(p) for p in items]


def remember_recent(path: str) -> list[str]:
    """Put ``path`` first in the recent list (at most ``RECENT_MAX``); returns the list."""
    path = os.path.abspath(path)
    items = ([path] + [p for p in recent_files() if p != path])[:RECENT_MAX]
    QSettings(SETTINGS_ORG, SETTINGS_APP).setValue(RECENT_KEY, items)
    return items


class Opener(Protocol):
    """Handles File > Open / Open recent / Compare and .h5 drops."""

    def open_dialog(self) -> object:
        """Ask for a recording and open it."""

    def open(self, path: str) -> object:
        """Open the recording at ``path``."""

    def compare_dialog(self) -> object:
        """Ask for recordings and compare them."""

    def compare(self, paths: list[str]) -> object:
        """Compare the recordings at ``paths``."""


class FileMenu(QObject):
    """The File menu's actions (a passive view: it emits, ``install_file_menu`` wires)."""

    openRequested = Signal()
    recentRequested = Signal(str)
    compareRequested = Signal()
    screenshotRequested = Signal()
    exportPlotRequested = Signal(str, str)       # plot key, "png" / "svg"
    exportCsvRequested = Signal()

    def __init__(self, window: MainWindow[Any], csv: bool) -> None:
        super().__init__(window)
        self.opener: Opener | None = None           # what install_file_menu wired it to
        self.exporter: Exporter | None = None
        menu = window.file_menu
        self.menu = menu
        self.open_action = self._action("&Open recording…", "Ctrl+O", self.openRequested.emit)
        self.recent_menu = QMenu("Open &recent", window)
        self.recent_menu.aboutToShow.connect(self._fill_recent)
        menu.addMenu(self.recent_menu)
        self.compare_action = self._action("&Compare recordings…", None,
                                           self.compareRequested.emit)
        self.compare_action.setToolTip("overlay recordings on shared step axes (a replay "
                                       "window adds its own recording)")
        menu.addSeparator()
        self.export_menu = QMenu("&Export", window)
        for key, label in window.deck.plot_labels().items():
            sub = self.export_menu.addMenu(f"Plot: {label}")
            for kind in ("png", "svg"):
                a = QAction(kind.upper() + "…", window)
                a.triggered.connect(lambda _=False, p=key, k=kind:
                                    self.exportPlotRequested.emit(p, k))
                sub.addAction(a)
        self.export_menu.addSeparator()
        self.csv_action = QAction("Visible range as CSV…", window)
        self.csv_action.triggered.connect(self.exportCsvRequested.emit)
        self.csv_action.setEnabled(csv)
        if not csv:
            self.csv_action.setToolTip("CSV export reads a recording: open one (File > Open)")
        self.export_menu.addAction(self.csv_action)
        menu.addMenu(self.export_menu)
        self.screenshot_action = self._action("&Screenshot…", None,
                                              self.screenshotRequested.emit)
        self.screenshot_action.setToolTip("a picture of the whole window (PNG or SVG)")
        menu.addSeparator()
        self.close_action = self._action("&Close window", "Ctrl+W", window.close)
        self.quit_action = self._action("&Quit", "Ctrl+Q", window.request_quit)
        self.quit_action.setToolTip("stop the engine at a step boundary, close the recording "
                                    "and quit")

    def _action(self, text: str, key: str | None, slot: Any) -> QAction:
        act = QAction(text, self.menu)
        if key:
            act.setShortcut(QKeySequence(key))
            act.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        act.triggered.connect(lambda _=False: slot())
        self.menu.addAction(act)
        return act

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        items = recent_files()
        if not items:
            self.recent_menu.addAction("(none)").setEnabled(False)
        for p in items:
            a = self.recent_menu.addAction(p)
            a.triggered.connect(lambda _=False, path=p: self.recentRequested.emit(path))

    @staticmethod
    def of(window: MainWindow[Any]) -> FileMenu:
        """The File menu installed on ``window``."""
        fm = window.findChild(FileMenu)
        assert isinstance(fm, FileMenu), "no File menu installed on this window"
        return fm

    def texts(self) -> list[str]:
        """The menu's entries top to bottom ("" for a separator)."""
        return [a.text() for a in self.menu.actions()]


def install_file_menu(window: MainWindow[Any], opener: Opener, exporter: Exporter
                      ) -> FileMenu:
    """Fill ``window``'s File menu and route it, and .h5 drops, to ``opener``/``exporter``."""
    fm = FileMenu(window, csv=exporter.csv is not None)
    fm.opener, fm.exporter = opener, exporter
    fm.openRequested.connect(opener.open_dialog)
    fm.recentRequested.connect(opener.open)
    fm.compareRequested.connect(opener.compare_dialog)
    fm.screenshotRequested.connect(lambda: exporter.screenshot())
    fm.exportPlotRequested.connect(lambda key, kind: exporter.export_plot(key, kind))
    fm.exportCsvRequested.connect(lambda: exporter.export_csv())
    window.filesDropped.connect(lambda paths: opener.open(paths[0]) if len(paths) == 1
                                else opener.compare(list(paths)))
    return fm


__all__ = ["RECENT_KEY", "FileMenu", "Opener", "install_file_menu", "recent_files",
           "remember_recent"]
