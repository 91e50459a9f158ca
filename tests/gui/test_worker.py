"""The engine worker on its own (engine in its child process): signal order and exact step
counts across the process boundary."""
from __future__ import annotations

import dataclasses

import pytest
from PySide6.QtCore import QObject, QThread, Signal

from nlviz.host.protocol import Pause, Play, SessionInfo, StepN, Stop
from nlviz.qt.live.worker import EngineWorker
from nlviz.series.ring import RunBuffers

START_TIMEOUT_MS = 60_000          # the engine process imports torch first


class Driver(QObject):
    """Sends requests to the worker through a queued signal, like the controller."""

    request = Signal(object)


@pytest.fixture
def worker(qtbot, tiny_config):
    from engine.frames import RunSpec
    buffers = RunBuffers(RunSpec(levels=(), d_in=1, probe_size=1), capacity=5_000)
    wk = EngineWorker(tiny_config, buffers)
    thread = QThread()
    wk.moveToThread(thread)
    thread.started.connect(wk.start)
    driver = Driver()
    driver.request.connect(wk.submit)
    yield wk, thread, driver
    if thread.isRunning():
        driver.request.emit(Stop())
        assert thread.wait(30_000)


def test_signal_order_start_step_stop(qtbot, worker):
    wk, thread, driver = worker
    signals = [wk.started, wk.resumed, wk.paused, wk.finished]
    with qtbot.waitSignals(signals, order="strict", timeout=START_TIMEOUT_MS):
        thread.start()
        with qtbot.waitSignal(wk.paused, timeout=START_TIMEOUT_MS):
            driver.request.emit(StepN(5))
        driver.request.emit(Stop())
    assert thread.wait(30_000)
    assert wk.session.step_count == 5 == wk.buffers.total
    assert wk.engine is None                      # the engine process was joined


def test_step_n_moves_exactly(qtbot, worker):
    wk, thread, driver = worker
    with qtbot.waitSignal(wk.started, timeout=START_TIMEOUT_MS):
        thread.start()
    total = 0
    for n in (1, 1, 7, 100, 3):
        with qtbot.waitSignal(wk.paused, timeout=20_000) as blocker:
            driver.request.emit(StepN(n))
        total += n
        assert blocker.args == [total]
        assert wk.session.step_count == total
        assert wk.buffers.total == total


def test_play_pause_counts_match(qtbot, worker):
    wk, thread, driver = worker
    with qtbot.waitSignal(wk.started, timeout=START_TIMEOUT_MS):
        thread.start()
    with qtbot.waitSignal(wk.resumed, timeout=5000):
        driver.request.emit(Play())
    qtbot.waitUntil(lambda: wk.buffers.total > 20, timeout=10_000)
    with qtbot.waitSignal(wk.paused, timeout=5000) as blocker:
        driver.request.emit(Pause())
    stopped_at = blocker.args[0]
    qtbot.wait(100)
    assert wk.session.step_count == stopped_at == wk.buffers.total
    view = wk.buffers.history()
    assert view.step[-1] == stopped_at - 1
    assert (view.step[1:] - view.step[:-1] == 1).all()


def test_session_info_comes_by_signal_and_is_replaced_never_edited(qtbot, worker):
    wk, thread, driver = worker
    seen: list[SessionInfo] = []
    wk.sessionChanged.connect(seen.append)
    with qtbot.waitSignal(wk.started, timeout=START_TIMEOUT_MS):
        thread.start()
    assert len(seen) == 1                         # emitted before started
    first = seen[0]
    assert isinstance(first, SessionInfo) and first is wk.session and first.step_count == 0
    with qtbot.waitSignal(wk.paused, timeout=20_000):
        driver.request.emit(StepN(5))
    assert len(seen) == 2                         # the pause's new step count, before paused
    after = seen[1]
    assert after.step_count == 5 and after is wk.session
    assert first.step_count == 0                  # the snapshot the GUI held did not move
    assert after.config == first.config and after.spec == first.spec
    with pytest.raises(dataclasses.FrozenInstanceError):
        after.step_count = 6  # type: ignore[misc]
