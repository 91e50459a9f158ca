"""Ending the app the clean way: File > Quit and Ctrl-C in the terminal close every window;
the live one first stops the engine at a step boundary and closes the recording."""
from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable
from types import FrameType
from typing import Any

from PySide6.QtCore import QObject, QTimer, Slot
from PySide6.QtWidgets import QApplication

from nlviz.qt.main_window import MainWindow

SIGNAL_POLL_MS = 200          # a no-op timer: lets Python run its SIGINT handler in exec()


class Quitter(QObject):
    """Ends the app the clean way: every window is asked to close (the live one stops the
    engine at a step boundary and closes the recording first), then the event loop ends
    when the last one has closed. Used by File > Quit and by Ctrl-C in the terminal."""

    def __init__(self, app: QApplication) -> None:
        super().__init__(app)
        self.app = app
        self.interrupted = False
        self.quitting = False
        self.repeats = 0

    @Slot()
    def quit(self) -> None:
        """Close every top-level window (the live one last: it may take a moment)."""
        self.quitting = True
        self.app.setQuitOnLastWindowClosed(True)
        windows = [w for w in QApplication.topLevelWidgets() if w.isWindow() and w.isVisible()]
        if not windows:
            self.app.quit()
            return
        for w in sorted(windows, key=lambda w: isinstance(w, MainWindow) and not w.allow_close):
            w.close()

    def interrupt(self) -> None:
        """Ctrl-C: as File > Quit, remembered for the exit code (130). While finishing, a
        second Ctrl-C says what is going on; a third exits at once (the engine process
        then sees its pipe close and still closes the recording itself)."""
        if self.quitting:
            self.repeats += 1
            if self.repeats >= 2:
                print("nlviz: interrupted again: exiting now", file=sys.stderr)
                sys.stderr.flush()
                os._exit(130)
            print("nlviz: finishing: stopping the engine and closing the recording "
                  "(Ctrl-C again to exit at once)", file=sys.stderr)
            return
        print("nlviz: interrupted; closing (the engine stops at a step boundary, the "
              "recording is closed)", file=sys.stderr)
        self.interrupted = True
        self.quit()

    def on_sigint(self) -> _SigintScope:
        """Context manager: Ctrl-C quits cleanly while the event loop runs."""
        return _SigintScope(self, self.interrupt)


class _SigintScope:
    """Installs a SIGINT handler and a no-op timer (Qt's event loop runs in C++: the timer
    hands control back to Python regularly so that the handler runs); restores both."""

    def __init__(self, owner: QObject, on_interrupt: Callable[[], None]) -> None:
        self.owner, self.on_interrupt = owner, on_interrupt
        self.timer: QTimer | None = None
        self.previous: Callable[[int, FrameType | None], Any] | int | None = None

    def __enter__(self) -> _SigintScope:
        self.previous = signal.signal(signal.SIGINT, self._handler)
        self.timer = QTimer(self.owner)
        self.timer.timeout.connect(lambda: None)
        self.timer.start(SIGNAL_POLL_MS)
        return self

    def _handler(self, _signum: int, _frame: object) -> None:
        QTimer.singleShot(0, self.on_interrupt)       # out of the signal handler

    def __exit__(self, *exc: object) -> None:
        signal.signal(signal.SIGINT, self.previous or signal.SIG_DFL)
        if self.timer is not None:
            self.timer.stop()
            self.timer.deleteLater()
            self.timer = None
