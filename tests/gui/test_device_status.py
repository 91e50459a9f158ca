"""The status bar says which device the engine runs on and why (issue 12: ``--device auto``
measures the devices at start; an explicit request is taken as asked)."""
from __future__ import annotations

import dataclasses
import re

from engine.device import available_kinds
from nlviz.config_loader import load_config
from nlviz.qt.status import StatusPanel
from tests.gui.conftest import START_TIMEOUT_MS

MEASURED = "auto: CPU, 1,210 steps/s against CUDA 480 steps/s measured at start"


def test_status_shows_device_and_measured_reason(qtbot):
    status = StatusPanel()
    qtbot.addWidget(status)
    status.set_device("CPU", None, MEASURED)
    assert status.device.text() == (
        "device: CPU (auto: 1,210 steps/s against CUDA 480 steps/s measured at start)")
    assert status.device.toolTip() == f"CPU\n{MEASURED}"
    assert status.message.text() == ""                        # nothing to warn about


def test_status_explicit_request_and_fallback(qtbot):
    status = StatusPanel()
    qtbot.addWidget(status)
    status.set_device("CPU", None, "requested")
    assert status.device.text() == "device: CPU"
    note = "CUDA requested but not available; running on the CPU"
    status.set_device("CPU", note, "cuda requested, not available")
    assert status.device.text() == "device: CPU (cuda requested, not available) ⚠"
    assert status.message.text() == note


def test_live_window_shows_what_auto_chose_and_why(qtbot):
    from nlviz.qt.live.controller import Controller
    from nlviz.qt.live.front import live_window
    window = live_window()
    controller = Controller(window, load_config("tiny", None, None, "auto", None),
                            preset="tiny", capacity=20_000)
    qtbot.addWidget(window)
    window.show()
    with qtbot.waitSignal(controller.worker.started, timeout=START_TIMEOUT_MS):
        controller.start()
    try:
        qtbot.waitUntil(lambda: window.status.device.text() != "device: -", timeout=5000)
        text = window.status.device.text()
        if len(available_kinds()) > 1:
            assert re.fullmatch(r"device: \S.* \(auto: [\d,]+ steps/s against .* measured at "
                                r"start\)", text), text
        else:
            assert text == "device: CPU (auto: the only device) · eager → compiled"
            assert window.status.device.toolTip() == (
                "CPU\nauto: CPU, the only device\neager engine for the first 4096 steps, then "
                "compiled engine, blocks of 64 steps (auto)")
        _check_the_switch_reaches_the_status_bar(qtbot, controller, window, text)
    finally:
        assert controller.stop_and_wait(30_000)
        window.allow_close = True
        window.close()


def test_the_engine_in_a_word() -> None:
    from nlviz.qt.status import engine_word
    assert engine_word("compiled engine, blocks of 64 steps") == "compiled"
    assert engine_word("compiled engine, blocks of 64 steps (auto: built in the background)") \
        == "compiled"
    assert engine_word("eager engine for the first 4096 steps, then compiled engine, blocks of "
                       "64 steps (auto)") == "eager → compiled"
    assert engine_word("eager engine: compiling failed (RuntimeError: x)") == "eager"
    assert engine_word("eager engine (run.engine = eager)") == "eager"


def _check_the_switch_reaches_the_status_bar(qtbot, controller, window, before: str) -> None:
    """A batch carrying auto's switch event updates the worker's session and the status
    bar (the engine process sends it when its background build is done)."""
    from engine import events as E
    from engine.frames import FrameBatch
    from nlviz.host.protocol import Batch
    worker = controller.worker
    frames = FrameBatch.empty(worker.session.spec)
    note = "compiled engine, blocks of 64 steps (auto: built in the background)"
    frames.events = [E.mark(worker.session.step_count, "engine", note)]
    with qtbot.waitSignal(worker.engineChanged, timeout=5000) as sig:
        worker._on_batch(Batch(frames, worker.session.step_count, 0.0, 0, None))
    assert sig.args == [note]
    assert worker.session.engine_note == note
    qtbot.waitUntil(lambda: window.status.device.text().endswith("· compiled"), timeout=5000)
    assert window.status.device.text() == before.replace("eager → compiled", "compiled")
    assert window.status.device.toolTip().endswith(note)
    worker._on_session_info(dataclasses.replace(worker.session, engine_note=""))


def test_engine_change_finds_the_newest_switch_or_failure() -> None:
    from engine import events as E
    from engine.events import engine_change
    assert engine_change([E.mark(3, "pause", "")]) is None
    switch = E.mark(5, "engine", "compiled engine, blocks of 64 steps")
    failed = E.error(9, "eager engine: compiling failed (RuntimeError: x)")
    assert engine_change([switch]) == "compiled engine, blocks of 64 steps"
    assert engine_change([switch, failed]) == "eager engine: compiling failed (RuntimeError: x)"
    assert engine_change([E.error(9, "ablate k: no such level")]) is None
