"""``--screenshot`` on the live front: wait for the engine (and the recording, and the
steps), then take the picture the one shared way (``nlviz.qt.screenshot``) and exit. No
engine or no recording: one line and a non-zero exit, no picture."""
from __future__ import annotations

import sys

from PySide6.QtCore import QObject, Qt, QTimer, Slot
from PySide6.QtWidgets import QApplication

from nlviz.qt.live.controller import Controller
from nlviz.qt.live.front import LiveFront
from nlviz.qt.main_window import MainWindow
from nlviz.qt.screenshot import SCREENSHOT_SETTLE_MS, grab_now

SCREENSHOT_START_TIMEOUT_S = 180   # the engine process imports torch: slow under load


class _Screenshot(QObject):
    """Waits for the engine (and the recording, and the steps) on the GUI thread, then grabs
    the window. ``code``: 0 picture saved, 1 the engine never started, 2 a bad output
    (the recording could not be created, the picture could not be saved)."""

    def __init__(self, app: QApplication, window: MainWindow[LiveFront], controller: Controller,
                 path: str, steps: int, record: str | None, overwrite: bool = False) -> None:
        super().__init__()
        self.app, self.window, self.controller, self.path = app, window, controller, path
        self.steps, self.record, self.overwrite = steps, record, overwrite
        self.code = 1
        self.ready = False
        self.done = False
        self.watchdog = QTimer(self)
        self.watchdog.setSingleShot(True)
        self.watchdog.timeout.connect(self._timed_out)
        wk = controller.worker
        q = Qt.ConnectionType.QueuedConnection
        wk.started.connect(self._on_started, q)
        wk.faulted.connect(self._on_faulted, q)
        wk.recordingChanged.connect(self._on_recording, q)
        wk.paused.connect(self._on_paused, q)

    def begin(self) -> None:
        """Start the engine and wait (bounded) for it."""
        self.watchdog.start(SCREENSHOT_START_TIMEOUT_S * 1000)
        self.controller.start()
        self.window.show()
        self.window.focus_plots()                    # the first frame as a user sees it

    @Slot()
    def _on_started(self) -> None:
        if self.ready or self.done:
            return
        self.ready = True
        if self.record:
            self.controller.record(self.record, self.overwrite)   # go on when it is open
        else:
            self._run()

    @Slot(bool, str)
    def _on_recording(self, on: bool, text: str) -> None:
        if self.done or not self.ready or not self.record:
            return
        if on:
            self.window.front.controls.set_recording(True, self.record)
            self._run()
        else:
            self._fail(2, text or f"cannot record to {self.record}")

    def _run(self) -> None:
        self.watchdog.stop()        # the engine (and the file) are up: the steps may take long
        if self.steps > 0:
            self.controller.step(self.steps)           # then paused -> settle
        else:
            self._settle()                              # the first frame, engine up

    @Slot(int)
    def _on_paused(self, _step: int) -> None:
        if self.ready and not self.done:
            self._settle()

    @Slot(str, int, str)
    def _on_faulted(self, message: str, _step: int, _level: str) -> None:
        if self.done:
            return
        if not self.ready:                              # no engine: no picture
            self._fail(1, message)
        else:
            self._settle()                              # a run that faulted: shown as is

    def _timed_out(self) -> None:
        if not self.done:
            self._fail(1, f"the engine did not start within {SCREENSHOT_START_TIMEOUT_S} s; "
                          "no screenshot taken")

    def _settle(self) -> None:
        self.watchdog.stop()
        self.controller.redrawer.force()
        QTimer.singleShot(SCREENSHOT_SETTLE_MS, self.grab)

    def _fail(self, code: int, message: str) -> None:
        self.done = True
        self.watchdog.stop()
        print(f"nlviz: error: {message}", file=sys.stderr)
        self.code = code
        self._finish()

    @Slot()
    def grab(self) -> None:
        if self.done:
            return
        self.done = True
        self.code = grab_now(self.app, self.window, self.path, self.controller.redrawer.force)
        self._finish()

    def _finish(self) -> None:
        self.controller.stop_and_wait()
        self.window.allow_close = True
        self.window.close()
        self.app.quit()


def screenshot(app: QApplication, window: MainWindow[LiveFront], controller: Controller,
               path: str, steps: int, record: str | None = None, overwrite: bool = False
               ) -> int:
    """Start the engine, (record,) run ``steps`` steps, let the views settle, save, exit."""
    shot = _Screenshot(app, window, controller, path, steps, record, overwrite)
    QTimer.singleShot(0, shot.begin)
    app.exec()
    return shot.code
