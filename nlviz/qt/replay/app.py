"""Entry points: ``python main.py --replay RUN.h5 [--screenshot PNG]`` and the File menu /
drag-and-drop hooks on the live window."""
from __future__ import annotations

import argparse
import os
import sys
from typing import Any

import shiboken6
from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QApplication, QMainWindow, QMenu

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
    from nlviz.qt.quitting import Quitter
    quitter = Quitter(app)
    live: dict[str, Any] = {}

    def live_provider() -> Any:
        """Build the live window on first use ("Continue live from here")."""
        if "controller" not in live:
            from nlviz.qt.app import build
            window, controller = build(args)
            controller.start()
            window.show()
            install_live_hooks(window, controller)
            window.quitRequested.connect(quitter.quit)
            live.update(window=window, controller=controller)
        live["window"].raise_()
        return live["controller"]

    window, rc = open_replay(None, live_provider)
    window.metrics.set_raster_color(theme_for(args.light).foreground)
    if size is not None:
        from nlviz.qt.app import check_window_size
        try:
            check_window_size(window, size)      # a smaller picture is not possible
        except UserError:
            rc.shutdown()
            raise
        window.resize(*size)
    ok = rc.open(args.replay)
    if args.screenshot:
        if not ok:
            print(f"nlviz: error: {window.message.text()}", file=sys.stderr)
            rc.shutdown()
            return 2
        return _screenshot(app, window, rc, args.screenshot)
    window.show()
    with quitter.on_sigint():
        code = int(app.exec())
    return 130 if quitter.interrupted else code


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
    """File menu (open / recent / compare) and .h5 drops on the live window.

    Opening a recording uses ONE replay window, reused for every later open (the new file
    replaces the shown one), sized like the live window and set off from it, so that
    File > Open does not pile full-size windows over the live run."""

    OFFSET = 40                    # px: the replay window's offset from the live one

    def __init__(self, window: QMainWindow, controller: Any) -> None:
        super().__init__(window)
        self.window, self.controller = window, controller
        self.replays: list[QMainWindow] = []
        self.replay_window: QMainWindow | None = None
        menu = getattr(window, "file_menu", None) or window.menuBar().addMenu("&File")
        before = getattr(window, "quit_action", None)     # File > Quit stays last
        act = QAction("&Open recording…", window)
        act.setShortcut("Ctrl+O")
        act.triggered.connect(self.open_dialog)
        self.recent_menu = QMenu("Open &recent", window)
        self.recent_menu.aboutToShow.connect(self._fill_recent)
        cmp = QAction("&Compare recordings…", window)
        cmp.triggered.connect(self.compare_dialog)
        for item in (act, self.recent_menu.menuAction(), cmp):
            menu.insertAction(before, item) if before is not None else menu.addAction(item)
        if before is not None:
            menu.insertSeparator(before)
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
        """Show ``path`` in the replay window (made on first use, then reused); a bad file
        is one line in the live status bar and leaves the replay window as it was."""
        window = self.replay_window
        if window is None or not shiboken6.isValid(window):
            window, _rc = open_replay(None, lambda: self.controller)
            self.replay_window = window
            self.replays.append(window)
            self._place(window)
        rc = window.controller  # type: ignore[attr-defined]
        if not rc.open(path):
            self._message(window.message.text())
            return None
        if not window.isVisible():
            self._place(window)
        window.show()
        window.raise_()
        return window

    def _place(self, window: QMainWindow) -> None:
        """The live window's size, set off down-right, kept on the live window's screen."""
        live = self.window.frameGeometry()
        size = self.window.size()
        x, y = live.x() + self.OFFSET, live.y() + self.OFFSET
        screen = self.window.screen()
        if screen is not None:
            area = screen.availableGeometry()
            size = size.boundedTo(area.size())
            x = max(area.left(), min(x, area.right() - size.width()))
            y = max(area.top(), min(y, area.bottom() - size.height()))
        window.resize(size)
        window.move(x, y)

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
