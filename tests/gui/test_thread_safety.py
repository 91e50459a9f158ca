"""The suite's segfault (issue 8): GUI-thread timers must never be stopped or freed on
another thread. Two paths did it: pytest-qt's waitSignal callbacks for worker-thread
signals, and Python's cyclic GC running in whichever thread allocated."""
from __future__ import annotations

import gc
import threading
from collections import Counter

from PySide6.QtCore import QObject, QThread, Signal, Slot

from nlviz.qt import gc_guard


class _Emitter(QObject):
    """Emits on its own thread when asked (as the engine worker does)."""

    one = Signal(int)
    other = Signal(str)

    @Slot()
    def fire(self) -> None:
        self.one.emit(7)
        self.other.emit("x")


class _Asker(QObject):
    go = Signal()


def _cross_thread_messages(qtlog) -> list[str]:
    return [r.message for r in qtlog.records if "another thread" in r.message]


def test_wait_signal_callbacks_for_worker_signals_run_on_the_gui_thread(qtbot, qtlog):
    thread = QThread()
    emitter, asker = _Emitter(), _Asker()
    emitter.moveToThread(thread)
    asker.go.connect(emitter.fire)                 # queued: fire() runs on the worker
    thread.start()
    seen: list[tuple[str, object]] = []

    def record(*args: object) -> bool:
        seen.append((threading.current_thread().name, args))
        return True
    try:
        with qtbot.waitSignal(emitter.one, timeout=10_000, check_params_cb=record) as blocker:
            asker.go.emit()
        assert blocker.args == [7]
        with qtbot.waitSignals([emitter.one, emitter.other], timeout=10_000,
                               check_params_cbs=[record, record]):
            asker.go.emit()
    finally:
        thread.quit()
        assert thread.wait(10_000)
    # the second blocker may catch the first fire()'s late "other": count, do not order
    assert {name for name, _ in seen} == {threading.main_thread().name}
    assert seen[0][1] == (7,) and Counter(args for _, args in seen) == {(7,): 2, ("x",): 1}
    assert _cross_thread_messages(qtlog) == []


def test_cyclic_garbage_is_collected_on_the_gui_thread_only(qtbot):
    collector = gc_guard.installed()
    assert collector is not None and collector.timer.isActive() and not gc.isenabled()
    main = threading.main_thread().name
    started_in: list[str] = []
    destroyed_in: list[str] = []

    def on_gc(phase: str, info: dict) -> None:
        if phase == "start":
            started_in.append(threading.current_thread().name)

    obj = QObject()
    obj.me = obj                                   # only a cycle keeps it alive
    obj.destroyed.connect(lambda *_: destroyed_in.append(threading.current_thread().name))
    del obj

    def allocate() -> None:                        # crosses the gen-0 threshold many times
        for _ in range(200_000):
            a: list = []
            a.append(a)
    gc.callbacks.append(on_gc)
    try:
        t = threading.Thread(target=allocate, name="allocator")
        t.start()
        t.join(60)
        assert not t.is_alive()
        assert "allocator" not in started_in and destroyed_in == []
        qtbot.waitUntil(lambda: destroyed_in != [], timeout=10_000)
    finally:
        gc.callbacks.remove(on_gc)
    assert destroyed_in == [main]
    assert started_in and set(started_in) == {main}


def test_install_is_idempotent_and_stop_gives_collection_back(qtbot):
    collector = gc_guard.install()
    assert gc_guard.install() is collector and gc_guard.installed() is collector
    collector.stop()
    try:
        assert gc.isenabled() and not collector.timer.isActive()
    finally:
        assert gc_guard.install() is collector
    assert collector.timer.isActive() and not gc.isenabled()
