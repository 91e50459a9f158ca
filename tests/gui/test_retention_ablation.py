"""Replay ablation wiring: the levels tab's request runs ``ablate_recorded`` on the open
recording at the cursor, off the GUI thread, and its records are shown; a failure is one
line. (Live: the request becomes an engine ``Ablate`` command.)"""
from __future__ import annotations

import threading
import types

import numpy as np
from PySide6.QtCore import Qt

from engine.frames import EvalRecord
from tests.gui import retention_data as rd


def _fake_ablation(monkeypatch, calls: list, fail: bool = False) -> None:
    """A stand-in ``nlviz.replay.ablation`` (the real one needs a recorded engine state);
    it records its arguments and the thread it ran on."""
    def ablate_recorded(reader, step, level, restore_step=None):
        calls.append((reader.path, step, level, restore_step,
                      threading.current_thread() is threading.main_thread()))
        if fail:
            raise ValueError(f"no recorded state at or before step {step}")
        losses = np.array([1.0, 2.0, 4.0], np.float32)
        return [EvalRecord(step, losses, losses, ""),
                EvalRecord(step, losses * 3, losses, f"knockout:{level}")]

    class FakeRecording:
        def __init__(self, path):
            self.path = path

        @classmethod
        def open(cls, path):
            return cls(path)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    monkeypatch.setitem(__import__("sys").modules, "nlviz.replay.ablation",
                        types.SimpleNamespace(ablate_recorded=ablate_recorded))
    monkeypatch.setattr("nlviz.recording.reader.Recording", FakeRecording)


def test_replay_knockout_runs_off_the_gui_thread_and_is_shown(qtbot, monkeypatch):
    from nlviz.qt.panels.retention import RetentionPanels
    from nlviz.qt.replay.ablating import ReplayAblation
    calls: list = []
    _fake_ablation(monkeypatch, calls)
    panels = RetentionPanels()
    qtbot.addWidget(panels)
    panels.set_spec(rd.spec())
    messages: list = []
    ablation = ReplayAblation(panels, lambda: ("/runs/a.h5", 1500),
                              lambda text, error=False: messages.append((text, error)))
    panels.levels.level_box.setCurrentText("cms1")
    with qtbot.waitSignal(ablation.runner.finished, timeout=10_000):
        qtbot.mouseClick(panels.levels.knockout_button, Qt.MouseButton.LeftButton)
    assert calls == [("/runs/a.h5", 1500, "cms1", None, False)]       # a worker thread
    t, role = panels.levels.table, Qt.ItemDataRole.UserRole
    assert [t.item(r, 1).data(role) for r in range(3)] == [1.0, 2.0, 4.0]
    assert [t.item(r, 2).data(role) for r in range(3)] == [3.0, 6.0, 12.0]
    assert "cms1 knocked out" in panels.levels.result_label.text()
    assert panels.levels.knockout_button.isEnabled()
    assert ablation.wait()


def test_replay_ablation_failure_is_one_line(qtbot, monkeypatch):
    from nlviz.qt.panels.retention import RetentionPanels
    from nlviz.qt.replay.ablating import ReplayAblation
    calls: list = []
    _fake_ablation(monkeypatch, calls, fail=True)
    panels = RetentionPanels()
    qtbot.addWidget(panels)
    panels.set_spec(rd.spec())
    messages: list = []
    ablation = ReplayAblation(panels, lambda: ("/runs/a.h5", 20),
                              lambda text, error=False: messages.append((text, error)))
    with qtbot.waitSignal(ablation.runner.finished, timeout=10_000):
        panels.ablationRequested.emit("memory", 10)
    assert calls[0][1:4] == (20, "memory", 10)
    assert messages == [("ablation failed: no recorded state at or before step 20", True)]
    assert panels.levels.result_label.text() == (
        "ablation failed: no recorded state at or before step 20")
    assert ablation.wait()


def test_live_controller_sends_ablate(qtbot):
    """The live controller turns the request into the engine command (no engine needed:
    the request signal is what the worker receives)."""
    from engine.commands import Ablate
    from nlviz.qt.live.controller import Controller
    sent: list = []
    fake = types.SimpleNamespace(request=types.SimpleNamespace(emit=sent.append))
    Controller.ablate(fake, "cms2", None)           # type: ignore[arg-type]
    Controller.ablate(fake, "memory", 640)          # type: ignore[arg-type]
    assert sent == [Ablate("cms2", None), Ablate("memory", 640)]
