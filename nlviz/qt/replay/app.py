"""Entry points: ``python main.py --replay RUN.h5 [--screenshot PNG]`` and the File menu /
drag-and-drop hooks on the live window."""
from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QApplication, QMainWindow

from nlviz.errors import UserError
from nlviz.qt.export import save_widget
from nlviz.qt.replay.controller import ReplayController, dialog_path, open_replay
from nlviz.qt.replay.window import h5_paths, recent_files

SCREENSHOT_SETTLE_MS = 400


def run_replay(args: argparse.Namespace) -> int:
    """The replay window for ``args.replay`` (``--screenshot``: save a picture, exit)."""
    from nlviz.qt.app import parse_window_size
    from nlviz.qt.theme import apply_theme, theme_for

    size = parse_window_size(args.window_size)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("nlviz")
    apply_theme(app, theme_for(args.light))
    live: dict[str, Any] = {}

    def live_provider() -> Any:
        """Build the live window on first use ("Continue live from here")."""
        if "controller" not in live:
            from nlviz.qt.app import build
            window, controller = build(args)
            controller.start()
            window.show()
            install_live_hooks(window, controller)
            live.update(window=window, controller=controller)
        live["window"].raise_()
        return live["controller"]

    window, rc = open_replay(None, live_provider)
    window.metrics.set_raster_color(theme_for(args.light).foreground)
    if size is not None:
        window.resize(*size)
    ok = rc.open(args.replay)
    if args.screenshot:
        if not ok:
            print(f"nlviz: error: {window.message.text()}", file=sys.stderr)
            rc.shutdown()
            return 2
        return _screenshot(app, window, rc, args.screenshot)
    window.show()
    return int(app.exec())


def _screenshot(app: QApplication, window: QMainWindow, rc: ReplayController, path: str) -> int:
    window.show()
    result = {"code": 1}

    def grab() -> None:
        rc.redraw(sparse=True)
        app.processEvents()
        try:
            save_widget(window, path)                # PNG or SVG by the file suffix
            result["code"] = 0
        except UserError as exc:
            print(f"nlviz: error: {exc}", file=sys.stderr)
            result["code"] = 2
        window.close()
        app.quit()

    QTimer.singleShot(SCREENSHOT_SETTLE_MS, grab)
    app.exec()
    return result["code"]


class _LiveHooks(QObject):
    """File menu (open / recent / compare) and .h5 drops on the live window."""

    def __init__(self, window: QMainWindow, controller: Any) -> None:
        super().__init__(window)
        self.window, self.controller = window, controller
        self.replays: list[QMainWindow] = []
        menu = window.menuBar().addMenu("&File")
        act = QAction("&Open recording…", window)
        act.setShortcut("Ctrl+O")
        act.triggered.connect(self.open_dialog)
        menu.addAction(act)
        self.recent_menu = menu.addMenu("Open &recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent)
        cmp = QAction("&Compare recordings…", window)
        cmp.triggered.connect(self.compare_dialog)
        menu.addAction(cmp)
        window.setAcceptDrops(True)
        window.installEventFilter(self)

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        for p in recent_files() or []:
            self.recent_menu.addAction(p, lambda path=p: self.open(path))

    def open_dialog(self) -> None:
        path = dialog_path("open", "Open recording", os.getcwd(), "Recordings (*.h5 *.hdf5)",
                           self.window)
        if path:
            self.open(str(path))

    def compare_dialog(self) -> None:
        paths = dialog_path("open_many", "Compare recordings", os.getcwd(),
                            "Recordings (*.h5 *.hdf5)", self.window)
        if paths:
            self.compare(list(paths))

    def open(self, path: str) -> QMainWindow | None:
        """A replay window for ``path``; a bad file is one line in the live status bar."""
        window, rc = open_replay(None, lambda: self.controller)
        if not rc.open(path):
            self._message(window.message.text())
            rc.shutdown()
            window.deleteLater()
            return None
        self.replays.append(window)
        window.show()
        return window

    def compare(self, paths: list[str]) -> QMainWindow | None:
        from nlviz.qt.replay.compare import open_compare
        cw = open_compare(paths, lambda text, error=True: self._message(text))
        if cw is not None:
            self.replays.append(cw)
            cw.show()
        return cw

    def _message(self, text: str) -> None:
        status = getattr(self.window, "status", None)
        if status is not None and hasattr(status, "show_message"):
            status.show_message(text, error=True)

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        if obj is self.window and event.type() == QEvent.DragEnter and h5_paths(event):
            event.acceptProposedAction()
            return True
        if obj is self.window and event.type() == QEvent.Drop:
            paths = h5_paths(event)
            if paths:
                event.acceptProposedAction()
                self.open(paths[0]) if len(paths) == 1 else self.compare(paths)
                return True
        return False


def install_live_hooks(window: QMainWindow, controller: Any) -> _LiveHooks:
    """Add File > Open / Open recent / Compare and .h5 drops to the live window."""
    hooks = _LiveHooks(window, controller)
    window.replay_hooks = hooks  # type: ignore[attr-defined]
    return hooks


__all__ = ["install_live_hooks", "run_replay"]
