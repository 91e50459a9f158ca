"""Nothing is overwritten without asking: the Record button asks before it replaces a file,
``--record EXISTING`` is refused in one line unless ``--overwrite``."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from nlviz.cli import main

ROOT = Path(__file__).resolve().parents[2]
KEPT = b"an earlier run, not to be lost"


def _existing(tmp_path: Path) -> Path:
    path = tmp_path / "run.h5"
    path.write_bytes(KEPT)
    return path


def test_record_flag_refuses_an_existing_file_before_any_window(tmp_path, capsys):
    path = _existing(tmp_path)
    code = main(["--preset", "tiny", "--record", str(path)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert err == [f"nlviz: error: {path}: already exists; use --overwrite to replace it"]
    assert path.read_bytes() == KEPT


def test_record_flag_with_overwrite_replaces_it(tmp_path):
    from nlviz.recording.reader import Recording
    path = _existing(tmp_path)
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_CONFIG_HOME=str(tmp_path))
    res = subprocess.run([sys.executable, str(ROOT / "main.py"), "--preset", "tiny",
                          "--record", str(path), "--overwrite", "--steps", "40",
                          "--screenshot", str(tmp_path / "x.png")],
                         env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    with Recording.open(str(path)) as rec:
        assert rec.n_rows == 40 and int(rec.steps[-1]) == 39


@pytest.mark.parametrize("agree", [False, True])
def test_record_button_asks_before_replacing(qtbot, gui, tmp_path, monkeypatch, agree):
    from nlviz.recording.reader import Recording
    window, controller = gui
    path = _existing(tmp_path)
    asked: list[str] = []

    def answer(p: str) -> bool:
        asked.append(p)
        return agree
    monkeypatch.setattr(window.front, "confirm_replace", answer)
    window.front.controls.file_edit.setText(str(path))
    if not agree:
        window.front.controls.record_action.trigger()
        assert asked == [str(path)]
        assert not window.front.controls.record_action.isChecked()
        assert path.read_bytes() == KEPT
        return
    with qtbot.waitSignal(controller.worker.recordingChanged, timeout=20_000) as on:
        window.front.controls.record_action.trigger()
    assert asked == [str(path)] and on.args[0] is True
    with qtbot.waitSignal(controller.worker.paused, timeout=20_000):
        controller.step(30)
    with qtbot.waitSignal(controller.worker.recordingChanged, timeout=20_000) as off:
        window.front.controls.record_action.trigger()
    assert off.args[0] is False
    with Recording.open(str(path)) as rec:
        assert rec.n_rows == 30


def test_record_button_on_a_new_file_asks_nothing(qtbot, gui, tmp_path, monkeypatch):
    window, controller = gui
    path = tmp_path / "new.h5"
    monkeypatch.setattr(window.front, "confirm_replace",
                        lambda p: pytest.fail(f"asked about a file that does not exist: {p}"))
    window.front.controls.file_edit.setText(str(path))
    with qtbot.waitSignal(controller.worker.recordingChanged, timeout=20_000) as on:
        window.front.controls.record_action.trigger()
    assert on.args[0] is True and path.exists()
    with qtbot.waitSignal(controller.worker.recordingChanged, timeout=20_000):
        window.front.controls.record_action.trigger()
