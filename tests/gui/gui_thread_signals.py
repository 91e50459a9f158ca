"""pytest-qt's signal blockers, made safe for signals emitted on another thread.

``qtbot.waitSignal(s)`` / ``waitSignals`` connect ``s`` to a plain Python callable, which
PySide6 calls *in the emitting thread*. For the engine worker's signals (emitted on its
``QThread``) that callable ran on the worker thread and stopped the blocker's timeout
``QTimer``, which lives on the GUI thread ("QObject::killTimer: Timers cannot be stopped
from another thread": the timer stays armed). When the worker thread then dropped the last
reference to the blocker, the armed timer was destroyed there too ("QObject::~QObject:
Timers cannot be stopped from another thread"), leaving a dangling entry in the GUI
thread's timer list; when its timeout came due, later in another test's event processing,
``QTimerInfoList::activateTimers`` segfaulted.

``install()`` routes every blocker connection through a relay ``QObject`` that lives on
the GUI thread: Qt queues cross-thread emissions to it, so the blocker's callbacks, its
timer and its last reference all stay on the GUI thread.
"""
from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject
from pytestqt import wait_signal

_INSTALLED = False


class GuiThreadRelay(QObject):
    """Calls ``fn`` on this object's (the GUI) thread for every emission of ``signal``."""

    def __init__(self, signal: Any, fn: Callable[..., Any]) -> None:
        super().__init__()
        self.signal, self.fn = signal, fn
        signal.connect(self.fire)            # auto connection: queued from other threads

    def fire(self, *args: Any) -> None:
        if self.fn is not None:
            self.fn(*args)

    def close(self) -> None:
        """Disconnect; later queued calls do nothing."""
        self.fn = None
        try:
            self.signal.disconnect(self.fire)
        except (RuntimeError, TypeError):
            pass


def _close_relays(blocker: Any) -> None:
    for relay in getattr(blocker, "_gui_relays", ()):
        relay.close()
    blocker._gui_relays = []


def _signal_blocker_connect(self: Any, signal: Any) -> None:
    self.signal_name = self.determine_signal_name(potential_signal_tuple=signal)
    actual = self.get_signal_from_potential_signal_tuple(signal)
    self.__dict__.setdefault("_gui_relays", []).append(
        GuiThreadRelay(actual, self._quit_loop_by_signal))
    self._signals.append(actual)


def _multi_connect_unique_signals(self: Any) -> None:
    relays = self.__dict__.setdefault("_gui_relays", [])
    for unique_signal in self._signals_map:
        slot = functools.partial(self._unique_signal_emitted, unique_signal)
        self._slots.append(slot)
        relays.append(GuiThreadRelay(unique_signal, slot))
        self._signals.append(unique_signal)


def _wrap_cleanup(cls: type) -> None:
    original = cls._cleanup

    @functools.wraps(original)
    def _cleanup(self: Any) -> None:
        _close_relays(self)
        with warnings.catch_warnings():      # it disconnects the never-connected callable
            warnings.simplefilter("ignore", RuntimeWarning)
            original(self)

    cls._cleanup = _cleanup


def install() -> None:
    """Patch pytest-qt's ``SignalBlocker`` and ``MultiSignalBlocker`` (idempotent)."""
    global _INSTALLED
    if _INSTALLED:
        return
    wait_signal.SignalBlocker.connect = _signal_blocker_connect
    wait_signal.MultiSignalBlocker._connect_unique_signals = _multi_connect_unique_signals
    _wrap_cleanup(wait_signal.SignalBlocker)
    _wrap_cleanup(wait_signal.MultiSignalBlocker)
    _INSTALLED = True
