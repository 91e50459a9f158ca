"""The status bar says which device the engine runs on and why (issue 12: ``--device auto``
measures the devices at start; an explicit request is taken as asked)."""
from __future__ import annotations

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
            assert text == "device: CPU (auto: the only device)"
            assert window.status.device.toolTip() == "CPU\nauto: CPU, the only device"
    finally:
        assert controller.stop_and_wait(30_000)
        window.allow_close = True
        window.close()
